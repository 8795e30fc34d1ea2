package metrics

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/store"
)

// DORA holds the five keys for one environment.
type DORA struct {
	Frequency      DeploymentFrequency `json:"deployment_frequency"`
	LeadTime       LeadTime            `json:"change_lead_time"`
	ChangeFailRate ChangeFailRate      `json:"change_fail_rate"`
	Recovery       Recovery            `json:"failed_deployment_recovery_time"`
	Rework         Rework              `json:"deployment_rework_rate"`
}

// Deployment is a successful promotion into the environment.
type Deployment struct {
	Promotion int64     `json:"promotion"`
	Release   string    `json:"release"`
	Commit    string    `json:"commit"`
	Version   string    `json:"version,omitempty"`
	Kind      cd.Kind   `json:"kind"`
	Auto      bool      `json:"auto,omitempty"`
	StartedBy string    `json:"started_by"`
	RunID     int64     `json:"run_id,omitempty"`
	At        time.Time `json:"at"` // when it succeeded
}

// Period is a span of the window with what happened in it.
type Period struct {
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	Deployments int       `json:"deployments"`
	Days        int       `json:"days"` // distinct UTC days with a deployment
}

// DeploymentFrequency is how often the environment receives a successful deployment.
type DeploymentFrequency struct {
	Definition string  `json:"definition"`
	Count      int     `json:"count"`
	PerDay     float64 `json:"per_day"`
	PerWeek    float64 `json:"per_week"`
	// Bucket is DORA's: daily, weekly, monthly, yearly, or none without deployments.
	Bucket           string       `json:"bucket"`
	BucketDefinition string       `json:"bucket_definition"`
	Weeks            []Period     `json:"weeks"`
	Deployments      []Deployment `json:"deployments"`
}

// ChangeFailRate is the share of change deployments that needed intervention.
type ChangeFailRate struct {
	Definition string `json:"definition"`
	Rate
	Failures []Failure `json:"failures"`
	// Cancelled counts change deployments that started and ended in error (cancelled, or the
	// system failed): neither a success nor a failed change, they are left out.
	Cancelled int `json:"cancelled"`
}

// Failure is a change deployment that needed intervention.
type Failure struct {
	Promotion int64     `json:"promotion"`
	Release   string    `json:"release"`
	Commit    string    `json:"commit"`
	Kind      cd.Kind   `json:"kind"`
	At        time.Time `json:"at"` // when the deployment ended (success or failure)
	Why       []string  `json:"why"`
	// RecoveredBy is the promotion that restored the environment (0: not yet).
	RecoveredBy int64      `json:"recovered_by,omitempty"`
	RecoveredAt *time.Time `json:"recovered_at,omitempty"`
	Recovery    *Seconds   `json:"recovery,omitempty"`
}

// Recovery is how long failed deployments took to be restored.
type Recovery struct {
	Definition string `json:"definition"`
	Stats
	Open int `json:"open"` // failures not restored yet
}

// Rework is the share of deployments that were unplanned.
type Rework struct {
	Definition string `json:"definition"`
	Rate
	ByKind map[cd.Kind]int `json:"by_kind"`
}

const (
	defFrequency = "Successful promotions into the environment in the window, per day and per week."
	defBucket    = "DORA's bucket: daily when the median number of days per week with a deployment is at least 3, " +
		"weekly when it is at least 1, monthly when the median number of days per 30 days with one is at least 1, " +
		"yearly below that (full weeks and 30-day periods counted back from now; days in UTC)."
	defLeadTime = "For every commit that reached the environment, the time from the commit (%s) to the first " +
		"successful promotion whose release contains it (commits in no earlier deployment's release); median and 90th " +
		"percentile (nearest rank: each is an observed value)."
	defChangeFail = "Share of change deployments (forward and hotfix promotions that started and ended in the window) " +
		"that needed intervention: failed (the deployment job or its verification), or whose next promotion into the " +
		"environment was a rollback (by hand or automatic) or a hotfix that succeeded within %s of it."
	defRecovery = "For each failed change deployment, the time from its end to the next successful promotion of " +
		"another release into the environment (a rollback or a fix); median and 90th percentile."
	defRework = "Share of the environment's successful deployments that were unplanned: rollbacks, hotfixes and " +
		"redeploys of the current release."
)

// deployment is a promotion with its states read off.
type deployment struct {
	store.PromotionFact
	started time.Time // entered in_progress (zero: never)
	ended   time.Time // entered success, failure or error
	end     cd.State  // that state ("" while going)
}

func (d deployment) succeeded() bool { return d.end == cd.StateSuccess }

// deployments reads the promotions' histories.
func (f *facts) deployments() []deployment {
	out := make([]deployment, 0, len(f.promos))
	for _, p := range f.promos {
		d := deployment{PromotionFact: p}
		for _, s := range p.States {
			switch s.To {
			case cd.StateInProgress:
				if d.started.IsZero() {
					d.started = s.At
				}
			case cd.StateSuccess, cd.StateFailure, cd.StateError:
				if d.end == "" {
					d.end, d.ended = s.To, s.At
				}
			}
		}
		out = append(out, d)
	}
	return out
}

func (f *facts) inWindow(t time.Time) bool { return !t.Before(f.since) && !t.After(f.until) }

// successes are the deployments that succeeded in the window, in the order they did.
func (f *facts) successes(deps []deployment) []deployment {
	var out []deployment
	for _, d := range deps {
		if d.succeeded() && f.inWindow(d.ended) {
			out = append(out, d)
		}
	}
	slices.SortStableFunc(out, func(a, b deployment) int { return a.ended.Compare(b.ended) })
	return out
}

func (f *facts) dora(ctx context.Context, src Source, env string, deps []deployment) DORA {
	var out DORA
	succ := f.successes(deps)
	out.Frequency = f.frequency(succ)
	out.LeadTime = f.leadTime(ctx, src, env, deps, succ)
	out.ChangeFailRate, out.Recovery = f.changeFailures(deps)
	out.Rework = Rework{Definition: defRework, ByKind: map[cd.Kind]int{}}
	n := 0
	for _, d := range succ {
		switch d.Kind {
		case cd.KindRollback, cd.KindHotfix, cd.KindRedeploy:
			n++
			out.Rework.ByKind[d.Kind]++
		}
	}
	out.Rework.Rate = rateOf(n, len(succ))
	return out
}

func (f *facts) frequency(succ []deployment) DeploymentFrequency {
	out := DeploymentFrequency{Definition: defFrequency, BucketDefinition: defBucket, Count: len(succ),
		Deployments: []Deployment{}, Bucket: "none"}
	days := f.until.Sub(f.since).Hours() / 24
	out.PerDay = round3(float64(len(succ)) / days)
	out.PerWeek = round3(float64(len(succ)) / days * 7)
	for _, d := range succ {
		out.Deployments = append(out.Deployments, Deployment{Promotion: d.ID, Release: d.ReleaseID, Commit: d.Commit,
			Version: d.Version, Kind: d.Kind, Auto: d.Auto, StartedBy: d.StartedBy, RunID: d.RunID, At: d.ended})
	}
	out.Weeks = f.periods(succ, week)
	if len(succ) == 0 {
		return out
	}
	// The bucket reads full periods only; a window shorter than one period is read whole.
	median := func(ps []Period, length time.Duration) int {
		var full []int
		for _, p := range ps {
			if p.End.Sub(p.Start) == length {
				full = append(full, p.Days)
			}
		}
		if len(full) == 0 {
			for _, p := range ps {
				full = append(full, p.Days)
			}
		}
		slices.Sort(full)
		return percentile(full, 50)
	}
	switch weekly := median(out.Weeks, week); {
	case weekly >= 3:
		out.Bucket = "daily"
	case weekly >= 1:
		out.Bucket = "weekly"
	case median(f.periods(succ, 30*day), 30*day) >= 1:
		out.Bucket = "monthly"
	default:
		out.Bucket = "yearly"
	}
	return out
}

// periods cuts the window into spans of length counted back from its end, oldest first; the
// oldest may be shorter.
func (f *facts) periods(succ []deployment, length time.Duration) []Period {
	var out []Period
	for end := f.until; end.After(f.since); end = end.Add(-length) {
		start := end.Add(-length)
		if start.Before(f.since) {
			start = f.since
		}
		p := Period{Start: start, End: end}
		seen := map[string]bool{}
		for _, d := range succ {
			// Periods are [start, end); the newest one also holds the window's last instant.
			if !d.ended.Before(start) && (d.ended.Before(end) || end.Equal(f.until) && d.ended.Equal(end)) {
				p.Deployments++
				seen[d.ended.Format("2006-01-02")] = true
			}
		}
		p.Days = len(seen)
		out = append(out, p)
	}
	slices.Reverse(out)
	return out
}

// changeFailures finds the change deployments that needed intervention and their recovery.
func (f *facts) changeFailures(deps []deployment) (ChangeFailRate, Recovery) {
	cfr := ChangeFailRate{Definition: fmt.Sprintf(defChangeFail, windowText(f.opts.HotfixWindow)), Failures: []Failure{}}
	rec := Recovery{Definition: defRecovery}
	// Promotions that started, in the order they did: what followed a deployment.
	started := make([]*deployment, 0, len(deps))
	// Successful deployments in the order they ended: what restored the environment.
	restorers := make([]*deployment, 0, len(deps))
	for i := range deps {
		if !deps[i].started.IsZero() {
			started = append(started, &deps[i])
		}
		if deps[i].succeeded() {
			restorers = append(restorers, &deps[i])
		}
	}
	slices.SortStableFunc(started, func(a, b *deployment) int { return a.started.Compare(b.started) })
	slices.SortStableFunc(restorers, func(a, b *deployment) int { return a.ended.Compare(b.ended) })
	// firstAfter is the index of the first of s whose time at is after t (s sorted by at): a
	// binary search, so that a long history is n log n, not n².
	firstAfter := func(s []*deployment, t time.Time, at func(*deployment) time.Time) int {
		i, _ := slices.BinarySearchFunc(s, t, func(d *deployment, t time.Time) int {
			if at(d).After(t) {
				return 1
			}
			return -1
		})
		return i
	}
	changes := 0
	var recoveries []time.Duration
	for _, d := range started {
		if d.Kind != cd.KindForward && d.Kind != cd.KindHotfix || !f.inWindow(d.ended) {
			continue
		}
		switch d.end {
		case cd.StateError:
			cfr.Cancelled++
			continue
		case cd.StateSuccess, cd.StateFailure:
		default:
			continue
		}
		changes++
		var why []string
		if d.end == cd.StateFailure {
			if strings.Contains(strings.ToLower(d.Reason), "verification") {
				why = append(why, "failed verification")
			} else {
				why = append(why, "deployment failed")
			}
		}
		// What came next decides: the environment's next promotion to start after this one
		// ended rolled it back, or (for a success) hotfixed it soon enough.
		if i := firstAfter(started, d.ended, func(n *deployment) time.Time { return n.started }); i < len(started) {
			switch n := started[i]; {
			case n.Kind == cd.KindRollback:
				by := "rolled back by " + n.StartedBy
				if n.Auto {
					by = "rolled back automatically"
				}
				why = append(why, fmt.Sprintf("%s (promotion #%d)", by, n.ID))
			case n.Kind == cd.KindHotfix && d.succeeded() && n.succeeded() && !n.ended.After(d.ended.Add(f.opts.HotfixWindow)):
				why = append(why, fmt.Sprintf("followed by hotfix promotion #%d within %s", n.ID, windowText(f.opts.HotfixWindow)))
			}
		}
		if len(why) == 0 {
			continue
		}
		fl := Failure{Promotion: d.ID, Release: d.ReleaseID, Commit: d.Commit, Kind: d.Kind, At: d.ended, Why: why}
		// The first success of another release to end after it (of those ending together, the
		// first in the promotions' order).
		var restore *deployment
		for _, r := range restorers[firstAfter(restorers, d.ended, func(r *deployment) time.Time { return r.ended }):] {
			if r.ReleaseID != d.ReleaseID {
				restore = r
				break
			}
		}
		if restore != nil {
			at, dur := restore.ended, Seconds(restore.ended.Sub(d.ended))
			fl.RecoveredBy, fl.RecoveredAt, fl.Recovery = restore.ID, &at, &dur
			recoveries = append(recoveries, time.Duration(dur))
		} else {
			rec.Open++
		}
		cfr.Failures = append(cfr.Failures, fl)
	}
	cfr.Rate = rateOf(len(cfr.Failures), changes)
	rec.Stats = statsOf(recoveries)
	return cfr, rec
}

// windowText says a window's length in whole hours when it is some ("24h"), else as Human does.
func windowText(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return Human(d)
}
