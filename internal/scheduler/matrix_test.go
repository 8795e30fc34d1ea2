package scheduler

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/store"
)

// The matrix comes from an output of the job it needs, so it can only be
// expanded once that job finished.
const dynamicMatrixYAML = `on: push
jobs:
  setup:
    runs-on: ubuntu-latest
    outputs:
      versions: ${{ steps.v.outputs.versions }}
    steps:
      - id: v
        run: echo 'versions=["3.10", "3.11"]' >> "$GITHUB_OUTPUT"
  test:
    needs: setup
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python: ${{ fromJSON(needs.setup.outputs.versions) }}
    steps:
      - run: echo ${{ matrix.python }}
  after:
    needs: test
    runs-on: ubuntu-latest
    steps:
      - run: echo done
`

func TestMatrixFromNeedsOutput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": dynamicMatrixYAML}))
	if diff := cmp.Diff(map[string]string{"setup": "queued", "test": "waiting", "after": "waiting"}, h.states(r.ID)); diff != "" {
		t.Fatalf("jobs after trigger (-want +got):\n%s", diff)
	}
	h.finish("setup", "success", map[string]string{"versions": `["3.10", "3.11"]`})
	want := map[string]string{"setup": "completed/success", "test": "waiting", "test (3.10)": "queued", "test (3.11)": "queued",
		"after": "waiting"}
	if diff := cmp.Diff(want, h.states(r.ID)); diff != "" {
		t.Fatalf("jobs after setup (-want +got):\n%s", diff)
	}
	// The matrix job's own row is bookkeeping now: its legs are the jobs shown.
	var shown []string
	for _, j := range store.Shown(h.jobs(r.ID)) {
		shown = append(shown, j.Key)
	}
	if diff := cmp.Diff([]string{"setup", "after", "test (3.10)", "test (3.11)"}, shown); diff != "" {
		t.Errorf("jobs shown (-want +got):\n%s", diff)
	}
	leg := h.spec(r.ID, "test (3.11)")
	if leg.Leg != 2 || h.job(r.ID, "test (3.11)").Parent != "test" {
		t.Errorf("second leg is leg %d of %q, want leg 2 of test", leg.Leg, h.job(r.ID, "test (3.11)").Parent)
	}
	if leg.Job.Name != "test (3.11)" || leg.Job.JobID != "test" || leg.Job.Needs["setup"].Result != "success" ||
		leg.Job.Strategy != (jobspec.Strategy{FailFast: true, JobIndex: 1, JobTotal: 2, MaxParallel: 2}) {
		t.Errorf("second leg spec = %+v; want test (3.11), index 1 of 2, seeing setup", leg.Job)
	}
	if diff := cmp.Diff(map[string]any{"python": "3.11"}, leg.Job.Matrix); diff != "" {
		t.Errorf("second leg's matrix (-want +got):\n%s", diff)
	}

	h.finish("test (3.10)", "success", map[string]string{"a": "1", "shared": "x"})
	if got := h.job(r.ID, "test").Status; got != "waiting" {
		t.Fatalf("placeholder is %s with one leg left, want waiting", got)
	}
	h.finish("test (3.11)", "success", map[string]string{"b": "2", "shared": ""})
	want = map[string]string{"setup": "completed/success", "test": "completed/success", "test (3.10)": "completed/success",
		"test (3.11)": "completed/success", "after": "queued"}
	if diff := cmp.Diff(want, h.states(r.ID)); diff != "" {
		t.Fatalf("jobs after the legs (-want +got):\n%s", diff)
	}
	merged := map[string]string{"a": "1", "b": "2", "shared": "x"}
	if diff := cmp.Diff(merged, h.job(r.ID, "test").Outputs); diff != "" {
		t.Errorf("placeholder outputs (-want +got):\n%s", diff)
	}
	wantNeeds := map[string]jobspec.Need{"test": {Result: "success", Outputs: merged}}
	if diff := cmp.Diff(wantNeeds, h.spec(r.ID, "after").Job.Needs); diff != "" {
		t.Errorf("after's needs (-want +got):\n%s", diff)
	}
	h.finish("after", "success", nil)
	if got := h.runState(r.ID); got != "completed/success" {
		t.Errorf("run is %s, want completed/success", got)
	}
}

func matrixYAML(strategy string) string {
	return fmt.Sprintf(`on: push
jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
%s      matrix:
        n: [1, 2, 3]
    steps:
      - run: echo ${{ matrix.n }}
  after:
    needs: test
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo after
`, strategy)
}

func TestMatrixStrategy(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		strategy string
		steps    []step
	}{{
		name: "a failed leg cancels the queued legs (fail-fast)",
		steps: []step{{key: "test (1)", conclusion: "failure", want: map[string]string{"test": "completed/failure",
			"test (1)": "completed/failure", "test (2)": "completed/cancelled", "test (3)": "completed/cancelled", "after": "queued"}}},
	}, {
		name:     "fail-fast: false lets the other legs run",
		strategy: "      fail-fast: false\n",
		steps: []step{
			{key: "test (1)", conclusion: "failure", want: map[string]string{"test": "waiting",
				"test (1)": "completed/failure", "test (2)": "queued", "test (3)": "queued", "after": "waiting"}},
			{key: "test (2)", conclusion: "success"},
			{key: "test (3)", conclusion: "success", want: map[string]string{"test": "completed/failure",
				"test (1)": "completed/failure", "test (2)": "completed/success", "test (3)": "completed/success", "after": "queued"}},
		},
	}, {
		name:     "max-parallel: 1 queues one leg at a time",
		strategy: "      max-parallel: 1\n",
		steps: []step{
			{key: "test (1)", conclusion: "success", want: map[string]string{"test": "waiting",
				"test (1)": "completed/success", "test (2)": "queued", "test (3)": "waiting", "after": "waiting"}},
			{key: "test (2)", conclusion: "success", want: map[string]string{"test": "waiting",
				"test (1)": "completed/success", "test (2)": "completed/success", "test (3)": "queued", "after": "waiting"}},
			{key: "test (3)", conclusion: "success", want: map[string]string{"test": "completed/success",
				"test (1)": "completed/success", "test (2)": "completed/success", "test (3)": "completed/success", "after": "queued"}},
		},
	}, {
		name:     "max-parallel: 2 with fail-fast cancels the waiting leg too",
		strategy: "      max-parallel: 2\n",
		steps: []step{{key: "test (1)", conclusion: "failure", want: map[string]string{"test": "completed/failure",
			"test (1)": "completed/failure", "test (2)": "completed/cancelled", "test (3)": "completed/cancelled", "after": "queued"}}},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			r := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": matrixYAML(tc.strategy)}))
			limit := 3
			switch tc.strategy {
			case "      max-parallel: 1\n":
				limit = 1
			case "      max-parallel: 2\n":
				limit = 2
			}
			want := map[string]string{"test": "waiting", "after": "waiting"}
			for i := 1; i <= 3; i++ {
				want[fmt.Sprintf("test (%d)", i)] = map[bool]string{true: "queued", false: "waiting"}[i <= limit]
			}
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
		})
	}
}

// fail-fast completes only legs not started; a running leg still reports
// its own result, and the matrix job completes after it. (GitHub also asks
// running legs to stop; the store has no per-job cancel request yet.)
func TestFailFastWithRunningLeg(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": matrixYAML("")}))
	first := h.claim("test (1)")
	second := h.claim("test (2)")
	h.complete(first, "failure", nil)
	want := map[string]string{"test": "waiting", "test (1)": "completed/failure", "test (2)": "in_progress",
		"test (3)": "completed/cancelled", "after": "waiting"}
	if diff := cmp.Diff(want, h.states(r.ID)); diff != "" {
		t.Fatalf("jobs after the first leg failed (-want +got):\n%s", diff)
	}
	h.complete(second, "success", nil)
	if got := h.states(r.ID)["test"]; got != "completed/failure" {
		t.Errorf("placeholder is %s, want completed/failure", got)
	}
}

// A matrix that cannot be expanded fails its job with the reason; jobs
// after it are skipped and the run ends.
func TestMatrixExpansionError(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": dynamicMatrixYAML}))
	h.finish("setup", "success", map[string]string{"versions": "not json"})
	want := map[string]string{"setup": "completed/success", "test": "completed/failure", "after": "completed/skipped"}
	if diff := cmp.Diff(want, h.states(r.ID)); diff != "" {
		t.Fatalf("jobs (-want +got):\n%s", diff)
	}
	if got := h.job(r.ID, "test").Reason; !strings.Contains(got, "matrix") {
		t.Errorf("test's reason %q does not say the matrix could not be expanded", got)
	}
	if got := h.runState(r.ID); got != "completed/failure" {
		t.Errorf("run is %s, want completed/failure", got)
	}
}

// Legs are keyed by their job's id, whatever their display names: two
// matrix jobs may well share a `name:` template.
func TestMatrixLegKeysUseJobID(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	job := `
    name: py ${{ matrix.python }}
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python: ['3.11', '3.12']
    steps:
      - run: echo`
	r := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": "on: push\njobs:\n  unit:" + job + "\n  integration:" + job + "\n"}))
	want := map[string]string{"unit": "waiting", "unit (3.11)": "queued", "unit (3.12)": "queued",
		"integration": "waiting", "integration (3.11)": "queued", "integration (3.12)": "queued"}
	if diff := cmp.Diff(want, h.states(r.ID)); diff != "" {
		t.Errorf("jobs (-want +got):\n%s", diff)
	}
	if sp := h.spec(r.ID, "integration (3.12)"); sp.Job.JobID != "integration" || sp.Job.Matrix["python"] != "3.12" || sp.Job.Name != "py 3.12" {
		t.Errorf("leg integration (3.12) runs job %q (%q) with matrix %v", sp.Job.JobID, sp.Job.Name, sp.Job.Matrix)
	}
}

// A leg that max-parallel holds back is started later from the planner's cached rows: its
// agent must still get the whole job (the workflow text, inputs), not the cached digest.
func TestHeldLegGetsItsWholeSpec(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": matrixYAML("      max-parallel: 1\n")}))
	h.finish("test (1)", "success", nil)
	sp := h.spec(r.ID, "test (2)")
	if _, err := jobspec.Parse(h.job(r.ID, "test (2)").Spec); err != nil || sp.Job.WorkflowSource == "" {
		t.Fatalf("the second leg's spec does not run on an agent (%v): %+v", err, sp.Job)
	}
}

// TestMatrixRunAdvancesOnAnotherScheduler: a run whose only top-level row is a matrix's is
// advanced by a scheduler that did not plan it (another replica, or this server after a
// restart): it makes the plan again from that row, and the run succeeds.
func TestMatrixRunAdvancesOnAnotherScheduler(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": `on: push
jobs:
  noop:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        n: [1, 2, 3]
    steps:
      - run: "true"
`}))
	h.finish("noop (1)", store.ConclusionSuccess, nil)
	h.s = h.newScheduler() // knows nothing of the run
	h.finish("noop (2)", store.ConclusionSuccess, nil)
	h.finish("noop (3)", store.ConclusionSuccess, nil)
	if got := h.run(r.ID); got.Status != store.StatusCompleted || got.Conclusion != store.ConclusionSuccess {
		t.Fatalf("run %s/%s, want completed/success; jobs %v", got.Status, got.Conclusion, h.states(r.ID))
	}
}
