package plan

import (
	"fmt"
	"strings"

	"github.com/rhysd/actionlint"
	"github.com/sluice-ci/sluice/internal/expr"
	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/workflow"
)

// Advance makes every decision the rows allow: it decides the jobs whose needs are done,
// expands matrices and called workflows, starts legs as max-parallel allows, applies
// fail-fast, and ends expanded rows whose children have all ended. cancelled says the run
// was cancelled, and the status functions are evaluated again as GitHub documents for a
// cancel: jobs not yet decided run only if their `if:` asks for always() or cancelled(),
// legs not started are cancelled, and a started job is asked to stop (a Cancel change)
// unless its `if:` still holds ("the server re-evaluates if conditions for all currently
// running jobs. If the condition evaluates to true, the job will not get canceled").
//
// It returns the rows after the decisions and the changes, in the order they were made.
// rows is not modified.
func (p *Plan) Advance(rows []Row, cancelled bool) ([]Row, []Change) {
	g := p.newGraph(rows, cancelled)
	for {
		g.changed = false
		g.frame(p.top)
		if !g.changed {
			break
		}
	}
	g.unblock()
	out := make([]Row, len(g.rows))
	for i, r := range g.rows {
		out[i] = *r
	}
	return out, g.changes
}

// unblock ends what can never run: when nothing is started and nothing else can move, the
// waiting jobs left wait for each other (a cycle the linter let through). Without this a
// caller would wait forever.
func (g *graph) unblock() {
	for _, r := range g.rows {
		if r.State == Active {
			return
		}
	}
	for _, r := range g.rows {
		if r.State == Waiting && len(g.children(r)) == 0 {
			g.finish(r, jobspec.Failure, nil, "its needs can never finish (do they form a cycle?)")
		}
	}
	if g.changed {
		// Ending them may let others finish.
		for {
			g.changed = false
			g.frame(g.p.top)
			if !g.changed {
				break
			}
		}
	}
}

// frame advances the jobs of one frame.
func (g *graph) frame(f *frame) {
	for _, id := range f.order {
		r := g.byKey[f.key+id]
		if r == nil || r.State == Done {
			continue
		}
		g.node(f, r)
	}
}

// node advances one job of frame f.
func (g *graph) node(f *frame, r *Row) {
	kids := g.children(r)
	if len(kids) == 0 {
		switch {
		case r.State == Waiting:
			g.decide(f, r)
		case r.State == Active && g.cancelled:
			g.recheck(f, r)
		}
		return
	}
	j := f.wf.Job(r.JobID)
	switch {
	case kids[0].Leg > 0 && j.WorkflowCall != nil:
		// A matrix of calls: each leg is a called workflow of its own.
		for _, leg := range kids {
			if leg.State != Done {
				g.callFrame(f, leg)
			}
		}
		g.failFastCalls(r, kids)
		g.finishLegs(r, kids)
	case kids[0].Leg > 0:
		g.legs(f, r, kids)
		g.finishLegs(r, kids)
	default:
		g.callFrame(f, r)
	}
}

// needs gathers the results of the jobs job needs, from the rows of frame f; ready is false
// while one of them has not ended.
func (g *graph) needs(f *frame, j *actionlint.Job) (map[string]jobspec.Need, bool) {
	needs := map[string]jobspec.Need{}
	for _, n := range j.Needs {
		id, ok := f.byID[strings.ToLower(n.Value)]
		if !ok {
			continue
		}
		nr := g.byKey[f.key+id]
		if nr == nil {
			// Not part of this run (never selected): it counts as skipped.
			needs[id] = jobspec.Need{Result: jobspec.Skipped}
			continue
		}
		if nr.State != Done {
			return nil, false
		}
		needs[id] = jobspec.Need{Result: nr.result(), Outputs: nr.Outputs}
	}
	return needs, true
}

// ancestors reports over every job j needs, directly or not, in frame f: whether one failed,
// and whether all succeeded. GitHub evaluates success() and failure() over that whole chain:
// "If a run contains a series of jobs that need each other, a failure or skip applies to all
// jobs in the dependency chain from the point of failure or skip onwards."
func (g *graph) ancestors(f *frame, j *actionlint.Job) (failed, allSucceeded bool) {
	allSucceeded = true
	seen := map[string]bool{}
	var walk func(*actionlint.Job)
	walk = func(j *actionlint.Job) {
		for _, n := range j.Needs {
			id, ok := f.byID[strings.ToLower(n.Value)]
			if !ok || seen[id] {
				continue
			}
			seen[id] = true
			switch r := g.byKey[f.key+id]; {
			case r == nil:
				allSucceeded = false
			case r.result() == jobspec.Failure:
				failed, allSucceeded = true, false
			case r.result() != jobspec.Success:
				allSucceeded = false
			}
			walk(f.wf.Job(id))
		}
	}
	walk(j)
	return failed, allSucceeded
}

// decide settles a waiting job whose needs have ended: skipped, failed to plan, run, or
// expanded into legs or a called workflow's jobs.
func (g *graph) decide(f *frame, r *Row) {
	p := g.p
	j := f.wf.Job(r.JobID)
	if j == nil {
		g.finish(r, jobspec.Failure, nil, fmt.Sprintf("%s has no job %q", f.wf.Path, r.JobID))
		return
	}
	needs, ready := g.needs(f, j)
	if !ready {
		return
	}
	run, err := g.condition(f, r, j, needs)
	if err != nil {
		g.finish(r, jobspec.Failure, nil, "evaluating if: "+err.Error())
		return
	}
	if !run {
		if g.cancelled {
			g.finish(r, jobspec.Cancelled, nil, "the run was cancelled")
		} else {
			g.finish(r, jobspec.Skipped, nil, "")
		}
		return
	}

	ev := p.evaluator(f, r.JobID, needs, nil, nil)
	var matrix *actionlint.Matrix
	failFast, maxParallel := true, 0
	if s := j.Strategy; s != nil {
		matrix = s.Matrix
		failFast = boolValue(ev, s.FailFast, true)
		maxParallel = intValue(ev, s.MaxParallel, 0)
	}
	if matrix == nil {
		st := jobspec.Strategy{FailFast: failFast, JobIndex: 0, JobTotal: 1, MaxParallel: 1}
		if j.WorkflowCall != nil {
			spec, err := p.unit(f, r.Key, r.JobID, needs, nil, nil, st, false)
			if err != nil {
				g.finish(r, jobspec.Failure, nil, err.Error())
				return
			}
			r.Spec, r.Name = spec, spec.Name
			g.expandCall(f, r)
			return
		}
		g.run(f, r, needs, nil, nil, st)
		return
	}
	legs, err := workflow.ExpandMatrix(matrix, ev.Value)
	if err != nil {
		g.finish(r, jobspec.Failure, nil, "expanding the matrix: "+err.Error())
		return
	}
	keys := workflow.MatrixKeys(matrix, legs)
	limit := len(legs)
	if maxParallel > 0 && maxParallel < limit {
		limit = maxParallel
	}
	g.record(Expand, r)
	for i, m := range legs {
		st := jobspec.Strategy{FailFast: failFast, JobIndex: i, JobTotal: len(legs), MaxParallel: limit}
		leg := Row{Key: workflow.LegName(r.Key, keys, m), Parent: r.Key, JobID: r.JobID, Leg: i + 1,
			Needs: r.Needs, State: Waiting}
		if leg.Key == r.Key {
			leg.Key = r.Key + " #" + itoa(i+1)
		}
		spec, err := p.unit(f, leg.Key, r.JobID, needs, m, keys, st, j.WorkflowCall == nil)
		if err != nil {
			leg.Name = workflow.LegName(r.Name, keys, m)
			nr := g.add(leg)
			g.finish(nr, jobspec.Failure, nil, err.Error())
			continue
		}
		leg.Name, leg.Spec, leg.Tolerated = spec.Name, spec, spec.ContinueOnError
		nr := g.add(leg)
		if j.WorkflowCall != nil {
			g.expandCall(f, nr)
			continue
		}
		if why := p.otherOS(spec.Labels); why != "" {
			g.finish(nr, jobspec.Skipped, nil, why)
		}
	}
}

// condition evaluates job j's `if:` for row r of frame f, with the status functions over
// its whole chain of needs and the run's cancellation.
func (g *graph) condition(f *frame, r *Row, j *actionlint.Job, needs map[string]jobspec.Need) (bool, error) {
	failed, allOK := g.ancestors(f, j)
	ev := g.p.evaluator(f, r.JobID, needs, nil, nil)
	ev.Status = expr.Status{Failed: failed, Cancelled: g.cancelled, Skipped: !allOK}
	cond := ""
	if j.If != nil {
		cond = j.If.Value
	}
	return ev.Condition(cond)
}

// recheck evaluates a started job's `if:` again once the run is cancelled, and asks for it
// to stop unless the condition still holds: a running `if: always()` (or cancelled()) job
// goes on, the others are cancelled.
func (g *graph) recheck(f *frame, r *Row) {
	if r.CancelRequested {
		return
	}
	if j := f.wf.Job(r.JobID); j != nil {
		if needs, ready := g.needs(f, j); ready {
			if keep, err := g.condition(f, r, j, needs); err == nil && keep {
				return
			}
		}
	}
	g.cancel(r, "the run was cancelled")
}

// run starts a job that has no matrix, or skips it for its operating system.
func (g *graph) run(f *frame, r *Row, needs map[string]jobspec.Need, m map[string]any, keys []string, st jobspec.Strategy) {
	spec, err := g.p.unit(f, r.Key, r.JobID, needs, m, keys, st, true)
	if err != nil {
		g.finish(r, jobspec.Failure, nil, err.Error())
		return
	}
	r.Spec, r.Name, r.Tolerated = spec, spec.Name, spec.ContinueOnError
	if why := g.p.otherOS(spec.Labels); why != "" {
		g.finish(r, jobspec.Skipped, nil, why)
		return
	}
	g.start(r)
}

// legs starts waiting legs as max-parallel allows, and applies fail-fast: "If true, GitHub
// will cancel all in-progress and queued jobs in the matrix if any job in the matrix fails."
// A leg whose failure continue-on-error tolerates cancels nothing.
func (g *graph) legs(f *frame, r *Row, legs []*Row) {
	st := jobspec.Strategy{FailFast: true}
	if s := legs[0].Spec; s != nil {
		st = s.Strategy
	}
	if st.FailFast {
		for _, l := range legs {
			if l.State == Done && l.result() == jobspec.Failure {
				for _, o := range legs {
					g.cancel(o, "another leg of the matrix failed (fail-fast)")
				}
				break
			}
		}
	}
	active := 0
	for _, l := range legs {
		if l.State == Active {
			if g.cancelled {
				g.recheck(f, l)
			}
			active++
		}
	}
	for _, l := range legs {
		if l.State != Waiting {
			continue
		}
		if g.cancelled {
			g.finish(l, jobspec.Cancelled, nil, "the run was cancelled")
			continue
		}
		if st.MaxParallel > 0 && active >= st.MaxParallel {
			break
		}
		g.start(l)
		active++
	}
}

// failFastCalls applies fail-fast to a matrix of reusable workflow calls: a failed call
// cancels what is left of the others.
func (g *graph) failFastCalls(r *Row, legs []*Row) {
	if s := legs[0].Spec; s != nil && !s.Strategy.FailFast {
		return
	}
	for _, l := range legs {
		if l.State == Done && l.result() == jobspec.Failure {
			for _, o := range legs {
				if o.State != Done {
					g.cancel(o, "another leg of the matrix failed (fail-fast)")
				}
			}
			return
		}
	}
}

// finishLegs ends a matrix job once all its legs have: failure if one failed (and
// continue-on-error did not tolerate it), else cancelled if one was, else skipped if all
// were, else success; outputs merged over the legs in order, a later non-empty value
// winning, since GitHub gives a matrix job one set of outputs.
func (g *graph) finishLegs(r *Row, legs []*Row) {
	for _, l := range legs {
		if l.State != Done {
			return
		}
	}
	outputs := map[string]string{}
	for _, l := range legs {
		for k, v := range l.Outputs {
			if v != "" || outputs[k] == "" {
				outputs[k] = v
			}
		}
	}
	g.finish(r, combine(legs), outputs, "")
}

// combine is the result of a set of finished rows seen as one job: failure if one failed,
// else cancelled if one was, else success if one succeeded, else skipped.
func combine(rows []*Row) string {
	cancelled, succeeded := false, false
	for _, c := range rows {
		switch c.result() {
		case jobspec.Failure:
			return jobspec.Failure
		case jobspec.Cancelled:
			cancelled = true
		case jobspec.Success:
			succeeded = true
		}
	}
	switch {
	case cancelled:
		return jobspec.Cancelled
	case succeeded:
		return jobspec.Success
	}
	return jobspec.Skipped
}

// boolValue reads a literal or evaluated boolean; a failed evaluation keeps def.
func boolValue(ev *expr.Evaluator, b *actionlint.Bool, def bool) bool {
	if b == nil {
		return def
	}
	if b.Expression != nil {
		v, err := ev.Value(b.Expression.Value)
		if err != nil {
			return def
		}
		return expr.Truthy(v)
	}
	return b.Value
}

// intValue reads a literal or evaluated integer; a failed evaluation keeps def.
func intValue(ev *expr.Evaluator, i *actionlint.Int, def int) int {
	if i == nil {
		return def
	}
	if i.Expression != nil {
		v, err := ev.Value(i.Expression.Value)
		if err != nil {
			return def
		}
		switch t := v.(type) {
		case float64:
			return int(t)
		case string:
			var n int
			if _, err := fmt.Sscan(t, &n); err == nil {
				return n
			}
		}
		return def
	}
	return i.Value
}
