package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// EventRunCancelRequested: a run was cancelled; the plan decides what still runs.
const EventRunCancelRequested = "run.cancel_requested"

// RunAttempt is one attempt of a run: its first run, or a re-run. A re-run keeps the run's
// ID and number (github.run_id, github.run_number) and counts Attempt up (run_attempt).
type RunAttempt struct {
	Attempt    int        `json:"attempt"`
	Status     string     `json:"status"`
	Conclusion string     `json:"conclusion"`
	Trigger    string     `json:"trigger"`
	Actor      string     `json:"actor"`
	QueuedAt   time.Time  `json:"queued_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// ListRunAttempts returns run id's attempts, first to current.
func (db *DB) ListRunAttempts(ctx context.Context, id int64) ([]RunAttempt, error) {
	r, err := db.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	rows, err := db.rd().query(ctx, `SELECT attempt, status, conclusion, run_trigger, actor, queued_at, started_at, finished_at
		FROM run_attempts WHERE run_id = ? ORDER BY attempt`, id)
	if err != nil {
		return nil, fmt.Errorf("listing the attempts of run %d: %w", id, err)
	}
	defer rows.Close()
	var out []RunAttempt
	for rows.Next() {
		var a RunAttempt
		var queued int64
		var started, finished sql.NullInt64
		if err := rows.Scan(&a.Attempt, &a.Status, &a.Conclusion, &a.Trigger, &a.Actor, &queued, &started, &finished); err != nil {
			return nil, fmt.Errorf("reading an attempt of run %d: %w", id, err)
		}
		a.QueuedAt, a.StartedAt, a.FinishedAt = fromTS(queued), fromNullTS(started), fromNullTS(finished)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return append(out, RunAttempt{Attempt: max(r.Attempt, 1), Status: r.Status, Conclusion: r.Conclusion, Trigger: r.Trigger,
		Actor: r.Actor, QueuedAt: r.QueuedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt}), nil
}

// ListAttemptJobs returns the jobs of attempt n of run runID (the latest row of each key in
// that attempt), in creation order.
func (db *DB) ListAttemptJobs(ctx context.Context, runID int64, n int) ([]Job, error) {
	return queryJobs(ctx, db.rd(), `SELECT `+jobCols+` FROM jobs j WHERE run_id = ? AND run_attempt = ?
		AND attempt = (SELECT MAX(attempt) FROM jobs k WHERE k.run_id = j.run_id AND k.job_key = j.job_key AND k.run_attempt = j.run_attempt)
		ORDER BY id`, runID, n)
}

// RerunRun starts the next attempt of completed run id: the attempt that ended is kept in
// run_attempts, the run is queued again with Attempt+1, trigger and actor, and jobs are its
// first rows (waiting or queued, or completed with KeptFrom: a job a re-run of failed jobs
// keeps). Its id, number, commit and event stay.
func (db *DB) RerunRun(ctx context.Context, id int64, trigger, actor string, jobs []Job) (*Run, []Job, error) {
	var out *Run
	var outJobs []Job
	err := db.write(ctx, fmt.Sprintf("re-running run %d", id), func(t *tx) error {
		r, err := getRun(ctx, t, id)
		if err != nil {
			return err
		}
		if r.Status != StatusCompleted {
			return fmt.Errorf("run %d is %s: only a completed run can be re-run: %w", id, r.Status, ErrConflict)
		}
		if _, err := t.exec(ctx, `INSERT INTO run_attempts (run_id, attempt, status, conclusion, run_trigger, actor, queued_at,
			started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, max(r.Attempt, 1), r.Status, r.Conclusion, r.Trigger,
			r.Actor, ts(r.QueuedAt), tsPtr(r.StartedAt), tsPtr(r.FinishedAt)); err != nil {
			return fmt.Errorf("keeping attempt %d of run %d: %w", r.Attempt, id, err)
		}
		if _, err := t.exec(ctx, `UPDATE runs SET attempt = ?, status = ?, conclusion = '', queued_at = ?, started_at = NULL,
			finished_at = NULL, cancel_requested = 0, run_trigger = ?, actor = ? WHERE id = ?`,
			max(r.Attempt, 1)+1, StatusQueued, ts(t.now), trigger, actor, id); err != nil {
			return err
		}
		if out, err = getRun(ctx, t, id); err != nil {
			return err
		}
		if err := t.event(ctx, EventRunQueued, ids{repo: out.RepoID, run: id}, map[string]any{
			"number": out.Number, "workflow": out.Workflow, "trigger": out.Trigger, "attempt": out.Attempt,
		}); err != nil {
			return err
		}
		outJobs, err = t.insertJobs(ctx, out, jobs)
		return err
	})
	return out, outJobs, err
}

// RequestCancel marks run id cancelled (once): the scheduler then lets the status
// functions decide which of its jobs still run. A completed run is left alone.
func (db *DB) RequestCancel(ctx context.Context, id int64, reason string) (*Run, error) {
	var out *Run
	err := db.write(ctx, fmt.Sprintf("cancelling run %d", id), func(t *tx) error {
		r, err := getRun(ctx, t, id)
		if err != nil {
			return err
		}
		out = r
		if r.Status == StatusCompleted || r.CancelRequested {
			return nil
		}
		if _, err := t.exec(ctx, `UPDATE runs SET cancel_requested = 1 WHERE id = ?`, id); err != nil {
			return err
		}
		out.CancelRequested = true
		return t.event(ctx, EventRunCancelRequested, ids{repo: r.RepoID, run: id}, map[string]any{"attempt": r.Attempt, "reason": reason})
	})
	return out, err
}

// OpenGroupRuns returns the unfinished runs of repository repoID that hold a concurrency
// group, oldest first. Group names are compared by the caller (they are case-insensitive).
func (db *DB) OpenGroupRuns(ctx context.Context, repoID int64) ([]Run, error) {
	rows, err := db.rd().query(ctx, `SELECT `+runCols+` FROM runs WHERE repo_id = ? AND status <> ? AND concurrency_group <> ''
		ORDER BY id`, repoID, StatusCompleted)
	if err != nil {
		return nil, fmt.Errorf("listing runs of concurrency groups: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("reading run: %w", err)
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// OpenGroupJobs returns the unfinished jobs of repository repoID's runs that hold a
// concurrency group of their own, oldest first, without their specs.
func (db *DB) OpenGroupJobs(ctx context.Context, repoID int64) ([]Job, error) {
	return queryJobs(ctx, db.rd(), `SELECT `+prefixed("j.", jobColsNoSpec)+` FROM jobs j JOIN runs r ON r.id = j.run_id
		WHERE j.concurrency_group <> '' AND j.status <> ? AND r.repo_id = ? ORDER BY j.id`, StatusCompleted, repoID)
}

// prefixed qualifies each column of a column list with a table alias.
func prefixed(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		c = strings.TrimSpace(c)
		if c != "NULL" {
			c = alias + c
		}
		parts[i] = c
	}
	return strings.Join(parts, ", ")
}
