package metrics

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/store"
)

// Lead time from the commit and from the push that brought it, on one history; every lead is
// worked out by hand below. The window starts at t0-1h, so c1's push is read from before it.
//
//	c1 committed t0-3h, pushed to main t0-2h (before the window)
//	c2 committed t0-1h30m, c3 t0-1h, pushed together t0-30m; c3 pushed again t0+10m (the first push counts)
//	d1 deploys c3 (bringing c1, c2, c3): t0+1h to t0+1h10m
//	c4 committed t0+2h: a push to a feature branch (t0+2h10m) and a dispatch run on main (t0+2h30m) are no pushes to main
//	c5 committed t0+3h, pushed with c4 t0+5h
//	d2 deploys c5 (bringing c4, c5): t0+6h to t0+6h10m
//	c6 committed t0+7h on hotfix/x, never pushed to main; hotfix h1 deploys it t0+8h to t0+8h10m
func TestLeadTimeFromCommitAndPush(t *testing.T) {
	h := newHistory(t)
	main := "refs/heads/main"
	ok := jobSpec{key: "test", conclusion: store.ConclusionSuccess, took: mn}
	c1 := h.commit("main", t0.Add(-3*hr), "c1", nil)
	h.run("ci.yml", main, c1, "push", t0.Add(-2*hr), ok)
	c2 := h.commit("main", t0.Add(-hr-30*mn), "c2", nil)
	c3 := h.commit("main", t0.Add(-hr), "c3", nil)
	h.run("ci.yml", main, c3, "push", t0.Add(-30*mn), ok)
	h.run("ci.yml", main, c3, "push", t0.Add(10*mn), ok)
	d1 := h.deploy(c3, t0.Add(hr), 10*mn)
	c4 := h.commit("main", t0.Add(2*hr), "c4", nil)
	h.run("ci.yml", "refs/heads/feature", c4, "push", t0.Add(2*hr+10*mn), ok)
	h.run("ci.yml", main, c4, "workflow_dispatch", t0.Add(2*hr+30*mn), ok)
	c5 := h.commit("main", t0.Add(3*hr), "c5", nil)
	h.run("ci.yml", main, c5, "push", t0.Add(5*hr), ok)
	d2 := h.deploy(c5, t0.Add(6*hr), 10*mn)
	c6 := h.commit("hotfix/x", t0.Add(7*hr), "c6", nil)
	h1 := h.promote("production", h.release(c6, 0, t0.Add(8*hr), c6), cd.KindHotfix, false, "carol", t0.Add(8*hr), 10*mn, cd.StateSuccess, "")

	end1, end2, end3 := t0.Add(hr+10*mn), t0.Add(6*hr+10*mn), t0.Add(8*hr+10*mn)
	lead := func(c string, start time.Time, from string, p *cd.Promotion, deployed time.Time, d time.Duration) CommitLead {
		return CommitLead{Commit: c, Start: start, StartFrom: from, Promotion: p.ID, Deployed: deployed, Lead: Seconds(d)}
	}
	// Commits that share a start are listed by hash.
	byHash := func(a, b CommitLead) []CommitLead {
		if b.Commit < a.Commit {
			return []CommitLead{b, a}
		}
		return []CommitLead{a, b}
	}
	tests := []struct {
		from      string
		commits   []CommitLead
		stats     Stats
		fallbacks int
	}{
		// Leads 4h10m, 2h40m, 2h10m; 4h10m, 3h10m; 1h10m. Sorted 1h10m 2h10m 2h40m 3h10m 4h10m
		// 4h10m: the median (nearest rank, the 3rd of 6) 2h40m, p90 (the 6th) 4h10m.
		{from: FromCommit, commits: []CommitLead{
			lead(c1, t0.Add(-3*hr), FromCommit, d1, end1, 4*hr+10*mn),
			lead(c2, t0.Add(-hr-30*mn), FromCommit, d1, end1, 2*hr+40*mn),
			lead(c3, t0.Add(-hr), FromCommit, d1, end1, 2*hr+10*mn),
			lead(c4, t0.Add(2*hr), FromCommit, d2, end2, 4*hr+10*mn),
			lead(c5, t0.Add(3*hr), FromCommit, d2, end2, 3*hr+10*mn),
			lead(c6, t0.Add(7*hr), FromCommit, h1, end3, hr+10*mn),
		}, stats: Stats{N: 6, Median: secs(2*hr + 40*mn), P90: secs(4*hr + 10*mn)}},
		// Leads 3h10m; 1h40m, 1h40m; 1h10m, 1h10m; 1h10m (c6 from its committer time, no push
		// brought it). Sorted 1h10m ×3, 1h40m ×2, 3h10m: the median 1h10m, p90 3h10m.
		{from: FromPush, commits: append(append(append([]CommitLead{
			lead(c1, t0.Add(-2*hr), FromPush, d1, end1, 3*hr+10*mn)},
			byHash(lead(c2, t0.Add(-30*mn), FromPush, d1, end1, hr+40*mn), lead(c3, t0.Add(-30*mn), FromPush, d1, end1, hr+40*mn))...),
			byHash(lead(c4, t0.Add(5*hr), FromPush, d2, end2, hr+10*mn), lead(c5, t0.Add(5*hr), FromPush, d2, end2, hr+10*mn))...),
			lead(c6, t0.Add(7*hr), FromCommit, h1, end3, hr+10*mn)),
			stats: Stats{N: 6, Median: secs(hr + 10*mn), P90: secs(3*hr + 10*mn)}, fallbacks: 1},
	}
	for _, tt := range tests {
		t.Run(tt.from, func(t *testing.T) {
			rep := computeThreeWays(t, h, Options{Now: t0.Add(24 * hr), Since: t0.Add(-hr), LeadFrom: tt.from})
			got := rep.DORA.LeadTime
			if got.From != tt.from {
				t.Errorf("from %q, want %q", got.From, tt.from)
			}
			if diff := cmp.Diff(tt.commits, got.Commits); diff != "" {
				t.Errorf("commit leads (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.stats, got.Stats); diff != "" {
				t.Errorf("lead time (-want +got):\n%s", diff)
			}
			if got.PushFallbacks != tt.fallbacks || got.Missing != 0 || got.Future != 0 {
				t.Errorf("push fallbacks %d, missing %d, future %d; want %d, 0, 0", got.PushFallbacks, got.Missing, got.Future, tt.fallbacks)
			}
		})
	}
}
