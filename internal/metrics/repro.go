package metrics

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/store"
)

// Reproducibility is the share of releases whose rebuilds gave the same bytes.
type Reproducibility struct {
	Definition string `json:"definition"`
	Rate
	Months   []MonthRate    `json:"months"`
	Releases []ReleaseRepro `json:"releases"`
}

// MonthRate is the reproducibility of the releases judged in one calendar month (UTC).
type MonthRate struct {
	Month string `json:"month"`
	Rate
}

// ReleaseRepro is what the window says about one release's reproducibility.
type ReleaseRepro struct {
	Release      string    `json:"release"`
	Commit       string    `json:"commit"`
	Workflow     string    `json:"workflow,omitempty"`
	At           time.Time `json:"at"` // when it was built, or judged when built before the window
	Reproducible bool      `json:"reproducible"`
	Evidence     []string  `json:"evidence"`
}

const defRepro = "Share of releases with a rebuild whose digests were identical: the latest `sluice verify-repro` " +
	"check of the release (rebuilt from its commit in varied workspaces), and every other run of the same workflow " +
	"at the same commit (another agent, a re-run), which must have made the same release. A release is judged when " +
	"built in the window, or when checked or rebuilt in it."

func (f *facts) reproducibility(ctx context.Context, src Source) (Reproducibility, error) {
	out := Reproducibility{Definition: defRepro, Releases: []ReleaseRepro{}}
	builds, err := src.MetricsBuilds(ctx, f.repo.ID, f.since)
	if err != nil {
		return out, err
	}
	checks, err := src.MetricsReproChecks(ctx, f.repo.ID, f.since)
	if err != nil {
		return out, err
	}
	type judged struct {
		ReleaseRepro
		judged bool
	}
	var order []string
	byID := map[string]*judged{}
	get := func(id, commit, workflow string, at time.Time) *judged {
		j, ok := byID[id]
		if !ok {
			j = &judged{ReleaseRepro: ReleaseRepro{Release: id, Commit: commit, Workflow: workflow, At: at, Reproducible: true}}
			byID[id] = j
			order = append(order, id)
		}
		if j.Workflow == "" {
			j.Workflow = workflow
		}
		return j
	}
	// The first build of each release, and which releases each commit and workflow made.
	first := map[string]store.BuildFact{}
	made := map[string][]string{} // commit + workflow → release IDs, in order
	for _, b := range builds {
		if b.Rebuilt {
			continue
		}
		first[b.ReleaseID] = b
		if b.Workflow != "" {
			k := b.Commit + "\x00" + b.Workflow
			made[k] = append(made[k], b.ReleaseID)
		}
	}
	for _, b := range builds {
		if b.Rebuilt {
			if fb, ok := first[b.ReleaseID]; ok && fb.Commit != b.Commit {
				continue // another commit that happens to build the same bytes: no rebuild of this one
			}
			wf := first[b.ReleaseID].Workflow
			j := get(b.ReleaseID, b.Commit, wf, b.At)
			if fb, ok := first[b.ReleaseID]; ok && f.inWindow(fb.At) {
				j.At = fb.At
			}
			j.Evidence = append(j.Evidence, fmt.Sprintf("run %d built the same bytes", b.RunID))
			j.judged = true
			continue
		}
		if !f.inWindow(b.At) {
			continue
		}
		j := get(b.ReleaseID, b.Commit, b.Workflow, b.At)
		if b.Workflow == "" {
			continue
		}
		for _, other := range made[b.Commit+"\x00"+b.Workflow] {
			if other != b.ReleaseID {
				j.Reproducible, j.judged = false, true
				j.Evidence = append(j.Evidence, fmt.Sprintf("run %d of the same workflow and commit built different bytes (release %s)",
					first[other].RunID, shortID(other)))
			}
		}
	}
	for _, c := range checks {
		fb, ok := first[c.ReleaseID]
		at := c.At
		if ok && f.inWindow(fb.At) {
			at = fb.At
		}
		j := get(c.ReleaseID, c.Commit, fb.Workflow, at)
		j.judged = true
		if c.Identical {
			j.Evidence = append(j.Evidence, "verify-repro: identical")
		} else {
			j.Reproducible = false
			j.Evidence = append(j.Evidence, "verify-repro: differs ("+strings.Join(c.Differ, ", ")+")")
		}
	}
	months := map[string]*MonthRate{}
	var monthOrder []string
	good, n := 0, 0
	for _, id := range order {
		j := byID[id]
		if !j.judged {
			continue
		}
		out.Releases = append(out.Releases, j.ReleaseRepro)
		n++
		m := j.At.Format("2006-01")
		mr, ok := months[m]
		if !ok {
			mr = &MonthRate{Month: m}
			months[m] = mr
			monthOrder = append(monthOrder, m)
		}
		mr.Den++
		if j.Reproducible {
			good++
			mr.Num++
		}
	}
	slices.Sort(monthOrder)
	for _, m := range monthOrder {
		out.Months = append(out.Months, MonthRate{Month: m, Rate: rateOf(months[m].Num, months[m].Den)})
	}
	if out.Months == nil {
		out.Months = []MonthRate{}
	}
	slices.SortStableFunc(out.Releases, func(a, b ReleaseRepro) int { return a.At.Compare(b.At) })
	out.Rate = rateOf(good, n)
	return out, nil
}

// shortID is the 12 hex digits a release or commit is shown by.
func shortID(id string) string {
	h := strings.TrimPrefix(id, "sha256:")
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
