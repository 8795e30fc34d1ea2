package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Job is one attempt of one job of a run (one matrix leg). A retry after a lost agent is a new
// row with the same Key and Attempt+1.
type Job struct {
	ID              int64             `json:"id"`
	RunID           int64             `json:"run_id"`
	Key             string            `json:"key"` // job id + matrix leg suffix; unique per run and attempt
	Name            string            `json:"name"`
	Needs           []string          `json:"needs,omitempty"`
	Labels          []string          `json:"labels,omitempty"` // runs-on
	Spec            json.RawMessage   `json:"spec,omitempty"`   // what an agent needs to run it; opaque here
	Status          string            `json:"status"`
	Conclusion      string            `json:"conclusion"`
	Attempt         int               `json:"attempt"`
	AgentID         *int64            `json:"agent_id,omitempty"`
	LeaseUntil      *time.Time        `json:"lease_until,omitempty"`
	PendingReason   string            `json:"pending_reason,omitempty"` // set by the server, e.g. a busy concurrency group
	Reason          string            `json:"reason,omitempty"`         // why it completed as it did (agent lost, cancelled…)
	CancelRequested bool              `json:"cancel_requested,omitempty"`
	Outputs         map[string]string `json:"outputs,omitempty"`
	// Parent is the key of the row this one was expanded from (a matrix job, a job calling
	// a reusable workflow); such a parent is bookkeeping and not shown (see Shown).
	Parent string `json:"parent,omitempty"`
	// Tolerated: a failure that continue-on-error lets pass; it does not fail the run.
	Tolerated bool `json:"tolerated,omitempty"`
	// RunAttempt is the run attempt the row belongs to (Attempt counts the job's own
	// attempts: a lost agent's retry, a re-run).
	RunAttempt int `json:"run_attempt"`
	// KeptFrom is the job row (of an earlier run attempt) a re-run of failed jobs kept this
	// one's result from; its steps and logs are that row's.
	KeptFrom *int64 `json:"kept_from,omitempty"`
	// ConcurrencyGroup is the job's own evaluated concurrency group (jobs.<id>.concurrency).
	ConcurrencyGroup string     `json:"concurrency_group,omitempty"`
	CreatedAt        time.Time  `json:"created_at"`
	QueuedAt         *time.Time `json:"queued_at,omitempty"`
	StartedAt        *time.Time `json:"started_at,omitempty"`
	FinishedAt       *time.Time `json:"finished_at,omitempty"`
}

const jobCols = `id, run_id, job_key, name, needs, labels, spec, status, conclusion, attempt, agent_id, lease_until,
	pending_reason, reason, cancel_requested, outputs, parent, tolerated, created_at, queued_at, started_at, finished_at,
	run_attempt, kept_from, concurrency_group`

func scanJob(s scanner) (*Job, error) {
	var j Job
	var needs, labels, outputs string
	var spec sql.NullString
	var agent, lease, queued, started, finished, kept sql.NullInt64
	var created int64
	var cancel, tolerated int
	if err := s.Scan(&j.ID, &j.RunID, &j.Key, &j.Name, &needs, &labels, &spec, &j.Status, &j.Conclusion, &j.Attempt,
		&agent, &lease, &j.PendingReason, &j.Reason, &cancel, &outputs, &j.Parent, &tolerated, &created, &queued, &started, &finished,
		&j.RunAttempt, &kept, &j.ConcurrencyGroup); err != nil {
		return nil, err
	}
	j.KeptFrom = fromNullID(kept)
	for _, f := range []struct {
		s string
		v any
	}{{needs, &j.Needs}, {labels, &j.Labels}, {outputs, &j.Outputs}} {
		if emptyJSON(f.s) {
			continue // nil below either way; a run's listing decodes hundreds of these
		}
		if err := fromJSONText(f.s, f.v); err != nil {
			return nil, err
		}
	}
	if len(j.Needs) == 0 {
		j.Needs = nil
	}
	if len(j.Labels) == 0 {
		j.Labels = nil
	}
	if len(j.Outputs) == 0 {
		j.Outputs = nil
	}
	j.Spec, j.AgentID, j.LeaseUntil = fromNullRaw(spec), fromNullID(agent), fromNullTS(lease)
	j.CancelRequested, j.Tolerated = cancel != 0, tolerated != 0
	j.CreatedAt, j.QueuedAt, j.StartedAt, j.FinishedAt = fromTS(created), fromNullTS(queued), fromNullTS(started), fromNullTS(finished)
	return &j, nil
}

// emptyJSON says whether s is an empty list, object or null, which scanJob leaves nil.
func emptyJSON(s string) bool { return s == "[]" || s == "{}" || s == "null" }

// AddJobs inserts more jobs into run runID (a matrix expanded once its inputs are known).
func (db *DB) AddJobs(ctx context.Context, runID int64, jobs []Job) ([]Job, error) {
	var out []Job
	err := db.write(ctx, fmt.Sprintf("adding jobs to run %d", runID), func(t *tx) error {
		r, err := getRun(ctx, t, runID)
		if err != nil {
			return err
		}
		out, err = t.insertJobs(ctx, r, jobs)
		return err
	})
	return out, err
}

func (t *tx) insertJobs(ctx context.Context, r *Run, jobs []Job) ([]Job, error) {
	out := make([]Job, 0, len(jobs))
	for _, j := range jobs {
		j.RunID, j.RunAttempt = r.ID, max(r.Attempt, 1)
		nj, err := t.insertJob(ctx, r.RepoID, j)
		if err != nil {
			return nil, err
		}
		out = append(out, *nj)
	}
	return out, nil
}

// insertJob writes one job row and its job.created or job.queued event.
func (t *tx) insertJob(ctx context.Context, repoID int64, j Job) (*Job, error) {
	if j.Status == "" {
		j.Status = StatusWaiting
	}
	kept := j.Status == StatusCompleted && j.KeptFrom != nil
	if j.Status != StatusWaiting && j.Status != StatusQueued && !kept {
		return nil, fmt.Errorf("job %s: new jobs are waiting or queued (or completed, kept by a re-run), not %q", j.Key, j.Status)
	}
	if j.RunAttempt == 0 {
		j.RunAttempt = 1
	}
	if j.Attempt == 0 {
		// A key's attempts count on across run attempts, so every row of a key has its own.
		// A key appears once per run attempt.
		var last, here int
		if err := t.queryRow(ctx, `SELECT COALESCE(MAX(attempt), 0), COALESCE(SUM(CASE WHEN run_attempt = ? THEN 1 ELSE 0 END), 0)
			FROM jobs WHERE run_id = ? AND job_key = ?`, j.RunAttempt, j.RunID, j.Key).Scan(&last, &here); err != nil {
			return nil, fmt.Errorf("numbering job %s: %w", j.Key, err)
		}
		if here > 0 {
			return nil, fmt.Errorf("inserting job %s: attempt %d of the run has one already: %w", j.Key, j.RunAttempt, ErrConflict)
		}
		j.Attempt = last + 1
	}
	needs, err := jsonText(j.Needs)
	if err != nil {
		return nil, err
	}
	labels, err := jsonText(j.Labels)
	if err != nil {
		return nil, err
	}
	outputs, err := jsonText(j.Outputs)
	if err != nil {
		return nil, err
	}
	var queued, started, finished *time.Time
	if j.Status == StatusQueued {
		queued = &t.now
	}
	if kept {
		// As it ended in the attempt it comes from.
		queued, started, finished = j.QueuedAt, j.StartedAt, j.FinishedAt
		if finished == nil {
			finished = &t.now
		}
	}
	nj, err := scanJob(t.queryRow(ctx, `INSERT INTO jobs (run_id, job_key, name, needs, labels, labels_key, spec, status,
		conclusion, reason, attempt, pending_reason, outputs, parent, tolerated, created_at, queued_at, started_at, finished_at,
		run_attempt, kept_from, concurrency_group)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		RETURNING `+jobCols,
		j.RunID, j.Key, j.Name, needs, labels, labelsKey(j.Labels), nullRaw(j.Spec), j.Status, j.Conclusion, j.Reason, j.Attempt,
		j.PendingReason, outputs, j.Parent, boolInt(j.Tolerated), ts(t.now), tsPtr(queued), tsPtr(started), tsPtr(finished),
		j.RunAttempt, nullID(j.KeptFrom), j.ConcurrencyGroup))
	if err != nil {
		return nil, t.db.conflict(fmt.Errorf("inserting job %s: %w", j.Key, err), "job "+j.Key)
	}
	kind := EventJobCreated
	data := map[string]any{"key": nj.Key, "name": nj.Name, "attempt": nj.Attempt, "run_attempt": nj.RunAttempt, "labels": nj.Labels}
	switch nj.Status {
	case StatusQueued:
		kind = EventJobQueued
		t.touch(TopicQueue)
	case StatusCompleted:
		kind = EventJobCompleted
		data["conclusion"], data["reason"], data["kept_from"] = nj.Conclusion, nj.Reason, *nj.KeptFrom
	}
	return nj, t.event(ctx, kind, ids{repo: repoID, run: nj.RunID, job: nj.ID}, data)
}

// GetJob returns job id.
func (db *DB) GetJob(ctx context.Context, id int64) (*Job, error) {
	return getJob(ctx, db.rd(), id)
}

func getJob(ctx context.Context, q queryer, id int64) (*Job, error) {
	j, err := scanJob(q.queryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
	return j, notFound(err, "job", id)
}

// lockJob reads job id and locks its row until t ends, so a change written from what was read
// does not undo a concurrent one (an agent's completion, another replica's update).
func (t *tx) lockJob(ctx context.Context, id int64) (*Job, error) {
	j, err := scanJob(t.queryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`+t.db.d.forUpdate(), id))
	return j, notFound(err, "job", id)
}

// ListJobs returns every job row (all attempts) of run runID in creation order.
func (db *DB) ListJobs(ctx context.Context, runID int64) ([]Job, error) {
	return listJobs(ctx, db.rd(), runID, false)
}

// ListLatestJobs returns the jobs of run runID's current attempt: the latest attempt of
// each of its job keys.
func (db *DB) ListLatestJobs(ctx context.Context, runID int64) ([]Job, error) {
	return listJobs(ctx, db.rd(), runID, true)
}

// ListJobStates is ListLatestJobs without the jobs' specs (nil), for
// callers that look at every job of a large run on every change and need
// a spec only now and then.
func (db *DB) ListJobStates(ctx context.Context, runID int64) ([]Job, error) {
	return listJobsCols(ctx, db.rd(), runID, true, jobColsNoSpec)
}

// jobColsNoSpec is jobCols with a NULL in place of the spec column.
const jobColsNoSpec = `id, run_id, job_key, name, needs, labels, NULL, status, conclusion, attempt, agent_id, lease_until,
	pending_reason, reason, cancel_requested, outputs, parent, tolerated, created_at, queued_at, started_at, finished_at,
	run_attempt, kept_from, concurrency_group`

func listJobs(ctx context.Context, q queryer, runID int64, latest bool) ([]Job, error) {
	return listJobsCols(ctx, q, runID, latest, jobCols)
}

func listJobsCols(ctx context.Context, q queryer, runID int64, latest bool, cols string) ([]Job, error) {
	query := `SELECT ` + cols + ` FROM jobs j WHERE run_id = ?`
	if latest {
		// A key's attempts count on across run attempts: its latest row is in the current
		// run attempt when the key is part of it.
		query += ` AND run_attempt = (SELECT attempt FROM runs WHERE id = j.run_id)
			AND attempt = (SELECT MAX(attempt) FROM jobs k WHERE k.run_id = j.run_id AND k.job_key = j.job_key)`
	}
	return queryJobs(ctx, q, query+` ORDER BY id`, runID)
}

func queryJobs(ctx context.Context, q queryer, query string, args ...any) ([]Job, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing jobs: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("reading job: %w", err)
		}
		out = append(out, *j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing jobs: %w", err)
	}
	return out, nil
}

// JobUpdate names the fields UpdateJob changes; nil fields are kept.
type JobUpdate struct {
	// CancelRequested asks the agent running the job to stop it (it learns
	// at its next heartbeat), as CancelRun does for a whole run.
	CancelRequested *bool
	Status          *string
	Conclusion      *string
	PendingReason   *string
	Reason          *string
	Outputs         map[string]string
	Spec            json.RawMessage
	Labels          []string
	Name            *string
	Tolerated       *bool
	// ConcurrencyGroup is the job's evaluated concurrency group.
	ConcurrencyGroup *string
}

// UpdateJob changes fields of job id. A status change stamps the matching time and writes
// job.created/job.queued/job.started/job.completed; other changes write job.updated. Moving a
// job to completed releases its agent and lease. Agents use Claim/Heartbeat/Complete instead.
func (db *DB) UpdateJob(ctx context.Context, id int64, u JobUpdate) (*Job, error) {
	var out *Job
	err := db.write(ctx, fmt.Sprintf("updating job %d", id), func(t *tx) error {
		j, err := t.lockJob(ctx, id)
		if err != nil {
			return err
		}
		oldStatus := j.Status
		if u.Conclusion != nil {
			j.Conclusion = *u.Conclusion
		}
		if u.PendingReason != nil {
			j.PendingReason = *u.PendingReason
		}
		if u.Reason != nil {
			j.Reason = *u.Reason
		}
		if u.Outputs != nil {
			j.Outputs = u.Outputs
		}
		if u.Spec != nil {
			j.Spec = u.Spec
		}
		if u.Labels != nil {
			j.Labels = u.Labels
		}
		if u.Name != nil {
			j.Name = *u.Name
		}
		if u.Tolerated != nil {
			j.Tolerated = *u.Tolerated
		}
		if u.ConcurrencyGroup != nil {
			j.ConcurrencyGroup = *u.ConcurrencyGroup
		}
		if u.CancelRequested != nil && *u.CancelRequested && !j.CancelRequested {
			if _, err := t.exec(ctx, `UPDATE jobs SET cancel_requested = 1 WHERE id = ?`, id); err != nil {
				return err
			}
		}
		if u.Status != nil && *u.Status != j.Status {
			j.Status = *u.Status
			switch j.Status {
			case StatusWaiting:
				j.QueuedAt, j.StartedAt, j.FinishedAt = nil, nil, nil
			case StatusQueued:
				j.QueuedAt, j.StartedAt, j.FinishedAt = &t.now, nil, nil
			case StatusInProgress:
				j.StartedAt = &t.now
			case StatusCompleted:
				j.FinishedAt = &t.now
				j.AgentID, j.LeaseUntil = nil, nil
			default:
				return fmt.Errorf("unknown job status %q", j.Status)
			}
		}
		outputs, err := jsonText(j.Outputs)
		if err != nil {
			return err
		}
		labels, err := jsonText(j.Labels)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `UPDATE jobs SET status = ?, conclusion = ?, pending_reason = ?, reason = ?, outputs = ?,
			spec = ?, labels = ?, labels_key = ?, agent_id = ?, lease_until = ?, queued_at = ?, started_at = ?, finished_at = ?,
			name = ?, tolerated = ?, concurrency_group = ? WHERE id = ?`, j.Status, j.Conclusion, j.PendingReason, j.Reason, outputs,
			nullRaw(j.Spec), labels, labelsKey(j.Labels), nullID(j.AgentID), tsPtr(j.LeaseUntil), tsPtr(j.QueuedAt), tsPtr(j.StartedAt),
			tsPtr(j.FinishedAt), j.Name, boolInt(j.Tolerated), j.ConcurrencyGroup, id); err != nil {
			return err
		}
		if out, err = getJob(ctx, t, id); err != nil {
			return err
		}
		repoID, err := t.repoOfRun(ctx, j.RunID)
		if err != nil {
			return err
		}
		t.touch(TopicQueue)
		about := ids{repo: repoID, run: j.RunID, job: id}
		data := map[string]any{"key": j.Key, "attempt": j.Attempt}
		kind := EventJobUpdated
		if j.Status != oldStatus {
			kind = map[string]string{StatusWaiting: EventJobCreated, StatusQueued: EventJobQueued,
				StatusInProgress: EventJobStarted, StatusCompleted: EventJobCompleted}[j.Status]
			data["from"] = oldStatus
			if j.Status == StatusCompleted {
				data["conclusion"], data["reason"] = j.Conclusion, j.Reason
			}
		} else if u.PendingReason != nil {
			data["pending_reason"] = j.PendingReason
		} else if u.CancelRequested != nil && *u.CancelRequested && !j.CancelRequested {
			kind = EventJobCancelReq
			data["reason"] = j.Reason
		}
		return t.event(ctx, kind, about, data)
	})
	return out, err
}

func (t *tx) repoOfRun(ctx context.Context, runID int64) (int64, error) {
	var repoID int64
	err := t.queryRow(ctx, `SELECT repo_id FROM runs WHERE id = ?`, runID).Scan(&repoID)
	return repoID, notFound(err, "run", runID)
}
