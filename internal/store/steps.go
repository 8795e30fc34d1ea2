package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Step is one step of a job as the agent reports it.
type Step struct {
	JobID      int64      `json:"job_id"`
	Number     int        `json:"number"`
	Name       string     `json:"name"`
	Status     string     `json:"status"`
	Conclusion string     `json:"conclusion"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

const stepCols = `job_id, number, name, status, conclusion, started_at, finished_at`

func scanStep(s scanner) (*Step, error) {
	var st Step
	var started, finished sql.NullInt64
	if err := s.Scan(&st.JobID, &st.Number, &st.Name, &st.Status, &st.Conclusion, &started, &finished); err != nil {
		return nil, err
	}
	st.StartedAt, st.FinishedAt = fromNullTS(started), fromNullTS(finished)
	return &st, nil
}

// SetStep records step s of job s.JobID (insert or replace by number). Times the agent leaves
// nil are stamped from the status: in_progress stamps StartedAt, completed stamps FinishedAt.
// A status change writes step.started or step.completed.
func (db *DB) SetStep(ctx context.Context, s Step) (*Step, error) {
	var out *Step
	err := db.write(ctx, fmt.Sprintf("recording step %d of job %d", s.Number, s.JobID), func(t *tx) error {
		old, err := scanStep(t.queryRow(ctx, `SELECT `+stepCols+` FROM steps WHERE job_id = ? AND number = ?`, s.JobID, s.Number))
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if old != nil && s.StartedAt == nil {
			s.StartedAt = old.StartedAt
		}
		if s.Status != StatusQueued && s.Status != StatusWaiting && s.StartedAt == nil {
			s.StartedAt = &t.now
		}
		if s.Status == StatusCompleted && s.FinishedAt == nil {
			s.FinishedAt = &t.now
		}
		out, err = scanStep(t.queryRow(ctx, `INSERT INTO steps (`+stepCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (job_id, number) DO UPDATE SET name = excluded.name, status = excluded.status,
			conclusion = excluded.conclusion, started_at = excluded.started_at, finished_at = excluded.finished_at
			RETURNING `+stepCols, s.JobID, s.Number, s.Name, s.Status, s.Conclusion, tsPtr(s.StartedAt), tsPtr(s.FinishedAt)))
		if err != nil {
			return err
		}
		if old != nil && old.Status == s.Status {
			t.touch(TopicJob(s.JobID))
			return nil
		}
		var kind string
		switch s.Status {
		case StatusInProgress:
			kind = EventStepStarted
		case StatusCompleted:
			kind = EventStepCompleted
		default:
			t.touch(TopicJob(s.JobID))
			return nil
		}
		var runID, repoID int64
		if err := t.queryRow(ctx, `SELECT j.run_id, r.repo_id FROM jobs j JOIN runs r ON r.id = j.run_id WHERE j.id = ?`,
			s.JobID).Scan(&runID, &repoID); err != nil {
			return notFound(err, "job", s.JobID)
		}
		return t.event(ctx, kind, ids{repo: repoID, run: runID, job: s.JobID},
			map[string]any{"number": s.Number, "name": s.Name, "conclusion": s.Conclusion})
	})
	return out, err
}

// ListSteps returns the steps of job jobID by number.
func (db *DB) ListSteps(ctx context.Context, jobID int64) ([]Step, error) {
	rows, err := db.rd().query(ctx, `SELECT `+stepCols+` FROM steps WHERE job_id = ? ORDER BY number`, jobID)
	if err != nil {
		return nil, fmt.Errorf("listing steps of job %d: %w", jobID, err)
	}
	defer rows.Close()
	var out []Step
	for rows.Next() {
		s, err := scanStep(rows)
		if err != nil {
			return nil, fmt.Errorf("reading step: %w", err)
		}
		out = append(out, *s)
	}
	return out, rows.Err()
}
