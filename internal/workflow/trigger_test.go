package workflow

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTriggered(t *testing.T) {
	push := func(ref string, files ...string) Event {
		return Event{Name: "push", Ref: ref, ChangedFiles: files}
	}
	pr := func(action, base string, files ...string) Event {
		return Event{Name: "pull_request", Action: action, Ref: "refs/heads/feature", BaseRef: base, ChangedFiles: files}
	}
	tests := []struct {
		name string
		on   string // the value of `on:`
		ev   Event
		want bool
	}{
		{"string event", "push", push("refs/heads/main"), true},
		{"string event other", "push", pr("", "main"), false},
		{"list events", "[push, pull_request]", pr("", "main"), true},
		{"list events miss", "[push, pull_request]", Event{Name: "schedule"}, false},
		{"map no filters", "\n  push:\n  workflow_dispatch:", Event{Name: "workflow_dispatch"}, true},
		{"dispatch only own event", "\n  workflow_dispatch:", push("refs/heads/main"), false},
		{"workflow_call only own event", "\n  workflow_call:", push("refs/heads/main"), false},
		{"workflow_call own event", "\n  workflow_call:", Event{Name: "workflow_call"}, true},
		{"schedule", "\n  schedule:\n    - cron: '0 0 * * *'", Event{Name: "schedule"}, true},

		// workflow_run: the completed run's workflow name, its branch, the activity
		{"workflow_run named", "\n  workflow_run:\n    workflows: [CI]\n    types: [completed]", Event{Name: "workflow_run", Action: "completed", Workflow: "CI"}, true},
		{"workflow_run other name", "\n  workflow_run:\n    workflows: [CI]", Event{Name: "workflow_run", Action: "completed", Workflow: "Docs"}, false},
		{"workflow_run names compare exactly", "\n  workflow_run:\n    workflows: [CI]", Event{Name: "workflow_run", Action: "completed", Workflow: "ci"}, false},
		{"workflow_run no name", "\n  workflow_run:\n    workflows: [CI]", Event{Name: "workflow_run", Action: "completed"}, false},
		{"workflow_run other activity", "\n  workflow_run:\n    workflows: [CI]\n    types: [requested]", Event{Name: "workflow_run", Action: "completed", Workflow: "CI"}, false},
		{"workflow_run branch", "\n  workflow_run:\n    workflows: [CI]\n    branches: [main]", Event{Name: "workflow_run", Action: "completed", Workflow: "CI", Ref: "refs/heads/main"}, true},
		{"workflow_run other branch", "\n  workflow_run:\n    workflows: [CI]\n    branches: [main]", Event{Name: "workflow_run", Action: "completed", Workflow: "CI", Ref: "refs/heads/feature"}, false},
		{"workflow_run branches-ignore", "\n  workflow_run:\n    workflows: [CI]\n    branches-ignore: ['dependabot/**']", Event{Name: "workflow_run", Action: "completed", Workflow: "CI", Ref: "refs/heads/dependabot/x"}, false},

		// branches
		{"branches exact", "\n  push:\n    branches: [main]", push("refs/heads/main"), true},
		{"branches exact miss", "\n  push:\n    branches: [main]", push("refs/heads/dev"), false},
		{"branches bare name ref", "\n  push:\n    branches: [main]", push("main"), true},
		{"branches star no slash", "\n  push:\n    branches: ['feature/*']", push("refs/heads/feature/a/b"), false},
		{"branches star", "\n  push:\n    branches: ['feature/*']", push("refs/heads/feature/a"), true},
		{"branches double star", "\n  push:\n    branches: ['feature/**']", push("refs/heads/feature/a/b"), true},
		{"branches star all without slash", "\n  push:\n    branches: ['*']", push("refs/heads/a/b"), false},
		{"branches negation", "\n  push:\n    branches: ['releases/**', '!releases/**-alpha']", push("refs/heads/releases/10-alpha"), false},
		{"branches negation keeps others", "\n  push:\n    branches: ['releases/**', '!releases/**-alpha']", push("refs/heads/releases/10"), true},
		{"branches negation then re-include", "\n  push:\n    branches: ['r/**', '!r/x*', 'r/xy']", push("refs/heads/r/xy"), true},
		{"branches-ignore match", "\n  push:\n    branches-ignore: ['dependabot/**']", push("refs/heads/dependabot/pip/x"), false},
		{"branches-ignore no match", "\n  push:\n    branches-ignore: ['dependabot/**']", push("refs/heads/main"), true},
		{"plus", "\n  push:\n    tags: ['v[12].[0-9]+.[0-9]+']", push("refs/tags/v1.10.3"), true},
		{"plus needs one", "\n  push:\n    tags: ['v[12].[0-9]+.[0-9]+']", push("refs/tags/v1..3"), false},
		{"class", "\n  push:\n    tags: ['v[12].*']", push("refs/tags/v3.0"), false},
		{"question optional char", "\n  push:\n    branches: ['mains?']", push("refs/heads/main"), true},
		{"question optional char present", "\n  push:\n    branches: ['mains?']", push("refs/heads/mains"), true},
		{"escaped star", "\n  push:\n    branches: ['a\\*']", push("refs/heads/ab"), false},

		// tags vs branches
		{"branches only: tag push skipped", "\n  push:\n    branches: [main]", push("refs/tags/v1"), false},
		{"tags only: branch push skipped", "\n  push:\n    tags: ['v*']", push("refs/heads/main"), false},
		{"tags only: tag push", "\n  push:\n    tags: ['v*']", push("refs/tags/v1.2"), true},
		{"tags-ignore", "\n  push:\n    tags-ignore: ['v*-rc*']", push("refs/tags/v1-rc1"), false},
		{"tags-ignore: branch push skipped", "\n  push:\n    tags-ignore: ['v*-rc*']", push("refs/heads/main"), false},
		{"branches-ignore only: tag push skipped", "\n  push:\n    branches-ignore: [dev]", push("refs/tags/v1"), false},
		{"both: branch", "\n  push:\n    branches: [main]\n    tags: ['v*']", push("refs/heads/main"), true},
		{"both: tag", "\n  push:\n    branches: [main]\n    tags: ['v*']", push("refs/tags/v2"), true},
		{"no ref filters: tag push", "\n  push:", push("refs/tags/v1"), true},
		{"unknown ref does not block", "\n  push:\n    branches: [main]", push(""), true},

		// paths
		{"paths any file", "\n  push:\n    paths: ['src/**']", push("refs/heads/main", "README.md", "src/a/b.py"), true},
		{"paths none", "\n  push:\n    paths: ['src/**']", push("refs/heads/main", "README.md"), false},
		{"paths unknown files", "\n  push:\n    paths: ['src/**']", push("refs/heads/main"), true},
		{"paths double star dir zero", "\n  push:\n    paths: ['**/README.md']", push("refs/heads/main", "README.md"), true},
		{"paths star root only", "\n  push:\n    paths: ['*.md']", push("refs/heads/main", "docs/a.md"), false},
		{"paths jsx?", "\n  push:\n    paths: ['*.jsx?']", push("refs/heads/main", "app.js"), true},
		{"paths negation", "\n  push:\n    paths: ['*.md', '!README.md']", push("refs/heads/main", "README.md"), false},
		{"paths negation other file", "\n  push:\n    paths: ['*.md', '!README.md']", push("refs/heads/main", "README.md", "CHANGES.md"), true},
		{"paths-ignore all", "\n  push:\n    paths-ignore: ['docs/**', '*.md']", push("refs/heads/main", "docs/x.rst", "README.md"), false},
		{"paths-ignore some", "\n  push:\n    paths-ignore: ['docs/**']", push("refs/heads/main", "docs/x.rst", "src/a.py"), true},
		{"paths and branches both needed", "\n  push:\n    branches: [main]\n    paths: ['src/**']", push("refs/heads/dev", "src/a.py"), false},
		{"paths not evaluated for tags", "\n  push:\n    tags: ['v*']\n    paths: ['src/**']", push("refs/tags/v1", "README.md"), true},

		// pull_request
		{"pr default types opened", "\n  pull_request:", pr("opened", "main"), true},
		{"pr default types synchronize", "\n  pull_request:", pr("synchronize", "main"), true},
		{"pr default types closed", "\n  pull_request:", pr("closed", "main"), false},
		{"pr default action", "\n  pull_request:", pr("", "main"), true},
		{"pr types", "\n  pull_request:\n    types: [closed, labeled]", pr("labeled", "main"), true},
		{"pr types excludes default", "\n  pull_request:\n    types: [closed]", pr("opened", "main"), false},
		{"pr types without a default activity", "\n  pull_request:\n    types: [closed]", pr("", "main"), false},
		{"pr branches match base", "\n  pull_request:\n    branches: [main]", pr("opened", "main"), true},
		{"pr branches not head", "\n  pull_request:\n    branches: [feature]", pr("opened", "main"), false},
		{"pr base with refs prefix", "\n  pull_request:\n    branches: [main]", pr("opened", "refs/heads/main"), true},
		{"pr branches-ignore", "\n  pull_request:\n    branches-ignore: ['release/**']", pr("opened", "release/1"), false},
		{"pr paths", "\n  pull_request:\n    paths: ['**.py']", pr("opened", "main", "pkg/mod.py"), true},
		{"pr paths-ignore", "\n  pull_request:\n    paths-ignore: ['**.md']", pr("opened", "main", "a.md", "b/c.md"), false},
		{"pr_target default types", "\n  pull_request_target:", Event{Name: "pull_request_target", Action: "edited"}, false},
		{"release types", "\n  release:\n    types: [published]", Event{Name: "release", Action: "published"}, true},
		{"release types miss", "\n  release:\n    types: [published]", Event{Name: "release", Action: "created"}, false},
		{"issues no types any action", "\n  issues:", Event{Name: "issues", Action: "deleted"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := parseWorkflow(t, "on: "+tc.on+"\n"+jobsYAML)
			got, why := w.Triggered(tc.ev)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Triggered(%+v) (-want +got):\n%s\nreason: %s", tc.ev, diff, why)
			}
			if !got && why == "" {
				t.Errorf("not triggered without a reason")
			}
			if got && why != "" {
				t.Errorf("triggered with a reason %q", why)
			}
		})
	}
}

func TestTriggeredReason(t *testing.T) {
	w := parseWorkflow(t, "on:\n  push:\n    branches: [main]\n"+jobsYAML)
	tests := []struct {
		ev   Event
		want string
	}{
		{Event{Name: "push", Ref: "refs/heads/dev"}, `branch "dev" does not match branches: main`},
		{Event{Name: "push", Ref: "refs/tags/v1"}, `workflow filters only branches, not a tag like "v1"`},
		{Event{Name: "pull_request"}, "workflow runs on push, not pull_request"},
	}
	for _, tc := range tests {
		_, got := w.Triggered(tc.ev)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("reason for %+v (-want +got):\n%s", tc.ev, diff)
		}
	}
}

func TestCompilePattern(t *testing.T) {
	tests := []struct {
		pattern string
		matches []string
		misses  []string
	}{
		{"docs/*", []string{"docs/a.md"}, []string{"docs/a/b.md", "docs"}},
		{"docs/**", []string{"docs/a.md", "docs/a/b/c"}, []string{"x/docs/a"}},
		{"docs/**/*.md", []string{"docs/a.md", "docs/x/y/a.md"}, []string{"docs/a.txt"}},
		{"**/docs/**", []string{"docs/hello.md", "dir/docs/my-file.txt", "space/docs/plan/space.doc"}, []string{"documents/x"}},
		{"**/*src/**", []string{"a/src/app.js", "my-src/code/js/app.js"}, []string{"src.js"}},
		{"**.js", []string{"index.js", "js/index.js", "src/js/app.js"}, []string{"index.ts"}},
		{"[CB]at", []string{"Cat", "Bat"}, []string{"Hat", "cat"}},
		{"[1-2]00", []string{"100", "200"}, []string{"300"}},
		{"v2*", []string{"v2", "v2.0", "v2.9"}, []string{"v1", "v2/x"}},
		{"ü?x", []string{"x", "üx"}, []string{"üüx"}},
	}
	for _, tc := range tests {
		p, err := compilePattern(tc.pattern)
		if err != nil {
			t.Fatalf("compilePattern(%q): %v", tc.pattern, err)
		}
		for _, s := range tc.matches {
			if !p.re.MatchString(s) {
				t.Errorf("%q should match %q", tc.pattern, s)
			}
		}
		for _, s := range tc.misses {
			if p.re.MatchString(s) {
				t.Errorf("%q should not match %q", tc.pattern, s)
			}
		}
	}
	for _, bad := range []string{"a[b", "?x", "x\\", "[]"} {
		if _, err := compilePattern(bad); err == nil {
			t.Errorf("compilePattern(%q): want error", bad)
		}
	}
}

// TestWorkflowRunActivityWarning: workflow_run activities sluice never delivers are a warning
// at their file:line:col (the workflow still loads and runs on completed).
func TestWorkflowRunActivityWarning(t *testing.T) {
	root := writeRepo(t, map[string]string{".github/workflows/after.yml": `name: After
on:
  workflow_run:
    workflows: [CI]
    types: [completed, requested]
` + jobsYAML})
	w, err := Load(t.Context(), root, root+"/.github/workflows/after.yml")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range w.Warnings {
		if e.Kind == KindEvents {
			got = append(got, e.Error())
		}
	}
	want := []string{`.github/workflows/after.yml:5:24: warning: workflow_run activity "requested" is not delivered by sluice: only "completed" is (the workflow runs when a workflow it names completes); list types: [completed] [sluice-events]`}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("warnings (-want +got):\n%s", d)
	}
	// `sluice lint` says the same.
	errs, err := Lint(t.Context(), root, []string{root + "/.github/workflows"}, LintOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, e := range errs {
		got = append(got, e.Error())
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("sluice lint (-want +got):\n%s", d)
	}
}
