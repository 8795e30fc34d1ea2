package metrics

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/store"
)

// Pipelines holds each workflow's durations and success rate.
type Pipelines struct {
	Definition string          `json:"definition"`
	Workflows  []WorkflowStats `json:"workflows"`
	Compare    *ComparePivot   `json:"compare,omitempty"`
}

// ComparePivot is the commit or date pipeline figures were split at.
type ComparePivot struct {
	Pivot  string     `json:"pivot"`            // as the user named it
	Commit string     `json:"commit,omitempty"` // the commit it resolved to
	Time   *time.Time `json:"time,omitempty"`   // or the time
}

// WorkflowStats are one workflow's figures over the window.
type WorkflowStats struct {
	Workflow    string      `json:"workflow"` // its path
	Name        string      `json:"name"`
	Runs        int         `json:"runs"`
	SuccessRate Rate        `json:"success_rate"`
	Wall        Stats       `json:"wall"`
	Queue       Stats       `json:"queue"`
	Weeks       []WeekStats `json:"weeks"`
	Jobs        []JobStats  `json:"jobs"`
	Compare     *Change     `json:"compare,omitempty"`
}

// WeekStats are a workflow's figures for one ISO week (UTC, by when runs were queued).
type WeekStats struct {
	Week        string    `json:"week"` // 2025-W03
	Start       time.Time `json:"start"`
	Runs        int       `json:"runs"`
	SuccessRate Rate      `json:"success_rate"`
	Wall        Stats     `json:"wall"`
	Queue       Stats     `json:"queue"`
}

// JobStats are the figures of one job of a workflow (by its display name).
type JobStats struct {
	Name        string `json:"name"`
	Runs        int    `json:"runs"`
	SuccessRate Rate   `json:"success_rate"`
	Wall        Stats  `json:"wall"`
	Queue       Stats  `json:"queue"`
}

// Change compares a workflow's wall time before and after the pivot.
type Change struct {
	Before Stats `json:"before"`
	After  Stats `json:"after"`
	// P50Change is the change of the median in percent (negative: faster); nil without runs on
	// both sides.
	P50Change *float64 `json:"p50_change"`
	Summary   string   `json:"summary"`
}

const defPipelines = "Runs queued in the window that succeeded or failed (cancelled runs, and the deployment runs " +
	"`sluice promote` and rollbacks make, are left out): wall time from " +
	"the first job's start to the run's end, queue time from queued to started, success rate = successes / " +
	"(successes + failures); per ISO week (UTC) and per job, medians and 90th percentiles (nearest rank). Before/after " +
	"splits runs at a commit (runs of commits that contain it are after) or a date."

// conclusive reports whether a run or job ended in success or failure.
func conclusive(c string) bool { return c == store.ConclusionSuccess || c == store.ConclusionFailure }

func (f *facts) pipelines(ctx context.Context) (Pipelines, error) {
	out := Pipelines{Definition: defPipelines, Workflows: []WorkflowStats{}}
	var after func(store.RunFact) (bool, bool) // after, known
	if f.opts.Compare != "" {
		pivot, fn, err := f.pivot(ctx)
		if err != nil {
			return out, err
		}
		out.Compare, after = pivot, fn
	}
	byWorkflow := map[string][]store.RunFact{}
	var order []string
	for _, r := range f.runs {
		if r.Status != store.StatusCompleted || !conclusive(r.Conclusion) || r.StartedAt.IsZero() || r.FinishedAt.IsZero() ||
			r.Trigger == store.TriggerPromotion {
			continue
		}
		if _, ok := byWorkflow[r.Workflow]; !ok {
			order = append(order, r.Workflow)
		}
		byWorkflow[r.Workflow] = append(byWorkflow[r.Workflow], r)
	}
	jobsByRun := map[int64][]store.JobFact{}
	for _, j := range f.jobs {
		jobsByRun[j.RunID] = append(jobsByRun[j.RunID], j)
	}
	slices.Sort(order)
	for _, w := range order {
		runs := byWorkflow[w]
		ws := WorkflowStats{Workflow: w, Name: runs[len(runs)-1].WorkflowName, Runs: len(runs), Weeks: []WeekStats{}, Jobs: []JobStats{}}
		if ws.Name == "" {
			ws.Name = w
		}
		ws.SuccessRate, ws.Wall, ws.Queue = runFigures(runs)
		weeks := map[time.Time][]store.RunFact{}
		var weekOrder []time.Time
		for _, r := range runs {
			k := store.WeekOf(r.QueuedAt)
			if _, ok := weeks[k]; !ok {
				weekOrder = append(weekOrder, k)
			}
			weeks[k] = append(weeks[k], r)
		}
		slices.SortFunc(weekOrder, time.Time.Compare)
		for _, k := range weekOrder {
			wk := WeekStats{Week: isoWeek(k), Start: k, Runs: len(weeks[k])}
			wk.SuccessRate, wk.Wall, wk.Queue = runFigures(weeks[k])
			ws.Weeks = append(ws.Weeks, wk)
		}
		ws.Jobs = jobFigures(runs, jobsByRun)
		if after != nil {
			ws.Compare = compare(ws.Name, out.Compare.Pivot, runs, after)
		}
		out.Workflows = append(out.Workflows, ws)
	}
	return out, nil
}

func runFigures(runs []store.RunFact) (Rate, Stats, Stats) {
	ok := 0
	var wall, queue []time.Duration
	for _, r := range runs {
		if r.Conclusion == store.ConclusionSuccess {
			ok++
		}
		wall = append(wall, r.FinishedAt.Sub(r.StartedAt))
		queue = append(queue, r.StartedAt.Sub(r.QueuedAt))
	}
	return rateOf(ok, len(runs)), statsOf(wall), statsOf(queue)
}

func jobFigures(runs []store.RunFact, jobsByRun map[int64][]store.JobFact) []JobStats {
	type acc struct {
		ok, n       int
		wall, queue []time.Duration
	}
	byName := map[string]*acc{}
	var order []string
	for _, r := range runs {
		for _, j := range jobsByRun[r.ID] {
			if !conclusive(j.Conclusion) || j.StartedAt.IsZero() || j.FinishedAt.IsZero() {
				continue // never ran here: skipped, or carried over from an earlier run
			}
			name := j.Name
			if name == "" {
				name = j.Key
			}
			a, ok := byName[name]
			if !ok {
				a = &acc{}
				byName[name] = a
				order = append(order, name)
			}
			a.n++
			if j.Conclusion == store.ConclusionSuccess {
				a.ok++
			}
			a.wall = append(a.wall, j.FinishedAt.Sub(j.StartedAt))
			if !j.QueuedAt.IsZero() {
				a.queue = append(a.queue, j.StartedAt.Sub(j.QueuedAt))
			}
		}
	}
	slices.Sort(order)
	out := []JobStats{}
	for _, n := range order {
		a := byName[n]
		out = append(out, JobStats{Name: n, Runs: a.n, SuccessRate: rateOf(a.ok, a.n), Wall: statsOf(a.wall), Queue: statsOf(a.queue)})
	}
	return out
}

// pivot resolves the before/after split: a date, else a commit of the mirror.
func (f *facts) pivot(ctx context.Context) (*ComparePivot, func(store.RunFact) (bool, bool), error) {
	p := strings.TrimSpace(f.opts.Compare)
	if len(p) > 200 || strings.HasPrefix(p, "-") || strings.ContainsAny(p, " \t\n\x00") {
		return nil, nil, fmt.Errorf("compare %q: want a commit or a date like 2025-01-31: %w", trimForError(p), ErrBadOption)
	}
	for _, layout := range []string{"2006-01-02", time.RFC3339} {
		if t, err := time.Parse(layout, p); err == nil {
			t = t.UTC()
			return &ComparePivot{Pivot: p, Time: &t}, func(r store.RunFact) (bool, bool) { return !r.QueuedAt.Before(t), true }, nil
		}
	}
	if f.git == nil {
		return nil, nil, fmt.Errorf("compare %q: the repository has no mirror to find the commit in: %w", trimForError(p), ErrBadOption)
	}
	rev := p
	if rev == "HEAD" {
		rev = f.repo.defaultRef() // a mirror has no HEAD of its own: the default branch's tip
	}
	sha, err := f.git.resolve(ctx, rev)
	if err != nil {
		return nil, nil, fmt.Errorf("compare %q: %v: %w", trimForError(p), err, ErrBadOption)
	}
	var shas []string
	seen := map[string]bool{}
	for _, r := range f.runs {
		if !seen[r.SHA] {
			seen[r.SHA] = true
			shas = append(shas, r.SHA)
		}
	}
	present, err := f.git.present(ctx, shas)
	if err != nil {
		return nil, nil, err
	}
	var known []string
	for _, s := range shas {
		if present[s] {
			known = append(known, s)
		}
	}
	desc, err := f.git.descendants(ctx, sha, known)
	if err != nil {
		return nil, nil, err
	}
	return &ComparePivot{Pivot: p, Commit: sha}, func(r store.RunFact) (bool, bool) { return desc[r.SHA], present[r.SHA] }, nil
}

func compare(name, pivot string, runs []store.RunFact, after func(store.RunFact) (bool, bool)) *Change {
	var before, later []time.Duration
	for _, r := range runs {
		isAfter, known := after(r)
		if !known {
			continue
		}
		d := r.FinishedAt.Sub(r.StartedAt)
		if isAfter {
			later = append(later, d)
		} else {
			before = append(before, d)
		}
	}
	c := &Change{Before: statsOf(before), After: statsOf(later)}
	if c.Before.Median == nil || c.After.Median == nil || *c.Before.Median == 0 {
		c.Summary = fmt.Sprintf("%s: not enough runs on both sides of %s to compare (%d before, %d after)", name, pivot, c.Before.N, c.After.N)
		return c
	}
	b, a := float64(*c.Before.Median), float64(*c.After.Median)
	pct := math.Round((a-b)/b*1000) / 10
	c.P50Change = &pct
	word := "faster"
	if pct > 0 {
		word = "slower"
	}
	c.Summary = fmt.Sprintf("since %s %s is %s%% %s at p50 (%s → %s; %d runs before, %d after)", pivot, name,
		trimFloat(math.Abs(pct)), word, c.Before.Median, c.After.Median, c.Before.N, c.After.N)
	if pct == 0 {
		c.Summary = fmt.Sprintf("since %s %s is as fast at p50 (%s; %d runs before, %d after)", pivot, name, c.After.Median, c.Before.N, c.After.N)
	}
	return c
}

func trimFloat(f float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", f), "0"), ".")
}

// isoWeek labels t's ISO week, in UTC: 2025-W03.
func isoWeek(t time.Time) string {
	y, w := t.UTC().ISOWeek()
	return fmt.Sprintf("%04d-W%02d", y, w)
}
