package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
)

// The facts internal/metrics computes delivery figures from. Each is one query over the event
// log or the records it describes, bounded by a time window and served by an index of
// migration 00006; nothing here is kept for the metrics' sake.

// StateChange is one promotion.state event: the state a promotion entered, and when.
type StateChange struct {
	To cd.State  `json:"to"`
	At time.Time `json:"at"`
}

// PromotionFact is a promotion with the release it deploys and the history of its state.
// Updated is when it last changed (its state, run, URL or reason).
type PromotionFact struct {
	ID        int64         `json:"id"`
	Env       string        `json:"env"`
	ReleaseID string        `json:"release_id"`
	Commit    string        `json:"commit"` // the commit deployed: its run's, else its release's`
	Ref       string        `json:"ref"`
	Version   string        `json:"version,omitempty"`
	Kind      cd.Kind       `json:"kind"`
	Auto      bool          `json:"auto,omitempty"`
	StartedBy string        `json:"started_by"`
	Reason    string        `json:"reason,omitempty"`
	RunID     int64         `json:"run_id,omitempty"`
	Created   time.Time     `json:"created"`
	Updated   time.Time     `json:"updated"`
	States    []StateChange `json:"states"` // in the order they happened
}

// MetricsPromotions returns the promotions of repository repoID into env that were created or
// changed state at or after since, oldest first, each with every state change from the event
// log. A promotion created before since but deployed after it is included whole.
func (db *DB) MetricsPromotions(ctx context.Context, repoID int64, env string, since time.Time) ([]PromotionFact, error) {
	q := db.rd()
	// updated moves with every state change, so it finds the promotions the window touches.
	// The commit is the deploying run's: a release is its bytes, so a later commit that builds
	// the same bytes deploys the earlier commit's release, and its own code.
	rows, err := q.query(ctx, `SELECT p.id, p.environment, p.release_id, p.kind, p.auto, p.started_by, p.reason,
		p.run_id, p.created, p.updated, COALESCE(NULLIF(rn.sha, ''), r.commit_sha), r.ref, r.version
		FROM promotions p JOIN releases r ON r.id = p.release_id LEFT JOIN runs rn ON rn.id = p.run_id
		WHERE p.repo_id = ? AND p.environment = ? AND (p.updated >= ? OR p.created >= ?) ORDER BY p.id`,
		repoID, env, ts(since), ts(since))
	if err != nil {
		return nil, fmt.Errorf("listing promotions into %s: %w", env, err)
	}
	var out []PromotionFact
	index := map[int64]int{}
	first := int64(-1)
	for rows.Next() {
		var p PromotionFact
		var kind string
		var auto int
		var run sql.NullInt64
		var created, updated int64
		if err := rows.Scan(&p.ID, &p.Env, &p.ReleaseID, &kind, &auto, &p.StartedBy, &p.Reason, &run, &created, &updated,
			&p.Commit, &p.Ref, &p.Version); err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading promotion: %w", err)
		}
		p.Kind, p.Auto, p.RunID, p.Created, p.Updated = cd.Kind(kind), auto != 0, run.Int64, fromTS(created), fromTS(updated)
		if first < 0 || created < first {
			first = created
		}
		index[p.ID] = len(out)
		out = append(out, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing promotions into %s: %w", env, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	// Every state change of these promotions happened after the oldest one was created.
	// In time order (then the order written), which the (repo_id, kind, time) index gives.
	rows, err = q.query(ctx, `SELECT time, data FROM events WHERE repo_id = ? AND kind = ? AND time >= ? ORDER BY time, id`,
		repoID, EventPromotionState, first)
	if err != nil {
		return nil, fmt.Errorf("reading promotion events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var at int64
		var data sql.NullString
		if err := rows.Scan(&at, &data); err != nil {
			return nil, fmt.Errorf("reading promotion event: %w", err)
		}
		var ev struct {
			Promotion int64    `json:"promotion"`
			To        cd.State `json:"to"`
		}
		if err := json.Unmarshal([]byte(data.String), &ev); err != nil {
			return nil, fmt.Errorf("decoding promotion event: %w", err)
		}
		if i, ok := index[ev.Promotion]; ok {
			out[i].States = append(out[i].States, StateChange{To: ev.To, At: fromTS(at)})
		}
	}
	return out, rows.Err()
}

// MetricsDeployedCommits returns the commits of the releases that deployed successfully into env
// through promotions older than promotion before (0: all): what an environment had received.
func (db *DB) MetricsDeployedCommits(ctx context.Context, repoID int64, env string, before int64) ([]string, error) {
	where := ""
	args := []any{repoID, env, string(cd.StateSuccess), string(cd.StateInactive)}
	if before > 0 {
		where, args = " AND p.id < ?", append(args, before)
	}
	out, err := scanStrings(db.rd().query(ctx, `SELECT DISTINCT COALESCE(NULLIF(rn.sha, ''), r.commit_sha)
		FROM promotions p JOIN releases r ON r.id = p.release_id LEFT JOIN runs rn ON rn.id = p.run_id
		WHERE p.repo_id = ? AND p.environment = ? AND p.state IN (?, ?)`+where, args...))
	if err != nil {
		return nil, fmt.Errorf("listing commits deployed to %s: %w", env, err)
	}
	return out, nil
}

// RunFact is a run as the pipeline figures see it.
type RunFact struct {
	ID           int64     `json:"id"`
	Number       int64     `json:"number"`
	Workflow     string    `json:"workflow"`
	WorkflowName string    `json:"workflow_name"`
	Event        string    `json:"event"`
	Ref          string    `json:"ref"`
	SHA          string    `json:"sha"`
	Trigger      string    `json:"trigger"`
	Status       string    `json:"status"`
	Conclusion   string    `json:"conclusion"`
	QueuedAt     time.Time `json:"queued_at"`
	StartedAt    time.Time `json:"started_at"`  // zero: not started
	FinishedAt   time.Time `json:"finished_at"` // zero: not finished
}

const runFactCols = `id, number, workflow, workflow_name, event, ref, sha, run_trigger, status, conclusion, queued_at,
	COALESCE(started_at, 0), COALESCE(finished_at, 0)`

func scanRunFacts(rows *sql.Rows, err error) ([]RunFact, error) {
	if err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	defer rows.Close()
	var out []RunFact
	for rows.Next() {
		var r RunFact
		var queued, started, finished int64
		if err := rows.Scan(&r.ID, &r.Number, &r.Workflow, &r.WorkflowName, &r.Event, &r.Ref, &r.SHA, &r.Trigger,
			&r.Status, &r.Conclusion, &queued, &started, &finished); err != nil {
			return nil, fmt.Errorf("reading run: %w", err)
		}
		r.QueuedAt, r.StartedAt, r.FinishedAt = fromTS(queued), optTS(started), optTS(finished)
		out = append(out, r)
	}
	return out, rows.Err()
}

// MetricsRuns returns the runs of repository repoID queued at or after since, oldest first.
func (db *DB) MetricsRuns(ctx context.Context, repoID int64, since time.Time) ([]RunFact, error) {
	return scanRunFacts(db.rd().query(ctx, `SELECT `+runFactCols+` FROM runs WHERE repo_id = ? AND queued_at >= ?
		ORDER BY queued_at, id`, repoID, ts(since)))
}

// MetricsRunsBefore returns up to limit completed runs of repository repoID on ref queued before
// t, newest first: what came just before a window.
func (db *DB) MetricsRunsBefore(ctx context.Context, repoID int64, ref string, t time.Time, limit int) ([]RunFact, error) {
	return scanRunFacts(db.rd().query(ctx, `SELECT `+runFactCols+` FROM runs WHERE repo_id = ? AND queued_at < ? AND ref = ?
		AND status = ? ORDER BY queued_at DESC, id DESC LIMIT ?`, repoID, ts(t), ref, StatusCompleted, limit))
}

// MetricsRunLockHash returns the lock hash (the dependency set locked in the run's tree) that
// the server planned run runID with; "" when it has none.
func (db *DB) MetricsRunLockHash(ctx context.Context, runID int64) (string, error) {
	var spec sql.NullString
	err := db.rd().queryRow(ctx, `SELECT spec FROM jobs WHERE run_id = ? AND spec IS NOT NULL ORDER BY id LIMIT 1`, runID).Scan(&spec)
	if err == sql.ErrNoRows {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the lock hash of run %d: %w", runID, err)
	}
	var s struct {
		LockHash string `json:"lock_hash"`
	}
	if json.Unmarshal([]byte(spec.String), &s) != nil {
		return "", nil
	}
	return s.LockHash, nil
}

// JobFact is one completed attempt of a job.
type JobFact struct {
	ID         int64     `json:"id"`
	RunID      int64     `json:"run_id"`
	Key        string    `json:"key"`
	Name       string    `json:"name"`
	Conclusion string    `json:"conclusion"`
	AgentID    int64     `json:"agent_id,omitempty"`
	QueuedAt   time.Time `json:"queued_at"`   // zero: never queued
	StartedAt  time.Time `json:"started_at"`  // zero: never started (skipped, or carried over)
	FinishedAt time.Time `json:"finished_at"` // zero: not finished
}

const jobFactCols = `j.id, j.run_id, j.job_key, j.name, j.conclusion, COALESCE(j.queued_at, 0), COALESCE(j.started_at, 0),
	COALESCE(j.finished_at, 0)`

// MetricsJobs returns the completed jobs of the runs of repository repoID queued at or after
// since, in the order of their runs' queue times.
func (db *DB) MetricsJobs(ctx context.Context, repoID int64, since time.Time) ([]JobFact, error) {
	return scanJobFacts(db.rd().query(ctx, `SELECT `+jobFactCols+` FROM runs r JOIN jobs j ON j.run_id = r.id
		WHERE r.repo_id = ? AND r.queued_at >= ? AND j.status = ?`, repoID, ts(since), StatusCompleted))
}

func scanJobFacts(rows *sql.Rows, err error) ([]JobFact, error) {
	if err != nil {
		return nil, fmt.Errorf("listing jobs: %w", err)
	}
	defer rows.Close()
	var out []JobFact
	for rows.Next() {
		var j JobFact
		var queued, started, finished int64
		if err := rows.Scan(&j.ID, &j.RunID, &j.Key, &j.Name, &j.Conclusion, &queued, &started, &finished); err != nil {
			return nil, fmt.Errorf("reading job: %w", err)
		}
		j.QueuedAt, j.StartedAt, j.FinishedAt = optTS(queued), optTS(started), optTS(finished)
		out = append(out, j)
	}
	return out, rows.Err()
}

// MetricsJobTools returns, for the jobs of runs of repository repoID queued at or after since,
// the version of tool each recorded, by job ID.
func (db *DB) MetricsJobTools(ctx context.Context, repoID int64, since time.Time, tool string) (map[int64]string, error) {
	rows, err := db.rd().query(ctx, `SELECT t.job_id, t.version FROM runs r JOIN jobs j ON j.run_id = r.id
		JOIN job_tools t ON t.job_id = j.id WHERE r.repo_id = ? AND r.queued_at >= ? AND t.name = ?`, repoID, ts(since), tool)
	if err != nil {
		return nil, fmt.Errorf("listing %s versions: %w", tool, err)
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var v string
		if err := rows.Scan(&id, &v); err != nil {
			return nil, fmt.Errorf("reading %s version: %w", tool, err)
		}
		out[id] = v
	}
	return out, rows.Err()
}

// MetricsToolNames returns the names of the tools the jobs of repository repoID recorded since
// since, sorted.
func (db *DB) MetricsToolNames(ctx context.Context, repoID int64, since time.Time) ([]string, error) {
	out, err := scanStrings(db.rd().query(ctx, `SELECT DISTINCT t.name FROM runs r JOIN jobs j ON j.run_id = r.id
		JOIN job_tools t ON t.job_id = j.id WHERE r.repo_id = ? AND r.queued_at >= ? ORDER BY t.name`, repoID, ts(since)))
	if err != nil {
		return nil, fmt.Errorf("listing tool names: %w", err)
	}
	return out, nil
}

// TestFact is a kept test case with the job and run that reported it.
type TestFact struct {
	JobID    int64
	RunID    int64
	Name     string
	Outcome  string
	Duration time.Duration
	Queued   time.Time // when its run was queued (MetricsTests only)
}

// MetricsTestFailures returns the failed and errored test cases of the jobs of runs of repository
// repoID queued at or after since.
func (db *DB) MetricsTestFailures(ctx context.Context, repoID int64, since time.Time) ([]TestFact, error) {
	rows, err := db.rd().query(ctx, `SELECT job_id, run_id, name, outcome, duration FROM test_cases
		WHERE repo_id = ? AND outcome IN (?, ?) AND queued >= ? ORDER BY job_id, name`,
		repoID, TestFailed, TestError, ts(since))
	if err != nil {
		return nil, fmt.Errorf("listing failed tests: %w", err)
	}
	defer rows.Close()
	var out []TestFact
	for rows.Next() {
		var f TestFact
		var d int64
		if err := rows.Scan(&f.JobID, &f.RunID, &f.Name, &f.Outcome, &d); err != nil {
			return nil, fmt.Errorf("reading failed test: %w", err)
		}
		f.Duration = time.Duration(d)
		out = append(out, f)
	}
	return out, rows.Err()
}

// MetricsTestPassed returns which of the (commit, test name) pairs passed in some job of
// repository repoID at that commit, in a run queued at or after since.
func (db *DB) MetricsTestPassed(ctx context.Context, repoID int64, since time.Time, pairs [][2]string) (map[[2]string]bool, error) {
	out := map[[2]string]bool{}
	want := map[[2]string]bool{}
	var shas, names []string
	for _, p := range pairs {
		if !want[p] {
			want[p] = true
			shas, names = append(shas, p[0]), append(names, p[1])
		}
	}
	// In chunks, so that a pathological history stays under the database's variable limit.
	const chunk = 400
	for i := 0; i < len(shas); i += chunk {
		s, n := uniq(shas[i:min(i+chunk, len(shas))]), uniq(names[i:min(i+chunk, len(names))])
		args := append(append([]any{repoID}, anySlice(s)...), anySlice(n)...)
		args = append(args, TestPassed, ts(since))
		rows, err := db.rd().query(ctx, `SELECT DISTINCT r.sha, c.name FROM runs r JOIN test_cases c ON c.run_id = r.id
			WHERE r.repo_id = ? AND r.sha IN (`+placeholders(len(s))+`) AND c.name IN (`+placeholders(len(n))+`)
			AND c.outcome = ? AND c.queued >= ?`, args...)
		if err != nil {
			return nil, fmt.Errorf("finding passed tests: %w", err)
		}
		for rows.Next() {
			var p [2]string
			if err := rows.Scan(&p[0], &p[1]); err != nil {
				rows.Close()
				return nil, fmt.Errorf("reading passed test: %w", err)
			}
			if want[p] {
				out[p] = true
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("finding passed tests: %w", err)
		}
	}
	return out, nil
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// MetricsTestJobs returns the jobs of runs of repository repoID queued at or after since that
// reported test cases.
func (db *DB) MetricsTestJobs(ctx context.Context, repoID int64, since time.Time) ([]int64, error) {
	rows, err := db.rd().query(ctx, `SELECT DISTINCT job_id FROM test_cases WHERE repo_id = ? AND outcome IN (?, ?, ?)
		AND queued >= ? ORDER BY job_id`, repoID, TestPassed, TestFailed, TestError, ts(since))
	if err != nil {
		return nil, fmt.Errorf("listing jobs with tests: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("listing jobs with tests: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// SlowTestFact sums one test's passing durations over one ISO week.
type SlowTestFact struct {
	Name     string
	Week     time.Time // the Monday 00:00 UTC the week starts
	N        int
	Sum, Max time.Duration
}

const (
	// firstMonday is 1970-01-05 00:00 UTC in nanoseconds: ISO weeks are counted from it.
	firstMonday = 4 * 24 * int64(time.Hour)
	weekNS      = 7 * 24 * int64(time.Hour)
)

// MetricsSlowTests sums the passing test cases kept for the jobs of runs of repository repoID
// queued at or after since, by test and by ISO week of the run's queue time.
func (db *DB) MetricsSlowTests(ctx context.Context, repoID int64, since time.Time) ([]SlowTestFact, error) {
	rows, err := db.rd().query(ctx, `SELECT name, (queued - ?) / ?, COUNT(*), SUM(duration), MAX(duration) FROM test_cases
		WHERE repo_id = ? AND outcome = ? AND queued >= ? GROUP BY 1, 2 ORDER BY 1, 2`,
		firstMonday, weekNS, repoID, TestPassed, ts(since))
	if err != nil {
		return nil, fmt.Errorf("summing test durations: %w", err)
	}
	defer rows.Close()
	var out []SlowTestFact
	for rows.Next() {
		var f SlowTestFact
		var wk, sum, mx int64
		if err := rows.Scan(&f.Name, &wk, &f.N, &sum, &mx); err != nil {
			return nil, fmt.Errorf("reading test durations: %w", err)
		}
		f.Week, f.Sum, f.Max = fromTS(firstMonday+wk*weekNS), time.Duration(sum), time.Duration(mx)
		out = append(out, f)
	}
	return out, rows.Err()
}

// BuildFact is one build of a release: the run that made it first (Rebuilt false), or a later
// run that made the same bytes again (Rebuilt true, from release.rebuilt).
type BuildFact struct {
	ReleaseID string    `json:"release_id"`
	Commit    string    `json:"commit"`
	RunID     int64     `json:"run_id"`
	Workflow  string    `json:"workflow"`
	At        time.Time `json:"at"`
	Rebuilt   bool      `json:"rebuilt,omitempty"`
}

// MetricsBuilds returns the builds of repository repoID's releases whose commit was built at or
// after since: every release of those commits (whenever made) and every rebuild, oldest first.
func (db *DB) MetricsBuilds(ctx context.Context, repoID int64, since time.Time) ([]BuildFact, error) {
	q := db.rd()
	// Rebuilds in the window name their release; their commits count as built in the window too.
	rows, err := q.query(ctx, `SELECT e.time, e.run_id, e.data, COALESCE(r.workflow, '') FROM events e
		LEFT JOIN runs r ON r.id = e.run_id WHERE e.repo_id = ? AND e.kind = ? AND e.time >= ? ORDER BY e.id`,
		repoID, EventReleaseRebuilt, ts(since))
	if err != nil {
		return nil, fmt.Errorf("listing rebuilds: %w", err)
	}
	var rebuilds []BuildFact
	for rows.Next() {
		var at int64
		var run sql.NullInt64
		var data sql.NullString
		var b BuildFact
		if err := rows.Scan(&at, &run, &data, &b.Workflow); err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading rebuild: %w", err)
		}
		var ev struct {
			Release string `json:"release"`
			Commit  string `json:"commit"`
		}
		if json.Unmarshal([]byte(data.String), &ev) != nil {
			continue
		}
		b.ReleaseID, b.Commit, b.RunID, b.At, b.Rebuilt = ev.Release, ev.Commit, run.Int64, fromTS(at), true
		rebuilds = append(rebuilds, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing rebuilds: %w", err)
	}
	// Every release of a commit released in the window or rebuilt in it.
	args := []any{repoID, repoID, ts(since)}
	extra := ""
	if len(rebuilds) > 0 {
		seen := map[string]bool{}
		var cs []any
		for _, b := range rebuilds {
			if !seen[b.Commit] {
				seen[b.Commit] = true
				cs = append(cs, b.Commit)
			}
		}
		extra = " OR commit_sha IN (" + placeholders(len(cs)) + ")"
		args = append(args, cs...)
	}
	rows, err = q.query(ctx, `SELECT rl.id, rl.commit_sha, COALESCE(rl.run_id, 0), COALESCE(rn.workflow, ''), rl.created
		FROM releases rl LEFT JOIN runs rn ON rn.id = rl.run_id
		WHERE rl.repo_id = ? AND rl.commit_sha IN (SELECT commit_sha FROM releases WHERE repo_id = ? AND (created >= ?`+extra+`))
		ORDER BY rl.seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("listing releases: %w", err)
	}
	defer rows.Close()
	var out []BuildFact
	for rows.Next() {
		var b BuildFact
		var created int64
		if err := rows.Scan(&b.ReleaseID, &b.Commit, &b.RunID, &b.Workflow, &created); err != nil {
			return nil, fmt.Errorf("reading release: %w", err)
		}
		b.At = fromTS(created)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing releases: %w", err)
	}
	return append(out, rebuilds...), nil
}

// ReproFact is the latest verify-repro check of a release.
type ReproFact struct {
	ReleaseID string    `json:"release_id"`
	Commit    string    `json:"commit"`
	Identical bool      `json:"identical"`
	Differ    []string  `json:"differ"`
	At        time.Time `json:"at"`
}

// MetricsReproChecks returns the latest check of each release of repository repoID checked at or
// after since.
func (db *DB) MetricsReproChecks(ctx context.Context, repoID int64, since time.Time) ([]ReproFact, error) {
	rows, err := db.rd().query(ctx, `SELECT c.release_id, r.commit_sha, c.identical, c.differ, c.created
		FROM repro_checks c JOIN releases r ON r.id = c.release_id
		WHERE r.repo_id = ? AND c.created >= ? AND c.id = (SELECT MAX(l.id) FROM repro_checks l WHERE l.release_id = c.release_id)
		ORDER BY c.id`, repoID, ts(since))
	if err != nil {
		return nil, fmt.Errorf("listing repro checks: %w", err)
	}
	defer rows.Close()
	var out []ReproFact
	for rows.Next() {
		var f ReproFact
		var identical int
		var differ string
		var at int64
		if err := rows.Scan(&f.ReleaseID, &f.Commit, &identical, &differ, &at); err != nil {
			return nil, fmt.Errorf("reading repro check: %w", err)
		}
		if err := fromJSONText(differ, &f.Differ); err != nil {
			return nil, err
		}
		f.Identical, f.At = identical != 0, fromTS(at)
		out = append(out, f)
	}
	return out, rows.Err()
}

func scanStrings(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// MetricsLastEvent returns the ID of repository repoID's latest event (0: none): where a reader
// of its history stands.
func (db *DB) MetricsLastEvent(ctx context.Context, repoID int64) (int64, error) {
	var id int64
	if err := db.rd().queryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM events WHERE repo_id = ?`, repoID).Scan(&id); err != nil {
		return 0, fmt.Errorf("reading the latest event of repo %d: %w", repoID, err)
	}
	return id, nil
}

// TouchedEvent is what a reader of the event log needs to know of an event to refresh what it
// read before: which run it is about, if any.
type TouchedEvent struct {
	ID    int64
	Kind  string
	RunID int64 // 0: none
}

// MetricsEventsAfter returns repository repoID's events after event after, oldest first, with
// only what says which records they are about.
func (db *DB) MetricsEventsAfter(ctx context.Context, repoID, after int64) ([]TouchedEvent, error) {
	rows, err := db.rd().query(ctx, `SELECT id, kind, COALESCE(run_id, 0) FROM events WHERE repo_id = ? AND id > ? ORDER BY id`,
		repoID, after)
	if err != nil {
		return nil, fmt.Errorf("reading the events of repo %d: %w", repoID, err)
	}
	defer rows.Close()
	var out []TouchedEvent
	for rows.Next() {
		var e TouchedEvent
		if err := rows.Scan(&e.ID, &e.Kind, &e.RunID); err != nil {
			return nil, fmt.Errorf("reading the events of repo %d: %w", repoID, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// MetricsRunsByID returns the runs of repository repoID among ids.
func (db *DB) MetricsRunsByID(ctx context.Context, repoID int64, ids []int64) ([]RunFact, error) {
	var out []RunFact
	for i := 0; i < len(ids); i += 400 {
		part := ids[i:min(i+400, len(ids))]
		rs, err := scanRunFacts(db.rd().query(ctx, `SELECT `+runFactCols+` FROM runs WHERE repo_id = ? AND id IN (`+
			placeholders(len(part))+`)`, append([]any{repoID}, anySlice(part)...)...))
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

// MetricsJobsOfRuns returns the completed jobs of runs ids.
func (db *DB) MetricsJobsOfRuns(ctx context.Context, ids []int64) ([]JobFact, error) {
	var out []JobFact
	for i := 0; i < len(ids); i += 400 {
		part := ids[i:min(i+400, len(ids))]
		js, err := scanJobFacts(db.rd().query(ctx, `SELECT `+jobFactCols+` FROM jobs j WHERE j.status = ? AND j.run_id IN (`+
			placeholders(len(part))+`)`, append([]any{StatusCompleted}, anySlice(part)...)...))
		if err != nil {
			return nil, err
		}
		out = append(out, js...)
	}
	return out, nil
}

// MetricsTests returns the test cases kept for the jobs of runs of repository repoID queued at or
// after since (not the skipped ones, which are only counted).
func (db *DB) MetricsTests(ctx context.Context, repoID int64, since time.Time) ([]TestFact, error) {
	return scanTestFacts(db.rd().query(ctx, `SELECT job_id, run_id, name, outcome, duration, queued FROM test_cases
		WHERE repo_id = ? AND outcome IN (?, ?, ?) AND queued >= ?`, repoID, TestPassed, TestFailed, TestError, ts(since)))
}

// MetricsTestsOfRuns returns the test cases kept for the jobs of runs ids.
func (db *DB) MetricsTestsOfRuns(ctx context.Context, ids []int64) ([]TestFact, error) {
	var out []TestFact
	for i := 0; i < len(ids); i += 400 {
		part := ids[i:min(i+400, len(ids))]
		ts, err := scanTestFacts(db.rd().query(ctx, `SELECT job_id, run_id, name, outcome, duration, queued FROM test_cases
			WHERE run_id IN (`+placeholders(len(part))+`) AND outcome != ?`, append(anySlice(part), TestSkipped)...))
		if err != nil {
			return nil, err
		}
		out = append(out, ts...)
	}
	return out, nil
}

func scanTestFacts(rows *sql.Rows, err error) ([]TestFact, error) {
	if err != nil {
		return nil, fmt.Errorf("listing test cases: %w", err)
	}
	defer rows.Close()
	var out []TestFact
	for rows.Next() {
		var f TestFact
		var d, queued int64
		if err := rows.Scan(&f.JobID, &f.RunID, &f.Name, &f.Outcome, &d, &queued); err != nil {
			return nil, fmt.Errorf("reading test case: %w", err)
		}
		f.Duration, f.Queued = time.Duration(d), fromTS(queued)
		out = append(out, f)
	}
	return out, rows.Err()
}

// WeekOf is the Monday 00:00 UTC starting t's ISO week, as MetricsSlowTests counts weeks.
func WeekOf(t time.Time) time.Time {
	n := t.UnixNano() - firstMonday
	return fromTS(firstMonday + (n/weekNS)*weekNS)
}
