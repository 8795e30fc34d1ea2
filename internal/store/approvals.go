package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// RunApproval is a run held until someone decides it may run (a pull request from a fork).
// Its jobs are not claimed while it is undecided.
type RunApproval struct {
	RunID       int64      `json:"run_id"`
	Reason      string     `json:"reason"`
	RequestedAt time.Time  `json:"requested_at"`
	DecidedBy   string     `json:"decided_by,omitempty"`
	DecidedAt   *time.Time `json:"decided_at,omitempty"`
}

// Events of run approvals.
const (
	EventRunHeld     = "run.held"
	EventRunApproved = "run.approved"
)

// ErrAlreadyDecided is ApproveRun on a run whose approval was already given.
var ErrAlreadyDecided = errors.New("the run's approval was already decided")

func (t *tx) holdRun(ctx context.Context, r *Run, reason string) error {
	if _, err := t.exec(ctx, `INSERT INTO run_approvals (run_id, reason, requested_at) VALUES (?, ?, ?)`,
		r.ID, reason, ts(t.now)); err != nil {
		return fmt.Errorf("holding run %d: %w", r.ID, err)
	}
	return t.event(ctx, EventRunHeld, ids{repo: r.RepoID, run: r.ID}, map[string]any{"reason": reason})
}

// GetRunApproval returns run runID's approval, ErrNotFound when it never needed one.
func (db *DB) GetRunApproval(ctx context.Context, runID int64) (*RunApproval, error) {
	var a RunApproval
	var requested int64
	var decided sql.NullInt64
	err := db.rd().queryRow(ctx, `SELECT run_id, reason, requested_at, decided_by, decided_at FROM run_approvals WHERE run_id = ?`,
		runID).Scan(&a.RunID, &a.Reason, &requested, &a.DecidedBy, &decided)
	if err != nil {
		return nil, notFound(err, "approval of run", runID)
	}
	a.RequestedAt, a.DecidedAt = fromTS(requested), fromNullTS(decided)
	return &a, nil
}

// ApproveRun lets held run runID's jobs be claimed, recording who decided.
func (db *DB) ApproveRun(ctx context.Context, runID int64, by string) error {
	return db.write(ctx, fmt.Sprintf("approving run %d", runID), func(t *tx) error {
		res, err := t.exec(ctx, `UPDATE run_approvals SET decided_by = ?, decided_at = ? WHERE run_id = ? AND decided_at IS NULL`,
			by, ts(t.now), runID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var x int64
			if err := t.queryRow(ctx, `SELECT run_id FROM run_approvals WHERE run_id = ?`, runID).Scan(&x); err != nil {
				return notFound(err, "approval of run", runID)
			}
			return ErrAlreadyDecided
		}
		r, err := getRun(ctx, t, runID)
		if err != nil {
			return err
		}
		t.touch(TopicQueue) // its jobs may be claimed now
		return t.event(ctx, EventRunApproved, ids{repo: r.RepoID, run: runID}, map[string]any{"by": by})
	})
}

// heldRuns are the runs whose approval is undecided, with why they wait.
func heldRuns(ctx context.Context, q queryer) (map[int64]string, error) {
	rows, err := q.query(ctx, `SELECT run_id, reason FROM run_approvals WHERE decided_at IS NULL`)
	if err != nil {
		return nil, fmt.Errorf("listing held runs: %w", err)
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var reason string
		if err := rows.Scan(&id, &reason); err != nil {
			return nil, err
		}
		out[id] = reason
	}
	return out, rows.Err()
}
