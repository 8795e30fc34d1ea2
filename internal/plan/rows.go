package plan

import (
	"sort"
	"strconv"

	"github.com/sluice-ci/sluice/internal/jobspec"
)

// State is where a row stands.
type State string

const (
	// Waiting: not started. A row whose needs are not done, a leg held back by max-parallel,
	// or a row expanded into others (its legs, or a called workflow's jobs) until they end.
	Waiting State = "waiting"
	// Active: started (queued, leased, running, or held by a deployment gate).
	Active State = "active"
	// Done: ended, with a Result.
	Done State = "done"
)

// Row is one record of a run's job graph. A row is either a job of a workflow (Leg 0) or one
// leg of a job's matrix (Leg ≥ 1). A row that was expanded (a matrix job into its legs, a job
// calling a reusable workflow into that workflow's jobs) has children, which name it as
// Parent; it is bookkeeping that callers keep but do not show, and it ends with the combined
// result of its children. Every other row is a job an agent runs, or one that ended without
// running (skipped, failed to plan, cancelled).
type Row struct {
	Key    string // unique in the run
	Parent string // the key of the row this one was expanded from; "" at the top
	JobID  string // the job's id in its workflow
	Leg    int    // 0: the job itself; n ≥ 1: its matrix leg n
	Name   string
	Needs  []string // keys of the rows this one waits for (a leg: its job's)

	State   State
	Result  string // when Done: success, failure, cancelled, skipped
	Outputs map[string]string
	Reason  string // why it ended as it did, when that is not obvious
	// Tolerated marks a row whose failure continue-on-error lets pass: it shows failure,
	// and counts as success for the jobs that need it and for the run.
	Tolerated bool
	// CancelRequested: the plan asked for this started row to be stopped (fail-fast, a
	// cancelled run).
	CancelRequested bool
	// Kept marks a row a re-run of failed jobs carried over from the attempt before, as it
	// ended there (see Rerun).
	Kept bool

	// Spec is the job to run, set when the plan decides a row runs (or, for a leg, when it
	// is made); for an expanded call it holds the caller's evaluated name and matrix.
	Spec *jobspec.Job
}

// Op is what a Change does.
type Op string

const (
	// Add: a new row (Waiting): a matrix leg, a job of a called workflow.
	Add Op = "add"
	// Expand: the row now stands for the rows added under it; Spec may be new.
	Expand Op = "expand"
	// Start: the row runs now (Active); Spec, Name and Tolerated are set.
	Start Op = "start"
	// Finish: the row ended (Done) with Result, Outputs and Reason, without running or by
	// combining its children.
	Finish Op = "finish"
	// Cancel: stop the started row (CancelRequested); its runner reports how it ended.
	Cancel Op = "cancel"
)

// Change is one decision for the caller to apply, in order.
type Change struct {
	Op  Op
	Row Row // the row after the change
}

// Result is what the jobs that need a row see as its result: a tolerated failure is a
// success (jobs.<id>.continue-on-error).
func (r *Row) result() string {
	if r.Result == jobspec.Failure && r.Tolerated {
		return jobspec.Success
	}
	return r.Result
}

// graph is one Advance pass over a copy of the rows.
type graph struct {
	p         *Plan
	cancelled bool
	rows      []*Row
	byKey     map[string]*Row
	kids      map[string][]*Row
	changes   []Change
	changed   bool
}

func (p *Plan) newGraph(in []Row, cancelled bool) *graph {
	g := &graph{p: p, cancelled: cancelled, byKey: make(map[string]*Row, len(in)), kids: map[string][]*Row{}}
	for i := range in {
		r := in[i]
		g.index(&r)
	}
	for _, ks := range g.kids {
		sort.SliceStable(ks, func(a, b int) bool { return ks[a].Leg < ks[b].Leg })
	}
	return g
}

func (g *graph) index(r *Row) {
	g.rows = append(g.rows, r)
	g.byKey[r.Key] = r
	if r.Parent != "" {
		g.kids[r.Parent] = append(g.kids[r.Parent], r)
	}
}

// children of a row, in leg order (legs) or file order (a called workflow's jobs).
func (g *graph) children(r *Row) []*Row { return g.kids[r.Key] }

func (g *graph) record(op Op, r *Row) {
	c := *r
	g.changes = append(g.changes, Change{Op: op, Row: c})
	g.changed = true
}

func (g *graph) add(r Row) *Row {
	// Keys are unique in the run: a clash (two legs with equal displayed values) gets a
	// number.
	base := r.Key
	for n := 2; g.byKey[r.Key] != nil; n++ {
		r.Key = base + " #" + itoa(n)
	}
	nr := &r
	g.index(nr)
	g.record(Add, nr)
	return nr
}

func (g *graph) start(r *Row) {
	r.State = Active
	g.record(Start, r)
}

func (g *graph) finish(r *Row, result string, outputs map[string]string, reason string) {
	r.State, r.Result, r.Outputs, r.Reason = Done, result, outputs, reason
	g.record(Finish, r)
}

func (g *graph) cancel(r *Row, reason string) {
	switch r.State {
	case Active:
		if !r.CancelRequested {
			r.CancelRequested = true
			r.Reason = reason
			g.record(Cancel, r)
		}
	case Waiting:
		if len(g.children(r)) == 0 {
			g.finish(r, jobspec.Cancelled, nil, reason)
			return
		}
		for _, k := range g.children(r) {
			g.cancel(k, reason)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
