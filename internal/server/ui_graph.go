package server

import (
	"strings"

	"github.com/sluice-ci/sluice/internal/store"
)

// uiJobBox is one job in the run page's graph.
type uiJobBox struct {
	ID       int64    `json:"id"`
	Key      string   `json:"key"`
	Name     string   `json:"name"`
	Needs    []string `json:"needs,omitempty"`
	State    string   `json:"state"`
	Duration string   `json:"duration"`
	Attempt  int      `json:"attempt"`
	Reason   string   `json:"reason,omitempty"`
	// Waiting says what a job that has not started waits for.
	Waiting string `json:"waiting,omitempty"`
}

func uiBox(j store.Job) uiJobBox {
	name := j.Name
	if name == "" {
		name = j.Key
	}
	b := uiJobBox{ID: j.ID, Key: j.Key, Name: name, Needs: j.Needs, State: uiState(j.Status, j.Conclusion),
		Duration: uiDuration(j.StartedAt, j.FinishedAt), Attempt: j.Attempt, Reason: j.Reason}
	if j.Status == store.StatusWaiting || j.Status == store.StatusQueued {
		b.Waiting = j.PendingReason
	}
	return b
}

// uiJobBase is the workflow job id of a job key: matrix legs are keyed
// "build (3.11, ubuntu)" and are all what `needs: build` waits for.
func uiJobBase(key string) string {
	if i := strings.Index(key, " ("); i > 0 {
		return key[:i]
	}
	return key
}

// uiShownJobs drops matrix parent rows: a job keyed "test" while legs keyed
// "test (...)" exist holds no steps and no log of its own, and the page shows
// the legs as the jobs. Which rows those are is read from the keys alone, so
// the page is right whether or not the scheduler records a parent at all.
// The parents' names are returned by job id, as the name of their group.
func uiShownJobs(jobs []store.Job) ([]store.Job, map[string]string) {
	hasLegs := map[string]bool{}
	for _, j := range jobs {
		if b := uiJobBase(j.Key); b != j.Key {
			hasLegs[b] = true
		}
	}
	names := map[string]string{}
	out := make([]store.Job, 0, len(jobs))
	for _, j := range jobs {
		if j.Key == uiJobBase(j.Key) && hasLegs[j.Key] {
			if j.Name != "" && j.Name != j.Key {
				names[j.Key] = j.Name
			}
			continue
		}
		out = append(out, j)
	}
	return out, names
}

// uiGraphNode is one workflow job in the graph: a single job, or a matrix
// job with its legs grouped under it.
type uiGraphNode struct {
	Key    string // the workflow job id: what needs name
	Name   string
	Needs  []string
	Matrix bool
	State  string // a matrix's overall state, from its legs
	Legs   []uiJobBox
}

// uiGraphColumns lays the workflow jobs out in columns by needs depth: a job
// sits one column right of the deepest job it needs. Matrix legs are grouped
// under their job. Jobs keep their input order within a column. A need that
// names no job counts as satisfied, and a cycle (which the scheduler would
// have rejected) is cut where found.
func uiGraphColumns(jobs []store.Job, groupNames map[string]string) [][]uiGraphNode {
	if len(jobs) == 0 {
		return nil
	}
	var nodes []*uiGraphNode
	byKey := map[string]*uiGraphNode{}
	for _, j := range jobs {
		base := uiJobBase(j.Key)
		n := byKey[base]
		if n == nil {
			n = &uiGraphNode{Key: base, Name: base, Needs: j.Needs}
			if name, ok := groupNames[base]; ok {
				n.Name = name
			}
			byKey[base] = n
			nodes = append(nodes, n)
		}
		if base != j.Key {
			n.Matrix = true
		}
		n.Legs = append(n.Legs, uiBox(j))
	}
	for _, n := range nodes {
		if !n.Matrix {
			n.Name = n.Legs[0].Name
		}
		n.State = uiGroupState(n.Legs)
	}
	depth := map[string]int{}
	const visiting = -1
	var visit func(n *uiGraphNode) int
	visit = func(n *uiGraphNode) int {
		if d, ok := depth[n.Key]; ok {
			return d // a cycle's visiting mark counts as depth -1
		}
		depth[n.Key] = visiting
		d := 0
		for _, need := range n.Needs {
			if m := byKey[need]; m != nil {
				if dm := visit(m); dm+1 > d {
					d = dm + 1
				}
			}
		}
		depth[n.Key] = d
		return d
	}
	maxDepth := 0
	for _, n := range nodes {
		maxDepth = max(maxDepth, visit(n))
	}
	cols := make([][]uiGraphNode, maxDepth+1)
	for _, n := range nodes {
		cols[depth[n.Key]] = append(cols[depth[n.Key]], *n)
	}
	return cols
}

// uiGroupState sums up a matrix's legs the way a reader asks: is anything
// still going, did anything fail.
func uiGroupState(legs []uiJobBox) string {
	has := map[string]bool{}
	for _, l := range legs {
		has[l.State] = true
	}
	for _, s := range []string{store.StatusInProgress, store.ConclusionFailure, "rejected", store.StatusQueued, store.StatusWaiting,
		store.ConclusionCancelled, store.ConclusionSuccess, store.ConclusionSkipped} {
		if has[s] {
			return s
		}
	}
	if len(legs) > 0 {
		return legs[0].State
	}
	return store.StatusWaiting
}
