package scheduler

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/robfig/cron/v3"
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
jobs:
  nightly:
    runs-on: ubuntu-latest
    steps:
      - run: echo nightly
`, "ci.yml": ciYAML})
	parser := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)
	cases := []struct {
		name string
		at   time.Time
		want int
	}{
		{"Monday 05:30 matches the first cron", time.Date(2025, 3, 3, 5, 30, 0, 0, time.UTC), 1},
		{"one minute later matches none", time.Date(2025, 3, 3, 5, 31, 0, 0, time.UTC), 0},
		{"a Tuesday at 05:30 matches none", time.Date(2025, 3, 4, 5, 30, 0, 0, time.UTC), 0},
		{"the first of the month at noon matches the second cron", time.Date(2025, 4, 1, 12, 0, 0, 0, time.UTC), 1},
	}
	total := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			h.s.scheduleRepo(h.ctx, h.repo, parser, tc.at)
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
