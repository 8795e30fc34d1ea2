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
}

func uiBox(j store.Job) uiJobBox {
	name := j.Name
	if name == "" {
		name = j.Key
	}
	return uiJobBox{ID: j.ID, Key: j.Key, Name: name, Needs: j.Needs, State: uiState(j.Status, j.Conclusion),
		Duration: uiDuration(j.StartedAt, j.FinishedAt), Attempt: j.Attempt, Reason: j.Reason}
}

// uiJobBase is the workflow job id of a job key: matrix legs are keyed
// "build (3.11, ubuntu)" and are all what `needs: build` waits for.
func uiJobBase(key string) string {
	if i := strings.Index(key, " ("); i > 0 {
		return key[:i]
	}
	return key
}

// uiGraphColumns lays jobs out in columns by needs depth: a job sits one
// column right of the deepest job it needs. Jobs keep their input order
// within a column. A need that names no job counts as satisfied, and a
// cycle (which the scheduler would have rejected) is cut where found.
func uiGraphColumns(jobs []store.Job) [][]uiJobBox {
	byBase := map[string][]int{}
	for i, j := range jobs {
		b := uiJobBase(j.Key)
		byBase[b] = append(byBase[b], i)
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
