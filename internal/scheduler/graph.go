package scheduler

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/plan"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/workflow"
)

// JobFinished moves the job's run along.
func (s *Scheduler) JobFinished(ctx context.Context, jobID int64) error {
	j, err := s.cfg.DB.GetJob(ctx, jobID)
	if err != nil {
		return err
	}
	if err := s.advance(ctx, j.RunID); err != nil {
		return err
	}
	if info, ok := s.info(ctx, j); ok && info.Promotion != 0 {
		// Only a deployment job's end can conclude a promotion; the others
		// spare every job's completion a query.
		s.settleRunPromotions(ctx, j.RunID)
	}
	return nil
}

// Cancel cancels a run: jobs not started are cancelled, running ones are
// told to stop at their next heartbeat.
func (s *Scheduler) Cancel(ctx context.Context, runID int64) error {
	r, err := s.cfg.DB.CancelRun(ctx, runID, "cancelled by a user")
	if err != nil {
		return err
	}
	if err := s.advance(ctx, runID); err != nil {
		return err
	}
	s.settleRunPromotions(ctx, runID)
	// With nothing running, CancelRun itself ended the run, so advance
	// did not see it finish: report it and let its group move on here.
	if r.Status == store.StatusCompleted && r.Conclusion == store.ConclusionCancelled {
		s.report(ctx, r)
		if r.ConcurrencyGroup != "" {
			s.wakeGroup(ctx, r)
		}
	}
	return nil
}

// Rerun starts the run again as a new run of the same commit and event,
// planned from the same workflow files; with failedOnly, top-level jobs that
// succeeded keep their results and outputs (and the jobs they need too).
func (s *Scheduler) Rerun(ctx context.Context, runID int64, failedOnly bool) (*store.Run, error) {
	old, err := s.cfg.DB.GetRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	jobs, err := s.cfg.DB.ListLatestJobs(ctx, runID)
	if err != nil {
		return nil, err
	}
	p, base, err := s.planFor(ctx, old, jobs)
	if err != nil {
		return nil, err
	}
	run := *old
	run.ID, run.Number, run.Status, run.Conclusion, run.Trigger = 0, 0, "", "", store.TriggerRerun
	run.StartedAt, run.FinishedAt = nil, nil
	run.Attempt = old.Attempt + 1
	keep := map[string]store.Job{}
	if failedOnly {
		for _, j := range jobs {
			if j.Parent == "" && j.Conclusion == store.ConclusionSuccess {
				keep[strings.ToLower(j.Key)] = j
			}
		}
	}
	// A job that needs one running again runs again too, as GitHub's
	// "re-run failed jobs" reruns their dependents.
	for changed := true; changed; {
		changed = false
		for key, j := range keep {
			for _, n := range j.Needs {
				if _, ok := keep[strings.ToLower(n)]; !ok {
					delete(keep, key)
					changed = true
					break
				}
			}
		}
	}
	fresh := s.placeholders(base, p, p.Rows())
	r, created, err := s.cfg.DB.CreateRun(ctx, run, fresh)
	if err != nil {
		return nil, err
	}
	completed, success, reason := store.StatusCompleted, store.ConclusionSuccess, fmt.Sprintf("succeeded in run #%d", old.Number)
	for _, j := range created {
		if k, ok := keep[strings.ToLower(j.Key)]; ok {
			if _, err := s.cfg.DB.UpdateJob(ctx, j.ID, store.JobUpdate{Status: &completed, Conclusion: &success, Reason: &reason, Outputs: k.Outputs}); err != nil {
				return nil, err
			}
		}
	}
	return r, s.advance(ctx, r.ID)
}

// placeholders are the first rows of a run planned by p: one waiting job per top-level job,
// each carrying the plan's input (base), so the plan can be made again from any of them.
func (s *Scheduler) placeholders(base Spec, p *plan.Plan, rows []plan.Row) []store.Job {
	wf := p.Workflow(p.Run().WorkflowPath)
	out := make([]store.Job, 0, len(rows))
	for _, r := range rows {
		spec := base
		spec.Run = p.Run()
		spec.Job = jobspec.Job{Key: r.Key, Name: r.Name, JobID: r.JobID, WorkflowPath: wf.Path, WorkflowSource: string(wf.Source)}
		out = append(out, store.Job{Key: r.Key, Name: r.Name, Needs: r.Needs, Labels: literalLabels(wf.Job(r.JobID)), Spec: spec.encode()})
	}
	return out
}

// advance applies the plan's decisions to the run until there are none
// left, then ends the run when nothing is left to run.
func (s *Scheduler) advance(ctx context.Context, runID int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		changed, err := s.step(ctx, runID)
		if err != nil {
			return err
		}
		if !changed {
			break
		}
	}
	r, done, err := s.cfg.DB.FinishRunIfDone(ctx, runID)
	if err != nil {
		return err
	}
	if done {
		s.forget(ctx, runID)
		if r.Conclusion == store.ConclusionSuccess {
			s.recordRelease(ctx, r)
		}
		s.report(ctx, r)
		if r.ConcurrencyGroup != "" {
			s.mu.Unlock()
			s.wakeGroup(ctx, r)
			s.mu.Lock()
		}
	}
	return nil
}

// step asks the plan what the run's rows allow and records its decisions.
func (s *Scheduler) step(ctx context.Context, runID int64) (bool, error) {
	run, err := s.cfg.DB.GetRun(ctx, runID)
	if err != nil || run.Status == store.StatusCompleted {
		return false, err
	}
	jobs, err := s.cfg.DB.ListJobStates(ctx, runID)
	if err != nil {
		return false, err
	}
	if held, why := s.heldByGroup(ctx, run); held {
		for _, j := range jobs {
			if j.Status == store.StatusWaiting && j.Parent == "" && len(j.Needs) == 0 && j.PendingReason != why {
				_, _ = s.cfg.DB.UpdateJob(ctx, j.ID, store.JobUpdate{PendingReason: &why})
			}
		}
		return false, nil
	}
	p, base, err := s.planFor(ctx, run, jobs)
	if err != nil {
		return false, s.failWaiting(ctx, jobs, err)
	}
	rows := make([]plan.Row, 0, len(jobs))
	for i := range jobs {
		rows = append(rows, s.planRow(ctx, &jobs[i]))
	}
	_, changes := p.Advance(rows, false)
	if len(changes) == 0 {
		return false, nil
	}
	return true, s.apply(ctx, run, p, base, jobs, changes)
}

// failWaiting ends the waiting jobs of a run whose plan cannot be made (its stored
// workflow does not parse any more), saying why.
func (s *Scheduler) failWaiting(ctx context.Context, jobs []store.Job, why error) error {
	completed, failure, reason := store.StatusCompleted, store.ConclusionFailure, "planning the run: "+why.Error()
	for _, j := range jobs {
		if j.Status == store.StatusWaiting {
			if _, err := s.cfg.DB.UpdateJob(ctx, j.ID, store.JobUpdate{Status: &completed, Conclusion: &failure, Reason: &reason}); err != nil {
				return err
			}
		}
	}
	return nil
}

// planRow is a job row as the plan sees it. A deployment job held for its promotion's
// gates was started by the plan; the promotion decides when it is queued.
func (s *Scheduler) planRow(ctx context.Context, j *store.Job) plan.Row {
	info, _ := s.info(ctx, j)
	r := plan.Row{Key: j.Key, Parent: j.Parent, JobID: info.JobID, Leg: info.Leg, Name: j.Name, Needs: j.Needs,
		Result: j.Conclusion, Outputs: j.Outputs, Reason: j.Reason, Tolerated: j.Tolerated,
		CancelRequested: j.CancelRequested, Spec: info.Job}
	switch {
	case j.Status == store.StatusCompleted:
		r.State = plan.Done
	case j.Status == store.StatusWaiting && !strings.HasPrefix(j.PendingReason, holdPrefix):
		r.State = plan.Waiting
	default:
		r.State = plan.Active
	}
	return r
}

// apply records the plan's changes, in order: new rows (legs, jobs of called workflows),
// jobs queued or held for their deployment, jobs ended without running, cancel requests.
func (s *Scheduler) apply(ctx context.Context, run *store.Run, p *plan.Plan, base Spec, jobs []store.Job, changes []plan.Change) error {
	byKey := make(map[string]*store.Job, len(jobs))
	for i := range jobs {
		byKey[jobs[i].Key] = &jobs[i]
	}
	var adds []plan.Row
	fresh := map[string]bool{}
	flush := func() error {
		if len(adds) == 0 {
			return nil
		}
		rows := make([]store.Job, len(adds))
		for i, r := range adds {
			spec := s.rowSpec(p, base, r, s.promotionOf(ctx, byKey[r.Parent]))
			rows[i] = store.Job{Key: r.Key, Name: r.Name, Parent: r.Parent, Needs: r.Needs, Labels: spec.Job.Labels,
				Tolerated: r.Tolerated, Spec: spec.encode()}
		}
		added, err := s.cfg.DB.AddJobs(ctx, run.ID, rows)
		if err != nil {
			return err
		}
		for i := range added {
			a := &added[i]
			byKey[a.Key] = a
			// A leg is made with the spec it runs with; a called workflow's job gets
			// its spec when the plan starts it.
			fresh[a.Key] = adds[i].Spec != nil
			s.remember(a.ID, adds[i], 0)
		}
		adds = adds[:0]
		return nil
	}
	var enqueue []int64
	for _, c := range changes {
		if c.Op == plan.Add {
			adds = append(adds, c.Row)
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		j := byKey[c.Row.Key]
		if j == nil {
			return fmt.Errorf("run %d: the plan changed %s, which has no row", run.ID, c.Row.Key)
		}
		var err error
		switch c.Op {
		case plan.Expand:
			if c.Row.Spec != nil {
				spec := s.rowSpec(p, base, c.Row, s.promotionOf(ctx, j))
				_, err = s.cfg.DB.UpdateJob(ctx, j.ID, store.JobUpdate{Spec: spec.encode(), Name: &c.Row.Name})
				s.remember(j.ID, c.Row, spec.Promotion)
			}
		case plan.Start:
			c.Row = s.withStoredJob(ctx, j, c.Row)
			promotion := s.promotionOf(ctx, j)
			if promotion == 0 {
				promotion = s.promotionOf(ctx, byKey[c.Row.Parent])
			}
			spec := s.rowSpec(p, base, c.Row, promotion)
			s.remember(j.ID, c.Row, spec.Promotion)
			switch {
			case spec.Environment != "":
				if err = s.holdDeployment(ctx, run, j, &spec); err != nil {
					completed, failure, reason := store.StatusCompleted, store.ConclusionFailure, err.Error()
					_, err = s.cfg.DB.UpdateJob(ctx, j.ID, store.JobUpdate{Status: &completed, Conclusion: &failure, Reason: &reason})
				}
			case fresh[j.Key]:
				// Made with its spec a moment ago (a matrix leg).
				enqueue = append(enqueue, j.ID)
			default:
				_, err = s.cfg.DB.UpdateJob(ctx, j.ID, store.JobUpdate{Spec: spec.encode(), Name: &c.Row.Name,
					Labels: nonNil(spec.Job.Labels), Tolerated: &c.Row.Tolerated})
				enqueue = append(enqueue, j.ID)
			}
		case plan.Finish:
			completed, conclusion, reason := store.StatusCompleted, c.Row.Result, c.Row.Reason
			_, err = s.cfg.DB.UpdateJob(ctx, j.ID, store.JobUpdate{Status: &completed, Conclusion: &conclusion, Reason: &reason, Outputs: c.Row.Outputs})
		case plan.Cancel:
			reason := c.Row.Reason
			if j.Status == store.StatusInProgress {
				// Its agent stops it at the next heartbeat.
				yes := true
				_, err = s.cfg.DB.UpdateJob(ctx, j.ID, store.JobUpdate{CancelRequested: &yes, Reason: &reason})
			} else {
				completed, cancelled := store.StatusCompleted, store.ConclusionCancelled
				_, err = s.cfg.DB.UpdateJob(ctx, j.ID, store.JobUpdate{Status: &completed, Conclusion: &cancelled, Reason: &reason})
			}
		}
		if err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if len(enqueue) > 0 {
		if _, err := s.cfg.DB.Enqueue(ctx, enqueue); err != nil {
			return err
		}
	}
	return nil
}

// withStoredJob gives a row the plan starts the job spec it was stored with, when the plan
// only had the cached one (rowInfo drops the workflow text and inputs): a matrix leg made
// earlier and started later (max-parallel, a re-run) must reach its agent whole.
func (s *Scheduler) withStoredJob(ctx context.Context, j *store.Job, r plan.Row) plan.Row {
	if r.Spec == nil || r.Spec.WorkflowSource != "" {
		return r
	}
	full, err := s.cfg.DB.GetJob(ctx, j.ID)
	if err != nil {
		return r
	}
	if sp, err := ParseSpec(full.Spec); err == nil && sp.Job.WorkflowSource != "" && sp.Job.Key == r.Key {
		js := sp.Job
		r.Spec = &js
	}
	return r
}

// nonNil keeps an empty label list from reading as "unchanged".
func nonNil(ls []string) []string {
	if ls == nil {
		return []string{}
	}
	return ls
}

// rowSpec is the spec stored with a row the plan made or decided.
func (s *Scheduler) rowSpec(p *plan.Plan, base Spec, r plan.Row, promotion int64) Spec {
	spec := Spec{Leg: r.Leg, Environments: base.Environments, EnvironmentsError: base.EnvironmentsError, LockHash: base.LockHash,
		Promotion: promotion}
	spec.Run = p.Run()
	if r.Spec != nil {
		spec.Job = *r.Spec
		spec.Environment = r.Spec.Environment
	} else {
		spec.Job = jobspec.Job{Key: r.Key, Name: r.Name, JobID: r.JobID}
	}
	if r.Parent == "" {
		// Top-level rows carry the plan's input: any of them can make the plan again.
		spec.Called, spec.CallErrors = base.Called, base.CallErrors
	}
	return spec
}

// planFor is the plan of run (cached until the run ends), made from the input its
// top-level rows carry: the workflow, the called workflows' sources, the event.
func (s *Scheduler) planFor(ctx context.Context, run *store.Run, jobs []store.Job) (*plan.Plan, Spec, error) {
	if v, ok := s.plans.Load(run.ID); ok {
		e := v.(planEntry)
		return e.p, e.base, nil
	}
	var spec *Spec
	for _, j := range jobs {
		if j.Parent != "" {
			continue
		}
		full, err := s.cfg.DB.GetJob(ctx, j.ID)
		if err != nil {
			return nil, Spec{}, err
		}
		if sp, err := ParseSpec(full.Spec); err == nil && sp.Job.WorkflowSource != "" {
			spec = sp
			break
		}
	}
	if spec == nil {
		return nil, Spec{}, fmt.Errorf("run %d has no job that names its workflow", run.ID)
	}
	p, err := planOf(run, spec)
	if err != nil {
		return nil, Spec{}, err
	}
	base := *spec
	base.Job, base.Leg, base.Environment, base.Promotion = jobspec.Job{}, 0, "", 0
	if run.Status != store.StatusCompleted {
		// Kept until the run ends (forget); a finished run's plan is made when asked.
		s.plans.Store(run.ID, planEntry{p: p, base: base})
	}
	return p, base, nil
}

type planEntry struct {
	p    *plan.Plan
	base Spec
}

// planOf makes the plan of run from the input a top-level row's spec carries. The run's
// identity comes from the run itself (its ID, number and attempt exist once it does).
func planOf(run *store.Run, spec *Spec) (*plan.Plan, error) {
	wf, err := workflow.Parse(run.Workflow, []byte(spec.Job.WorkflowSource))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", run.Workflow, err)
	}
	called := map[string]*workflow.Workflow{}
	for k, src := range spec.Called {
		cw, err := workflow.Parse(src.Path, []byte(src.Source))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", src.Path, err)
		}
		called[k] = cw
	}
	r := spec.Run
	r.ID, r.Number, r.Attempt = fmt.Sprint(run.ID), run.Number, max(run.Attempt, 1)
	r.WorkflowPath = wf.Path
	return plan.New(plan.Input{Run: r, Workflow: wf, Called: called, CallErrors: spec.CallErrors, OtherOS: plan.WaitForAgent})
}

// rowInfo is the little of a row's spec the plan needs on every pass (its job, its leg,
// the job spec without the workflow text), cached by job ID because specs are large.
type rowInfo struct {
	JobID     string
	Leg       int
	Promotion int64
	Job       *jobspec.Job
}

// remember caches what the plan said of a row.
func (s *Scheduler) remember(id int64, r plan.Row, promotion int64) {
	info := rowInfo{JobID: r.JobID, Leg: r.Leg, Promotion: promotion}
	if r.Spec != nil {
		js := *r.Spec
		js.WorkflowSource, js.Inputs = "", nil
		info.Job = &js
	}
	s.infos.Store(id, info)
}

// info reads (once) what the plan needs of a row.
func (s *Scheduler) info(ctx context.Context, j *store.Job) (rowInfo, bool) {
	if v, ok := s.infos.Load(j.ID); ok {
		return v.(rowInfo), true
	}
	raw := j.Spec
	if raw == nil {
		full, err := s.cfg.DB.GetJob(ctx, j.ID)
		if err != nil {
			return rowInfo{JobID: j.Key}, false
		}
		raw = full.Spec
	}
	spec, err := ParseSpec(raw)
	if err != nil {
		return rowInfo{JobID: j.Key}, false
	}
	info := rowInfo{JobID: spec.Job.JobID, Leg: spec.Leg, Promotion: spec.Promotion}
	if spec.Job.Name != "" {
		js := spec.Job
		js.WorkflowSource, js.Inputs = "", nil
		info.Job = &js
	}
	s.infos.Store(j.ID, info)
	return info, true
}

// promotionOf is the promotion a row carries out (0: none).
func (s *Scheduler) promotionOf(ctx context.Context, j *store.Job) int64 {
	if j == nil {
		return 0
	}
	info, _ := s.info(ctx, j)
	return info.Promotion
}

// forget drops what planning cached about a finished run.
func (s *Scheduler) forget(ctx context.Context, runID int64) {
	s.plans.Delete(runID)
	jobs, err := s.cfg.DB.ListJobStates(ctx, runID)
	if err != nil {
		return
	}
	for _, j := range jobs {
		s.infos.Delete(j.ID)
	}
}

// heldByGroup says whether an earlier run of the same concurrency group
// is still going, in which case this one waits.
func (s *Scheduler) heldByGroup(ctx context.Context, run *store.Run) (bool, string) {
	if run.ConcurrencyGroup == "" {
		return false, ""
	}
	others, err := s.cfg.DB.ListRuns(ctx, store.RunFilter{RepoID: run.RepoID, ConcurrencyGroup: run.ConcurrencyGroup, Limit: 100})
	if err != nil {
		return false, ""
	}
	for _, o := range others {
		if o.ID < run.ID && o.Status != store.StatusCompleted {
			return true, fmt.Sprintf("waiting for run #%d of concurrency group %q", o.Number, run.ConcurrencyGroup)
		}
	}
	return false, ""
}

// cancelGroup cancels the other unfinished runs of r's group
// (cancel-in-progress).
func (s *Scheduler) cancelGroup(ctx context.Context, r *store.Run) {
	others, err := s.cfg.DB.ListRuns(ctx, store.RunFilter{RepoID: r.RepoID, ConcurrencyGroup: r.ConcurrencyGroup, Limit: 100})
	if err != nil {
		return
	}
	for _, o := range others {
		if o.ID != r.ID && o.Status != store.StatusCompleted {
			_ = s.Cancel(ctx, o.ID)
		}
	}
}

// wakeGroup lets the next waiting run of a finished run's group start.
func (s *Scheduler) wakeGroup(ctx context.Context, r *store.Run) {
	others, err := s.cfg.DB.ListRuns(ctx, store.RunFilter{RepoID: r.RepoID, ConcurrencyGroup: r.ConcurrencyGroup, Limit: 100})
	if err != nil {
		return
	}
	for i := len(others) - 1; i >= 0; i-- {
		if o := others[i]; o.ID > r.ID && o.Status != store.StatusCompleted {
			_ = s.advance(ctx, o.ID)
			return
		}
	}
}

// loadSpecWorkflow parses the workflow a spec carries.
func loadSpecWorkflow(_ context.Context, spec *Spec) (*workflow.Workflow, func(), error) {
	wf, err := workflow.Parse(spec.Job.WorkflowPath, []byte(spec.Job.WorkflowSource))
	if err != nil {
		return nil, nil, err
	}
	return wf, func() {}, nil
}
