package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Enqueue moves the given jobs from waiting to queued (their needs are met). Jobs that are not
// waiting are left alone, so a repeated call is harmless. It returns how many were queued.
func (db *DB) Enqueue(ctx context.Context, jobIDs []int64) (int, error) {
	n := 0
	err := db.write(ctx, "enqueueing jobs", func(t *tx) error {
		n = 0
		for _, id := range jobIDs {
			var j struct {
				runID, repoID int64
				key           string
				attempt       int
			}
			err := t.queryRow(ctx, `UPDATE jobs SET status = ?, queued_at = ?, pending_reason = '' WHERE id = ? AND status = ?
				RETURNING run_id, job_key, attempt`, StatusQueued, ts(t.now), id, StatusWaiting).Scan(&j.runID, &j.key, &j.attempt)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			if j.repoID, err = t.repoOfRun(ctx, j.runID); err != nil {
				return err
			}
			n++
			t.touch(TopicQueue)
			if err := t.event(ctx, EventJobQueued, ids{repo: j.repoID, run: j.runID, job: id},
				map[string]any{"key": j.key, "attempt": j.attempt}); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// claimRetries bounds how often Claim re-picks when its guarded update lost a race (possible
// with several processes on one database; with one SQLite writer it never happens).
const claimRetries = 5

// Claim leases to agent agentID the oldest queued job whose labels the agent's labels satisfy
// (see LabelsMatch), until now+lease. The job becomes in_progress with job.leased and job.started
// events; its run becomes in_progress if it was queued. It returns ErrNoJob when nothing matches.
// Claim does not count the agent's running jobs: an agent asks only when it has a free slot.
func (db *DB) Claim(ctx context.Context, agentID int64, labels []string, lease time.Duration) (*Job, error) {
	var out *Job
	err := db.write(ctx, fmt.Sprintf("claiming a job for agent %d", agentID), func(t *tx) error {
		rows, err := t.query(ctx, t.db.d.pendingKeys())
		if err != nil {
			return err
		}
		var keys []any
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return err
			}
			if LabelsMatch(labels, keyLabels(k)) {
				keys = append(keys, k)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(keys) == 0 {
			return ErrNoJob
		}
		draining, err := t.touchAgentDraining(ctx, agentID)
		if err != nil {
			return err
		}
		if draining {
			return ErrDraining
		}
		until := t.now.Add(lease)
		for range claimRetries {
			var id int64
			// The lock is taken on the jobs row, not the pending row: every writer locks a job
			// before the pending row its trigger maintains, so a claim racing a cancel waits
			// (or skips) instead of deadlocking. A held run's jobs (a pull request from a fork
			// awaiting a maintainer's approval) are never claimed.
			err := t.queryRow(ctx, `SELECT j.id FROM `+t.db.d.pendingJobs()+` JOIN jobs j ON j.id = pending_jobs.job_id
				WHERE pending_jobs.labels_key IN (`+placeholders(len(keys))+`)
				AND NOT EXISTS (SELECT 1 FROM run_approvals a WHERE a.run_id = j.run_id AND a.decided_at IS NULL)
				ORDER BY pending_jobs.queued_at, pending_jobs.job_id LIMIT 1`+t.db.d.claimLock(), keys...).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNoJob
			}
			if err != nil {
				return err
			}
			res, err := t.exec(ctx, `UPDATE jobs SET status = ?, agent_id = ?, lease_until = ?, heartbeat_at = ?, started_at = ?
				WHERE id = ? AND status = ?`, StatusInProgress, agentID, ts(until), ts(t.now), ts(t.now), id, StatusQueued)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue
			}
			if out, err = getJob(ctx, t, id); err != nil {
				return err
			}
			return t.started(ctx, out, agentID)
		}
		return ErrNoJob
	})
	if errors.Is(err, ErrNoJob) {
		return nil, ErrNoJob
	}
	if errors.Is(err, ErrDraining) {
		return nil, fmt.Errorf("agent %d: %w", agentID, ErrDraining)
	}
	return out, err
}

// started writes the events of a claim and starts the run if it is still queued.
func (t *tx) started(ctx context.Context, j *Job, agentID int64) error {
	r, err := getRun(ctx, t, j.RunID)
	if err != nil {
		return err
	}
	t.touch(TopicQueue)
	about := ids{repo: r.RepoID, run: r.ID, job: j.ID}
	if err := t.event(ctx, EventJobLeased, about, map[string]any{
		"key": j.Key, "attempt": j.Attempt, "agent_id": agentID, "lease_until": j.LeaseUntil,
	}); err != nil {
		return err
	}
	if err := t.event(ctx, EventJobStarted, about, map[string]any{"key": j.Key, "attempt": j.Attempt, "agent_id": agentID}); err != nil {
		return err
	}
	if r.Status == StatusQueued {
		_, err = t.setRunStatus(ctx, r.ID, StatusInProgress, "")
	}
	return err
}

// Heartbeat extends the lease of job jobID held by agent agentID to now+lease and returns the
// job (check CancelRequested). It returns ErrLeaseLost when the job is no longer in progress on
// this agent. Heartbeats write no event.
func (db *DB) Heartbeat(ctx context.Context, jobID, agentID int64, lease time.Duration) (*Job, error) {
	var out *Job
	err := db.write(ctx, fmt.Sprintf("heartbeat of job %d", jobID), func(t *tx) error {
		res, err := t.exec(ctx, `UPDATE jobs SET lease_until = ?, heartbeat_at = ? WHERE id = ? AND agent_id = ? AND status = ?`,
			ts(t.now.Add(lease)), ts(t.now), jobID, agentID, StatusInProgress)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("job %d on agent %d: %w", jobID, agentID, ErrLeaseLost)
		}
		if err := t.touchAgent(ctx, agentID); err != nil {
			return err
		}
		out, err = getJob(ctx, t, jobID)
		return err
	})
	return out, err
}

// Complete finishes job jobID held by agent agentID with conclusion and outputs (job.completed).
// It returns ErrLeaseLost when the job is no longer in progress on this agent, so a job that was
// declared lost cannot be completed late by the agent that lost it.
func (db *DB) Complete(ctx context.Context, jobID, agentID int64, conclusion string, outputs map[string]string) (*Job, error) {
	var out *Job
	err := db.write(ctx, fmt.Sprintf("completing job %d", jobID), func(t *tx) error {
		enc, err := jsonText(outputs)
		if err != nil {
			return err
		}
		res, err := t.exec(ctx, `UPDATE jobs SET status = ?, conclusion = ?, outputs = ?, finished_at = ?, lease_until = NULL
			WHERE id = ? AND agent_id = ? AND status = ?`, StatusCompleted, conclusion, enc, ts(t.now), jobID, agentID, StatusInProgress)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("job %d on agent %d: %w", jobID, agentID, ErrLeaseLost)
		}
		if out, err = getJob(ctx, t, jobID); err != nil {
			return err
		}
		repoID, err := t.repoOfRun(ctx, out.RunID)
		if err != nil {
			return err
		}
		t.touch(TopicQueue) // the agent has a free slot again
		return t.event(ctx, EventJobCompleted, ids{repo: repoID, run: out.RunID, job: jobID},
			map[string]any{"key": out.Key, "attempt": out.Attempt, "agent_id": agentID, "conclusion": conclusion})
	})
	return out, err
}

// ExpireLeases ends every in-progress job whose lease ran out before now: it completes as
// failure with the reason "agent lost: no heartbeat since …", recorded as a job.agent_lost event
// followed by job.completed. With retry, a new attempt of the same key is queued (job.queued)
// unless the job already had the maximum attempts (WithMaxAttempts). It returns the lost jobs as
// they are now; their runs are left for the caller to advance.
func (db *DB) ExpireLeases(ctx context.Context, now time.Time, retry bool) ([]Job, error) {
	var lost []Job
	err := db.write(ctx, "expiring leases", func(t *tx) error {
		var err error
		lost, err = t.expireLeases(ctx, now, retry)
		return err
	})
	return lost, err
}

func (t *tx) expireLeases(ctx context.Context, now time.Time, retry bool) ([]Job, error) {
	// Locked, and re-checked by Postgres after any wait: a heartbeat that commits first keeps
	// its job out of this list, and one that comes after finds the job no longer its own.
	expired, err := queryJobs(ctx, t, `SELECT `+jobCols+` FROM jobs WHERE status = ? AND lease_until < ? ORDER BY id`+t.db.d.forUpdate(),
		StatusInProgress, ts(now))
	if err != nil {
		return nil, err
	}
	if len(expired) == 0 {
		return nil, nil
	}
	agents, err := listAgents(ctx, t)
	if err != nil {
		return nil, err
	}
	names := map[int64]string{}
	for _, a := range agents {
		names[a.ID] = a.Name
	}
	var out []Job
	for _, j := range expired {
		var hb sql.NullInt64
		if err := t.queryRow(ctx, `SELECT heartbeat_at FROM jobs WHERE id = ?`, j.ID).Scan(&hb); err != nil {
			return nil, err
		}
		since := "the claim"
		if hb.Valid {
			since = fromTS(hb.Int64).Format(time.RFC3339)
		}
		agent := "(deleted agent)"
		if j.AgentID != nil {
			agent = fmt.Sprintf("%q", names[*j.AgentID])
		}
		reason := fmt.Sprintf("agent lost: no heartbeat since %s (agent %s, lease expired %s)",
			since, agent, j.LeaseUntil.Format(time.RFC3339))
		if _, err := t.exec(ctx, `UPDATE jobs SET status = ?, conclusion = ?, reason = ?, finished_at = ?, lease_until = NULL
			WHERE id = ?`, StatusCompleted, ConclusionFailure, reason, ts(t.now), j.ID); err != nil {
			return nil, err
		}
		repoID, err := t.repoOfRun(ctx, j.RunID)
		if err != nil {
			return nil, err
		}
		about := ids{repo: repoID, run: j.RunID, job: j.ID}
		var retryJob *Job
		if retry && j.Attempt < t.db.maxAttempts {
			next := j
			next.Status, next.Attempt, next.PendingReason = StatusQueued, j.Attempt+1, ""
			if retryJob, err = t.insertJob(ctx, repoID, next); err != nil {
				return nil, err
			}
		}
		data := map[string]any{"key": j.Key, "attempt": j.Attempt, "agent_id": j.AgentID, "reason": reason,
			"lease_until": j.LeaseUntil, "retried": retryJob != nil}
		if retryJob != nil {
			data["retry_job_id"] = retryJob.ID
		}
		if err := t.event(ctx, EventJobAgentLost, about, data); err != nil {
			return nil, err
		}
		if err := t.event(ctx, EventJobCompleted, about, map[string]any{"key": j.Key, "attempt": j.Attempt,
			"conclusion": ConclusionFailure, "reason": reason}); err != nil {
			return nil, err
		}
		t.touch(TopicQueue)
		nj, err := getJob(ctx, t, j.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, *nj)
	}
	return out, nil
}

// Recovery is what RecoverAfterCrash did.
type Recovery struct {
	Lost         []Job `json:"lost"`          // jobs whose leases had expired
	FinishedRuns []Run `json:"finished_runs"` // runs completed because all their jobs were
}

// RecoverAfterCrash is run once when the server starts: in-progress jobs whose lease passed
// before now are handled as by ExpireLeases with retry, and every unfinished run whose jobs are
// all completed is completed (see FinishRunIfDone). Jobs with live leases are left to their
// agents, which reconnect and heartbeat.
func (db *DB) RecoverAfterCrash(ctx context.Context, now time.Time) (*Recovery, error) {
	rec := &Recovery{}
	err := db.write(ctx, "recovering after restart", func(t *tx) error {
		*rec = Recovery{}
		var err error
		if rec.Lost, err = t.expireLeases(ctx, now, true); err != nil {
			return err
		}
		rows, err := t.query(ctx, `SELECT id FROM runs WHERE status <> ? ORDER BY id`, StatusCompleted)
		if err != nil {
			return err
		}
		var runIDs []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			runIDs = append(runIDs, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range runIDs {
			r, done, err := t.finishRunIfDone(ctx, id)
			if err != nil {
				return err
			}
			if done {
				rec.FinishedRuns = append(rec.FinishedRuns, *r)
			}
		}
		return nil
	})
	return rec, err
}

// PendingJob is a job that has not started, with why.
type PendingJob struct {
	Job    Job    `json:"job"`
	Reason string `json:"reason"`
}

// PendingJobs lists waiting and queued jobs, oldest first, each with why it is not running:
//   - waiting: the server's PendingReason if set, else the needs not yet completed;
//   - queued: "no agent has labels …", "no matching agent is online (…)",
//     "all matching agents are busy (…)", or "waiting for a free agent to claim it (…)".
//
// An agent is online when seen within the online window (WithAgentOnlineWindow).
func (db *DB) PendingJobs(ctx context.Context) ([]PendingJob, error) {
	q := db.rd()
	// A row expanded into others (see Job.Parent) waits for them; it is not itself pending.
	jobs, err := queryJobs(ctx, q, `SELECT `+jobCols+` FROM jobs j WHERE status IN (?, ?)
		AND NOT EXISTS (SELECT 1 FROM jobs c WHERE c.run_id = j.run_id AND c.parent = j.job_key)
		ORDER BY created_at, id`, StatusWaiting, StatusQueued)
	if err != nil {
		return nil, err
	}
	agents, err := listAgents(ctx, q)
	if err != nil {
		return nil, err
	}
	busy := map[int64]int{}
	rows, err := q.query(ctx, `SELECT agent_id, COUNT(*) FROM jobs WHERE status = ? AND agent_id IS NOT NULL GROUP BY agent_id`,
		StatusInProgress)
	if err != nil {
		return nil, fmt.Errorf("counting busy agents: %w", err)
	}
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return nil, err
		}
		busy[id] = n
	}
	rows.Close()
	held, err := heldRuns(ctx, q)
	if err != nil {
		return nil, err
	}
	now := db.clock()
	runJobs := map[int64][]Job{}
	out := make([]PendingJob, 0, len(jobs))
	for _, j := range jobs {
		p := PendingJob{Job: j}
		if reason, ok := held[j.RunID]; ok {
			p.Reason = reason
		} else if j.Status == StatusWaiting {
			if p.Reason = j.PendingReason; p.Reason == "" {
				latest, ok := runJobs[j.RunID]
				if !ok {
					if latest, err = listJobs(ctx, q, j.RunID, true); err != nil {
						return nil, err
					}
					runJobs[j.RunID] = latest
				}
				p.Reason = waitingReason(j, latest)
			}
		} else {
			p.Reason = queuedReason(j, agents, busy, now, db.agentOnline)
		}
		out = append(out, p)
	}
	return out, nil
}

func waitingReason(j Job, latest []Job) string {
	done := map[string]bool{}
	for _, o := range latest {
		if o.Status == StatusCompleted {
			done[o.Key] = true
		}
	}
	var open []string
	for _, n := range j.Needs {
		// A matrix job (or a call of a reusable workflow) is completed when all it was
		// expanded into is.
		if !done[n] {
			open = append(open, n)
		}
	}
	if len(open) == 0 {
		return "waiting to be queued"
	}
	return "waiting for needs: " + strings.Join(open, ", ")
}

func queuedReason(j Job, agents []Agent, busy map[int64]int, now time.Time, window time.Duration) string {
	var matching, online, free []string
	var busyDesc []string
	for _, a := range agents {
		if !LabelsMatch(a.Labels, j.Labels) {
			continue
		}
		matching = append(matching, a.Name)
		if a.LastSeen == nil || now.Sub(*a.LastSeen) > window {
			continue
		}
		online = append(online, a.Name)
		if a.Draining {
			busyDesc = append(busyDesc, a.Name+" draining")
			continue
		}
		if busy[a.ID] < a.Parallel {
			free = append(free, a.Name)
		} else {
			busyDesc = append(busyDesc, fmt.Sprintf("%s %d/%d", a.Name, busy[a.ID], a.Parallel))
		}
	}
	switch {
	case len(matching) == 0 && len(j.Labels) == 0:
		return "no agent is registered"
	case len(matching) == 0:
		return "no agent has labels: " + strings.Join(j.Labels, ", ")
	case len(online) == 0:
		sort.Strings(matching)
		return "no matching agent is online (" + strings.Join(matching, ", ") + ")"
	case len(free) == 0:
		return "all matching agents are busy (" + strings.Join(busyDesc, ", ") + ")"
	default:
		return "waiting for a free agent to claim it (" + strings.Join(free, ", ") + ")"
	}
}

// AgentRunsJobOf reports whether agent agentID holds an in-progress job of
// run runID: the check behind an agent's access to the run's artifacts.
func (db *DB) AgentRunsJobOf(ctx context.Context, agentID, runID int64) (bool, error) {
	var n int
	err := db.rd().queryRow(ctx, `SELECT COUNT(*) FROM jobs WHERE run_id = ? AND agent_id = ? AND status = ?`,
		runID, agentID, StatusInProgress).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("checking the jobs of agent %d in run %d: %w", agentID, runID, err)
	}
	return n > 0, nil
}

// LabelQueue is the queue of one label set, for autoscalers: how many jobs wait for agents
// with these labels, since when, and how many such agents could take them now.
type LabelQueue struct {
	Labels       []string   `json:"labels"`
	Queued       int        `json:"queued"`                     // claimable jobs waiting for an agent
	OldestQueued *time.Time `json:"oldest_queued_at,omitempty"` // when the longest-waiting one was queued
	Running      int        `json:"running"`                    // jobs of this label set in progress
	AgentsOnline int        `json:"agents_online"`              // online agents that match, not draining
	FreeSlots    int        `json:"free_slots"`                 // their parallel slots not in use
}

// QueueByLabels reports the queue per distinct runs-on label set, of the label sets that have
// queued or running jobs, by labels.
func (db *DB) QueueByLabels(ctx context.Context) ([]LabelQueue, error) {
	q := db.rd()
	byKey := map[string]*LabelQueue{}
	get := func(k string) *LabelQueue {
		lq := byKey[k]
		if lq == nil {
			lq = &LabelQueue{Labels: keyLabels(k)}
			if lq.Labels == nil {
				lq.Labels = []string{}
			}
			byKey[k] = lq
		}
		return lq
	}
	rows, err := q.query(ctx, `SELECT labels_key, COUNT(*), MIN(queued_at) FROM `+db.d.pendingJobs()+` GROUP BY labels_key`)
	if err != nil {
		return nil, fmt.Errorf("counting queued jobs: %w", err)
	}
	for rows.Next() {
		var k string
		var n int
		var oldest sql.NullInt64
		if err := rows.Scan(&k, &n, &oldest); err != nil {
			rows.Close()
			return nil, fmt.Errorf("counting queued jobs: %w", err)
		}
		lq := get(k)
		lq.Queued, lq.OldestQueued = n, fromNullTS(oldest)
	}
	rows.Close()
	busy := map[int64]int{}
	rows, err = q.query(ctx, `SELECT labels_key, agent_id, COUNT(*) FROM jobs WHERE status = ? GROUP BY labels_key, agent_id`, StatusInProgress)
	if err != nil {
		return nil, fmt.Errorf("counting running jobs: %w", err)
	}
	for rows.Next() {
		var k string
		var agent sql.NullInt64
		var n int
		if err := rows.Scan(&k, &agent, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("counting running jobs: %w", err)
		}
		get(k).Running += n
		busy[agent.Int64] += n
	}
	rows.Close()
	agents, err := listAgents(ctx, q)
	if err != nil {
		return nil, err
	}
	now := db.clock()
	out := make([]LabelQueue, 0, len(byKey))
	for _, lq := range byKey {
		for _, a := range agents {
			if a.Draining || a.LastSeen == nil || now.Sub(*a.LastSeen) > db.agentOnline || !LabelsMatch(a.Labels, lq.Labels) {
				continue
			}
			lq.AgentsOnline++
			lq.FreeSlots += max(0, a.Parallel-busy[a.ID])
		}
		out = append(out, *lq)
	}
	sort.Slice(out, func(i, j int) bool { return strings.Join(out[i].Labels, ",") < strings.Join(out[j].Labels, ",") })
	return out, nil
}
