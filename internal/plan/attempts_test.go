package plan

import (
	"fmt"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/jobspec"
)

const (
	docCancelRun = "https://docs.github.com/en/actions/managing-workflow-runs-and-deployments/managing-workflow-runs/canceling-a-workflow"
	docRerun     = "https://docs.github.com/en/actions/managing-workflow-runs-and-deployments/managing-workflow-runs/re-running-workflows-and-jobs"
)

func TestAdmit(t *testing.T) {
	// docConcurrent: "at most one running and one pending job in a concurrency group at any
	// time ... Any existing pending job or workflow in the same concurrency group, if it
	// exists, will be canceled and the new queued job or workflow will take its place. To
	// also cancel any currently running job or workflow in the same concurrency group,
	// specify cancel-in-progress: true."
	tests := []struct {
		name   string
		others []Holder
		cip    bool
		want   Admission
	}{
		{name: "empty group", want: Admission{}},
		{name: "one running", others: []Holder{{ID: 1, Running: true}}, want: Admission{Wait: true}},
		{name: "running and pending: the pending one is replaced", others: []Holder{{ID: 2}, {ID: 1, Running: true}},
			want: Admission{Cancel: []int64{2}, Wait: true}},
		{name: "cancel-in-progress", others: []Holder{{ID: 2}, {ID: 1, Running: true}}, cip: true,
			want: Admission{Cancel: []int64{1, 2}, Wait: true}},
		{name: "only a pending one left (the running one ended)", others: []Holder{{ID: 4}}, want: Admission{Cancel: []int64{4}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Admit(tt.others, tt.cip)); diff != "" {
				t.Errorf("Admit (-want +got), following %s:\n%s", docConcurrent, diff)
			}
		})
	}
	if id, ok := Next([]Holder{{ID: 5}, {ID: 3}}); !ok || id != 3 {
		t.Errorf("Next of two pending = %d, %v; want the older, 3", id, ok)
	}
	if _, ok := Next([]Holder{{ID: 5}, {ID: 3, Running: true}}); ok {
		t.Error("Next started a pending holder while another runs")
	}
	if !SameGroup("Prod", "prod") || SameGroup("prod", "prod-2") || SameGroup("", "") {
		t.Errorf("group names are case-insensitive and never empty (%s)", docConcurrent)
	}
}

func TestCancelRecheckRunningJobs(t *testing.T) {
	// docCancelRun: "the server re-evaluates if conditions for all currently running jobs. If
	// the condition evaluates to true, the job will not get canceled. For example, the
	// condition if: always() would evaluate to true and the job continues to run."
	p := newPlan(t, map[string]string{"ci.yml": `on: push
jobs:
  plain: {runs-on: ubuntu-latest, steps: [{run: x}]}
  cleanup: {if: always(), runs-on: ubuntu-latest, steps: [{run: x}]}
  notcancelled: {if: "!cancelled()", runs-on: ubuntu-latest, steps: [{run: x}]}
  m:
    if: always()
    runs-on: ubuntu-latest
    strategy: {matrix: {n: [1, 2]}}
    steps: [{run: x}]
  after: {needs: plain, if: cancelled(), runs-on: ubuntu-latest, steps: [{run: x}]}
`}, nil)
	rows, _ := p.Advance(p.Rows(), false)
	rows, changes := p.Advance(rows, true)
	var cancelled []string
	for _, c := range changes {
		if c.Op == Cancel {
			cancelled = append(cancelled, c.Row.Key)
		}
	}
	sort.Strings(cancelled)
	if diff := cmp.Diff([]string{"notcancelled", "plain"}, cancelled); diff != "" {
		t.Errorf("running jobs asked to stop (-want +got), following %s:\n%s", docCancelRun, diff)
	}
	// Asked once: the next pass leaves them be.
	if _, again := p.Advance(rows, true); len(again) != 0 {
		t.Errorf("a second pass changed %v", again)
	}
	for i := range rows {
		if rows[i].CancelRequested {
			rows[i].State, rows[i].Result = Done, jobspec.Cancelled
		}
	}
	rows, _ = p.Advance(rows, true)
	if got := rowByKey(t, rows, "after"); got.State != Active {
		t.Errorf("after (if: cancelled()) is %s, want started once plain ended cancelled (%s)", got.State, docCancel)
	}
	for _, k := range []string{"cleanup", "m (1)", "m (2)"} {
		if got := rowByKey(t, rows, k); got.State != Active || got.CancelRequested {
			t.Errorf("%s is %s (cancel requested %v); an if: always() job runs on", k, got.State, got.CancelRequested)
		}
	}
}

// endAll ends every started row: keys listed in fail fail, the rest succeed with an output
// naming their key.
func endAll(p *Plan, rows []Row, fail ...string) []Row {
	for range 100 {
		var changes []Change
		rows, changes = p.Advance(rows, false)
		moved := len(changes) > 0
		for i := range rows {
			if rows[i].State != Active {
				continue
			}
			moved = true
			rows[i].State, rows[i].Result = Done, jobspec.Success
			rows[i].Outputs = map[string]string{"from": rows[i].Key}
			for _, f := range fail {
				if rows[i].Key == f {
					rows[i].Result = jobspec.Failure
				}
			}
			if rows[i].CancelRequested {
				rows[i].Result = jobspec.Cancelled
			}
		}
		if !moved {
			return rows
		}
	}
	panic("the run never ended")
}

// states renders rows as key → "state result [kept]".
func states(rows []Row) map[string]string {
	out := map[string]string{}
	for _, r := range rows {
		s := string(r.State)
		if r.Result != "" {
			s += " " + r.Result
		}
		if r.Kept {
			s += " kept"
		}
		out[r.Key] = s
	}
	return out
}

func TestRerunFailed(t *testing.T) {
	// docRerun: "Re-run failed jobs" re-runs the failed jobs and their dependents; the others
	// keep their results (and, for the jobs that run again, their outputs as needs).
	files := map[string]string{
		"ci.yml": `on: push
jobs:
  build: {runs-on: ubuntu-latest, steps: [{run: x}]}
  lint: {runs-on: ubuntu-latest, steps: [{run: x}]}
  test:
    needs: build
    runs-on: ubuntu-latest
    strategy: {fail-fast: false, matrix: {py: ["3.11", "3.12", "3.13"]}}
    steps: [{run: x}]
  publish: {needs: [build, test], runs-on: ubuntu-latest, steps: [{run: x}]}
  report: {needs: test, if: always(), runs-on: ubuntu-latest, steps: [{run: x}]}
  call:
    needs: build
    uses: ./.github/workflows/inner.yml
`,
		"inner.yml": `on: workflow_call
jobs:
  one: {runs-on: ubuntu-latest, steps: [{run: x}]}
  two: {runs-on: ubuntu-latest, steps: [{run: x}]}
  three: {needs: two, runs-on: ubuntu-latest, steps: [{run: x}]}
`,
	}
	p := newPlan(t, files, nil)
	last := endAll(p, p.Rows(), "test (3.12)", "call / two")
	want := map[string]string{
		"build": "done success", "lint": "done success", "test": "done failure",
		"test (3.11)": "done success", "test (3.12)": "done failure", "test (3.13)": "done success",
		"publish": "done skipped", "report": "done success",
		"call": "done failure", "call / one": "done success", "call / two": "done failure", "call / three": "done skipped",
	}
	if diff := cmp.Diff(want, states(last)); diff != "" {
		t.Fatalf("first attempt (-want +got):\n%s", diff)
	}

	next := p.Rerun(last, true)
	want = map[string]string{
		"build": "done success kept", "lint": "done success kept",
		"test": "waiting", "test (3.11)": "done success kept", "test (3.12)": "waiting", "test (3.13)": "done success kept",
		"publish": "waiting", "report": "waiting",
		"call": "waiting", "call / one": "done success kept", "call / two": "waiting", "call / three": "waiting",
	}
	if diff := cmp.Diff(want, states(next)); diff != "" {
		t.Errorf("second attempt's first rows (-want +got), following %s:\n%s", docRerun, diff)
	}
	if got := rowByKey(t, next, "build").Outputs; got["from"] != "build" {
		t.Errorf("kept build lost its outputs: %v", got)
	}
	rows, changes := p.Advance(next, false)
	var started []string
	for _, c := range changes {
		if c.Op == Start {
			started = append(started, c.Row.Key)
		}
	}
	sort.Strings(started)
	if diff := cmp.Diff([]string{"call / two", "test (3.12)"}, started); diff != "" {
		t.Errorf("started in the second attempt (-want +got):\n%s", diff)
	}
	if got := rowByKey(t, rows, "test (3.12)").Spec.Needs["build"]; got.Outputs["from"] != "build" {
		t.Errorf("the re-run leg sees build's outputs %v, want the kept ones", got)
	}
	done := endAll(p, rows)
	for _, k := range []string{"test", "publish", "report", "call", "call / three"} {
		if got := rowByKey(t, done, k); got.Result != jobspec.Success {
			t.Errorf("%s ended %s in the second attempt, want success", k, got.Result)
		}
	}

	// Re-running all jobs starts over.
	if diff := cmp.Diff(p.Rows(), p.Rerun(last, false)); diff != "" {
		t.Errorf("re-run of all jobs (-want +got):\n%s", diff)
	}
}

func TestRerunFailedDependentsOfAFailedNeed(t *testing.T) {
	// A failed job that others need runs again with everything after it, whatever those
	// ended as; a matrix job that needs it runs again whole.
	p := newPlan(t, map[string]string{"ci.yml": `on: push
jobs:
  build: {runs-on: ubuntu-latest, steps: [{run: x}]}
  m:
    needs: build
    if: always()
    runs-on: ubuntu-latest
    strategy: {matrix: {n: [1, 2]}}
    steps: [{run: x}]
  z: {runs-on: ubuntu-latest, steps: [{run: x}]}
`}, nil)
	last := endAll(p, p.Rows(), "build")
	next := p.Rerun(last, true)
	want := map[string]string{"build": "waiting", "m": "waiting", "z": "done success kept"}
	if diff := cmp.Diff(want, states(next)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestRerunFailedCallMatrix(t *testing.T) {
	// A matrix of reusable workflow calls keeps the legs whose called jobs succeeded; a leg
	// whose call never expanded (the callee could not be read) makes the job run again whole.
	files := map[string]string{
		"ci.yml": `on: push
jobs:
  call:
    strategy: {fail-fast: false, matrix: {n: [1, 2]}}
    uses: ./.github/workflows/inner.yml
`,
		"inner.yml": `on: workflow_call
jobs:
  a: {runs-on: ubuntu-latest, steps: [{run: x}]}
`,
	}
	p := newPlan(t, files, nil)
	last := endAll(p, p.Rows(), "call (2) / a")
	next := p.Rerun(last, true)
	want := map[string]string{"call": "waiting", "call (1)": "done success kept", "call (1) / a": "done success kept",
		"call (2)": "waiting", "call (2) / a": "waiting"}
	if diff := cmp.Diff(want, states(next)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	done := endAll(p, next)
	if got := rowByKey(t, done, "call"); got.Result != jobspec.Success {
		t.Errorf("call ended %s after its failed leg ran again, want success", got.Result)
	}

	broken := newPlan(t, map[string]string{"ci.yml": files["ci.yml"]}, nil)
	last = endAll(broken, broken.Rows())
	if got := states(broken.Rerun(last, true)); fmt.Sprint(got) != "map[call:waiting]" {
		t.Errorf("a call matrix that never expanded re-runs as %v, want the job alone, waiting", got)
	}
}
