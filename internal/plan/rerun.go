package plan

import "github.com/sluice-ci/sluice/internal/jobspec"

// A re-run is a new attempt of the same run (GitHub keeps github.run_id and run_number and
// increments run_attempt). Re-running all jobs starts from the run's first rows; re-running
// the failed ones ("Re-run failed jobs": "re-run all failed jobs and their dependents")
// keeps every job that did not fail, with its result and outputs, so the jobs run again see
// the same needs.

// verdict is what a re-run does with one row of the last attempt.
type verdict int

const (
	keep    verdict = iota // kept as it ended (Done, Kept)
	partial                // an expanded row some of whose children run again: it waits for them
	redo                   // runs again from the start
)

// Rerun makes the rows a run's next attempt starts with, from the rows its last attempt
// ended with. With failedOnly false, they are the run's first rows (Rows). With failedOnly,
// a job, matrix leg or called workflow's job that failed or was cancelled runs again, and so
// does every job that needs one running again (directly or not); the others are kept as they
// ended, marked Kept, outputs included. A matrix job keeps its successful legs and runs the
// others again; a called workflow keeps its successful jobs likewise.
func (p *Plan) Rerun(last []Row, failedOnly bool) []Row {
	if !failedOnly {
		return p.Rows()
	}
	g := p.newGraph(last, false)
	rr := &rerunner{g: g, verdicts: map[string]verdict{}, frames: map[string]*frame{}}
	for _, id := range p.top.order {
		if r := g.byKey[p.top.key+id]; r != nil {
			rr.verdict(p.top, r)
		}
	}
	var out []Row
	dropped := map[string]bool{}
	for _, r := range g.rows {
		if r.Parent != "" && dropped[r.Parent] {
			dropped[r.Key] = true
			continue
		}
		v, ok := rr.verdicts[r.Key]
		if !ok {
			// Not reached from the top (its caller's frame could not be made): what it
			// belonged to runs again.
			dropped[r.Key] = true
			continue
		}
		n := *r
		switch v {
		case keep:
			n.Kept = true
		case partial:
			n.State, n.Result, n.Outputs, n.Reason, n.CancelRequested = Waiting, "", nil, "", false
		case redo:
			if len(g.children(r)) > 0 {
				dropped[r.Key] = true
			}
			n.State, n.Result, n.Outputs, n.Reason, n.CancelRequested, n.Tolerated = Waiting, "", nil, "", false, false
			if r.Leg == 0 {
				// Decided again, as in a first attempt.
				f := rr.frames[r.Key]
				fresh := p.nodeRow(f, r.JobID)
				n.Name, n.Needs, n.Spec = fresh.Name, fresh.Needs, nil
			}
		}
		out = append(out, n)
	}
	return out
}

type rerunner struct {
	g        *graph
	verdicts map[string]verdict
	frames   map[string]*frame // the frame each reached row belongs to
}

// verdict decides row r of frame f, the rows it needs first.
func (rr *rerunner) verdict(f *frame, r *Row) verdict {
	if v, ok := rr.verdicts[r.Key]; ok {
		return v
	}
	rr.verdicts[r.Key] = keep // a cycle cannot be made by a plan; this only guards
	rr.frames[r.Key] = f
	v := rr.decide(f, r)
	rr.verdicts[r.Key] = v
	return v
}

func (rr *rerunner) decide(f *frame, r *Row) verdict {
	g := rr.g
	for _, n := range r.Needs {
		if nr := g.byKey[n]; nr != nil && nr.Key != r.Key && rr.verdict(rr.frameOf(f, nr), nr) != keep {
			return redo
		}
	}
	kids := g.children(r)
	if len(kids) == 0 {
		if r.State == Done && (r.Result == jobspec.Success || r.Result == jobspec.Skipped) {
			return keep
		}
		return redo
	}
	j := f.wf.Job(r.JobID)
	isCall := j != nil && j.WorkflowCall != nil
	all := keep
	for _, k := range kids {
		var v verdict
		switch {
		case k.Leg > 0 && isCall:
			// One leg of a matrix of calls: its own called workflow.
			if v = rr.callLeg(f, k); v == redo {
				return redo
			}
		case k.Leg > 0:
			v = rr.verdict(f, k)
		default:
			cf, err := g.p.frameFor(f, r)
			if err != nil {
				return redo
			}
			v = rr.verdict(cf, k)
		}
		if v != keep {
			all = partial
		}
	}
	return all
}

// callLeg decides one leg of a matrix of calls. A leg is never decided again (only started),
// so one whose called workflow never expanded (it failed to load) makes its whole job run
// again.
func (rr *rerunner) callLeg(f *frame, leg *Row) verdict {
	rr.frames[leg.Key] = f
	kids := rr.g.children(leg)
	if len(kids) == 0 {
		v := keep
		if leg.Result != jobspec.Success && leg.Result != jobspec.Skipped {
			v = redo
		}
		rr.verdicts[leg.Key] = v
		return v
	}
	cf, err := rr.g.p.frameFor(f, leg)
	if err != nil {
		rr.verdicts[leg.Key] = redo
		return redo
	}
	v := keep
	for _, k := range kids {
		if rr.verdict(cf, k) != keep {
			v = partial
		}
	}
	rr.verdicts[leg.Key] = v
	return v
}

// frameOf is the frame a needed row belongs to: needs name rows of the same frame.
func (rr *rerunner) frameOf(f *frame, r *Row) *frame {
	if cf, ok := rr.frames[r.Key]; ok {
		return cf
	}
	return f
}
