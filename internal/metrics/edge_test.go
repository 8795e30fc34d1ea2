package metrics

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/store"
)

func storeRepo(name string) store.Repo { return store.Repo{Name: name, URL: "file:///srv/" + name} }

// doraSummary is what the edge cases compare.
type doraSummary struct {
	Deployments     int
	Bucket          string
	Lead            Stats
	LeadCommits     int
	Missing, Future int
	CFR             Rate
	Recovery        Stats
	Rework          Rate
}

func summarise(r *Report) doraSummary {
	d := r.DORA
	return doraSummary{Deployments: d.Frequency.Count, Bucket: d.Frequency.Bucket, Lead: d.LeadTime.Stats,
		LeadCommits: len(d.LeadTime.Commits), Missing: d.LeadTime.Missing, Future: d.LeadTime.Future,
		CFR: d.ChangeFailRate.Rate, Recovery: d.Recovery.Stats, Rework: d.Rework.Rate}
}

// Edge cases of the DORA keys, each on a fresh history with the store's clock set by the test.
func TestDORAEdgeCases(t *testing.T) {
	tests := []struct {
		name string
		// build records a history and returns when to look and how far back.
		build func(h *history) (now time.Time, window time.Duration)
		want  doraSummary
		notes []string // substrings the report's notes must have
	}{
		{
			name: "no deployments",
			build: func(h *history) (time.Time, time.Duration) {
				h.commit("main", t0, "c1", nil)
				return t0.Add(10 * 24 * hr), 90 * 24 * hr
			},
			want: doraSummary{Bucket: "none", CFR: rate(0, 0), Rework: rate(0, 0)},
		},
		{
			name: "one deployment",
			build: func(h *history) (time.Time, time.Duration) {
				c1 := h.commit("main", t0.Add(-3*hr), "c1", nil)
				h.deploy(c1, t0, 5*mn)
				return t0.Add(24 * hr), 7 * 24 * hr
			},
			// One full week with one day of deployment: weekly.
			want: doraSummary{Deployments: 1, Bucket: "weekly", Lead: Stats{N: 1, Median: secs(3*hr + 5*mn), P90: secs(3*hr + 5*mn)},
				LeadCommits: 1, CFR: rate(0, 1), Rework: rate(0, 1)},
		},
		{
			name: "deployments outside the window",
			build: func(h *history) (time.Time, time.Duration) {
				now := t0.Add(100 * 24 * hr)
				since := now.Add(-30 * 24 * hr)
				c1 := h.commit("main", t0, "c1", nil)
				h.deploy(c1, t0.Add(hr), 10*mn)
				c2 := h.commit("main", t0.Add(5*24*hr), "c2", nil)
				// Failed before the window: not counted.
				h.promote("production", h.release(c2, 0, t0.Add(5*24*hr+hr), c2), cd.KindForward, false, "alice", t0.Add(5*24*hr+hr),
					10*mn, cd.StateFailure, "deployment job deploy: failure")
				// Created before the window, waiting for approval; it deploys inside.
				c3 := h.commit("main", since.Add(-3*hr), "c3", nil)
				h.at(since.Add(-2 * hr))
				p, err := h.db.CreatePromotion(h.ctx, h.repo.ID, cd.Promotion{Env: "production", ReleaseID: h.release(c3, 0, since.Add(-2*hr), c3).ID,
					Kind: cd.KindForward, StartedBy: "alice"})
				if err != nil {
					t.Fatal(err)
				}
				h.at(since.Add(hr))
				if _, err := h.db.SetPromotionState(h.ctx, p.ID, cd.StateInProgress); err != nil {
					t.Fatal(err)
				}
				h.at(since.Add(hr + 10*mn))
				if _, err := h.db.SetPromotionState(h.ctx, p.ID, cd.StateSuccess); err != nil {
					t.Fatal(err)
				}
				c4 := h.commit("main", t0.Add(80*24*hr), "c4", nil)
				h.deploy(c4, t0.Add(80*24*hr+hr), 10*mn)
				return now, 30 * 24 * hr
			},
			// The approved promotion brought c3 (committed 3h before the window, deployed 1h10m into
			// it: 4h10m) and c2, whose own deployment failed (committed at t0+5d, deployed at
			// t0+70d+1h10m: 65d1h10m); c4: 1h10m. Sorted: 1h10m, 4h10m, 65d1h10m. One deployment
			// in a full week, one in the two days before the first: monthly.
			want: doraSummary{Deployments: 2, Bucket: "monthly",
				Lead:        Stats{N: 3, Median: secs(4*hr + 10*mn), P90: secs(65*24*hr + hr + 10*mn)},
				LeadCommits: 3, CFR: rate(0, 2), Rework: rate(0, 2)},
		},
		{
			name: "commit times in the future",
			build: func(h *history) (time.Time, time.Duration) {
				h.commit("main", t0.Add(-hr), "c1", nil)
				c2 := h.commit("main", t0.Add(2*24*hr), "c2: a clock two days ahead", nil)
				h.deploy(c2, t0, 10*mn)
				return t0.Add(24 * hr), 7 * 24 * hr
			},
			// c1: 1h10m; c2: dated after its deployment, counted as 0.
			want: doraSummary{Deployments: 1, Bucket: "weekly", Lead: Stats{N: 2, Median: secs(0), P90: secs(hr + 10*mn)},
				LeadCommits: 2, Future: 1, CFR: rate(0, 1), Rework: rate(0, 1)},
			notes: []string{"1 commit(s) are dated after the deployment"},
		},
		{
			name: "force-push",
			build: func(h *history) (time.Time, time.Duration) {
				c0 := h.commit("main", t0.Add(-5*hr), "c0", nil)
				c1 := h.commit("main", t0.Add(-4*hr), "c1", nil)
				h.deploy(c1, t0, 10*mn)
				// main is rewritten: c1 is dropped, c2 replaces it on top of c0.
				h.git(h.work, "reset", "-q", "--hard", c0)
				c2 := h.commit("main", t0.Add(hr), "c2", nil)
				h.deploy(c2, t0.Add(2*hr), 10*mn)
				// A release of a commit the mirror no longer has (force-pushed away and collected).
				h.deploy(strings.Repeat("ab", 20), t0.Add(3*hr), 10*mn)
				return t0.Add(24 * hr), 7 * 24 * hr
			},
			// d1: c1 (4h10m) and c0 (5h10m); d2: only c2 (1h10m), c0 was deployed with c1.
			want: doraSummary{Deployments: 3, Bucket: "weekly", Lead: Stats{N: 3, Median: secs(4*hr + 10*mn), P90: secs(5*hr + 10*mn)},
				LeadCommits: 3, Missing: 1, CFR: rate(0, 3), Rework: rate(0, 3)},
			notes: []string{"1 deployment(s) deployed a commit the repository mirror does not have"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHistory(t)
			now, window := tt.build(h)
			rep := h.compute(now, window, Options{})
			if diff := cmp.Diff(tt.want, summarise(rep)); diff != "" {
				t.Errorf("figures (-want +got):\n%s", diff)
			}
			notes := strings.Join(rep.Notes, "\n")
			for _, n := range tt.notes {
				if !strings.Contains(notes, n) {
					t.Errorf("notes %q lack %q", rep.Notes, n)
				}
			}
			b, err := json.Marshal(rep)
			if err != nil {
				t.Fatalf("encoding the report: %v", err)
			}
			if strings.Contains(string(b), "NaN") || strings.Contains(string(b), "Inf") {
				t.Errorf("the report holds NaN or Inf: %s", b)
			}
			if rep.Empty() != (tt.want.Deployments == 0) {
				t.Errorf("Empty() = %v with %d deployments", rep.Empty(), tt.want.Deployments)
			}
		})
	}
}

// DORA's frequency buckets, each from a regular deployment rhythm over 12 weeks.
func TestDeploymentBuckets(t *testing.T) {
	tests := []struct {
		name   string
		every  time.Duration
		bucket string
	}{
		{"every day", 24 * hr, "daily"},
		{"every other day", 48 * hr, "daily"}, // 3 or 4 days a week: the median is at least 3
		{"every three days", 72 * hr, "weekly"},
		{"every fifteen days", 15 * 24 * hr, "monthly"},
		{"every fifty days", 50 * 24 * hr, "yearly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHistory(t)
			c := h.commit("main", t0, "c", nil)
			rel := h.release(c, 0, t0, c)
			now := t0.Add(84 * 24 * hr)
			for at := t0.Add(hr); at.Before(now); at = at.Add(tt.every) {
				h.promote("production", rel, cd.KindRedeploy, false, "alice", at, mn, cd.StateSuccess, "")
			}
			rep := h.compute(now, 84*24*hr, Options{})
			if got := rep.DORA.Frequency.Bucket; got != tt.bucket {
				t.Errorf("bucket %s, want %s (weeks %+v)", got, tt.bucket, rep.DORA.Frequency.Weeks)
			}
		})
	}
}

// Without an environment of tier production the keys have nothing to measure, and say so.
func TestNoProductionEnvironment(t *testing.T) {
	h := newHistory(t)
	repo2, err := h.db.CreateRepo(h.ctx, storeRepo("acme/lib"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Compute(h.ctx, h.db, Repo{ID: repo2.ID, Name: repo2.Name}, Options{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Env != "" || !strings.Contains(rep.EnvReason, "tier: production") || !rep.Empty() {
		t.Errorf("env %q (%s), empty %v; want none, saying how to mark one", rep.Env, rep.EnvReason, rep.Empty())
	}
	if !strings.Contains(strings.Join(rep.Notes, " "), "mirror is missing") {
		t.Errorf("notes %q do not say the mirror is missing", rep.Notes)
	}
}

// A later commit that builds the same bytes deploys the earlier commit's release: what reached
// production is the deploying run's commit (for lead time), and the same bytes from another
// commit are no rebuild of the release (for reproducibility).
func TestSameBytesFromALaterCommit(t *testing.T) {
	h := newHistory(t)
	c1 := h.commit("main", t0.Add(-hr), "c1", nil)
	run1 := h.run("ci.yml", "refs/heads/main", c1, "push", t0, jobSpec{key: "build", conclusion: "success", took: mn})
	rel := h.release(c1, run1.ID, t0.Add(2*mn), "the same bytes")
	deployRun := func(run int64, at time.Time) *cd.Promotion {
		h.at(at)
		p, err := h.db.CreatePromotion(h.ctx, h.repo.ID, cd.Promotion{Env: "production", ReleaseID: rel.ID, Kind: cd.KindForward, StartedBy: "ci", RunID: run})
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range []cd.State{cd.StateInProgress, cd.StateSuccess} {
			h.at(at.Add(5 * mn))
			if _, err := h.db.SetPromotionState(h.ctx, p.ID, st); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	d1 := deployRun(run1.ID, t0.Add(3*mn))
	c2 := h.commit("main", t0.Add(hr), "c2: docs only", map[string]string{"README": "docs\n"})
	run2 := h.run("ci.yml", "refs/heads/main", c2, "push", t0.Add(hr+mn), jobSpec{key: "build", conclusion: "success", took: mn})
	h.at(t0.Add(hr + 3*mn))
	r := *rel
	r.Commit, r.RunID = c2, run2.ID
	if _, created, err := h.db.CreateRelease(h.ctx, h.repo.ID, r); err != nil || created {
		t.Fatalf("the same bytes made a new release (%v) or failed: %v", created, err)
	}
	d2 := deployRun(run2.ID, t0.Add(hr+4*mn))

	rep := h.compute(t0.Add(24*hr), 7*24*hr, Options{})
	type lead struct {
		Commit    string
		Promotion int64
		Lead      time.Duration
	}
	var got []lead
	for _, c := range rep.DORA.LeadTime.Commits {
		got = append(got, lead{c.Commit, c.Promotion, time.Duration(c.Lead)})
	}
	// c1: committed at t0-1h, deployed at t0+8m; c2: committed at t0+1h, deployed at t0+1h9m.
	want := []lead{{c1, d1.ID, hr + 8*mn}, {c2, d2.ID, 9 * mn}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lead times (-want +got):\n%s", diff)
	}
	if n := len(rep.Reproducibility.Releases); n != 0 {
		t.Errorf("reproducibility judged %+v, want nothing: c2's build is no rebuild of c1", rep.Reproducibility.Releases)
	}
}
