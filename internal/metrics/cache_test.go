package metrics

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/store"
)

// Figures computed through the cache, cold and then warm after more history arrived, are the
// figures computed from the store alone.
func TestCacheColdAndWarmGiveTheSameFigures(t *testing.T) {
	h := newHistory(t)
	main := "refs/heads/main"
	ok := func(key string, took time.Duration) jobSpec {
		return jobSpec{key: key, conclusion: store.ConclusionSuccess, queue: 10 * time.Second, took: took,
			tests: []store.TestCase{{Name: "t::a", Outcome: store.TestPassed, Duration: took / 10}, {Name: "t::flaky", Outcome: store.TestPassed}}}
	}
	bad := jobSpec{key: "test", conclusion: store.ConclusionFailure, took: mn,
		tests: []store.TestCase{{Name: "t::a", Outcome: store.TestPassed, Duration: 5 * time.Second}, {Name: "t::flaky", Outcome: store.TestFailed}}}
	c1 := h.commit("main", t0, "c1", map[string]string{"requirements.txt": "attrs>=23\n", "app.py": "v = 1\n"})
	h.run("ci.yml", main, c1, "push", t0.Add(mn), ok("build", 2*mn), ok("test", 3*mn))
	h.deploy(c1, t0.Add(hr), 5*mn)
	// No margin: what a refresh reads again is what the events since name, nothing more.
	cache := &Cache{Margin: -1}
	compare := func(now time.Time, window time.Duration, what string) {
		t.Helper()
		opts := Options{Now: now, Since: now.Add(-window)}
		repo := Repo{ID: h.repo.ID, Name: h.repo.Name, URL: h.repo.URL, DefaultBranch: "main", GitDir: h.bare}
		direct, err := Compute(h.ctx, h.db, repo, opts)
		if err != nil {
			t.Fatal(err)
		}
		cached, err := Compute(h.ctx, cache.With(h.db), repo, opts)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(direct)
		b, _ := json.Marshal(cached)
		if diff := cmp.Diff(string(a), string(b)); diff != "" {
			t.Errorf("%s: cached figures differ from the store's (-store +cache):\n%s", what, diff)
		}
	}
	now := t0.Add(24 * hr)
	compare(now, 7*24*hr, "cold")
	compare(now, 7*24*hr, "warm, nothing new")

	// More history: a failing run, a run still going, a deployment, a job of the first run
	// completed again (a re-run attempt's row).
	// c2 pins attrs, changing nothing else: an emergency pin, and a dependency incident when
	// its run fails.
	c2 := h.commit("main", t0.Add(25*hr), "c2: pin attrs", map[string]string{"requirements.txt": "attrs==23.1.0\n"})
	h.run("ci.yml", main, c2, "push", t0.Add(25*hr+mn), ok("build", mn), bad)
	h.run("ci.yml", main, c2, "push", t0.Add(25*hr+10*mn), ok("build", mn), ok("test", 2*mn)) // the re-run clears it
	h.at(t0.Add(26 * hr))
	going, _, err := h.db.CreateRun(h.ctx, store.Run{RepoID: h.repo.ID, Workflow: ".github/workflows/ci.yml", Ref: main, SHA: c2,
		Trigger: store.TriggerWebhook}, []store.Job{{Key: "build", Status: store.StatusQueued}})
	if err != nil {
		t.Fatal(err)
	}
	h.promote("production", h.release(c2, 0, t0.Add(26*hr), c2), cd.KindForward, false, "alice", t0.Add(26*hr), 5*mn, cd.StateSuccess, "")
	now = t0.Add(48 * hr)
	compare(now, 7*24*hr, "warm, after more history")
	compare(now.Add(time.Minute), 7*24*hr, "warm, the mirror's answers remembered")
	// The run that was going ends.
	h.at(t0.Add(27 * hr))
	if _, err := h.db.SetRunStatus(h.ctx, going.ID, store.StatusCompleted, store.ConclusionCancelled); err != nil {
		t.Fatal(err)
	}
	compare(now, 7*24*hr, "warm, after a run ended")
	// A longer window than the one held, then a shorter one again.
	compare(now, 30*24*hr, "an older window")
	compare(now, 2*24*hr, "a shorter window")

	// A cache too small for the repository reads the store each time, with the same figures.
	cache = &Cache{MaxRuns: 1, Margin: -1}
	compare(now, 7*24*hr, "over the bound")
	if len(cache.repos) == 1 && cache.repos[h.repo.ID].runs != nil {
		t.Error("a repository over the bound was kept")
	}

	// The repository deleted and another made under the same ID: nothing of the old one shows.
	cache = &Cache{Margin: -1}
	compare(now, 7*24*hr, "cold, before the repository is made again")
	if err := h.db.DeleteRepo(h.ctx, h.repo.ID); err != nil {
		t.Fatal(err)
	}
	again, err := h.db.CreateRepo(h.ctx, store.Repo{Name: "acme/other", URL: "https://forge.example/acme/other.git"})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != h.repo.ID {
		t.Fatalf("the new repository has ID %d, not the deleted one's %d: this test needs it reused", again.ID, h.repo.ID)
	}
	compare(now, 7*24*hr, "a repository made again")
}

// The history the cache test builds has the figures the memo answers for: a pin and an
// incident (else remembering them would go untested).
func TestCacheHistoryHasPinsAndIncidents(t *testing.T) {
	h := newHistory(t)
	c1 := h.commit("main", t0, "c1", map[string]string{"requirements.txt": "attrs>=23\n", "app.py": "v = 1\n"})
	h.run("ci.yml", "refs/heads/main", c1, "push", t0.Add(mn), jobSpec{key: "test", conclusion: store.ConclusionSuccess, took: mn})
	c2 := h.commit("main", t0.Add(hr), "c2: pin attrs", map[string]string{"requirements.txt": "attrs==23.1.0\n"})
	h.run("ci.yml", "refs/heads/main", c2, "push", t0.Add(hr+mn), jobSpec{key: "test", conclusion: store.ConclusionFailure, took: mn})
	h.run("ci.yml", "refs/heads/main", c2, "push", t0.Add(2*hr), jobSpec{key: "test", conclusion: store.ConclusionSuccess, took: mn})
	c := &Cache{}
	for i := range 2 {
		rep, err := Compute(h.ctx, c.With(h.db), Repo{ID: h.repo.ID, Name: h.repo.Name, URL: h.repo.URL, GitDir: h.bare},
			Options{Now: t0.Add(24 * hr), Since: t0.Add(-24 * hr)})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Pins.Pins) != 1 || len(rep.Dependencies.Incidents) != 1 || rep.Pins.Pins[0].Link == "" {
			t.Errorf("computation %d: pins %+v, incidents %+v; want one of each, the pin with its link", i, rep.Pins.Pins, rep.Dependencies.Incidents)
		}
	}
}

// A computation asks for its facts from several goroutines through one source. The one that
// brings the held facts up to date must do so before any of the others reads them: a promotion
// that ended since the last computation is seen by every goroutine of the next one.
func TestCacheConcurrentFirstUseIsFresh(t *testing.T) {
	h := newHistory(t)
	main := "refs/heads/main"
	c1 := h.commit("main", t0, "c1", map[string]string{"app.py": "v = 1\n"})
	h.run("ci.yml", main, c1, "push", t0.Add(mn), jobSpec{key: "build", conclusion: store.ConclusionSuccess, took: mn})
	cache := &Cache{}
	since := t0.Add(-24 * hr)
	for i := range 40 {
		// The held promotions are the current ones...
		if _, err := cache.With(h.db).MetricsPromotions(h.ctx, h.repo.ID, "production", since); err != nil {
			t.Fatal(err)
		}
		// ...until one more deployment; then every goroutine of the next source must see it.
		start := t0.Add(hr + time.Duration(i)*hr)
		h.promote("production", h.release(c1, 0, start, fmt.Sprint("build ", i)), cd.KindForward, false, "alice", start, mn, cd.StateSuccess, "")
		src := cache.With(h.db)
		var wg sync.WaitGroup
		counts := make([]int, 8)
		for g := range counts {
			wg.Go(func() {
				if g%2 == 0 {
					if _, err := src.MetricsJobs(h.ctx, h.repo.ID, since); err != nil {
						t.Error(err)
					}
				}
				p, err := src.MetricsPromotions(h.ctx, h.repo.ID, "production", since)
				if err != nil {
					t.Error(err)
				}
				counts[g] = len(p)
			})
		}
		wg.Wait()
		for g, n := range counts {
			if n != i+1 {
				t.Fatalf("round %d: goroutine %d saw %d promotions, want %d: it read the held ones before they were brought up to date", i, g, n, i+1)
			}
		}
	}
}
