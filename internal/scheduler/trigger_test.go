package scheduler

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

const (
	ciYAML = `name: CI
on:
  push:
    branches: [main]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo build
  test:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: echo test
`
	docsYAML = `on:
  push:
    paths: ['docs/**']
jobs:
  docs:
    runs-on: ubuntu-latest
    steps:
      - run: echo docs
`
	releaseYAML = `on:
  push:
    branches: ['release/**']
jobs:
  release:
    runs-on: ubuntu-latest
    steps:
      - run: echo release
`
	dispatchYAML = `on:
  workflow_dispatch:
    inputs:
      target:
        required: true
        type: string
      dry:
        type: boolean
        default: false
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - run: echo ${{ inputs.target }}
`
)

func TestTrigger(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	first := h.pushWorkflows(map[string]string{"ci.yml": ciYAML, "docs.yml": docsYAML,
		"release.yml": releaseYAML, "dispatch.yml": dispatchYAML})
	src := h.git.commit("main", "change source", map[string]string{"src/app.py": "print(1)\n"})
	docs := h.git.commit("main", "change docs", map[string]string{"docs/index.md": "# hi\n"})

	type got struct {
		Workflow, Event, Ref, SHA, Trigger string
		Inputs                             map[string]string
		Jobs                               map[string]string
	}
	ciJobs := map[string]string{"build": "queued", "test": "waiting"}
	cases := []struct {
		name    string
		tr      server.Trigger
		want    []got
		wantErr string
	}{{
		name: "push to main of source files starts only the unfiltered workflow",
		tr:   server.Trigger{Event: "push", Ref: "refs/heads/main", Before: first.SHA, SHA: src, Source: store.TriggerWebhook},
		want: []got{{Workflow: ".github/workflows/ci.yml", Event: "push", Ref: "refs/heads/main", SHA: src, Trigger: "webhook", Jobs: ciJobs}},
	}, {
		name: "push that changes docs also starts the paths-filtered workflow",
		tr:   server.Trigger{Event: "push", Ref: "refs/heads/main", Before: src, SHA: docs, Source: store.TriggerWebhook},
		want: []got{
			{Workflow: ".github/workflows/ci.yml", Event: "push", Ref: "refs/heads/main", SHA: docs, Trigger: "webhook", Jobs: ciJobs},
			{Workflow: ".github/workflows/docs.yml", Event: "push", Ref: "refs/heads/main", SHA: docs, Trigger: "webhook",
				Jobs: map[string]string{"docs": "queued"}},
		},
	}, {
		name: "push to a release branch starts only the release workflow",
		tr:   server.Trigger{Event: "push", Ref: "refs/heads/release/1.0", Before: first.SHA, SHA: src, Source: store.TriggerWebhook},
		want: []got{{Workflow: ".github/workflows/release.yml", Event: "push", Ref: "refs/heads/release/1.0", SHA: src,
			Trigger: "webhook", Jobs: map[string]string{"release": "queued"}}},
	}, {
		name: "push to another branch starts nothing",
		tr:   server.Trigger{Event: "push", Ref: "refs/heads/feature", Before: first.SHA, SHA: src, Source: store.TriggerWebhook},
	}, {
		name: "dispatch by branch name resolves the tip and keeps the inputs",
		tr: server.Trigger{Event: "workflow_dispatch", Ref: "main", Workflow: "dispatch.yml", Source: store.TriggerDispatch,
			Inputs: map[string]string{"target": "prod"}},
		want: []got{{Workflow: ".github/workflows/dispatch.yml", Event: "workflow_dispatch", Ref: "refs/heads/main", SHA: docs,
			Trigger: "dispatch", Inputs: map[string]string{"target": "prod"}, Jobs: map[string]string{"deploy": "queued"}}},
	}, {
		name: "dispatch selects the workflow by its path too",
		tr: server.Trigger{Event: "workflow_dispatch", Ref: "refs/heads/main", SHA: first.SHA, Workflow: ".github/workflows/dispatch.yml",
			Inputs: map[string]string{"target": "staging"}},
		want: []got{{Workflow: ".github/workflows/dispatch.yml", Event: "workflow_dispatch", Ref: "refs/heads/main", SHA: first.SHA,
			Trigger: "manual", Inputs: map[string]string{"target": "staging"}, Jobs: map[string]string{"deploy": "queued"}}},
	}, {
		name:    "dispatch without a required input fails",
		tr:      server.Trigger{Event: "workflow_dispatch", Ref: "main", Workflow: "dispatch.yml", Inputs: map[string]string{"dry": "true"}},
		wantErr: `input "target" is required`,
	}, {
		name:    "dispatch of a workflow without workflow_dispatch fails",
		tr:      server.Trigger{Event: "workflow_dispatch", Ref: "main", Workflow: "ci.yml"},
		wantErr: `workflow "ci.yml" does not exist`,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			runs, err := h.s.Trigger(h.ctx, h.repo, tc.tr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Trigger error = %v, want one containing %q", err, tc.wantErr)
				}
				if len(runs) != 0 {
					t.Errorf("Trigger made runs %+v despite the error", runs)
				}
				return
			}
			if err != nil {
				t.Fatalf("Trigger: %v", err)
			}
			var gots []got
			for _, r := range runs {
				gots = append(gots, got{Workflow: r.Workflow, Event: r.Event, Ref: r.Ref, SHA: r.SHA, Trigger: r.Trigger,
					Inputs: r.Inputs, Jobs: h.states(r.ID)})
			}
			if diff := cmp.Diff(tc.want, gots, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("runs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTriggerSpec(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tr := h.pushWorkflows(map[string]string{"ci.yml": ciYAML})
	r := h.triggerOne(tr)
	got := h.spec(r.ID, "build")
	// A local path has no owner/name; the last two path elements stand in.
	if !strings.HasSuffix(got.Run.Repository, "/remote") {
		t.Errorf("spec repository %q, want .../remote", got.Run.Repository)
	}
	want := &Spec{}
	want.Run = jobspec.Run{ID: fmt.Sprint(r.ID), Number: r.Number, Attempt: r.Attempt, RepoURL: "file:///unused/1.git", RepoID: 1, DefaultBranch: "main",
		Repository: got.Run.Repository, SHA: tr.SHA, Ref: "refs/heads/main", Event: "push", Payload: map[string]any{},
		Actor: "alice", WorkflowPath: ".github/workflows/ci.yml", WorkflowName: "CI"}
	want.Job = jobspec.Job{Key: "build", Name: "build", JobID: "build", WorkflowPath: ".github/workflows/ci.yml",
		WorkflowSource: ciYAML, Strategy: jobspec.Strategy{FailFast: true, JobTotal: 1, MaxParallel: 1},
		Needs: map[string]jobspec.Need{}, Inputs: map[string]any{}, Labels: []string{"ubuntu-latest"}}
	want.Run.Payload = got.Run.Payload // TestTriggerPayload checks it
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("spec of the queued job (-want +got):\n%s", diff)
	}
	if r.Title != "add workflows" || r.WorkflowName != "CI" || r.Attempt != 1 {
		t.Errorf("run title %q, name %q, attempt %d; want the commit subject, CI, 1", r.Title, r.WorkflowName, r.Attempt)
	}
}

// TestTriggerInvalidWorkflow: like GitHub, a workflow file it would refuse fails as a run of
// its own, and the push's other workflows run, including one with lint findings GitHub only
// warns about (an outdated action runtime, an undefined step id that evaluates to null). An
// alias bomb is such a refusal, found with bounded work.
func TestTriggerInvalidWorkflow(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	bomb := "on: push\nx0: &l0 [lol]\n"
	for i := 1; i <= 12; i++ {
		bomb += fmt.Sprintf("x%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d,", i-1), 10), ","))
	}
	bomb += "jobs:\n  a:\n    runs-on: ubuntu-latest\n    strategy:\n      matrix:\n        v: *l12\n    steps:\n      - run: echo\n"
	tr := h.pushWorkflows(map[string]string{"ci.yml": ciYAML, "bad.yml": `on: push
jobs:
  test:
    needs: nope
    runs-on: ubuntu-latest
    steps:
      - run: echo
`, "warns.yml": `on: push
jobs:
  w:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v3
      - if: steps.nope.outputs.x != 'true'
        run: echo runs
`, "bomb.yml": bomb})
	runs := h.trigger(tr)
	byFile := map[string]*store.Run{}
	for i := range runs {
		byFile[runs[i].Workflow] = &runs[i]
	}
	if len(runs) != 4 {
		t.Fatalf("Trigger made %d runs, want 4 (two that run, two invalid): %+v", len(runs), runs)
	}
	for file, want := range map[string]map[string]string{
		".github/workflows/ci.yml":    {"build": "queued", "test": "waiting"},
		".github/workflows/warns.yml": {"w": "queued"},
		".github/workflows/bad.yml":   {"lint": "completed/failure"},
		".github/workflows/bomb.yml":  {"lint": "completed/failure"},
	} {
		r := byFile[file]
		if r == nil {
			t.Fatalf("no run for %s", file)
		}
		if diff := cmp.Diff(want, h.states(r.ID)); diff != "" {
			t.Errorf("%s jobs (-want +got):\n%s", file, diff)
		}
	}
	for file, re := range map[string]string{
		".github/workflows/bad.yml":  `(?m)^\.github/workflows/bad\.yml:\d+:\d+: .*nope`,
		".github/workflows/bomb.yml": `(?m)^\.github/workflows/bomb\.yml:\d+:\d+: YAML aliases expand`,
	} {
		r := byFile[file]
		if got := h.runState(r.ID); got != "completed/failure" {
			t.Errorf("%s run is %s, want completed/failure", file, got)
		}
		if reason := h.job(r.ID, "lint").Reason; !regexp.MustCompile(re).MatchString(reason) {
			t.Errorf("lint reason %q does not locate the error as file:line:col", reason)
		}
	}
}

// TestTriggerPayload: a trigger without GitHub's payload (a poll, a pull request from a forge
// that sends little) gets the fields GitHub sends, from the repository record and the mirror.
func TestTriggerPayload(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	push := h.pushWorkflows(map[string]string{"ci.yml": "on: [push, pull_request]\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n"})
	h.triggerOne(push)
	feature := h.git.commit("feature", "add a feature\n\nwith a body", map[string]string{"f.txt": "x"})
	base := h.git.git(h.git.work, "rev-parse", "HEAD~1")
	r := h.triggerOne(server.Trigger{Event: "pull_request", Action: "synchronize", Ref: "refs/pull/3/merge", SHA: feature,
		BaseRef: "main", Source: store.TriggerPoll, Actor: "bob", Payload: map[string]any{"pull_request": map[string]any{"draft": true}}})
	p := h.spec(r.ID, "build").Run.Payload
	got := map[string]any{}
	for _, path := range []string{"action", "number", "pull_request.number", "pull_request.head.sha", "pull_request.base.ref",
		"pull_request.base.sha", "pull_request.draft", "pull_request.merged", "pull_request.title", "pull_request.labels",
		"pull_request.base.repo.default_branch", "repository.default_branch", "repository.owner.login", "sender.login"} {
		var cur any = p
		for _, k := range strings.Split(path, ".") {
			m, _ := cur.(map[string]any)
			cur = m[k]
		}
		got[path] = cur
	}
	want := map[string]any{"action": "synchronize", "number": float64(3), "pull_request.number": float64(3),
		"pull_request.head.sha": feature, "pull_request.base.ref": "main", "pull_request.base.sha": base,
		"pull_request.draft": true, "pull_request.merged": false, "pull_request.title": "add a feature",
		"pull_request.labels": []any{}, "pull_request.base.repo.default_branch": "main",
		"repository.default_branch": "main", "repository.owner.login": got["repository.owner.login"], "sender.login": "bob"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pull_request payload (-want +got):\n%s", diff)
	}
	if got["repository.owner.login"] == "" {
		t.Errorf("no repository owner")
	}
}
