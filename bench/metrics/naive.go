package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/store"
)

// naive is the baseline: it reads the whole event log (and the test cases table, whose names
// events do not carry) on every computation, replays it into runs, jobs, releases and
// promotions in memory, and answers metrics.Source from that with loops. It is what computing
// the figures "from the event log" costs without queries and indexes.
type naive struct {
	db     *sql.DB
	repoID int64

	runs     map[int64]*store.RunFact
	runOrder []int64
	jobs     map[int64]*store.JobFact
	jobOrder []int64
	tools    map[int64]map[string]string
	releases map[string]*naiveRelease
	relOrder []string
	promos   map[int64]*naivePromotion
	promOrd  []int64
	rebuilds []store.BuildFact
	checks   map[string]store.ReproFact // latest per release
	tests    []store.TestFact
}

type naiveRelease struct {
	id, commit string
	run        int64
	created    time.Time
}

type naivePromotion struct {
	store.PromotionFact
	state   cd.State
	updated time.Time
}

// load replays everything.
func (n *naive) load(ctx context.Context) error {
	n.runs, n.jobs, n.tools = map[int64]*store.RunFact{}, map[int64]*store.JobFact{}, map[int64]map[string]string{}
	n.releases, n.promos, n.checks = map[string]*naiveRelease{}, map[int64]*naivePromotion{}, map[string]store.ReproFact{}
	n.runOrder, n.jobOrder, n.relOrder, n.promOrd, n.rebuilds, n.tests = nil, nil, nil, nil, nil, nil
	rows, err := n.db.QueryContext(ctx, `SELECT time, kind, repo_id, run_id, job_id, data FROM events ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var at int64
		var kind string
		var repo, run, job sql.NullInt64
		var data sql.NullString
		if err := rows.Scan(&at, &kind, &repo, &run, &job, &data); err != nil {
			return err
		}
		if repo.Int64 != n.repoID {
			continue
		}
		t := time.Unix(0, at).UTC()
		var m map[string]json.RawMessage
		if data.Valid {
			if err := json.Unmarshal([]byte(data.String), &m); err != nil {
				return fmt.Errorf("event %s: %w", kind, err)
			}
		}
		str := func(k string) string {
			var s string
			json.Unmarshal(m[k], &s)
			return s
		}
		num := func(k string) int64 {
			var v int64
			json.Unmarshal(m[k], &v)
			return v
		}
		switch kind {
		case store.EventRunQueued:
			r := n.runs[run.Int64]
			if r == nil {
				r = &store.RunFact{ID: run.Int64, Number: num("number"), Workflow: str("workflow"), WorkflowName: str("workflow_name"),
					Event: str("event"), Ref: str("ref"), SHA: str("sha"), Trigger: str("trigger")}
				n.runs[run.Int64] = r
				n.runOrder = append(n.runOrder, r.ID)
			}
			r.Status, r.QueuedAt, r.StartedAt, r.FinishedAt, r.Conclusion = store.StatusQueued, t, time.Time{}, time.Time{}, ""
		case store.EventRunStarted:
			if r := n.runs[run.Int64]; r != nil {
				r.Status, r.StartedAt = store.StatusInProgress, t
			}
		case store.EventRunCompleted:
			if r := n.runs[run.Int64]; r != nil {
				r.Status, r.Conclusion, r.FinishedAt = store.StatusCompleted, str("conclusion"), t
				if r.StartedAt.IsZero() {
					r.StartedAt = t
				}
			}
		case store.EventJobCreated, store.EventJobQueued:
			j := n.jobs[job.Int64]
			if j == nil {
				j = &store.JobFact{ID: job.Int64, RunID: run.Int64, Key: str("key"), Name: str("name")}
				n.jobs[job.Int64] = j
				n.jobOrder = append(n.jobOrder, j.ID)
			}
			if kind == store.EventJobQueued {
				j.QueuedAt = t
			}
		case store.EventJobStarted:
			if j := n.jobs[job.Int64]; j != nil {
				j.StartedAt = t
			}
		case store.EventJobCompleted:
			if j := n.jobs[job.Int64]; j != nil {
				j.Conclusion, j.FinishedAt = str("conclusion"), t
			}
		case store.EventJobResults:
			var tools map[string]string
			json.Unmarshal(m["tools"], &tools)
			n.tools[job.Int64] = tools
		case store.EventReleaseCreated:
			id := str("release")
			n.releases[id] = &naiveRelease{id: id, commit: str("commit"), run: run.Int64, created: t}
			n.relOrder = append(n.relOrder, id)
		case store.EventReleaseRebuilt:
			n.rebuilds = append(n.rebuilds, store.BuildFact{ReleaseID: str("release"), Commit: str("commit"), RunID: run.Int64, At: t, Rebuilt: true})
		case store.EventReproChecked:
			var identical bool
			var differ []string
			json.Unmarshal(m["identical"], &identical)
			json.Unmarshal(m["differ"], &differ)
			id := str("release")
			n.checks[id] = store.ReproFact{ReleaseID: id, Identical: identical, Differ: differ, At: t}
		case store.EventPromotionCreated:
			id := num("promotion")
			var auto bool
			json.Unmarshal(m["auto"], &auto)
			p := &naivePromotion{PromotionFact: store.PromotionFact{ID: id, Env: str("env"), ReleaseID: str("release"), Kind: cd.Kind(str("kind")),
				Auto: auto, StartedBy: str("started_by"), RunID: num("run"), Reason: str("reason"), Created: t}, state: cd.State(str("state")), updated: t}
			n.promos[id] = p
			n.promOrd = append(n.promOrd, id)
		case store.EventPromotionState:
			if p := n.promos[num("promotion")]; p != nil {
				p.state, p.updated = cd.State(str("to")), t
				p.States = append(p.States, store.StateChange{To: p.state, At: t})
			}
		case store.EventPromotionUpdated:
			if p := n.promos[num("promotion")]; p != nil {
				if _, ok := m["run"]; ok {
					p.RunID = num("run")
				}
				if _, ok := m["reason"]; ok {
					p.Reason = str("reason")
				}
				p.updated = t
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, p := range n.promos {
		if r := n.releases[p.ReleaseID]; r != nil {
			p.Commit = r.commit
		}
		if run := n.runs[p.RunID]; run != nil && run.SHA != "" {
			p.Commit = run.SHA
		}
	}
	// Test names are not in events: the table, whole.
	trows, err := n.db.QueryContext(ctx, `SELECT job_id, name, outcome, duration FROM test_cases`)
	if err != nil {
		return err
	}
	defer trows.Close()
	for trows.Next() {
		var f store.TestFact
		var d int64
		if err := trows.Scan(&f.JobID, &f.Name, &f.Outcome, &d); err != nil {
			return err
		}
		f.Duration = time.Duration(d)
		if j := n.jobs[f.JobID]; j != nil {
			f.RunID = j.RunID
			n.tests = append(n.tests, f)
		}
	}
	return trows.Err()
}

func (n *naive) ListEnvironments(ctx context.Context, repoID int64) ([]cd.Environment, error) {
	rows, err := n.db.QueryContext(ctx, `SELECT config FROM environments WHERE repo_id = ? ORDER BY id`, repoID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []cd.Environment
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		var e cd.Environment
		if err := json.Unmarshal([]byte(c), &e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (n *naive) MetricsPromotions(_ context.Context, _ int64, env string, since time.Time) ([]store.PromotionFact, error) {
	var out []store.PromotionFact
	for _, id := range n.promOrd {
		p := n.promos[id]
		if p.Env == env && (!p.updated.Before(since) || !p.Created.Before(since)) {
			f := p.PromotionFact
			f.Updated = p.updated
			out = append(out, f)
		}
	}
	return out, nil
}

func (n *naive) MetricsDeployedCommits(_ context.Context, _ int64, env string, before int64) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, id := range n.promOrd {
		p := n.promos[id]
		if p.Env == env && (before == 0 || p.ID < before) && (p.state == cd.StateSuccess || p.state == cd.StateInactive) && !seen[p.Commit] {
			seen[p.Commit] = true
			out = append(out, p.Commit)
		}
	}
	return out, nil
}

func (n *naive) MetricsRuns(_ context.Context, _ int64, since time.Time) ([]store.RunFact, error) {
	var out []store.RunFact
	for _, id := range n.runOrder {
		if r := n.runs[id]; !r.QueuedAt.Before(since) {
			out = append(out, *r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].QueuedAt.Equal(out[j].QueuedAt) {
			return out[i].QueuedAt.Before(out[j].QueuedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func (n *naive) MetricsRunsBefore(_ context.Context, _ int64, ref string, t time.Time, limit int) ([]store.RunFact, error) {
	var out []store.RunFact
	for _, id := range n.runOrder {
		if r := n.runs[id]; r.QueuedAt.Before(t) && r.Ref == ref && r.Status == store.StatusCompleted {
			out = append(out, *r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].QueuedAt.Equal(out[j].QueuedAt) {
			return out[i].QueuedAt.After(out[j].QueuedAt)
		}
		return out[i].ID > out[j].ID
	})
	return out[:min(limit, len(out))], nil
}

// MetricsRunLockHash reads the run's job specs, which events do not carry, one run at a time.
func (n *naive) MetricsRunLockHash(ctx context.Context, runID int64) (string, error) {
	rows, err := n.db.QueryContext(ctx, `SELECT spec FROM jobs WHERE run_id = ? ORDER BY id`, runID)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	for rows.Next() {
		var spec sql.NullString
		if err := rows.Scan(&spec); err != nil {
			return "", err
		}
		var s struct {
			LockHash string `json:"lock_hash"`
		}
		if spec.Valid {
			if json.Unmarshal([]byte(spec.String), &s) != nil {
				return "", nil
			}
			return s.LockHash, nil
		}
	}
	return "", rows.Err()
}

func (n *naive) inWindow(runID int64, since time.Time) bool {
	r := n.runs[runID]
	return r != nil && !r.QueuedAt.Before(since)
}

func (n *naive) MetricsJobs(_ context.Context, _ int64, since time.Time) ([]store.JobFact, error) {
	var out []store.JobFact
	for _, id := range n.jobOrder {
		if j := n.jobs[id]; !j.FinishedAt.IsZero() && n.inWindow(j.RunID, since) {
			out = append(out, *j)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].RunID != out[j].RunID {
			return out[i].RunID < out[j].RunID
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func (n *naive) MetricsJobTools(_ context.Context, _ int64, since time.Time, tool string) (map[int64]string, error) {
	out := map[int64]string{}
	for id, tools := range n.tools {
		if j := n.jobs[id]; j != nil && n.inWindow(j.RunID, since) {
			if v, ok := tools[tool]; ok {
				out[id] = v
			}
		}
	}
	return out, nil
}

func (n *naive) MetricsToolNames(_ context.Context, _ int64, since time.Time) ([]string, error) {
	seen := map[string]bool{}
	for id, tools := range n.tools {
		if j := n.jobs[id]; j != nil && n.inWindow(j.RunID, since) {
			for t := range tools {
				seen[t] = true
			}
		}
	}
	var out []string
	for t := range seen {
		out = append(out, t)
	}
	slices.Sort(out)
	return out, nil
}

func (n *naive) MetricsTestFailures(_ context.Context, _ int64, since time.Time) ([]store.TestFact, error) {
	var out []store.TestFact
	for _, t := range n.tests {
		if (t.Outcome == store.TestFailed || t.Outcome == store.TestError) && n.inWindow(t.RunID, since) {
			out = append(out, t)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].JobID != out[j].JobID {
			return out[i].JobID < out[j].JobID
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func (n *naive) MetricsTestPassed(_ context.Context, _ int64, since time.Time, pairs [][2]string) (map[[2]string]bool, error) {
	want := map[[2]string]bool{}
	for _, p := range pairs {
		want[p] = true
	}
	out := map[[2]string]bool{}
	for _, t := range n.tests {
		if t.Outcome != store.TestPassed || !n.inWindow(t.RunID, since) {
			continue
		}
		if p := [2]string{n.runs[t.RunID].SHA, t.Name}; want[p] {
			out[p] = true
		}
	}
	return out, nil
}

func (n *naive) MetricsTestJobs(_ context.Context, _ int64, since time.Time) ([]int64, error) {
	seen := map[int64]bool{}
	var out []int64
	for _, t := range n.tests {
		if !seen[t.JobID] && n.inWindow(t.RunID, since) && t.Outcome != store.TestSkipped {
			seen[t.JobID] = true
			out = append(out, t.JobID)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (n *naive) MetricsSlowTests(_ context.Context, _ int64, since time.Time) ([]store.SlowTestFact, error) {
	type key struct {
		name string
		week time.Time
	}
	acc := map[key]*store.SlowTestFact{}
	for _, t := range n.tests {
		if t.Outcome != store.TestPassed || !n.inWindow(t.RunID, since) {
			continue
		}
		q := n.runs[t.RunID].QueuedAt
		d := time.Date(q.Year(), q.Month(), q.Day(), 0, 0, 0, 0, time.UTC)
		k := key{t.Name, d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))}
		f := acc[k]
		if f == nil {
			f = &store.SlowTestFact{Name: t.Name, Week: k.week}
			acc[k] = f
		}
		f.N++
		f.Sum += t.Duration
		f.Max = max(f.Max, t.Duration)
	}
	var out []store.SlowTestFact
	for _, f := range acc {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Week.Before(out[j].Week)
	})
	return out, nil
}

func (n *naive) MetricsBuilds(_ context.Context, _ int64, since time.Time) ([]store.BuildFact, error) {
	var rebuilds []store.BuildFact
	commits := map[string]bool{}
	for _, b := range n.rebuilds {
		if !b.At.Before(since) {
			if r := n.runs[b.RunID]; r != nil {
				b.Workflow = r.Workflow
			}
			rebuilds = append(rebuilds, b)
			commits[b.Commit] = true
		}
	}
	for _, id := range n.relOrder {
		if r := n.releases[id]; !r.created.Before(since) {
			commits[r.commit] = true
		}
	}
	var out []store.BuildFact
	for _, id := range n.relOrder {
		r := n.releases[id]
		if !commits[r.commit] {
			continue
		}
		b := store.BuildFact{ReleaseID: r.id, Commit: r.commit, RunID: r.run, At: r.created}
		if run := n.runs[r.run]; run != nil {
			b.Workflow = run.Workflow
		}
		out = append(out, b)
	}
	return append(out, rebuilds...), nil
}

func (n *naive) MetricsReproChecks(_ context.Context, _ int64, since time.Time) ([]store.ReproFact, error) {
	var out []store.ReproFact
	for _, id := range n.relOrder {
		if c, ok := n.checks[id]; ok && !c.At.Before(since) {
			c.Commit = n.releases[id].commit
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}
