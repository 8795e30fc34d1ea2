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

// JobStats are the figures of one job of a workflow (by its display name), over the window and
// per ISO week of its run's queue time (a week's Runs counts the job's attempts).
type JobStats struct {
	Name        string      `json:"name"`
	Runs        int         `json:"runs"`
	SuccessRate Rate        `json:"success_rate"`
	Wall        Stats       `json:"wall"`
	Queue       Stats       `json:"queue"`
	Weeks       []WeekStats `json:"weeks"`
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
	// Runs by workflow, as indexes into f.runs: nothing is copied.
	byWorkflow := map[string][]int32{}
	var order []string
	for i := range f.runs {
		r := &f.runs[i]
		if r.Status != store.StatusCompleted || !conclusive(r.Conclusion) || r.StartedAt.IsZero() || r.FinishedAt.IsZero() ||
			r.Trigger == store.TriggerPromotion {
			continue
		}
		if _, ok := byWorkflow[r.Workflow]; !ok {
			order = append(order, r.Workflow)
		}
		byWorkflow[r.Workflow] = append(byWorkflow[r.Workflow], int32(i))
	}
	slices.Sort(order)
	for _, w := range order {
		idx := byWorkflow[w]
		last := &f.runs[idx[len(idx)-1]]
		ws := WorkflowStats{Workflow: w, Name: last.WorkflowName, Runs: len(idx), Weeks: []WeekStats{}, Jobs: []JobStats{}}
		if ws.Name == "" {
			ws.Name = w
		}
		all, weeks := &durations{}, weekly{}
		for _, i := range idx {
			r := &f.runs[i]
			wall, queue := r.FinishedAt.Sub(r.StartedAt), r.StartedAt.Sub(r.QueuedAt)
			ok := r.Conclusion == store.ConclusionSuccess
			all.add(ok, wall, queue, true)
			weeks.at(r.QueuedAt).add(ok, wall, queue, true)
		}
		ws.SuccessRate, ws.Wall, ws.Queue = all.figures()
		ws.Weeks = weeks.figures()
		ws.Jobs = f.jobFigures(idx)
		if after != nil {
			ws.Compare = compare(ws.Name, out.Compare.Pivot, f.runs, idx, after)
		}
		out.Workflows = append(out.Workflows, ws)
	}
	return out, nil
}

// durations gathers what one figure summarises: outcomes, wall and queue times.
type durations struct {
	n, ok       int
	wall, queue []time.Duration
}

func (d *durations) add(success bool, wall, queue time.Duration, queued bool) {
	d.n++
	if success {
		d.ok++
	}
	d.wall = append(d.wall, wall)
	if queued {
		d.queue = append(d.queue, queue)
	}
}

func (d *durations) figures() (Rate, Stats, Stats) {
	return rateOf(d.ok, d.n), statsOf(d.wall), statsOf(d.queue)
}

// weekly gathers durations by ISO week (UTC) of when the run was queued.
type weekly map[time.Time]*durations

func (w weekly) at(t time.Time) *durations {
	k := store.WeekOf(t)
	d := w[k]
	if d == nil {
		d = &durations{}
		w[k] = d
	}
	return d
}

// figures are the weeks' figures, oldest first.
func (w weekly) figures() []WeekStats {
	keys := make([]time.Time, 0, len(w))
	for k := range w {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, time.Time.Compare)
	out := make([]WeekStats, 0, len(keys))
	for _, k := range keys {
		wk := WeekStats{Week: isoWeek(k), Start: k, Runs: w[k].n}
		wk.SuccessRate, wk.Wall, wk.Queue = w[k].figures()
		out = append(out, wk)
	}
	return out
}

// jobFigures are the figures of the jobs of runs (indexes into f.runs) by job name, over the
// window and per week of their run's queue time.
func (f *facts) jobFigures(runs []int32) []JobStats {
	type acc struct {
		all   durations
		weeks weekly
	}
	byName := map[string]*acc{}
	var order []string
	for _, ri := range runs {
		queued := f.runs[ri].QueuedAt
		for _, ji := range f.jobsOf(ri) {
			j := &f.jobs[ji]
			if !conclusive(j.Conclusion) || j.StartedAt.IsZero() || j.FinishedAt.IsZero() {
				continue // never ran here: skipped, or carried over from an earlier run
			}
			name := j.Name
			if name == "" {
				name = j.Key
			}
			a, ok := byName[name]
			if !ok {
				a = &acc{weeks: weekly{}}
				byName[name] = a
				order = append(order, name)
			}
			ok = j.Conclusion == store.ConclusionSuccess
			wall, queue := j.FinishedAt.Sub(j.StartedAt), j.StartedAt.Sub(j.QueuedAt)
			a.all.add(ok, wall, queue, !j.QueuedAt.IsZero())
			a.weeks.at(queued).add(ok, wall, queue, !j.QueuedAt.IsZero())
		}
	}
	slices.Sort(order)
	out := []JobStats{}
	for _, n := range order {
		a := byName[n]
		js := JobStats{Name: n, Runs: a.all.n, Weeks: a.weeks.figures()}
		js.SuccessRate, js.Wall, js.Queue = a.all.figures()
		out = append(out, js)
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

func compare(name, pivot string, all []store.RunFact, runs []int32, after func(store.RunFact) (bool, bool)) *Change {
	var before, later []time.Duration
	for _, i := range runs {
		r := all[i]
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
