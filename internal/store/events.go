package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Event kinds. Data holds a small JSON object describing the change.
const (
	EventRepoCreated      = "repo.created"
	EventRepoUpdated      = "repo.updated"
	EventRepoDeleted      = "repo.deleted"
	EventRunQueued        = "run.queued"
	EventRunStarted       = "run.started"
	EventRunCompleted     = "run.completed"
	EventJobCreated       = "job.created" // created waiting for its needs
	EventJobQueued        = "job.queued"
	EventJobLeased        = "job.leased"
	EventJobStarted       = "job.started"
	EventJobCompleted     = "job.completed"
	EventJobAgentLost     = "job.agent_lost"
	EventJobCancelReq     = "job.cancel_requested"
	EventJobUpdated       = "job.updated" // fields other than status changed (pending reason, spec…)
	EventStepStarted      = "step.started"
	EventStepCompleted    = "step.completed"
	EventAgentRegistered  = "agent.registered"
	EventAgentUpdated     = "agent.updated"
	EventAgentDeleted     = "agent.deleted"
	EventSecretSet        = "secret.set"
	EventSecretDeleted    = "secret.deleted"
	EventTokenCreated     = "token.created"
	EventTokenDeleted     = "token.deleted"
	EventWebhookReceived  = "webhook.received"
	EventWebhookRejected  = "webhook.rejected"
	EventWebhookHandled   = "webhook.processed"
	EventWebhookAbandoned = "webhook.abandoned"
)

// Event is one row of the append-only event log.
type Event struct {
	ID     int64           `json:"id"`
	Time   time.Time       `json:"time"`
	Kind   string          `json:"kind"`
	RepoID *int64          `json:"repo_id,omitempty"`
	RunID  *int64          `json:"run_id,omitempty"`
	JobID  *int64          `json:"job_id,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// EventFilter selects events; zero fields do not filter. Results are in ID order, after After.
type EventFilter struct {
	RepoID int64
	RunID  int64
	JobID  int64
	Kinds  []string
	After  int64 // only events with ID > After (for tailing)
	Limit  int   // default 1000
}

// ids names the records an event is about; zero means none.
type ids struct{ repo, run, job int64 }

func optID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// event appends an event in t and marks the matching topics.
func (t *tx) event(ctx context.Context, kind string, about ids, data any) error {
	var raw sql.NullString
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return fmt.Errorf("encoding %s event: %w", kind, err)
		}
		raw = sql.NullString{String: string(b), Valid: true}
	}
	_, err := t.exec(ctx, `INSERT INTO events (time, kind, repo_id, run_id, job_id, data) VALUES (?, ?, ?, ?, ?, ?)`,
		ts(t.now), kind, nullID(optID(about.repo)), nullID(optID(about.run)), nullID(optID(about.job)), raw)
	if err != nil {
		return fmt.Errorf("writing %s event: %w", kind, err)
	}
	t.touch(TopicEvents)
	if about.run != 0 {
		t.touch(TopicRun(about.run))
	}
	if about.job != 0 {
		t.touch(TopicJob(about.job))
	}
	return nil
}

// ListEvents returns events matching f in ID order.
func (db *DB) ListEvents(ctx context.Context, f EventFilter) ([]Event, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	add("id > ?", f.After)
	if f.RepoID != 0 {
		add("repo_id = ?", f.RepoID)
	}
	if f.RunID != 0 {
		add("run_id = ?", f.RunID)
	}
	if f.JobID != 0 {
		add("job_id = ?", f.JobID)
	}
	if len(f.Kinds) > 0 {
		add("kind IN ("+placeholders(len(f.Kinds))+")", anySlice(f.Kinds)...)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	args = append(args, limit)
	rows, err := db.rd().query(ctx, `SELECT id, time, kind, repo_id, run_id, job_id, data FROM events WHERE `+
		strings.Join(where, " AND ")+` ORDER BY id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at int64
		var repo, run, job sql.NullInt64
		var data sql.NullString
		if err := rows.Scan(&e.ID, &at, &e.Kind, &repo, &run, &job, &data); err != nil {
			return nil, fmt.Errorf("reading event: %w", err)
		}
		e.Time, e.RepoID, e.RunID, e.JobID, e.Data = fromTS(at), fromNullID(repo), fromNullID(run), fromNullID(job), fromNullRaw(data)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	return out, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func anySlice[T any](s []T) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
