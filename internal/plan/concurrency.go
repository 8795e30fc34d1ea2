package plan

import (
	"sort"
	"strings"
)

// Concurrency groups, as GitHub documents them (workflow-syntax#concurrency and
// jobs.<job_id>.concurrency): "there can be at most one running and one pending job in a
// concurrency group at any time. When a concurrent job or workflow is queued, if another job
// or workflow using the same concurrency group in the repository is in progress, the queued
// job or workflow will be pending. Any existing pending job or workflow in the same
// concurrency group, if it exists, will be canceled and the new queued job or workflow will
// take its place." With cancel-in-progress, the running one is cancelled too. "The
// concurrency group name is case insensitive."
//
// A group's holders are workflow runs (workflow-level concurrency) or jobs (job-level); the
// server keeps them in its database, `sluice run` in memory, and both ask Admit and Next.

// Holder is one member of a concurrency group: a run or a job, by the caller's id.
type Holder struct {
	ID int64
	// Running: admitted (it runs, or is being cancelled and has not ended yet). Otherwise
	// it is pending: waiting for the group.
	Running bool
}

// Admission is what happens when a run or job enters its concurrency group.
type Admission struct {
	// Cancel lists the holders to cancel, oldest first: every pending one (the newcomer
	// takes its place), and with cancel-in-progress the running ones too.
	Cancel []int64
	// Wait: the newcomer is pending until the running holders have ended.
	Wait bool
}

// Admit decides for a newcomer to a group whose other unfinished holders are others.
func Admit(others []Holder, cancelInProgress bool) Admission {
	var a Admission
	sorted := append([]Holder(nil), others...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	for _, h := range sorted {
		switch {
		case !h.Running:
			a.Cancel = append(a.Cancel, h.ID)
		case cancelInProgress:
			a.Cancel = append(a.Cancel, h.ID)
			a.Wait = true // until it has wound down
		default:
			a.Wait = true
		}
	}
	return a
}

// Next is the pending holder to start now that a holder of the group ended: the oldest
// pending one, once nothing in the group runs (ok is false otherwise).
func Next(holders []Holder) (id int64, ok bool) {
	for _, h := range holders {
		if h.Running {
			return 0, false
		}
	}
	for _, h := range holders {
		if !ok || h.ID < id {
			id, ok = h.ID, true
		}
	}
	return id, ok
}

// SameGroup says whether two group names name one group: they are case-insensitive.
func SameGroup(a, b string) bool { return a != "" && strings.EqualFold(a, b) }
