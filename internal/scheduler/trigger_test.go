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
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("spec of the queued job (-want +got):\n%s", diff)
	}
	if r.Title != "add workflows" || r.WorkflowName != "CI" || r.Attempt != 1 {
		t.Errorf("run title %q, name %q, attempt %d; want the commit subject, CI, 1", r.Title, r.WorkflowName, r.Attempt)
	}
}

func TestTriggerInvalidWorkflow(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tr := h.pushWorkflows(map[string]string{"ci.yml": ciYAML, "bad.yml": `on: push
jobs:
  test:
    needs: nope
    runs-on: ubuntu-latest
    steps:
      - run: echo
`})
	r := h.triggerOne(tr)
	if diff := cmp.Diff(map[string]string{"lint": "completed/failure"}, h.states(r.ID)); diff != "" {
		t.Errorf("jobs (-want +got):\n%s", diff)
	}
	if got := h.runState(r.ID); got != "completed/failure" {
		t.Errorf("run is %s, want completed/failure", got)
	}
	reason := h.job(r.ID, "lint").Reason
	if !regexp.MustCompile(`(?m)^\.github/workflows/bad\.yml:\d+:\d+: .*nope`).MatchString(reason) {
		t.Errorf("lint reason %q does not locate the error as file:line:col", reason)
	}
	h.noneQueued()
}
