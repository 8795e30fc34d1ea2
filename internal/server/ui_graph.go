package server

import (
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
}

func uiBox(j store.Job) uiJobBox {
	name := j.Name
	if name == "" {
		name = j.Key
	}
	return uiJobBox{ID: j.ID, Key: j.Key, Name: name, Needs: j.Needs, State: uiState(j.Status, j.Conclusion),
		Duration: uiDuration(j.StartedAt, j.FinishedAt), Attempt: j.Attempt, Reason: j.Reason}
}

// uiGraphColumns lays jobs out in columns by needs depth: a job sits one
// column right of the deepest job it needs. Jobs keep their input order
// within a column. A need that names no job counts as satisfied, and a
// cycle (which the scheduler would have rejected) is cut where found.
// Only the jobs shown are laid out (see store.Shown); a need names a job
// that may have been expanded (a matrix into its legs, a reusable workflow
// call into its jobs), and then stands for everything under it.
func uiGraphColumns(all []store.Job) [][]uiJobBox {
	parent := map[string]string{}
	for _, j := range all {
		parent[j.Key] = j.Parent
	}
	jobs := store.Shown(all)
	byBase := map[string][]int{}
	for i, j := range jobs {
		seen := map[string]bool{}
		for k := j.Key; k != "" && !seen[k]; k = parent[k] {
			seen[k] = true
			byBase[k] = append(byBase[k], i)
		}
	}
	depth := make([]int, len(jobs))
	const unknown, visiting = -1, -2
	for i := range depth {
		depth[i] = unknown
	}
	var visit func(i int) int
	visit = func(i int) int {
		switch depth[i] {
		case visiting:
			return -1
		case unknown:
		default:
			return depth[i]
		}
		depth[i] = visiting
		d := 0
		for _, n := range jobs[i].Needs {
			for _, k := range byBase[n] {
				if dk := visit(k); dk+1 > d {
					d = dk + 1
				}
			}
		}
		depth[i] = d
		return d
	}
	maxDepth := 0
	for i := range jobs {
		if d := visit(i); d > maxDepth {
			maxDepth = d
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	cols := make([][]uiJobBox, maxDepth+1)
	for i, j := range jobs {
		cols[depth[i]] = append(cols[depth[i]], uiBox(j))
	}
	return cols
}
