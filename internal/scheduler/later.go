package scheduler

import (
	"context"
	"sync"
	"time"
)

// An agent's completion is answered once the job's end is recorded; its run is advanced
// after, here, off the agent's path. The agent no longer waits for the run's lock (held by
// other replicas' and requests' passes over a 250-leg matrix), and the legs that end while
// a pass runs are served by one more pass, not one each.
//
// Nothing is lost when the process dies in between: the job's end is in the database and its
// run is still open (only an advance ends a run), so the server's start (Resume) and the
// cluster's reconcile duty, which advance every open run, move it along.

// maxLaterRetries is how often a failed background advance is tried again before the run is
// left to the reconcile duty.
const maxLaterRetries = 5

// finishedLater holds, per run, the ended jobs its next pass is for. A run is in the map
// while a goroutine drains it.
type finishedLater struct {
	mu   sync.Mutex
	runs map[int64][]int64
}

// JobFinishedLater is JobFinished without waiting: job jobID of run runID ended (its end is
// recorded), and the run is advanced in the background, under Run's context, as soon as
// possible. Ends of one run's jobs that arrive while its advance runs are handled together by
// the next. Then the run's state is reported to its forge.
func (s *Scheduler) JobFinishedLater(ctx context.Context, runID, jobID int64) {
	l := &s.finished
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.runs == nil {
		l.runs = map[int64][]int64{}
	}
	pending, draining := l.runs[runID]
	l.runs[runID] = append(pending, jobID)
	if draining {
		return
	}
	if !s.bg.Go(ctx, func(ctx context.Context) { s.drainFinished(ctx, runID) }) {
		// Stopping: the run stays open in the database for the next start's Resume.
		delete(l.runs, runID)
	}
}

// drainFinished advances run runID until no ended job of it waits for a pass.
func (s *Scheduler) drainFinished(ctx context.Context, runID int64) {
	l := &s.finished
	failures := 0
	for {
		l.mu.Lock()
		jobs := l.runs[runID]
		if len(jobs) == 0 || ctx.Err() != nil {
			// Stopping leaves the rest to Resume and the reconcile duty: the run is open.
			delete(l.runs, runID)
			l.mu.Unlock()
			return
		}
		l.runs[runID] = jobs[:0:0]
		l.mu.Unlock()
		if err := s.advance(ctx, runID); err != nil {
			if ctx.Err() != nil {
				continue // stopping: left to Resume
			}
			// A database that failed once may not fail again: the jobs wait for the next pass
			// (their follow-ups, deployments and verifications, with them), a few times, then
			// the run is left to the reconcile duty.
			if failures++; failures <= maxLaterRetries {
				s.cfg.Log.Warn("advancing run after jobs finished; retrying", "run", runID, "jobs", len(jobs), "err", err)
				l.mu.Lock()
				l.runs[runID] = append(jobs, l.runs[runID]...)
				l.mu.Unlock()
				select {
				case <-ctx.Done():
				case <-time.After(time.Duration(failures) * 200 * time.Millisecond):
				}
				continue
			}
			s.cfg.Log.Error("advancing run after jobs finished", "run", runID, "jobs", len(jobs), "err", err)
			// The run is the reconcile duty's now; the jobs' own follow-ups (a deployment's
			// promotion, a verification) do not wait for it.
			for _, id := range jobs {
				s.jobEndedByID(ctx, id)
			}
			continue
		}
		failures = 0
		for _, id := range jobs {
			s.jobEndedByID(ctx, id)
		}
		s.bg.Go(ctx, func(ctx context.Context) {
			// A slow forge must not hold up the run's next pass.
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			if r, err := s.cfg.DB.GetRun(ctx, runID); err == nil {
				s.report(ctx, r)
			}
		})
	}
}

// jobEndedByID is jobEnded for a job known by its ID, read only when its spec may ask for
// more than its run's advance (the common job's spec is cached, and says it does not).
func (s *Scheduler) jobEndedByID(ctx context.Context, id int64) {
	if v, ok := s.infos.Load(id); ok {
		if info := v.(rowInfo); info.Promotion == 0 && info.Verify == 0 {
			return
		}
	}
	j, err := s.cfg.DB.GetJob(ctx, id)
	if err == nil {
		err = s.jobEnded(ctx, j)
	}
	if err != nil && ctx.Err() == nil {
		s.cfg.Log.Error("concluding after a job finished", "job", id, "err", err)
	}
}
