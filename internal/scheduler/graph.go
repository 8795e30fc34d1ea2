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
	return s.jobEnded(ctx, j)
}

// jobEnded does what a job's end asks of the scheduler beyond advancing its run (which is
// done first): a deployment job's end may conclude its promotion, a verification job's does.
func (s *Scheduler) jobEnded(ctx context.Context, j *store.Job) error {
	info, ok := s.info(ctx, j)
	if ok && info.Promotion != 0 {
		// Only a deployment job's end can conclude a promotion; the others
		// spare every job's completion a query.
		s.settleRunPromotions(ctx, j.RunID)
	}
	if ok && info.Verify != 0 && j.Status == store.StatusCompleted {
		return s.verifyJobDone(ctx, info.Verify, j)
	}
	return nil
}

// Cancel cancels a run as GitHub does: the status functions are evaluated again, so jobs
// whose if: asks for always() or cancelled() still run (a running one goes on), the others
// are cancelled (a running one is told to stop at its next heartbeat). A run still waiting
// for its concurrency group never started: all of it is cancelled at once.
func (s *Scheduler) Cancel(ctx context.Context, runID int64) error {
	if err := s.cancel(ctx, runID, "cancelled by a user"); err != nil {
		return err
	}
	s.settleRunPromotions(ctx, runID)
	return nil
}

// cancel cancels run runID for reason (a user, a newer run of its concurrency group).
func (s *Scheduler) cancel(ctx context.Context, runID int64, reason string) error {
	run, err := s.cfg.DB.GetRun(ctx, runID)
	if err != nil {
		return err
	}
	if run.Status == store.StatusCompleted {
		return nil
	}
	if run.GroupPending {
		r, err := s.cfg.DB.CancelRun(ctx, runID, reason)
		if err != nil {
			return err
		}
		s.forget(ctx, runID)
		s.report(ctx, r)
		return nil
	}
	if _, err := s.cfg.DB.RequestCancel(ctx, runID, reason); err != nil {
		return err
	}
	return s.advance(ctx, runID)
}

// Rerun starts the next attempt of a completed run, as GitHub re-runs: the same run (its id
// and number stay, github.run_attempt counts up), planned from the same workflow files and
// event. With failedOnly, the plan keeps every job, leg and called job that did not fail,
// with its outputs, and runs the failed ones and their dependents again.
func (s *Scheduler) Rerun(ctx context.Context, runID int64, failedOnly bool) (*store.Run, error) {
	old, err := s.cfg.DB.GetRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	if old.Status != store.StatusCompleted {
		return nil, fmt.Errorf("run %d is %s: only a completed run can be re-run: %w", runID, old.Status, store.ErrConflict)
	}
	jobs, err := s.cfg.DB.ListLatestJobs(ctx, runID)
	if err != nil {
		return nil, err
	}
	// A verification job belongs to its promotion, not to the workflow: it
	// is not run again with it.
	jobs = s.workflowJobs(ctx, jobs)
	top, err := s.topSpec(ctx, old, jobs)
	if err != nil {
		return nil, err
	}
	next := *old
	next.Attempt = max(old.Attempt, 1) + 1
	p, err := planOf(&next, top)
	if err != nil {
		return nil, err
	}
	base := *top
	base.Job, base.Leg, base.Environment, base.Promotion = jobspec.Job{}, 0, "", 0
	rows := make([]plan.Row, 0, len(jobs))
	byKey := make(map[string]*store.Job, len(jobs))
	for i := range jobs {
		rows = append(rows, s.planRow(ctx, &jobs[i]))
		byKey[jobs[i].Key] = &jobs[i]
	}
	var fresh []store.Job
	for _, r := range p.Rerun(rows, failedOnly) {
		o := byKey[r.Key]
		switch {
		case r.Kept && o != nil:
			from, why := o.ID, fmt.Sprintf("%s in attempt %d", o.Conclusion, max(old.Attempt, 1))
			if o.KeptFrom != nil {
				from, why = *o.KeptFrom, o.Reason
			}
			fresh = append(fresh, store.Job{Key: o.Key, Name: o.Name, Parent: o.Parent, Needs: o.Needs, Labels: o.Labels, Spec: o.Spec,
				Status: store.StatusCompleted, Conclusion: o.Conclusion, Outputs: o.Outputs, Reason: why, Tolerated: o.Tolerated,
				KeptFrom: &from, QueuedAt: o.QueuedAt, StartedAt: o.StartedAt, FinishedAt: o.FinishedAt})
		case r.Spec != nil && o != nil:
			// Waits again with the spec it was made with: an expanded row some of whose
			// children run again, or a matrix leg.
			fresh = append(fresh, store.Job{Key: r.Key, Name: r.Name, Parent: r.Parent, Needs: r.Needs, Labels: o.Labels, Spec: o.Spec})
		case r.Parent == "":
			fresh = append(fresh, s.placeholders(base, p, []plan.Row{r})...)
		default:
			spec := s.rowSpec(p, base, r, 0)
			fresh = append(fresh, store.Job{Key: r.Key, Name: r.Name, Parent: r.Parent, Needs: r.Needs, Spec: spec.encode()})
		}
	}
	s.forget(ctx, runID)
	r, _, err := s.cfg.DB.RerunRun(ctx, runID, store.TriggerRerun, old.Actor, fresh)
	if err != nil {
		return nil, err
	}
	// The attempt enters its concurrency group again (the group may read run_attempt).
	if err := s.enterRunGroup(ctx, r, p); err != nil {
		return nil, err
	}
	s.report(ctx, r)
	if err := s.advance(ctx, r.ID); err != nil {
		return nil, err
	}
	return s.cfg.DB.GetRun(ctx, r.ID)
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

// advance applies the plan's decisions to the run until there are none left, then ends the
// run when nothing is left to run. Runs its decisions touch (a concurrency group's next
// run, a run whose job a group cancelled) are advanced after it.
func (s *Scheduler) advance(ctx context.Context, runID int64) error {
	queue := []int64{runID}
	for seen := 0; len(queue) > 0 && seen < 10000; seen++ {
		id := queue[0]
		queue = queue[1:]
		more, err := s.advanceOne(ctx, id)
		if err != nil {
			return err
		}
		queue = append(queue, more...)
	}
	return nil
}

// advanceOne advances one run under the run's lock, in the database: any replica may advance
// any run, one at a time; in this process, concurrent requests share passes. It reports the
// run to the forge when it ends and returns the other runs its decisions touched.
func (s *Scheduler) advanceOne(ctx context.Context, runID int64) ([]int64, error) {
	var (
		more     []int64
		finished *store.Run
	)
	err := s.passes.do(ctx, runID, func(ctx context.Context) error {
		more, finished = nil, nil
		return s.cfg.DB.WithRunLock(ctx, runID, func(ctx context.Context) error {
			var rows []store.Job // what the last pass read; it changed nothing
			for {
				changed, touched, read, err := s.step(ctx, runID)
				more = append(more, touched...)
				if err != nil {
					return err
				}
				if !changed {
					rows = read
					break
				}
			}
			more = append(more, s.wakeJobGroups(ctx, runID, rows)...)
			if anyOpen(rows) {
				// FinishRunIfDone would count the open job and say no, in a write
				// transaction of its own: most passes come while a run's jobs go on.
				// A job completing since the read asked for a pass of its own.
				return nil
			}
			r, done, err := s.cfg.DB.FinishRunIfDone(ctx, runID)
			if err != nil || !done {
				return err
			}
			finished = r
			s.forget(ctx, runID)
			if r.Conclusion == store.ConclusionSuccess {
				s.recordRelease(ctx, r)
			}
			if r.ConcurrencyGroup != "" {
				more = append(more, s.wakeRunGroup(ctx, r)...)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if finished != nil {
		// Only a run's end changes what the forge shows: advancing a run that goes on
		// would post the same status again on every job's end.
		s.report(ctx, finished)
		s.runCompleted(ctx, finished)
	}
	return more, nil
}

// anyOpen says whether one of rows (a run's latest jobs) has not completed.
func anyOpen(rows []store.Job) bool {
	for _, j := range rows {
		if j.Status != store.StatusCompleted {
			return true
		}
	}
	return false
}

// step asks the plan what the run's rows allow and records its decisions. It returns the
// other runs its decisions touched and the rows it read (nil if none), which are still the
// run's rows when it changed nothing: a 250-leg matrix is read once per job's end, not twice.
func (s *Scheduler) step(ctx context.Context, runID int64) (bool, []int64, []store.Job, error) {
	run, err := s.cfg.DB.GetRun(ctx, runID)
	if err != nil || run.Status == store.StatusCompleted {
		return false, nil, nil, err
	}
	all, err := s.cfg.DB.ListJobStates(ctx, runID)
	if err != nil {
		return false, nil, nil, err
	}
	jobs := all
	if run.GroupPending {
		why := s.runGroupReason(ctx, run)
		for _, j := range jobs {
			if j.Status == store.StatusWaiting && j.Parent == "" && len(j.Needs) == 0 && j.PendingReason != why {
				_, _ = s.cfg.DB.UpdateJob(ctx, j.ID, store.JobUpdate{PendingReason: &why})
			}
		}
		return false, nil, all, nil
	}
	// A verification job is sluice's, not the workflow's: the plan never sees it.
	jobs = s.workflowJobs(ctx, jobs)
	p, base, err := s.planFor(ctx, run, jobs)
	if err != nil {
		return false, nil, nil, s.failWaiting(ctx, jobs, err)
	}
	rows := make([]plan.Row, 0, len(jobs))
	for i := range jobs {
		rows = append(rows, s.planRow(ctx, &jobs[i]))
	}
	_, changes := p.Advance(rows, run.CancelRequested)
	if len(changes) == 0 {
		return false, nil, all, nil
	}
	touched, err := s.apply(ctx, run, p, base, jobs, changes)
	return true, touched, nil, err
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
	case j.Status == store.StatusWaiting && !strings.HasPrefix(j.PendingReason, holdPrefix) && !groupHeld(j):
		r.State = plan.Waiting
	default:
		r.State = plan.Active
	}
	return r
}

// apply records the plan's changes, in order: new rows (legs, jobs of called workflows),
// jobs queued or held for their deployment, jobs ended without running, cancel requests.
func (s *Scheduler) apply(ctx context.Context, run *store.Run, p *plan.Plan, base Spec, jobs []store.Job, changes []plan.Change) ([]int64, error) {
	var touched []int64
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
			return touched, err
		}
		j := byKey[c.Row.Key]
		if j == nil {
			return touched, fmt.Errorf("run %d: the plan changed %s, which has no row", run.ID, c.Row.Key)
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
			default:
				u := store.JobUpdate{}
				if !fresh[j.Key] {
					// A leg made a moment ago has its spec; the others get theirs now.
					u = store.JobUpdate{Spec: spec.encode(), Name: &c.Row.Name, Labels: nonNil(spec.Job.Labels), Tolerated: &c.Row.Tolerated}
				}
				wait := false
				if c := spec.Job.Concurrency; c != nil && c.Group != "" {
					// jobs.<id>.concurrency: the job enters its group, as plan.Admit decides.
					var more []int64
					wait, more, err = s.enterJobGroup(ctx, run, j, c)
					touched = append(touched, more...)
					u.ConcurrencyGroup = &c.Group
					if wait {
						why := groupHoldPrefix + fmt.Sprintf("%q: waiting for the job that holds it", c.Group)
						u.PendingReason = &why
					}
				}
				if err == nil && (u.Spec != nil || u.ConcurrencyGroup != nil) {
					_, err = s.cfg.DB.UpdateJob(ctx, j.ID, u)
				}
				if !wait {
					enqueue = append(enqueue, j.ID)
				}
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
			return touched, err
		}
	}
	if err := flush(); err != nil {
		return touched, err
	}
	if len(enqueue) > 0 {
		if _, err := s.cfg.DB.Enqueue(ctx, enqueue); err != nil {
			return touched, err
		}
	}
	return touched, nil
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
		// Top-level rows carry the plan's input: any of them can make the plan again, on
		// another replica or after a restart, even when the only one is a matrix's row.
		spec.Called, spec.CallErrors = base.Called, base.CallErrors
		if spec.Job.WorkflowSource == "" {
			wf := p.Workflow(p.Run().WorkflowPath)
			spec.Workflow = &Source{Path: wf.Path, Source: string(wf.Source)}
		}
	}
	return spec
}

// planFor is the plan of run (cached until the run ends), made from the input its
// top-level rows carry: the workflow, the called workflows' sources, the event.
func (s *Scheduler) planFor(ctx context.Context, run *store.Run, jobs []store.Job) (*plan.Plan, Spec, error) {
	if v, ok := s.plans.Load(run.ID); ok {
		e := v.(planEntry)
		if e.attempt == run.Attempt {
			return e.p, e.base, nil
		}
	}
	spec, err := s.topSpec(ctx, run, jobs)
	if err != nil {
		return nil, Spec{}, err
	}
	p, err := planOf(run, spec)
	if err != nil {
		return nil, Spec{}, err
	}
	base := *spec
	base.Job, base.Leg, base.Environment, base.Promotion = jobspec.Job{}, 0, "", 0
	if run.Status != store.StatusCompleted {
		// Kept until the run ends (forget); a finished run's plan is made when asked.
		s.plans.Store(run.ID, planEntry{p: p, base: base, attempt: run.Attempt})
	}
	return p, base, nil
}

// topSpec is the spec of one of the run's top-level rows that names its workflow: the input
// the run's plan is made from.
func (s *Scheduler) topSpec(ctx context.Context, run *store.Run, jobs []store.Job) (*Spec, error) {
	for _, j := range jobs {
		if j.Parent != "" {
			continue
		}
		raw := j.Spec
		if raw == nil {
			full, err := s.cfg.DB.GetJob(ctx, j.ID)
			if err != nil {
				return nil, err
			}
			raw = full.Spec
		}
		if sp, err := ParseSpec(raw); err == nil && (sp.Job.WorkflowSource != "" || sp.Workflow != nil) {
			return sp, nil
		}
	}
	return nil, fmt.Errorf("run %d has no job that names its workflow", run.ID)
}

type planEntry struct {
	p       *plan.Plan
	base    Spec
	attempt int
}

// planOf makes the plan of run from the input a top-level row's spec carries. The run's
// identity comes from the run itself (its ID, number and attempt exist once it does).
func planOf(run *store.Run, spec *Spec) (*plan.Plan, error) {
	src := spec.Job.WorkflowSource
	if src == "" && spec.Workflow != nil {
		src = spec.Workflow.Source
	}
	wf, err := workflow.Parse(run.Workflow, []byte(src))
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
	// Verify is the promotion a verification job checks (0: a job of the
	// workflow).
	Verify int64
	Job    *jobspec.Job
}

// workflowJobs leaves out of jobs the verification jobs sluice added to the
// run (see startVerifyJob): they are no jobs of the workflow, and the plan
// neither knows nor re-runs them.
func (s *Scheduler) workflowJobs(ctx context.Context, jobs []store.Job) []store.Job {
	out := jobs[:0:0]
	for i := range jobs {
		if info, _ := s.info(ctx, &jobs[i]); info.Verify != 0 {
			continue
		}
		out = append(out, jobs[i])
	}
	return out
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
	info := rowInfo{JobID: spec.Job.JobID, Leg: spec.Leg, Promotion: spec.Promotion, Verify: spec.Verify}
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
		s.woken.Delete(j.ID)
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
