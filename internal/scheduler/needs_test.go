package scheduler

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/store"
)

const chainYAML = `on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      version: ${{ steps.v.outputs.version }}
    steps:
      - id: v
        run: echo "version=1.2" >> "$GITHUB_OUTPUT"
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: echo lint
  test:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: echo ${{ needs.build.outputs.version }}
  deploy:
    needs: [test, lint]
    runs-on: ubuntu-latest
    steps:
      - run: echo deploy
  report:
    needs: deploy
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo report
  rollback:
    needs: deploy
    if: failure()
    runs-on: ubuntu-latest
    steps:
      - run: echo rollback
  notify:
    needs: deploy
    runs-on: ubuntu-latest
    steps:
      - run: echo notify
`

// step is one job an agent finishes, and what the run's jobs look like
// afterwards.
type step struct {
	key, conclusion string
	outputs         map[string]string
	want            map[string]string
}

func TestNeedsChain(t *testing.T) {
	t.Parallel()
	version := map[string]string{"version": "1.2"}
	cases := []struct {
		name    string
		steps   []step
		wantRun string
	}{{
		name: "all succeed",
		steps: []step{
			{key: "build", conclusion: "success", outputs: version, want: map[string]string{"build": "completed/success",
				"lint": "queued", "test": "queued", "deploy": "waiting", "report": "waiting", "rollback": "waiting", "notify": "waiting"}},
			{key: "lint", conclusion: "success", want: map[string]string{"build": "completed/success",
				"lint": "completed/success", "test": "queued", "deploy": "waiting", "report": "waiting", "rollback": "waiting", "notify": "waiting"}},
			{key: "test", conclusion: "success", want: map[string]string{"build": "completed/success",
				"lint": "completed/success", "test": "completed/success", "deploy": "queued", "report": "waiting", "rollback": "waiting",
				"notify": "waiting"}},
			{key: "deploy", conclusion: "success", want: map[string]string{"build": "completed/success",
				"lint": "completed/success", "test": "completed/success", "deploy": "completed/success", "report": "queued",
				"rollback": "completed/skipped", "notify": "queued"}},
			{key: "report", conclusion: "success"},
			{key: "notify", conclusion: "success", want: map[string]string{"build": "completed/success",
				"lint": "completed/success", "test": "completed/success", "deploy": "completed/success", "report": "completed/success",
				"rollback": "completed/skipped", "notify": "completed/success"}},
		},
		wantRun: "completed/success",
	}, {
		name: "a failed need skips default dependents but not always() or failure() ones",
		steps: []step{
			{key: "build", conclusion: "success", outputs: version},
			{key: "lint", conclusion: "success"},
			{key: "test", conclusion: "failure", want: map[string]string{"build": "completed/success",
				"lint": "completed/success", "test": "completed/failure", "deploy": "completed/skipped", "report": "queued",
				"rollback": "queued", "notify": "completed/skipped"}},
			{key: "report", conclusion: "success"},
			{key: "rollback", conclusion: "success", want: map[string]string{"build": "completed/success",
				"lint": "completed/success", "test": "completed/failure", "deploy": "completed/skipped", "report": "completed/success",
				"rollback": "completed/success", "notify": "completed/skipped"}},
		},
		wantRun: "completed/failure",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			r := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": chainYAML}))
			want := map[string]string{"build": "queued", "lint": "queued", "test": "waiting", "deploy": "waiting",
				"report": "waiting", "rollback": "waiting", "notify": "waiting"}
			if diff := cmp.Diff(want, h.states(r.ID)); diff != "" {
				t.Fatalf("jobs after trigger (-want +got):\n%s", diff)
			}
			for _, s := range tc.steps {
				h.finish(s.key, s.conclusion, s.outputs)
				if s.want == nil {
					continue
				}
				if diff := cmp.Diff(s.want, h.states(r.ID)); diff != "" {
					t.Fatalf("jobs after %s finished (-want +got):\n%s", s.key, diff)
				}
			}
			h.noneQueued()
			if got := h.runState(r.ID); got != tc.wantRun {
				t.Errorf("run is %s, want %s", got, tc.wantRun)
			}
		})
	}
}

// Dependents get the results and outputs of their direct needs only.
func TestNeedsInSpec(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": chainYAML}))
	h.finish("build", "success", map[string]string{"version": "1.2"})
	want := map[string]jobspec.Need{"build": {Result: "success", Outputs: map[string]string{"version": "1.2"}}}
	if diff := cmp.Diff(want, h.spec(r.ID, "test").Job.Needs); diff != "" {
		t.Errorf("test's needs (-want +got):\n%s", diff)
	}
	if sp := h.spec(r.ID, "deploy"); sp.Job.Needs != nil {
		t.Errorf("deploy is still waiting but its spec has needs %v", sp.Job.Needs)
	}
	h.finish("lint", "success", nil)
	h.finish("test", "success", map[string]string{"coverage": "90"})
	want = map[string]jobspec.Need{"test": {Result: "success", Outputs: map[string]string{"coverage": "90"}},
		"lint": {Result: "success"}}
	sp := h.spec(r.ID, "deploy")
	if diff := cmp.Diff(want, sp.Job.Needs); diff != "" {
		t.Errorf("deploy's needs (-want +got):\n%s", diff)
	}
	if sp.Run.ID != fmt.Sprint(r.ID) || sp.Run.Number != r.Number || sp.Job.Name != "deploy" {
		t.Errorf("deploy's spec has run %s #%d job %q, want %d #%d deploy", sp.Run.ID, sp.Run.Number, sp.Job.Name, r.ID, r.Number)
	}
	if j := h.job(r.ID, "deploy"); j.Status != store.StatusQueued {
		t.Errorf("deploy is %s, want queued", j.Status)
	}
}
