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

// uiJobTree is what the page keeps of the rows it does not show: the names of expanded rows
// (a matrix job's, a reusable workflow call's) by key, and each row's parent by key, so that
// a need naming an expanded row stands for everything under it.
type uiJobTree struct {
	names  map[string]string
	parent map[string]string
}

// uiShownJobs drops the rows that were expanded into others: a matrix job's row once its
// legs exist, a reusable workflow call's once its jobs exist (store.Shown). They hold no
// steps and no log of their own; the legs and called jobs are the jobs. Rows recorded
// before rows had parents are recognised by their keys: a job keyed "test" while legs keyed
// "test (...)" exist.
func uiShownJobs(jobs []store.Job) ([]store.Job, uiJobTree) {
	tree := uiJobTree{names: map[string]string{}, parent: map[string]string{}}
	expanded := map[string]bool{}
	for _, j := range jobs {
		tree.parent[j.Key] = j.Parent
		if j.Parent != "" {
			expanded[j.Parent] = true
		} else if b := uiJobBase(j.Key); b != j.Key {
			expanded[b] = true
		}
	}
	out := make([]store.Job, 0, len(jobs))
	for _, j := range jobs {
		if expanded[j.Key] {
			if j.Name != "" && j.Name != j.Key {
				tree.names[j.Key] = j.Name
			}
			continue
		}
		out = append(out, j)
	}
	return out, tree
}

// uiGroupKey is the graph node a shown job belongs to: a matrix leg's job (its parent row,
// or for rows without parents the key's job id); any other job, a called workflow's
// included, is a node of its own.
func uiGroupKey(j store.Job) string {
	switch {
	case j.Parent == "":
		return uiJobBase(j.Key)
	case strings.HasPrefix(j.Key, j.Parent+" ("):
		return j.Parent
	default:
		return j.Key
	}
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
// have rejected) is cut where found. A need may name a row that was expanded
// (a matrix into its legs, a reusable workflow call into its jobs): it then
// stands for everything under it.
func uiGraphColumns(jobs []store.Job, tree uiJobTree) [][]uiGraphNode {
	if len(jobs) == 0 {
		return nil
	}
	var nodes []*uiGraphNode
	byKey := map[string]*uiGraphNode{}
	for _, j := range jobs {
		base := uiGroupKey(j)
		n := byKey[base]
		if n == nil {
			n = &uiGraphNode{Key: base, Name: base, Needs: j.Needs}
			if name, ok := tree.names[base]; ok {
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
	// under lists, by key, the nodes a need of that key waits for: the node itself and
	// the nodes below an expanded row.
	under := map[string][]*uiGraphNode{}
	for _, n := range nodes {
		seen := map[string]bool{}
		for k := n.Key; k != "" && !seen[k]; k = tree.parent[k] {
			seen[k] = true
			under[k] = append(under[k], n)
		}
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
			for _, m := range under[need] {
				if m == n {
					continue
				}
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
