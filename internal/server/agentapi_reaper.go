package server

import (
	"context"
	"fmt"
	"time"
)

// RunLeaseReaper declares the jobs of agents that stopped heartbeating lost, every `every`, until
// ctx ends: each becomes a failed "agent lost" attempt, retried as a new attempt when the store's
// attempt limit allows, and the scheduler is told so the run moves on. The serve command runs it
// in the background (after store.RecoverAfterCrash at start).
func (s *Server) RunLeaseReaper(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.reapLeases(ctx, time.Now()); err != nil && ctx.Err() == nil {
				s.cfg.Log.Error("expiring job leases", "err", err)
			}
		}
	}
}

// reapLeases expires leases that ran out before now and reports the lost jobs to the scheduler.
func (s *Server) reapLeases(ctx context.Context, now time.Time) error {
	lost, err := s.cfg.DB.ExpireLeases(ctx, now, true)
	if err != nil {
		return err
	}
	for _, j := range lost {
		s.cfg.Log.Warn("job lost", "job", j.ID, "run", j.RunID, "key", j.Key, "attempt", j.Attempt, "reason", j.Reason)
		if s.cfg.Scheduler != nil {
			if err := s.cfg.Scheduler.JobFinished(ctx, j.ID); err != nil {
				return fmt.Errorf("advancing run %d after job %d was lost: %w", j.RunID, j.ID, err)
			}
		}
		s.agentReportRun(j.RunID)
	}
	return nil
}
