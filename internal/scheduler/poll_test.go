package scheduler

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/store"
)

// A job finished while the server was down: a new scheduler on the same
// database plans what comes after it.
func TestResume(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": pipelineYAML}))
	build := h.claim("build")
	if _, err := h.db.Complete(h.ctx, build.ID, h.agent.ID, "success", map[string]string{"wheel": "w.whl"}); err != nil {
		t.Fatal(err)
	}
	// No JobFinished: the server stopped before it could advance the run.
	if got := h.job(r.ID, "test").Status; got != "waiting" {
		t.Fatalf("test is %s before Resume, want waiting", got)
	}
	h.s = h.newScheduler()
	if err := h.s.Resume(h.ctx); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	want := map[string]string{"build": "completed/success", "lint": "queued", "test": "queued", "publish": "waiting"}
	if diff := cmp.Diff(want, h.states(r.ID)); diff != "" {
		t.Errorf("jobs after Resume (-want +got):\n%s", diff)
	}
	if got := h.spec(r.ID, "test").Job.Needs["build"].Outputs["wheel"]; got != "w.whl" {
		t.Errorf("test sees build's wheel output %q, want w.whl", got)
	}
	h.finish("lint", "success", nil)
	h.finish("test", "success", nil)
	h.finish("publish", "success", nil)
	if got := h.runState(r.ID); got != "completed/success" {
		t.Errorf("run is %s, want completed/success", got)
	}
}

func TestPollTriggersOnNewCommit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.pushWorkflows(map[string]string{"ci.yml": ciYAML})
	seen := map[int64]map[string]string{}
	runs := func() []store.Run {
		t.Helper()
		rs, err := h.db.ListRuns(h.ctx, store.RunFilter{RepoID: h.repo.ID})
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}

	h.s.pollRepo(h.ctx, h.repo, seen)
	if rs := runs(); len(rs) != 0 {
		t.Fatalf("first poll made %d runs, want none: it only learns the tips", len(rs))
	}
	h.s.pollRepo(h.ctx, h.repo, seen)
	if rs := runs(); len(rs) != 0 {
		t.Fatalf("poll without a new commit made %d runs", len(rs))
	}
	sha := h.git.commit("main", "fix bug", map[string]string{"src/app.py": "print(2)\n"})
	h.s.pollRepo(h.ctx, h.repo, seen)
	rs := runs()
	if len(rs) != 1 {
		t.Fatalf("poll after a push made %d runs, want 1", len(rs))
	}
	type got struct{ Event, Ref, SHA, Trigger, Actor, Title string }
	want := got{Event: "push", Ref: "refs/heads/main", SHA: sha, Trigger: store.TriggerPoll, Actor: "poll", Title: "fix bug"}
	r := rs[0]
	if diff := cmp.Diff(want, got{r.Event, r.Ref, r.SHA, r.Trigger, r.Actor, r.Title}); diff != "" {
		t.Errorf("polled run (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"build": "queued", "test": "waiting"}, h.states(r.ID)); diff != "" {
		t.Errorf("polled run's jobs (-want +got):\n%s", diff)
	}
	h.s.pollRepo(h.ctx, h.repo, seen)
	if rs := runs(); len(rs) != 1 {
		t.Errorf("polling again made %d runs in all, want still 1", len(rs))
	}
}

func TestScheduleRepo(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.pushWorkflows(map[string]string{"nightly.yml": `on:
  schedule:
    - cron: '30 5 * * 1'
    - cron: '0 12 1 * *'
    - cron: '0 9 * * 3'
      timezone: Asia/Tokyo
jobs:
  nightly:
    runs-on: ubuntu-latest
    steps:
      - run: echo nightly
`, "ci.yml": ciYAML})
	minute := func(at time.Time) [2]time.Time { return [2]time.Time{at.Add(-time.Minute), at} }
	cases := []struct {
		name   string
		window [2]time.Time // (after, upTo]
		want   int
	}{
		{"Monday 05:30 UTC matches the first cron", minute(time.Date(2025, 3, 3, 5, 30, 0, 0, time.UTC)), 1},
		{"one minute later matches none", minute(time.Date(2025, 3, 3, 5, 31, 0, 0, time.UTC)), 0},
		{"a Tuesday at 05:30 matches none", minute(time.Date(2025, 3, 4, 5, 30, 0, 0, time.UTC)), 0},
		{"the first of the month at noon matches the second cron", minute(time.Date(2025, 4, 1, 12, 0, 0, 0, time.UTC)), 1},
		// The server's local zone plays no part: the same instant said in another zone.
		{"05:30 UTC said in New York's time matches", minute(time.Date(2025, 3, 10, 1, 30, 0, 0, mustZone(t, "America/New_York"))), 1},
		{"Wednesday 09:00 in Tokyo is Wednesday 00:00 UTC", minute(time.Date(2025, 3, 5, 0, 0, 0, 0, time.UTC)), 1},
		{"Wednesday 09:00 UTC is not 09:00 in Tokyo", minute(time.Date(2025, 3, 5, 9, 0, 0, 0, time.UTC)), 0},
		// Ten days of downtime cover two Mondays 05:30, a first of the month and a Tokyo
		// Wednesday: the workflow runs once, not once per missed tick.
		{"a check after ten days' downtime runs the workflow once", [2]time.Time{time.Date(2025, 4, 1, 13, 0, 0, 0, time.UTC), time.Date(2025, 4, 11, 13, 0, 0, 0, time.UTC)}, 1},
	}
	total := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			h.s.scheduleRepo(h.ctx, h.repo, tc.window[0], tc.window[1])
			rs, err := h.db.ListRuns(h.ctx, store.RunFilter{RepoID: h.repo.ID})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(rs) - total; got != tc.want {
				t.Fatalf("scheduleRepo made %d runs, want %d", got, tc.want)
			}
			total = len(rs)
			if tc.want == 0 {
				return
			}
			r := rs[0]
			if r.Event != "schedule" || r.Workflow != ".github/workflows/nightly.yml" || r.Trigger != store.TriggerSchedule ||
				r.Ref != "refs/heads/main" {
				t.Errorf("scheduled run: event %q workflow %q trigger %q ref %q", r.Event, r.Workflow, r.Trigger, r.Ref)
			}
			if diff := cmp.Diff(map[string]string{"nightly": "queued"}, h.states(r.ID)); diff != "" {
				t.Errorf("scheduled run's jobs (-want +got):\n%s", diff)
			}
		})
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestSchedulesClock: the cron duty reads the injected clock, in UTC whatever the clock's
// zone, and a check that comes late (the server stalled for hours) runs a due workflow once.
func TestSchedulesClock(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.pushWorkflows(map[string]string{"hourly.yml": `on:
  schedule:
    - cron: '0 * * * *'
jobs:
  hourly:
    runs-on: ubuntu-latest
    steps:
      - run: echo hourly
`})
	var mu sync.Mutex
	paris := mustZone(t, "Europe/Paris")
	clock := time.Date(2025, 3, 3, 10, 59, 30, 0, paris)
	h.s.cfg.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	if got := h.s.now(); got.Location() != time.UTC || !got.Equal(clock) {
		t.Fatalf("now() = %v, want %v in UTC", got, clock)
	}
	runs := func() int {
		rs, err := h.db.ListRuns(h.ctx, store.RunFilter{RepoID: h.repo.ID})
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	last := h.s.now().Truncate(time.Minute)
	// Stalled for five hours: five ticks were missed, one run follows.
	mu.Lock()
	clock = clock.Add(5 * time.Hour)
	mu.Unlock()
	h.s.scheduleTick(h.ctx, last, h.s.now())
	if n := runs(); n != 1 {
		t.Fatalf("after five missed hourly ticks: %d runs, want 1", n)
	}
}
