package scheduler

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/plan"
	"github.com/sluice-ci/sluice/internal/store"
)

// Concurrency groups hold runs (workflow-level `concurrency:`) and jobs (`jobs.<id>.concurrency`)
// across the repository. Who runs, who waits and who is cancelled is plan.Admit's and
// plan.Next's to decide; here the group's members are read from the database and the
// decisions recorded: a waiting run has GroupPending, a waiting job a pending reason that
// starts with groupHoldPrefix (to the plan it has started).

// groupsLock serialises concurrency group decisions (who holds a group, who waits, who is
// cancelled) across replicas. It is taken inside a run's lock, never the other way round, and
// holds no other named lock.
const groupsLock = "concurrency groups"

// groupHoldPrefix starts the pending reason of a job waiting for its concurrency group.
const groupHoldPrefix = "concurrency group "

// groupHeld says whether job j waits for its concurrency group.
func groupHeld(j *store.Job) bool {
	return j.Status == store.StatusWaiting && strings.HasPrefix(j.PendingReason, groupHoldPrefix)
}

// enterRunGroup evaluates run r's workflow-level group with plan p (it may read run_id,
// run_number and run_attempt, so it is evaluated once the run exists) and puts r into it:
// the group's pending run is cancelled (r takes its place), its running one too with
// cancel-in-progress, and r waits while another run holds the group.
func (s *Scheduler) enterRunGroup(ctx context.Context, r *store.Run, p *plan.Plan) error {
	c, err := p.Concurrency()
	if err != nil {
		s.cfg.Log.Warn("evaluating the concurrency group", "run", r.ID, "err", err)
	}
	if c == nil || c.Group == "" {
		if r.ConcurrencyGroup != "" {
			r.ConcurrencyGroup, r.GroupPending = "", false
			return s.cfg.DB.SetRunGroup(ctx, r.ID, "", false)
		}
		return nil
	}
	var a plan.Admission
	err = s.cfg.DB.WithLock(ctx, groupsLock, func(ctx context.Context) error {
		others, err := s.groupRuns(ctx, r.RepoID, c.Group, r.ID)
		if err != nil {
			return err
		}
		holders := make([]plan.Holder, 0, len(others))
		for _, o := range others {
			holders = append(holders, plan.Holder{ID: o.ID, Running: !o.GroupPending})
		}
		a = plan.Admit(holders, c.CancelInProgress)
		// Recorded before the others are cancelled: one that ends at once lets r start.
		return s.cfg.DB.SetRunGroup(ctx, r.ID, c.Group, a.Wait)
	})
	if err != nil {
		return err
	}
	r.ConcurrencyGroup, r.GroupPending = c.Group, a.Wait
	// Cancelled outside the groups lock: cancelling advances the run, under its own lock.
	for _, id := range a.Cancel {
		why := fmt.Sprintf("cancelled: run #%d of concurrency group %q took its place", r.Number, c.Group)
		if err := s.cancel(ctx, id, why); err != nil {
			s.cfg.Log.Warn("cancelling a run of a concurrency group", "run", id, "err", err)
		}
	}
	return nil
}

// groupRuns are the unfinished runs of a repository's concurrency group (names compare
// case-insensitively), oldest first, without run except.
func (s *Scheduler) groupRuns(ctx context.Context, repoID int64, group string, except int64) ([]store.Run, error) {
	open, err := s.cfg.DB.OpenGroupRuns(ctx, repoID)
	if err != nil {
		return nil, err
	}
	var out []store.Run
	for _, o := range open {
		if o.ID != except && plan.SameGroup(o.ConcurrencyGroup, group) {
			out = append(out, o)
		}
	}
	return out, nil
}

// runGroupReason says what a pending run waits for.
func (s *Scheduler) runGroupReason(ctx context.Context, run *store.Run) string {
	others, _ := s.groupRuns(ctx, run.RepoID, run.ConcurrencyGroup, run.ID)
	for _, o := range others {
		if !o.GroupPending {
			return fmt.Sprintf("waiting for run #%d of concurrency group %q", o.Number, run.ConcurrencyGroup)
		}
	}
	return fmt.Sprintf("waiting for concurrency group %q", run.ConcurrencyGroup)
}

// wakeRunGroup lets the group's pending run start now that finished ended; it returns the
// run to advance.
func (s *Scheduler) wakeRunGroup(ctx context.Context, finished *store.Run) []int64 {
	var out []int64
	if err := s.cfg.DB.WithLock(ctx, groupsLock, func(ctx context.Context) error {
		out = s.wakeRunGroupLocked(ctx, finished)
		return nil
	}); err != nil {
		s.cfg.Log.Warn("starting the next run of a concurrency group", "run", finished.ID, "err", err)
	}
	return out
}

func (s *Scheduler) wakeRunGroupLocked(ctx context.Context, finished *store.Run) []int64 {
	others, err := s.groupRuns(ctx, finished.RepoID, finished.ConcurrencyGroup, finished.ID)
	if err != nil {
		return nil
	}
	holders := make([]plan.Holder, 0, len(others))
	for _, o := range others {
		holders = append(holders, plan.Holder{ID: o.ID, Running: !o.GroupPending})
	}
	id, ok := plan.Next(holders)
	if !ok {
		return nil
	}
	for _, o := range others {
		if o.ID == id {
			if err := s.cfg.DB.SetRunGroup(ctx, id, o.ConcurrencyGroup, false); err != nil {
				s.cfg.Log.Warn("starting the next run of a concurrency group", "run", id, "err", err)
				return nil
			}
			// Its first jobs said what they waited for.
			jobs, _ := s.cfg.DB.ListJobStates(ctx, id)
			none := ""
			for _, j := range jobs {
				if j.Status == store.StatusWaiting && strings.HasPrefix(j.PendingReason, "waiting for ") && strings.Contains(j.PendingReason, "concurrency group") {
					_, _ = s.cfg.DB.UpdateJob(ctx, j.ID, store.JobUpdate{PendingReason: &none})
				}
			}
		}
	}
	return []int64{id}
}

// enterJobGroup puts job j (of run) into its own concurrency group c: the group's pending
// job is cancelled, the running one too with cancel-in-progress, and j waits while another
// job holds the group. It returns whether j waits and the other runs whose jobs it
// cancelled (to advance).
func (s *Scheduler) enterJobGroup(ctx context.Context, run *store.Run, j *store.Job, c *jobspec.Concurrency) (wait bool, touched []int64, err error) {
	err = s.cfg.DB.WithLock(ctx, groupsLock, func(ctx context.Context) error {
		var err error
		wait, touched, err = s.enterJobGroupLocked(ctx, run, j, c)
		return err
	})
	return wait, touched, err
}

func (s *Scheduler) enterJobGroupLocked(ctx context.Context, run *store.Run, j *store.Job, c *jobspec.Concurrency) (bool, []int64, error) {
	others, err := s.groupJobs(ctx, run.RepoID, c.Group, j.ID)
	if err != nil {
		return false, nil, err
	}
	holders := make([]plan.Holder, 0, len(others))
	byID := map[int64]*store.Job{}
	for i := range others {
		o := &others[i]
		byID[o.ID] = o
		holders = append(holders, plan.Holder{ID: o.ID, Running: !groupHeld(o)})
	}
	a := plan.Admit(holders, c.CancelInProgress)
	var touched []int64
	for _, id := range a.Cancel {
		o := byID[id]
		reason := fmt.Sprintf("cancelled: %s (run #%d) took its place in concurrency group %q", j.Name, run.Number, c.Group)
		if o.Status == store.StatusInProgress {
			yes := true
			_, err = s.cfg.DB.UpdateJob(ctx, id, store.JobUpdate{CancelRequested: &yes, Reason: &reason})
		} else {
			completed, cancelled := store.StatusCompleted, store.ConclusionCancelled
			_, err = s.cfg.DB.UpdateJob(ctx, id, store.JobUpdate{Status: &completed, Conclusion: &cancelled, Reason: &reason})
		}
		if err != nil {
			return false, touched, err
		}
		if o.RunID != run.ID {
			touched = append(touched, o.RunID)
		}
	}
	return a.Wait, touched, nil
}

// groupJobs are the unfinished jobs of a repository's concurrency group, oldest first,
// without job except.
func (s *Scheduler) groupJobs(ctx context.Context, repoID int64, group string, except int64) ([]store.Job, error) {
	open, err := s.cfg.DB.OpenGroupJobs(ctx, repoID)
	if err != nil {
		return nil, err
	}
	var out []store.Job
	for _, o := range open {
		if o.ID != except && plan.SameGroup(o.ConcurrencyGroup, group) {
			out = append(out, o)
		}
	}
	return out, nil
}

// wakeJobGroups lets the pending job of each group a job of run runID held start, once that
// job ended. It returns nothing to advance: a woken job was started already as far as its
// run's plan knows.
func (s *Scheduler) wakeJobGroups(ctx context.Context, runID int64, jobs []store.Job) []int64 {
	if jobs == nil {
		var err error
		if jobs, err = s.cfg.DB.ListJobStates(ctx, runID); err != nil {
			return nil
		}
	}
	ended := false
	for _, j := range jobs {
		if _, done := s.woken.Load(j.ID); j.ConcurrencyGroup != "" && j.Status == store.StatusCompleted && !done {
			ended = true
		}
	}
	if !ended {
		return nil // most runs: no group to take the lock for
	}
	if err := s.cfg.DB.WithLock(ctx, groupsLock, func(ctx context.Context) error {
		s.wakeJobGroupsLocked(ctx, runID)
		return nil
	}); err != nil {
		s.cfg.Log.Warn("starting the next jobs of concurrency groups", "run", runID, "err", err)
	}
	return nil
}

func (s *Scheduler) wakeJobGroupsLocked(ctx context.Context, runID int64) {
	jobs, err := s.cfg.DB.ListJobStates(ctx, runID)
	if err != nil {
		return
	}
	var repoID int64
	for _, j := range jobs {
		if j.ConcurrencyGroup == "" || j.Status != store.StatusCompleted {
			continue
		}
		if _, done := s.woken.LoadOrStore(j.ID, true); done {
			continue
		}
		if repoID == 0 {
			r, err := s.cfg.DB.GetRun(ctx, runID)
			if err != nil {
				return
			}
			repoID = r.RepoID
		}
		others, err := s.groupJobs(ctx, repoID, j.ConcurrencyGroup, j.ID)
		if err != nil {
			continue
		}
		holders := make([]plan.Holder, 0, len(others))
		for i := range others {
			holders = append(holders, plan.Holder{ID: others[i].ID, Running: !groupHeld(&others[i])})
		}
		if id, ok := plan.Next(holders); ok {
			none := ""
			if _, err := s.cfg.DB.UpdateJob(ctx, id, store.JobUpdate{PendingReason: &none}); err == nil {
				_, _ = s.cfg.DB.Enqueue(ctx, []int64{id})
			}
		}
	}
}
