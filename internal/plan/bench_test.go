package plan

import (
	"testing"
)

// bench256 is a 256-leg run made through reusable workflows: a 16-leg matrix of calls, each
// calling a workflow whose job has a 16-leg matrix, with a job before and after.
var bench256 = map[string]string{"ci.yml": `on: push
jobs:
  setup: {runs-on: ubuntu-latest, steps: [{run: x}]}
  call:
    needs: setup
    strategy:
      matrix:
        a: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    uses: ./.github/workflows/r.yml
    with: {a: "${{ matrix.a }}"}
  report: {needs: call, if: always(), runs-on: ubuntu-latest, steps: [{run: x}]}
`, "r.yml": `on:
  workflow_call:
    inputs: {a: {type: string}}
jobs:
  test:
    name: "test ${{ inputs.a }}"
    runs-on: ubuntu-latest
    strategy:
      fail-fast: false
      matrix:
        b: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    steps: [{run: x}]
`}

// BenchmarkPlan256 plans the 256 legs: from the first rows to every leg started (the
// decision the server makes when setup ends).
func BenchmarkPlan256(b *testing.B) {
	p0 := newPlan(b, bench256, nil)
	in := p0.in
	for b.Loop() {
		p, err := New(in)
		if err != nil {
			b.Fatal(err)
		}
		rows, _ := p.Advance(p.Rows(), false)
		rows[0].State, rows[0].Result = Done, "success"
		rows, _ = p.Advance(rows, false)
		if n := countActive(rows); n != 256 {
			b.Fatalf("%d legs started, want 256", n)
		}
	}
}

// BenchmarkRun256 makes every decision of the run: planning, then each of the 258 jobs
// ending one by one, each followed by an Advance (as the server does on each completion).
func BenchmarkRun256(b *testing.B) {
	p0 := newPlan(b, bench256, nil)
	in := p0.in
	for b.Loop() {
		p, err := New(in)
		if err != nil {
			b.Fatal(err)
		}
		tr := simulate(b, p, succeed)
		if len(tr.started) != 258 {
			b.Fatalf("%d jobs started, want 258", len(tr.started))
		}
	}
}

func countActive(rows []Row) int {
	n := 0
	for _, r := range rows {
		if r.State == Active {
			n++
		}
	}
	return n
}
