package metrics

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/store"
)

// Per-job figures of a workflow over two ISO weeks, each worked out by hand: success rate, p50
// and p90 (nearest rank) of wall and queue time, over the window and per week.
func TestJobWeeklySeriesHandComputed(t *testing.T) {
	h := newHistory(t)
	main := "refs/heads/main"
	sha := h.commit("main", t0, "c1", nil)
	s := time.Second
	job := func(key, conclusion string, queue, took time.Duration) jobSpec {
		return jobSpec{key: key, conclusion: conclusion, queue: queue, took: took}
	}
	day := 24 * time.Hour
	// Week 2025-W10 (Monday 3 March).
	h.run("build.yml", main, sha, "push", t0, job("lint", "success", 10*s, mn), job("test", "success", 20*s, 4*mn))
	h.run("build.yml", main, sha, "push", t0.Add(day), job("lint", "success", 30*s, 2*mn), job("test", "failure", 40*s, 6*mn))
	// test never ran (skipped after lint failed): not among its figures.
	h.run("build.yml", main, sha, "push", t0.Add(2*day), job("lint", "failure", 50*s, 3*mn),
		jobSpec{key: "test", conclusion: store.ConclusionSkipped, notStarted: true})
	// Week 2025-W11 (Monday 10 March).
	h.run("build.yml", main, sha, "push", t0.Add(7*day), job("lint", "success", 5*s, 90*s), job("test", "success", 15*s, 5*mn))
	h.run("build.yml", main, sha, "push", t0.Add(8*day), job("lint", "success", 25*s, 30*s), job("test", "success", 35*s, 3*mn))

	rep := h.compute(t0.Add(10*day), 30*day, Options{})
	if len(rep.Pipelines.Workflows) != 1 {
		t.Fatalf("workflows %+v, want build.yml only", rep.Pipelines.Workflows)
	}
	w10, w11 := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
	st := func(n int, p50, p90 time.Duration) Stats { return Stats{N: n, Median: secs(p50), P90: secs(p90)} }
	week := func(start time.Time, label string, n, ok int, wall, queue Stats) WeekStats {
		return WeekStats{Week: label, Start: start, Runs: n, SuccessRate: rate(ok, n), Wall: wall, Queue: queue}
	}
	want := []JobStats{
		// lint: walls 1m 2m 3m | 1m30s 30s; queues 10s 30s 50s | 5s 25s; 4 of 5 green.
		// Sorted walls 30s 1m 1m30s 2m 3m: p50 rank ceil(2.5)=3 → 1m30s, p90 rank 5 → 3m.
		// Week 10: 1m 2m 3m → p50 rank 2 → 2m, p90 rank 3 → 3m; queues 30s, 50s; 2 of 3.
		// Week 11: 30s 1m30s → p50 rank 1 → 30s, p90 rank 2 → 1m30s; queues 5s, 25s; 2 of 2.
		{Name: "lint", Runs: 5, SuccessRate: rate(4, 5), Wall: st(5, 90*s, 3*mn), Queue: st(5, 25*s, 50*s), Weeks: []WeekStats{
			week(w10, "2025-W10", 3, 2, st(3, 2*mn, 3*mn), st(3, 30*s, 50*s)),
			week(w11, "2025-W11", 2, 2, st(2, 30*s, 90*s), st(2, 5*s, 25*s)),
		}},
		// test: walls 4m 6m | 5m 3m (the skipped one left out); queues 20s 40s | 15s 35s; 3 of 4.
		// Sorted walls 3m 4m 5m 6m: p50 rank 2 → 4m, p90 rank 4 → 6m; queues 15s 20s 35s 40s.
		{Name: "test", Runs: 4, SuccessRate: rate(3, 4), Wall: st(4, 4*mn, 6*mn), Queue: st(4, 20*s, 40*s), Weeks: []WeekStats{
			week(w10, "2025-W10", 2, 1, st(2, 4*mn, 6*mn), st(2, 20*s, 40*s)),
			week(w11, "2025-W11", 2, 2, st(2, 3*mn, 5*mn), st(2, 15*s, 35*s)),
		}},
	}
	if diff := cmp.Diff(want, rep.Pipelines.Workflows[0].Jobs); diff != "" {
		t.Errorf("per-job figures (-want +got):\n%s", diff)
	}
	// The workflow's own weeks count runs: 3 then 2.
	var runs []int
	for _, wk := range rep.Pipelines.Workflows[0].Weeks {
		runs = append(runs, wk.Runs)
	}
	if diff := cmp.Diff([]int{3, 2}, runs); diff != "" {
		t.Errorf("runs per week (-want +got):\n%s", diff)
	}
}
