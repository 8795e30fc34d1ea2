package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Run is one execution of one workflow of one repository.
type Run struct {
	ID               int64             `json:"id"`
	RepoID           int64             `json:"repo_id"`
	Number           int64             `json:"number"`
	Workflow         string            `json:"workflow"`
	WorkflowName     string            `json:"workflow_name"`
	Event            string            `json:"event"`
	Ref              string            `json:"ref"`
	SHA              string            `json:"sha"`
	Title            string            `json:"title"`
	Trigger          string            `json:"trigger"`
	Actor            string            `json:"actor"`
	Inputs           map[string]string `json:"inputs,omitempty"`
	Payload          json.RawMessage   `json:"payload,omitempty"`
	Status           string            `json:"status"`
	Conclusion       string            `json:"conclusion"`
	Attempt          int               `json:"attempt"`
	QueuedAt         time.Time         `json:"queued_at"`
	StartedAt        *time.Time        `json:"started_at,omitempty"`
	FinishedAt       *time.Time        `json:"finished_at,omitempty"`
	ConcurrencyGroup string            `json:"concurrency_group,omitempty"`
	DeliveryID       int64             `json:"delivery_id,omitempty"` // the webhook delivery it was made for
	// HoldReason, given to CreateRun, holds the new run's jobs until the run
	// is approved (ApproveRun); it is not read back with the run.
	HoldReason string `json:"-"`
	// CancelRequested: the run was cancelled (RequestCancel); what still runs is what the
	// status functions let run.
	CancelRequested bool `json:"cancel_requested,omitempty"`
	// GroupPending: the run waits for its concurrency group (SetRunGroup).
	GroupPending bool `json:"group_pending,omitempty"`
	// StatusName is the workflow's part of the run's commit status contexts: its name, or
	// "name (file)" when another workflow file at the commit has the same name. Empty for
	// runs made before it was recorded (the workflow's name is used).
	StatusName string `json:"status_name,omitempty"`
}

const runCols = `id, repo_id, number, workflow, workflow_name, event, ref, sha, title, run_trigger, actor,
	inputs, payload, status, conclusion, attempt, queued_at, started_at, finished_at, concurrency_group, delivery_id,
	cancel_requested, group_pending, status_name`

func scanRun(s scanner) (*Run, error) {
	var r Run
	var inputs string
	var payload sql.NullString
	var queued int64
	var started, finished, delivery sql.NullInt64
	var cancel, pending int
	if err := s.Scan(&r.ID, &r.RepoID, &r.Number, &r.Workflow, &r.WorkflowName, &r.Event, &r.Ref, &r.SHA,
		&r.Title, &r.Trigger, &r.Actor, &inputs, &payload, &r.Status, &r.Conclusion, &r.Attempt,
		&queued, &started, &finished, &r.ConcurrencyGroup, &delivery, &cancel, &pending, &r.StatusName); err != nil {
		return nil, err
	}
	r.DeliveryID = delivery.Int64
	r.CancelRequested, r.GroupPending = cancel != 0, pending != 0
	if err := fromJSONText(inputs, &r.Inputs); err != nil {
		return nil, err
	}
	r.Payload, r.QueuedAt, r.StartedAt, r.FinishedAt = fromNullRaw(payload), fromTS(queued), fromNullTS(started), fromNullTS(finished)
	return &r, nil
}

// CreateRun inserts run r with its jobs in one transaction. The run's Number is the repo's next
// one; Status defaults to queued and Attempt to 1. Each job's Status defaults to waiting; jobs
// given as queued are claimable at once. Returns the stored run and jobs.
func (db *DB) CreateRun(ctx context.Context, r Run, jobs []Job) (*Run, []Job, error) {
	var out *Run
	var outJobs []Job
	err := db.write(ctx, "creating run of "+r.Workflow, func(t *tx) error {
		var err error
		if out, err = t.insertRun(ctx, r); err != nil {
			return err
		}
		// Held before its jobs exist: no agent can claim one in between.
		if r.HoldReason != "" {
			if err := t.holdRun(ctx, out, r.HoldReason); err != nil {
				return err
			}
		}
		outJobs, err = t.insertJobs(ctx, out, jobs)
		return err
	})
	return out, outJobs, err
}

func (t *tx) insertRun(ctx context.Context, r Run) (*Run, error) {
	if r.Status == "" {
		r.Status = StatusQueued
	}
	if r.Attempt == 0 {
		r.Attempt = 1
	}
	var number int64
	// One statement both reserves and reads the number, so concurrent creators never share one.
	err := t.queryRow(ctx, `UPDATE repos SET next_run_number = next_run_number + 1 WHERE id = ? RETURNING next_run_number - 1`,
		r.RepoID).Scan(&number)
	if err != nil {
		return nil, notFound(err, "repo", r.RepoID)
	}
	inputs, err := jsonText(r.Inputs)
	if err != nil {
		return nil, err
	}
	var started, finished *time.Time
	if r.Status != StatusQueued {
		started = &t.now
	}
	if r.Status == StatusCompleted {
		finished = &t.now
	}
	out, err := scanRun(t.queryRow(ctx, `INSERT INTO runs (repo_id, number, workflow, workflow_name, event, ref, sha,
		title, run_trigger, actor, inputs, payload, status, conclusion, attempt, queued_at, started_at, finished_at,
		concurrency_group, delivery_id, status_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+runCols,
		r.RepoID, number, r.Workflow, r.WorkflowName, r.Event, r.Ref, r.SHA, r.Title, r.Trigger, r.Actor, inputs,
		nullRaw(r.Payload), r.Status, r.Conclusion, r.Attempt, ts(t.now), tsPtr(started), tsPtr(finished), r.ConcurrencyGroup,
		nullID(nonZero(r.DeliveryID)), r.StatusName))
	if err != nil {
		return nil, t.db.conflict(fmt.Errorf("inserting run: %w", err), fmt.Sprintf("run of delivery %d for %s (%s)", r.DeliveryID, r.Workflow, r.Event))
	}
	// The event says everything the delivery metrics read of a run, so that they can be replayed
	// from the event log alone.
	if err := t.event(ctx, EventRunQueued, ids{repo: out.RepoID, run: out.ID}, map[string]any{
		"number": out.Number, "workflow": out.Workflow, "workflow_name": out.WorkflowName, "event": out.Event,
		"trigger": out.Trigger, "ref": out.Ref, "sha": out.SHA,
	}); err != nil {
		return nil, err
	}
	if out.Status != StatusQueued {
		return out, t.runStatusEvent(ctx, out)
	}
	return out, nil
}

// GetRun returns run id.
func (db *DB) GetRun(ctx context.Context, id int64) (*Run, error) {
	return getRun(ctx, db.rd(), id)
}

func getRun(ctx context.Context, q queryer, id int64) (*Run, error) {
	r, err := scanRun(q.queryRow(ctx, `SELECT `+runCols+` FROM runs WHERE id = ?`, id))
	return r, notFound(err, "run", id)
}

// lockRun reads run id and locks its row until t ends: a decision made on what it read (start,
// finish, cancel the run) is not made twice by concurrent transactions of several replicas.
func (t *tx) lockRun(ctx context.Context, id int64) (*Run, error) {
	r, err := scanRun(t.queryRow(ctx, `SELECT `+runCols+` FROM runs WHERE id = ?`+t.db.d.forUpdate(), id))
	return r, notFound(err, "run", id)
}

// RunOfDelivery returns the run made for webhook delivery deliveryID, workflow file and event
// (one pull_request delivery makes a file's pull_request and pull_request_target runs), or
// ErrNotFound.
func (db *DB) RunOfDelivery(ctx context.Context, deliveryID int64, workflow, event string) (*Run, error) {
	r, err := scanRun(db.rd().queryRow(ctx, `SELECT `+runCols+` FROM runs WHERE delivery_id = ? AND workflow = ? AND event = ?`, deliveryID, workflow, event))
	return r, notFound(err, "run of delivery", fmt.Sprintf("%d %s %s", deliveryID, workflow, event))
}

// GetRunByNumber returns run number n of repo repoID.
func (db *DB) GetRunByNumber(ctx context.Context, repoID, n int64) (*Run, error) {
	r, err := scanRun(db.rd().queryRow(ctx, `SELECT `+runCols+` FROM runs WHERE repo_id = ? AND number = ?`, repoID, n))
	return r, notFound(err, "run", fmt.Sprintf("%d#%d", repoID, n))
}

// RunFilter selects runs; zero fields do not filter. Runs come newest first; pass the last
// ID of a page as Before to get the next page.
type RunFilter struct {
	RepoID int64
	Status string
	// Conclusion selects completed runs with this conclusion (success, failure, cancelled).
	Conclusion       string
	Workflow         string
	Ref              string
	Event            string
	Actor            string
	ConcurrencyGroup string
	Before           int64
	Limit            int // default 50
}

// ListRuns returns runs matching f, newest (highest ID) first.
func (db *DB) ListRuns(ctx context.Context, f RunFilter) ([]Run, error) {
	where := []string{"1 = 1"}
	var args []any
	add := func(cond string, a any) { where = append(where, cond); args = append(args, a) }
	if f.RepoID != 0 {
		add("repo_id = ?", f.RepoID)
	}
	if f.Status != "" {
		add("status = ?", f.Status)
	}
	if f.Conclusion != "" {
		add("conclusion = ?", f.Conclusion)
	}
	if f.Workflow != "" {
		add("workflow = ?", f.Workflow)
	}
	if f.Event != "" {
		add("event = ?", f.Event)
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if f.Ref != "" {
		add("ref = ?", f.Ref)
	}
	if f.ConcurrencyGroup != "" {
		add("concurrency_group = ?", f.ConcurrencyGroup)
	}
	if f.Before != 0 {
		add("id < ?", f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	args = append(args, limit)
	rows, err := db.rd().query(ctx, `SELECT `+runCols+` FROM runs WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
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

// SetRunStatus moves run id to status (with conclusion when completed), stamping started and
// finished times and writing run.queued / run.started / run.completed. Setting the status it
// already has is a no-op without an event.
func (db *DB) SetRunStatus(ctx context.Context, id int64, status, conclusion string) (*Run, error) {
	var out *Run
	err := db.write(ctx, fmt.Sprintf("setting run %d %s", id, status), func(t *tx) error {
		var err error
		out, err = t.setRunStatus(ctx, id, status, conclusion)
		return err
	})
	return out, err
}

func (t *tx) setRunStatus(ctx context.Context, id int64, status, conclusion string) (*Run, error) {
	r, err := t.lockRun(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Status == status && r.Conclusion == conclusion {
		return r, nil
	}
	switch status {
	case StatusQueued:
		r.StartedAt, r.FinishedAt, conclusion = nil, nil, ""
	case StatusInProgress:
		if r.StartedAt == nil {
			r.StartedAt = &t.now
		}
		r.FinishedAt, conclusion = nil, ""
	case StatusCompleted:
		if r.StartedAt == nil {
			r.StartedAt = &t.now
		}
		r.FinishedAt = &t.now
	default:
		return nil, fmt.Errorf("unknown run status %q", status)
	}
	r.Status, r.Conclusion = status, conclusion
	if _, err := t.exec(ctx, `UPDATE runs SET status = ?, conclusion = ?, started_at = ?, finished_at = ? WHERE id = ?`,
		r.Status, r.Conclusion, tsPtr(r.StartedAt), tsPtr(r.FinishedAt), id); err != nil {
		return nil, err
	}
	return r, t.runStatusEvent(ctx, r)
}

func (t *tx) runStatusEvent(ctx context.Context, r *Run) error {
	about := ids{repo: r.RepoID, run: r.ID}
	switch r.Status {
	case StatusQueued:
		return t.event(ctx, EventRunQueued, about, map[string]any{"attempt": r.Attempt})
	case StatusInProgress:
		return t.event(ctx, EventRunStarted, about, map[string]any{"attempt": r.Attempt})
	default:
		return t.event(ctx, EventRunCompleted, about, map[string]any{"attempt": r.Attempt, "conclusion": r.Conclusion})
	}
}

// FinishRunIfDone completes run id when every job key's latest attempt is completed, with
// conclusion cancelled if any is cancelled, else failure if any failed, else success. It
// reports whether it completed the run now. A run without jobs is left alone.
func (db *DB) FinishRunIfDone(ctx context.Context, id int64) (*Run, bool, error) {
	var out *Run
	var done bool
	err := db.write(ctx, fmt.Sprintf("finishing run %d", id), func(t *tx) error {
		var err error
		out, done, err = t.finishRunIfDone(ctx, id)
		return err
	})
	return out, done, err
}

func (t *tx) finishRunIfDone(ctx context.Context, id int64) (*Run, bool, error) {
	r, err := t.lockRun(ctx, id)
	if err != nil || r.Status == StatusCompleted {
		return r, false, err
	}
	// Most calls come while jobs are still going: a count answers them
	// without reading every job of a large run.
	var open int
	if err := t.queryRow(ctx, `SELECT COUNT(*) FROM jobs WHERE run_id = ? AND status != ?`, id, StatusCompleted).Scan(&open); err != nil {
		return r, false, err
	}
	if open > 0 {
		// Earlier attempts are all completed; an unfinished row is a live one.
		return r, false, nil
	}
	jobs, err := listJobsCols(ctx, t, id, true, jobColsNoSpec)
	if err != nil || len(jobs) == 0 {
		return r, false, err
	}
	conclusion := ConclusionSuccess
	for _, j := range jobs {
		if j.Status != StatusCompleted {
			return r, false, nil
		}
		// As on GitHub, a failed job makes the run a failure even when
		// others were cancelled (fail-fast siblings, a user's cancel after).
		switch {
		case j.Conclusion == ConclusionFailure && j.Tolerated:
			// continue-on-error: the job failed, the run does not.
		case j.Conclusion == ConclusionFailure:
			conclusion = ConclusionFailure
		case j.Conclusion == ConclusionCancelled && conclusion != ConclusionFailure:
			conclusion = ConclusionCancelled
		}
	}
	// A cancelled run is cancelled even when what it still ran (if: always()) succeeded.
	if r.CancelRequested && conclusion == ConclusionSuccess {
		conclusion = ConclusionCancelled
	}
	r, err = t.setRunStatus(ctx, id, StatusCompleted, conclusion)
	return r, err == nil, err
}

// CancelRun cancels run id: jobs not yet started complete as cancelled with reason; jobs in
// progress get CancelRequested (their agents see it on the next Heartbeat and Complete them).
// When nothing is left in progress the run completes as cancelled.
func (db *DB) CancelRun(ctx context.Context, id int64, reason string) (*Run, error) {
	var out *Run
	err := db.write(ctx, fmt.Sprintf("cancelling run %d", id), func(t *tx) error {
		// Not locked yet: jobs are locked before their run everywhere (a claim locks its job,
		// then starts the run), and the run is locked when it is completed below.
		r, err := getRun(ctx, t, id)
		if err != nil {
			return err
		}
		if r.Status == StatusCompleted {
			out = r
			return nil
		}
		jobs, err := listJobs(ctx, t, id, false)
		if err != nil {
			return err
		}
		running := false
		for _, j := range jobs {
			about := ids{repo: r.RepoID, run: id, job: j.ID}
			if j.Status == StatusWaiting || j.Status == StatusQueued {
				// Guarded: an agent of another replica may have claimed it since it was read.
				res, err := t.exec(ctx, `UPDATE jobs SET status = ?, conclusion = ?, reason = ?, finished_at = ? WHERE id = ? AND status IN (?, ?)`,
					StatusCompleted, ConclusionCancelled, reason, ts(t.now), j.ID, StatusWaiting, StatusQueued)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n == 0 {
					nj, err := getJob(ctx, t, j.ID)
					if err != nil {
						return err
					}
					j = *nj
				}
			}
			switch j.Status {
			case StatusWaiting, StatusQueued:
				t.touch(TopicQueue)
				if err := t.event(ctx, EventJobCompleted, about, map[string]any{
					"key": j.Key, "attempt": j.Attempt, "conclusion": ConclusionCancelled, "reason": reason,
				}); err != nil {
					return err
				}
			case StatusInProgress:
				running = true
				if j.CancelRequested {
					continue
				}
				res, err := t.exec(ctx, `UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND cancel_requested = 0`, j.ID)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n == 0 {
					continue // a concurrent cancel asked first
				}
				if err := t.event(ctx, EventJobCancelReq, about, map[string]any{"key": j.Key, "reason": reason}); err != nil {
					return err
				}
			}
		}
		out = r
		if !running {
			out, err = t.setRunStatus(ctx, id, StatusCompleted, ConclusionCancelled)
		}
		return err
	})
	return out, err
}

// RunFacets are the distinct values a repository's recent runs have, for filter choices.
type RunFacets struct {
	Workflows []string // paths, e.g. .github/workflows/ci.yml
	Refs      []string
	Events    []string
	Actors    []string
}

// runFacetScan bounds how many recent runs RunFacets looks at.
const runFacetScan = 2000

// ListRunFacets returns the workflows, refs, events and actors of repoID's newest runs, each
// sorted.
func (db *DB) ListRunFacets(ctx context.Context, repoID int64) (*RunFacets, error) {
	out := &RunFacets{}
	for _, c := range []struct {
		col  string
		dest *[]string
	}{{"workflow", &out.Workflows}, {"ref", &out.Refs}, {"event", &out.Events}, {"actor", &out.Actors}} {
		rows, err := db.rd().query(ctx, `SELECT DISTINCT `+c.col+` FROM (SELECT `+c.col+` FROM runs WHERE repo_id = ?
			ORDER BY id DESC LIMIT ?) AS recent WHERE `+c.col+` != '' ORDER BY `+c.col, repoID, runFacetScan)
		if err != nil {
			return nil, fmt.Errorf("listing run %ss of repo %d: %w", c.col, repoID, err)
		}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return nil, err
			}
			*c.dest = append(*c.dest, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
