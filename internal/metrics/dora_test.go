package metrics

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/cd"
)

const (
	hr = time.Hour
	mn = time.Minute
)

// A scripted production history with every kind of intervention; each figure below is worked out
// by hand from the timeline in the comments.
func TestDORAHandComputed(t *testing.T) {
	h := newHistory(t)
	// d1: c1 (committed 2h before) deployed at t0, 10 minutes.
	c1 := h.commit("main", t0.Add(-2*hr), "c1", nil)
	d1 := h.deploy(c1, t0, 10*mn)
	rel1, err := h.db.GetRelease(h.ctx, d1.ReleaseID)
	if err != nil {
		t.Fatal(err)
	}
	// d2: c2, c3 deployed a day later; bob rolls it back by hand to c1's release 2h later.
	c2 := h.commit("main", t0.Add(24*hr-hr), "c2", nil)
	c3 := h.commit("main", t0.Add(24*hr-30*mn), "c3", nil)
	d2 := h.deploy(c3, t0.Add(24*hr), 10*mn)
	r1 := h.promote("production", rel1, cd.KindRollback, false, "bob", t0.Add(24*hr+2*hr), 5*mn, cd.StateSuccess, "")
	// d3: c4 fails its verification; sluice rolls back by itself.
	c4 := h.commit("main", t0.Add(48*hr-hr), "c4", nil)
	d3 := h.promote("production", h.release(c4, 0, t0.Add(48*hr), c4), cd.KindForward, false, "alice", t0.Add(48*hr), 10*mn,
		cd.StateFailure, "verification failed: /health answered sick")
	r2 := h.promote("production", rel1, cd.KindRollback, true, "sluice", t0.Add(48*hr+11*mn), 4*mn, cd.StateSuccess, "")
	// d4: c5 (bringing c4 too); a hotfix (c6, on hotfix/x) follows within 24h.
	c5 := h.commit("main", t0.Add(72*hr-2*hr), "c5", nil)
	d4 := h.deploy(c5, t0.Add(72*hr), 10*mn)
	c6 := h.commit("hotfix/x", t0.Add(72*hr+hr), "c6", nil)
	h1 := h.promote("production", h.release(c6, 0, t0.Add(72*hr+2*hr), c6), cd.KindHotfix, false, "carol",
		t0.Add(72*hr+2*hr), 10*mn, cd.StateSuccess, "")
	// d5: c7 on main; a hotfix 35h later is too late to mark it failed.
	c7 := h.commit("main", t0.Add(120*hr), "c7", nil)
	d5 := h.deploy(c7, t0.Add(120*hr+hr), 10*mn)
	c8 := h.commit("hotfix/y", t0.Add(144*hr+8*hr), "c8", nil)
	h2 := h.promote("production", h.release(c8, 0, t0.Add(144*hr+12*hr), c8), cd.KindHotfix, false, "carol",
		t0.Add(144*hr+12*hr), 10*mn, cd.StateSuccess, "")
	// A staging deployment is another environment's business.
	h.promote("staging", rel1, cd.KindForward, true, "sluice", t0.Add(hr), mn, cd.StateSuccess, "")

	now := t0.Add(30 * 24 * hr)
	rep := h.compute(now, 90*24*hr, Options{})
	if rep.Env != "production" || rep.EnvReason != "the first environment of tier production" {
		t.Errorf("env %q (%s), want production chosen by its tier", rep.Env, rep.EnvReason)
	}
	d := rep.DORA

	// Deployments: d1, d2, r1, r2, d4, h1, d5, h2 (d3 failed).
	var got []int64
	for _, x := range d.Frequency.Deployments {
		got = append(got, x.Promotion)
	}
	if diff := cmp.Diff([]int64{d1.ID, d2.ID, r1.ID, r2.ID, d4.ID, h1.ID, d5.ID, h2.ID}, got); diff != "" {
		t.Errorf("deployments (-want +got):\n%s", diff)
	}
	// 8 in 90 days: 0.0889/day, 0.622/week. Days with a deployment per full week back from now:
	// ten empty weeks, then Mar 3–4 (2 days) and Mar 5, 6, 8, 9 (4 days): median 0. Per 30
	// days: 0, 0, 6: median 0. So DORA's bucket is yearly.
	if d.Frequency.Count != 8 || d.Frequency.PerDay != 0.089 || d.Frequency.PerWeek != 0.622 || d.Frequency.Bucket != "yearly" {
		t.Errorf("frequency %d, %v/day, %v/week, %s; want 8, 0.089, 0.622, yearly", d.Frequency.Count, d.Frequency.PerDay,
			d.Frequency.PerWeek, d.Frequency.Bucket)
	}
	if n := len(d.Frequency.Weeks); n != 13 {
		t.Errorf("%d weeks, want 13 (12 full and 6 days)", n)
	} else {
		w := d.Frequency.Weeks[8:10]
		if w[0].Deployments != 3 || w[0].Days != 2 || w[1].Deployments != 5 || w[1].Days != 4 {
			t.Errorf("weeks with deployments: %+v, want 3 deployments on 2 days, then 5 on 4", w)
		}
	}

	// Lead time, commit by commit: c1 2h10m (d1); c2 1h10m, c3 40m (d2); c4 1d1h10m, c5 2h10m
	// (d4: c4's own deployment failed); c6 1h10m (h1); c7 1h10m (d5); c8 4h10m (h2). The
	// rollbacks bring nothing new. Sorted: 40m, 1h10m ×3, 2h10m ×2, 4h10m, 25h10m: median (4th)
	// 1h10m, p90 (8th) 25h10m.
	type lead struct {
		Commit    string
		Promotion int64
		Lead      time.Duration
	}
	var leads []lead
	for _, c := range d.LeadTime.Commits {
		leads = append(leads, lead{c.Commit, c.Promotion, time.Duration(c.Lead)})
	}
	want := []lead{{c1, d1.ID, 2*hr + 10*mn}, {c2, d2.ID, hr + 10*mn}, {c3, d2.ID, 40 * mn}, {c4, d4.ID, 25*hr + 10*mn},
		{c5, d4.ID, 2*hr + 10*mn}, {c6, h1.ID, hr + 10*mn}, {c7, d5.ID, hr + 10*mn}, {c8, h2.ID, 4*hr + 10*mn}}
	if diff := cmp.Diff(want, leads); diff != "" {
		t.Errorf("lead times (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Stats{N: 8, Median: secs(hr + 10*mn), P90: secs(25*hr + 10*mn)}, d.LeadTime.Stats); diff != "" {
		t.Errorf("lead time (-want +got):\n%s", diff)
	}

	// Change deployments: d1, d2, d3, d4, h1, d5, h2. Failed: d2 (rolled back by bob), d3
	// (verification, rolled back automatically), d4 (hotfix h1 2h later). 3/7.
	type failure struct {
		Promotion int64
		Why       []string
		By        int64
		Recovery  time.Duration
	}
	var fails []failure
	for _, f := range d.ChangeFailRate.Failures {
		fails = append(fails, failure{f.Promotion, f.Why, f.RecoveredBy, time.Duration(*f.Recovery)})
	}
	wantFails := []failure{
		{d2.ID, []string{"rolled back by bob (promotion #" + itoa(r1.ID) + ")"}, r1.ID, hr + 55*mn},
		{d3.ID, []string{"failed verification", "rolled back automatically (promotion #" + itoa(r2.ID) + ")"}, r2.ID, 5 * mn},
		{d4.ID, []string{"followed by hotfix promotion #" + itoa(h1.ID) + " within 24h"}, h1.ID, 2 * hr},
	}
	if diff := cmp.Diff(wantFails, fails); diff != "" {
		t.Errorf("change failures (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(rate(3, 7), d.ChangeFailRate.Rate); diff != "" {
		t.Errorf("change fail rate (-want +got):\n%s", diff)
	}
	// Recovery: 5m, 1h55m, 2h: median 1h55m, p90 2h.
	if diff := cmp.Diff(Stats{N: 3, Median: secs(hr + 55*mn), P90: secs(2 * hr)}, d.Recovery.Stats); diff != "" || d.Recovery.Open != 0 {
		t.Errorf("recovery (open %d) (-want +got):\n%s", d.Recovery.Open, diff)
	}
	// Rework: r1, r2, h1, h2 of 8.
	if diff := cmp.Diff(rate(4, 8), d.Rework.Rate); diff != "" || d.Rework.ByKind[cd.KindRollback] != 2 || d.Rework.ByKind[cd.KindHotfix] != 2 {
		t.Errorf("rework %v (-want +got):\n%s", d.Rework.ByKind, diff)
	}
	// Rollbacks per month: both in March.
	months := map[string]int{}
	for _, m := range rep.Pins.Months {
		months[m.Month] = m.Rollbacks
	}
	if diff := cmp.Diff(map[string]int{"2025-01": 0, "2025-02": 0, "2025-03": 2, "2025-04": 0}, months); diff != "" {
		t.Errorf("rollbacks per month (-want +got):\n%s", diff)
	}
	_ = c2
}

func itoa(n int64) string {
	return strings.TrimSpace(strings.Replace(string(mustJSON(n)), "\n", "", -1))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
