package metrics

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/sluice-ci/sluice/internal/python"
	"github.com/sluice-ci/sluice/internal/store"
)

// The seeds' figures on a scripted history; each expectation is worked out by hand in comments.
func TestSeedFiguresHandComputed(t *testing.T) {
	h := newHistory(t)
	main := "refs/heads/main"
	pass := func(name string, d time.Duration) store.TestCase {
		return store.TestCase{Name: name, Outcome: store.TestPassed, Duration: d}
	}
	fail := func(name string) store.TestCase {
		return store.TestCase{Name: name, Outcome: store.TestFailed, Duration: time.Second}
	}
	pip := func(v string) map[string]string { return map[string]string{"python": "3.12.1", "pip": v} }
	build := func(sha string, at time.Time) *store.Run {
		return h.run("release.yml", main, sha, "workflow_dispatch", at, jobSpec{key: "build", conclusion: "success", queue: 5 * time.Second, took: time.Minute})
	}

	c1 := h.commit("main", t0, "c1", map[string]string{"requirements.txt": "requests>=2\n", "app.py": "v = 1\n"})
	// run1: queued 30s, ran 5m, green.
	run1 := h.run("ci.yml", main, c1, "push", t0.Add(mn), jobSpec{key: "test", conclusion: "success", queue: 30 * time.Second, took: 5 * mn,
		tools: pip("24.0"), tests: []store.TestCase{pass("test_a", 2*time.Second), pass("test_slow", 30*time.Second), pass("test_flaky", time.Second)}})
	// c2 changes only requirements.txt, pinning requests exactly: run2 fails (queued 1m, ran 3m).
	c2 := h.commit("main", t0.Add(hr), "pin requests", map[string]string{"requirements.txt": "requests==2.31.0\n"})
	run2 := h.run("ci.yml", main, c2, "push", t0.Add(hr+mn), jobSpec{key: "test", conclusion: "failure", queue: mn, took: 3 * mn,
		tools: pip("25.0"), tests: []store.TestCase{fail("test_a")}})
	// c3 loosens it again (not a pin) and the build is green: the incident lasted from run2's
	// end (t0+1h5m) to run3's (t0+2h5m30s): 1h0m30s.
	c3 := h.commit("main", t0.Add(2*hr), "unpin requests", map[string]string{"requirements.txt": "requests>=2,<3\n"})
	run3 := h.run("ci.yml", main, c3, "push", t0.Add(2*hr+mn), jobSpec{key: "test", conclusion: "success", queue: 30 * time.Second, took: 4 * mn,
		tools: pip("25.0"), tests: []store.TestCase{pass("test_a", 2*time.Second), pass("test_slow", 40*time.Second)}})
	// c4 caps urllib3 with a Sluice-Pin trailer; c5 is a scheduled update that caps it further.
	c4 := h.commit("main", t0.Add(3*hr), "cap urllib3\n\nSluice-Pin: urllib3<2\nSluice-Pin-Reason: CVE-2099-1", map[string]string{
		"requirements.txt": "requests>=2,<3\nurllib3<2\n"})
	h.commit("main", t0.Add(4*hr), "weekly update\n\nSluice-Update: weekly", map[string]string{"requirements.txt": "requests>=2,<3\nurllib3<1.27\n"})
	// c6 changes code; test_flaky fails in run4 (queued 20s, ran 2m) and passes in its re-run,
	// run5 (queued 10s, ran 6m).
	c6 := h.commit("main", t0.Add(5*hr), "feature", nil)
	run4 := h.run("ci.yml", main, c6, "push", t0.Add(5*hr+mn), jobSpec{key: "test", conclusion: "failure", queue: 20 * time.Second, took: 2 * mn,
		tools: pip("25.0"), tests: []store.TestCase{pass("test_a", time.Second), fail("test_flaky")}})
	h.run("ci.yml", main, c6, "push", t0.Add(6*hr), jobSpec{key: "test", conclusion: "success", queue: 10 * time.Second, took: 6 * mn,
		tools: pip("25.0"), tests: []store.TestCase{pass("test_a", time.Second), pass("test_flaky", time.Second)}})

	// Releases: c1's built twice with the same bytes; c3's twice with different bytes; c6's
	// checked by verify-repro, identical; c1's also checked, identical. Reproducible: c1's and
	// c6's; not: both of c3's. 2 of 4.
	b1 := build(c1, t0.Add(7*hr))
	r1 := h.release(c1, b1.ID, t0.Add(7*hr+2*mn), "bytes of c1")
	b1b := build(c1, t0.Add(7*hr+10*mn))
	h.release(c1, b1b.ID, t0.Add(7*hr+12*mn), "bytes of c1")
	b3 := build(c3, t0.Add(8*hr))
	r3 := h.release(c3, b3.ID, t0.Add(8*hr+2*mn), "bytes of c3")
	b3b := build(c3, t0.Add(8*hr+10*mn))
	r3b := h.release(c3, b3b.ID, t0.Add(8*hr+12*mn), "other bytes of c3")
	b6 := build(c6, t0.Add(9*hr))
	r6 := h.release(c6, b6.ID, t0.Add(9*hr+2*mn), "bytes of c6")
	h.at(t0.Add(10 * hr))
	for _, id := range []string{r1.ID, r6.ID} {
		if _, err := h.db.AddReproCheck(h.ctx, store.ReproCheck{ReleaseID: id, Identical: true, Differ: []string{}}); err != nil {
			t.Fatal(err)
		}
	}

	now := t0.Add(24 * hr)
	rep := h.compute(now, 7*24*hr, Options{Compare: c3[:10], SplitBy: "pip"})

	// Dependency incidents: run2's failure, fixed by run3.
	d := rep.Dependencies
	wantInc := []Incident{{Kind: "pipeline", Workflow: ".github/workflows/ci.yml", WorkflowName: "ci", Run: run2.ID, RunNumber: run2.Number,
		Commit: c2, Before: c1, Files: []string{"requirements.txt"}, Start: t0.Add(hr + 5*mn), FixedBy: run3.ID, FixedCommit: c3,
		FixedAt: ptr(t0.Add(2*hr + 5*mn + 30*time.Second)), Duration: secs(hr + 30*time.Second)}}
	if diff := cmp.Diff(wantInc, d.Incidents); diff != "" {
		t.Errorf("dependency incidents (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Stats{N: 1, Median: secs(hr + 30*time.Second), P90: secs(hr + 30*time.Second)}, d.MTTR); diff != "" || d.Open != 0 {
		t.Errorf("MTTR (open %d) (-want +got):\n%s", d.Open, diff)
	}

	// Pins: c2 (an exact pin, no trailer) and c4 (the trailer, and the cap it adds); not c3
	// (loosening), c5 (a scheduled update) nor c6.
	wantPins := []Pin{
		{Commit: c2, Subject: "pin requests", Author: "Dev", At: t0.Add(hr), Link: "https://forge.example/acme/app/commit/" + c2,
			Changes: []python.PinChange{{File: "requirements.txt", Package: "requests", Kind: python.PinExact, From: ">=2", To: "==2.31.0"}}},
		{Commit: c4, Subject: "cap urllib3", Author: "Dev", At: t0.Add(3 * hr), Link: "https://forge.example/acme/app/commit/" + c4,
			Trailer: []string{"urllib3<2"}, Reason: "CVE-2099-1",
			Changes: []python.PinChange{{File: "requirements.txt", Package: "urllib3", Kind: python.PinUpperBound, To: "<2"}}},
	}
	if diff := cmp.Diff(wantPins, rep.Pins.Pins); diff != "" {
		t.Errorf("pins (-want +got):\n%s", diff)
	}
	var pinMonths int
	for _, m := range rep.Pins.Months {
		pinMonths += m.Pins
		if m.Month == "2025-03" && m.Pins != 2 {
			t.Errorf("March has %d pins, want 2", m.Pins)
		}
	}
	if pinMonths != 2 {
		t.Errorf("%d pins over the months, want 2", pinMonths)
	}

	// Reproducibility: 2 of 4.
	type verdict struct {
		Release      string
		Reproducible bool
		Evidence     []string
	}
	var verdicts []verdict
	for _, r := range rep.Reproducibility.Releases {
		verdicts = append(verdicts, verdict{r.Release, r.Reproducible, r.Evidence})
	}
	wantVerdicts := []verdict{
		{r1.ID, true, []string{"run " + itoa(b1b.ID) + " built the same bytes", "verify-repro: identical"}},
		{r3.ID, false, []string{"run " + itoa(b3b.ID) + " of the same workflow and commit built different bytes (release " + shortID(r3b.ID) + ")"}},
		{r3b.ID, false, []string{"run " + itoa(b3.ID) + " of the same workflow and commit built different bytes (release " + shortID(r3.ID) + ")"}},
		{r6.ID, true, []string{"verify-repro: identical"}},
	}
	if diff := cmp.Diff(wantVerdicts, verdicts); diff != "" {
		t.Errorf("reproducibility (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(rate(2, 4), rep.Reproducibility.Rate); diff != "" {
		t.Errorf("reproducibility rate (-want +got):\n%s", diff)
	}

	// Pipelines of ci.yml: walls 5m, 3m, 4m, 2m, 6m (median 4m, p90 6m); queues 30s, 1m,
	// 30s, 20s, 10s (median 30s, p90 1m); 3 of 5 green. Before c3: run1, run2 (3m, 5m: median
	// 3m); after: run3, run4, run5 (2m, 4m, 6m: median 4m): 33.3% slower.
	var ci *WorkflowStats
	for i := range rep.Pipelines.Workflows {
		if rep.Pipelines.Workflows[i].Workflow == ".github/workflows/ci.yml" {
			ci = &rep.Pipelines.Workflows[i]
		}
	}
	if ci == nil {
		t.Fatalf("no ci.yml among %+v", rep.Pipelines.Workflows)
	}
	want := WorkflowStats{Workflow: ".github/workflows/ci.yml", Name: "ci", Runs: 5, SuccessRate: rate(3, 5),
		Wall:  Stats{N: 5, Median: secs(4 * mn), P90: secs(6 * mn)},
		Queue: Stats{N: 5, Median: secs(30 * time.Second), P90: secs(mn)},
		Weeks: []WeekStats{{Week: "2025-W10", Start: time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC), Runs: 5, SuccessRate: rate(3, 5),
			Wall: Stats{N: 5, Median: secs(4 * mn), P90: secs(6 * mn)}, Queue: Stats{N: 5, Median: secs(30 * time.Second), P90: secs(mn)}}},
		Jobs: []JobStats{{Name: "test", Runs: 5, SuccessRate: rate(3, 5), Wall: Stats{N: 5, Median: secs(4 * mn), P90: secs(6 * mn)},
			Queue: Stats{N: 5, Median: secs(30 * time.Second), P90: secs(mn)},
			Weeks: []WeekStats{{Week: "2025-W10", Start: time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC), Runs: 5, SuccessRate: rate(3, 5),
				Wall: Stats{N: 5, Median: secs(4 * mn), P90: secs(6 * mn)}, Queue: Stats{N: 5, Median: secs(30 * time.Second), P90: secs(mn)}}}}},
		Compare: &Change{Before: Stats{N: 2, Median: secs(3 * mn), P90: secs(5 * mn)}, After: Stats{N: 3, Median: secs(4 * mn), P90: secs(6 * mn)},
			P50Change: ptr(33.3), Summary: "since " + c3[:10] + " ci is 33.3% slower at p50 (3m → 4m; 2 runs before, 3 after)"},
	}
	if diff := cmp.Diff(want, *ci); diff != "" {
		t.Errorf("ci.yml figures (-want +got):\n%s", diff)
	}
	if rep.Pipelines.Compare == nil || rep.Pipelines.Compare.Commit != c3 {
		t.Errorf("compare pivot %+v, want commit %s", rep.Pipelines.Compare, c3)
	}

	// Test health: test_flaky failed on c6 (run4) and passed there (run5): 1 flaky commit of the
	// 4 its job reported on (c1, c2, c3, c6). test_a failed on c2 only, never passing there.
	wantFlaky := []FlakyTest{{Name: "test_flaky", Job: ".github/workflows/ci.yml / test", Flakes: 1, Commits: 4, Rate: rate(1, 4),
		LastSeen: t0.Add(5*hr + mn + 20*time.Second + 2*mn), Examples: []string{c6}}}
	if diff := cmp.Diff(wantFlaky, rep.Tests.Flaky); diff != "" {
		t.Errorf("flaky tests (-want +got):\n%s", diff)
	}
	if rep.Tests.Reported != 5 {
		t.Errorf("%d jobs reported tests, want 5", rep.Tests.Reported)
	}
	// Slowest: test_slow (30s, 40s: mean 35s), test_a (2s, 2s, 1s, 1s: 1.5s), test_flaky (1s, 1s).
	wantSlow := []SlowTest{
		{Name: "test_slow", Runs: 2, Mean: Seconds(35 * time.Second), Max: Seconds(40 * time.Second), Weeks: []WeekMean{{"2025-W10", 2, Seconds(35 * time.Second)}}},
		{Name: "test_a", Runs: 4, Mean: Seconds(1500 * time.Millisecond), Max: Seconds(2 * time.Second), Weeks: []WeekMean{{"2025-W10", 4, Seconds(1500 * time.Millisecond)}}},
		{Name: "test_flaky", Runs: 2, Mean: Seconds(time.Second), Max: Seconds(time.Second), Weeks: []WeekMean{{"2025-W10", 2, Seconds(time.Second)}}},
	}
	if diff := cmp.Diff(wantSlow, rep.Tests.Slowest); diff != "" {
		t.Errorf("slowest tests (-want +got):\n%s", diff)
	}

	// Split by pip: 24.0 ran run1's job (green); 25.0 the other four, two failed. The release
	// builds recorded no pip.
	split := rep.Tools
	if split == nil {
		t.Fatal("no tool split")
	}
	type ver struct {
		Version        string
		Jobs, Failures int
		Rate           Rate
	}
	var vs []ver
	for _, v := range split.Versions {
		vs = append(vs, ver{v.Version, v.Jobs, v.Failures, v.SuccessRate})
	}
	if diff := cmp.Diff([]ver{{"24.0", 1, 0, rate(1, 1)}, {"25.0", 4, 2, rate(2, 4)}}, vs); diff != "" || split.Unknown != 5 {
		t.Errorf("split by pip (unknown %d, want 5) (-want +got):\n%s", split.Unknown, diff)
	}
	if diff := cmp.Diff([]string{"pip", "python"}, split.Available); diff != "" {
		t.Errorf("available tools (-want +got):\n%s", diff)
	}
	_, _ = run1, run4
}

func ptr[T any](v T) *T { return &v }

var _ = cmpopts.EquateEmpty
