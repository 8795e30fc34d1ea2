package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sluice-ci/sluice/internal/engine"
	"github.com/sluice-ci/sluice/internal/expr"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/workflow"
)

// JobFinished moves the job's run along.
func (s *Scheduler) JobFinished(ctx context.Context, jobID int64) error {
	j, err := s.cfg.DB.GetJob(ctx, jobID)
	if err != nil {
		return err
	}
	spec, err := ParseSpec(j.Spec)
	if err == nil && spec.Matrix && j.Conclusion == store.ConclusionFailure {
		s.failFast(ctx, j, spec)
	}
	if err := s.advance(ctx, j.RunID); err != nil {
		return err
	}
	if err == nil && spec.Promotion != 0 {
		// Only a deployment job's end can conclude a promotion; the others
		// spare every job's completion a query.
		s.settleRunPromotions(ctx, j.RunID)
	}
	if err == nil && spec.Verify != 0 && j.Status == store.StatusCompleted {
		return s.verifyJobDone(ctx, spec.Verify, j)
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

// Rerun starts the run again as a new run of the same commit and event;
// with failedOnly, jobs that succeeded keep their results and outputs.
func (s *Scheduler) Rerun(ctx context.Context, runID int64, failedOnly bool) (*store.Run, error) {
	old, err := s.cfg.DB.GetRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	jobs, err := s.cfg.DB.ListLatestJobs(ctx, runID)
	if err != nil {
		return nil, err
	}
	run := *old
	run.ID, run.Number, run.Status, run.Conclusion, run.Trigger = 0, 0, "", "", store.TriggerRerun
	run.StartedAt, run.FinishedAt = nil, nil
	run.DeliveryID = 0 // a re-run is not its webhook's run
	run.Attempt = old.Attempt + 1
	var fresh []store.Job
	keep := map[string]store.Job{}
	for _, j := range jobs {
		spec, err := ParseSpec(j.Spec)
		if err != nil || spec.Matrix || spec.Verify != 0 {
			// Legs are made again when their job is planned; a
			// verification job belongs to its promotion, not to the
			// workflow, and is not run again with it.
			continue
		}
		spec.Needs, spec.Leg = nil, engine.Leg{}
		fresh = append(fresh, store.Job{Key: j.Key, Name: j.Name, Needs: j.Needs, Labels: j.Labels, Spec: spec.encode()})
		if failedOnly && j.Conclusion == store.ConclusionSuccess {
			keep[strings.ToLower(j.Key)] = j
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

// failFast cancels the queued legs of a matrix whose leg failed, unless
// the job says fail-fast: false.
func (s *Scheduler) failFast(ctx context.Context, leg *store.Job, spec *Spec) {
	wf, cleanup, err := loadSpecWorkflow(ctx, spec)
	if err != nil {
		return
	}
	defer cleanup()
	j := wf.Job(spec.JobID)
	if j == nil || j.Strategy != nil && j.Strategy.FailFast != nil && j.Strategy.FailFast.Expression == nil && !j.Strategy.FailFast.Value {
		return
	}
	jobs, err := s.cfg.DB.ListLatestJobs(ctx, leg.RunID)
	if err != nil {
		return
	}
	completed, cancelled, reason, yes := store.StatusCompleted, store.ConclusionCancelled, "cancelled: another leg of the matrix failed (fail-fast)", true
	for _, o := range jobs {
		os, err := ParseSpec(o.Spec)
		if err != nil || !os.Matrix || os.JobID != spec.JobID || o.Status == store.StatusCompleted {
			continue
		}
		if o.Status == store.StatusInProgress {
			// Its agent stops it at the next heartbeat.
			_, _ = s.cfg.DB.UpdateJob(ctx, o.ID, store.JobUpdate{CancelRequested: &yes, Reason: &reason})
			continue
		}
		_, _ = s.cfg.DB.UpdateJob(ctx, o.ID, store.JobUpdate{Status: &completed, Conclusion: &cancelled, Reason: &reason})
	}
}

// advance queues every job whose needs are done, skips those whose `if`
// says no, completes matrix jobs whose legs are all done, and ends the run
// when nothing is left. It repeats until nothing changes.
func (s *Scheduler) advance(ctx context.Context, runID int64) error {
	// The run's lock, in the database: any replica may advance any run, one at a time; in
	// this process, concurrent requests share passes.
	var finished *store.Run
	err := s.passes.do(ctx, runID, func(ctx context.Context) error {
		finished = nil
		return s.cfg.DB.WithRunLock(ctx, runID, func(ctx context.Context) error {
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
			if err != nil || !done {
				return err
			}
			finished = r
			s.forget(ctx, runID)
			if r.Conclusion == store.ConclusionSuccess {
				s.recordRelease(ctx, r)
			}
			s.report(ctx, r)
			return nil
		})
	})
	if err != nil {
		return err
	}
	if finished != nil && finished.ConcurrencyGroup != "" {
		s.wakeGroup(ctx, finished) // other runs' locks: outside this one's
	}
	return nil
}

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
			if j.Status == store.StatusWaiting && len(j.Needs) == 0 && j.PendingReason != why {
				_, _ = s.cfg.DB.UpdateJob(ctx, j.ID, store.JobUpdate{PendingReason: &why})
			}
		}
		return false, nil
	}
	byKey := map[string]*store.Job{}
	specs := map[int64]specInfo{}
	for i := range jobs {
		j := &jobs[i]
		byKey[strings.ToLower(j.Key)] = j
		if info, ok := s.info(j); ok {
			specs[j.ID] = info
		}
	}
	changed := false
	for i := range jobs {
		j := &jobs[i]
		info, ok := specs[j.ID]
		if j.Status != store.StatusWaiting || !ok || strings.HasPrefix(j.PendingReason, holdPrefix) {
			continue
		}
		if info.Matrix {
			if s.enqueueLeg(ctx, j, jobs, specs) {
				// Later legs of this pass count it against max-parallel.
				j.Status = store.StatusQueued
				changed = true
			}
			continue
		}
		if strings.HasPrefix(j.PendingReason, "matrix:") {
			if s.finishMatrix(ctx, j, jobs, specs) {
				changed = true
			}
			continue
		}
		needs, anyFailed, ready := needsOf(j, byKey)
		if !ready {
			continue
		}
		changed = true
		full, err := s.cfg.DB.GetJob(ctx, j.ID)
		var spec *Spec
		if err == nil {
			spec, err = ParseSpec(full.Spec)
		}
		if err == nil {
			err = s.plan(ctx, run, j, spec, needs, anyFailed)
		}
		if err != nil {
			completed, failure, reason := store.StatusCompleted, store.ConclusionFailure, err.Error()
			if _, err := s.cfg.DB.UpdateJob(ctx, j.ID, store.JobUpdate{Status: &completed, Conclusion: &failure, Reason: &reason}); err != nil {
				return false, err
			}
		}
	}
	return changed, nil
}

// needsOf gathers the results of the jobs j needs; ready is false while one
// has not finished.
func needsOf(j *store.Job, byKey map[string]*store.Job) (map[string]engine.NeedResult, bool, bool) {
	needs := map[string]engine.NeedResult{}
	anyFailed := false
	seen := map[string]bool{}
	var walk func(keys []string, direct bool) bool
	walk = func(keys []string, direct bool) bool {
		for _, k := range keys {
			n := byKey[strings.ToLower(k)]
			if n == nil || n.Status != store.StatusCompleted {
				return false
			}
			if direct {
				needs[n.Key] = engine.NeedResult{Result: n.Conclusion, Outputs: n.Outputs}
			}
			if n.Conclusion == store.ConclusionFailure {
				anyFailed = true
			}
			if !seen[n.Key] {
				seen[n.Key] = true
				if !walk(n.Needs, false) {
					return false
				}
			}
		}
		return true
	}
	ok := walk(j.Needs, true)
	return needs, anyFailed, ok
}

// plan decides a ready job: skipped, one queued job, or matrix legs.
func (s *Scheduler) plan(ctx context.Context, run *store.Run, j *store.Job, spec *Spec, needs map[string]engine.NeedResult, anyFailed bool) error {
	wf, cleanup, err := loadSpecWorkflow(ctx, spec)
	if err != nil {
		return err
	}
	defer cleanup()
	runs, legs, err := engine.PlanJob(s.engineOptions(spec), wf, spec.JobID, needs, anyFailed, false)
	if err != nil {
		return err
	}
	if !runs {
		completed, skipped := store.StatusCompleted, store.ConclusionSkipped
		_, err := s.cfg.DB.UpdateJob(ctx, j.ID, store.JobUpdate{Status: &completed, Conclusion: &skipped})
		return err
	}
	spec.Needs = needs
	spec.RunID, spec.RunNumber, spec.RunAttempt = run.ID, run.Number, run.Attempt
	if len(legs) == 1 && legs[0].Matrix == nil {
		spec.Leg = legs[0]
		if spec.Environment = s.jobEnvironment(wf.Job(spec.JobID), *spec); spec.Environment != "" {
			return s.holdDeployment(ctx, run, j, spec)
		}
		if _, err := s.cfg.DB.UpdateJob(ctx, j.ID, store.JobUpdate{Spec: spec.encode()}); err != nil {
			return err
		}
		_, err := s.cfg.DB.Enqueue(ctx, []int64{j.ID})
		return err
	}
	var rows []store.Job
	seen := map[string]bool{}
	for _, l := range legs {
		ls := *spec
		ls.Leg, ls.Matrix = l, true
		// Keys are "<job id> (<values>)", unique in the run whatever the
		// display names (which `name:` may make equal across jobs).
		key := workflow.LegName(spec.JobID, l.Keys, l.Matrix)
		if key == spec.JobID || seen[key] {
			key = fmt.Sprintf("%s (#%d)", spec.JobID, l.Index+1)
		}
		seen[key] = true
		rows = append(rows, store.Job{Key: key, Name: l.Name, Needs: j.Needs, Labels: j.Labels, Spec: ls.encode()})
	}
	added, err := s.cfg.DB.AddJobs(ctx, run.ID, rows)
	if err != nil {
		return err
	}
	for i, a := range added {
		s.infos.Store(a.ID, specInfo{JobID: spec.JobID, Matrix: true})
		ls := *spec
		ls.Leg, ls.Matrix = legs[i], true
		if ls.Environment = s.jobEnvironment(wf.Job(spec.JobID), ls); ls.Environment != "" {
			// Each leg deploys through the promotion of its environment.
			if err := s.holdDeployment(ctx, run, &added[i], &ls); err != nil {
				completed, failure, reason := store.StatusCompleted, store.ConclusionFailure, err.Error()
				if _, err := s.cfg.DB.UpdateJob(ctx, a.ID, store.JobUpdate{Status: &completed, Conclusion: &failure, Reason: &reason}); err != nil {
					return err
				}
			}
		}
	}
	why := fmt.Sprintf("matrix: %d jobs", len(legs))
	_, err = s.cfg.DB.UpdateJob(ctx, j.ID, store.JobUpdate{PendingReason: &why})
	return err
}

// enqueueLeg queues a waiting matrix leg unless max-parallel legs of its
// job are already queued or running.
func (s *Scheduler) enqueueLeg(ctx context.Context, leg *store.Job, jobs []store.Job, specs map[int64]specInfo) bool {
	info := specs[leg.ID]
	if limit := s.maxParallel(ctx, leg); limit > 0 {
		active := 0
		for _, o := range jobs {
			os, ok := specs[o.ID]
			if ok && os.Matrix && os.JobID == info.JobID && (o.Status == store.StatusQueued || o.Status == store.StatusInProgress) {
				active++
			}
		}
		if active >= limit {
			return false
		}
	}
	n, err := s.cfg.DB.Enqueue(ctx, []int64{leg.ID})
	return err == nil && n > 0
}

// maxParallel is a matrix job's literal max-parallel (0: none), read once
// per run and job: planning a 250-leg matrix must not parse its workflow
// 250 times.
func (s *Scheduler) maxParallel(ctx context.Context, leg *store.Job) int {
	info, _ := s.info(leg)
	key := fmt.Sprintf("%d/%s", leg.RunID, info.JobID)
	if v, ok := s.limits.Load(key); ok {
		return v.(int)
	}
	full, err := s.cfg.DB.GetJob(ctx, leg.ID)
	if err != nil {
		return 0
	}
	spec, err := ParseSpec(full.Spec)
	if err != nil {
		return 0
	}
	n := readMaxParallel(ctx, spec)
	s.limits.Store(key, n)
	return n
}

func readMaxParallel(ctx context.Context, spec *Spec) int {
	wf, cleanup, err := loadSpecWorkflow(ctx, spec)
	if err != nil {
		return 0
	}
	defer cleanup()
	j := wf.Job(spec.JobID)
	if j == nil || j.Strategy == nil || j.Strategy.MaxParallel == nil || j.Strategy.MaxParallel.Expression != nil {
		return 0
	}
	return j.Strategy.MaxParallel.Value
}

// finishMatrix completes a matrix job once all its legs are done, with the
// legs' combined result and outputs.
func (s *Scheduler) finishMatrix(ctx context.Context, j *store.Job, jobs []store.Job, specs map[int64]specInfo) bool {
	conclusion := store.ConclusionSuccess
	outputs := map[string]string{}
	for _, o := range jobs {
		os, ok := specs[o.ID]
		if !ok || !os.Matrix || os.JobID != j.Key {
			continue
		}
		if o.Status != store.StatusCompleted {
			return false
		}
		switch o.Conclusion {
		case store.ConclusionFailure:
			conclusion = store.ConclusionFailure
		case store.ConclusionCancelled:
			if conclusion != store.ConclusionFailure {
				conclusion = store.ConclusionCancelled
			}
		}
		for k, v := range o.Outputs {
			if v != "" || outputs[k] == "" {
				outputs[k] = v
			}
		}
	}
	completed := store.StatusCompleted
	_, err := s.cfg.DB.UpdateJob(ctx, j.ID, store.JobUpdate{Status: &completed, Conclusion: &conclusion, Outputs: outputs})
	return err == nil
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

// engineOptions are what expressions at planning time see.
func (s *Scheduler) engineOptions(spec *Spec) engine.Options {
	return engine.Options{Repository: spec.Repository, Actor: spec.Actor, SHA: spec.SHA, Ref: spec.Ref,
		EventName: spec.Event, Payload: spec.Payload, Vars: spec.Vars, Inputs: spec.Inputs, RunID: fmt.Sprint(spec.RunID)}
}

func (s *Scheduler) evaluator(spec Spec) *expr.Evaluator {
	g := map[string]any{"event_name": spec.Event, "event": spec.Payload, "sha": spec.SHA, "ref": spec.Ref,
		"ref_name": refName(spec.Ref), "repository": spec.Repository, "actor": spec.Actor, "workflow": spec.WorkflowPath,
		"head_ref": "", "base_ref": ""}
	inputs := map[string]any{}
	for k, v := range spec.Inputs {
		inputs[k] = v
	}
	ctxs := expr.Contexts{"github": g, "inputs": inputs, "vars": map[string]any{}}
	if spec.Leg.Matrix != nil {
		ctxs["matrix"] = spec.Leg.Matrix // a leg's environment may name its matrix values
	}
	return &expr.Evaluator{Contexts: ctxs}
}

func refName(ref string) string {
	for _, p := range []string{"refs/heads/", "refs/tags/"} {
		if strings.HasPrefix(ref, p) {
			return strings.TrimPrefix(ref, p)
		}
	}
	return ref
}

// loadSpecWorkflow parses the workflow a spec carries.
func loadSpecWorkflow(_ context.Context, spec *Spec) (*workflow.Workflow, func(), error) {
	wf, err := workflow.Parse(spec.WorkflowPath, []byte(spec.WorkflowSource))
	if err != nil {
		return nil, nil, err
	}
	return wf, func() {}, nil
}

// specInfo is the little of a job's spec the graph decisions need for
// every job on every pass; it is cached by job ID because specs (with the
// workflow source and event payload in them) are large.
type specInfo struct {
	JobID     string `json:"job_id"`
	Matrix    bool   `json:"matrix"`
	Promotion int64  `json:"promotion"`
}

// info reads (once) whether a job is a matrix leg, and of which job. A
// leg's spec never changes; a planned job's spec gains needs, not these.
func (s *Scheduler) info(j *store.Job) (specInfo, bool) {
	if v, ok := s.infos.Load(j.ID); ok {
		return v.(specInfo), true
	}
	raw := j.Spec
	if raw == nil {
		full, err := s.cfg.DB.GetJob(context.Background(), j.ID)
		if err != nil {
			return specInfo{}, false
		}
		raw = full.Spec
	}
	var in specInfo
	if err := json.Unmarshal(raw, &in); err != nil {
		return in, false
	}
	s.infos.Store(j.ID, in)
	return in, true
}

// forget drops what planning cached about a finished run's jobs.
func (s *Scheduler) forget(ctx context.Context, runID int64) {
	jobs, err := s.cfg.DB.ListJobStates(ctx, runID)
	if err != nil {
		return
	}
	for _, j := range jobs {
		s.infos.Delete(j.ID)
		s.limits.Delete(fmt.Sprintf("%d/%s", runID, j.Key))
	}
}
