package metrics

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sluice-ci/sluice/internal/lazyre"
	"github.com/sluice-ci/sluice/internal/store"
)

// ToolSplit is the window's jobs split by the version of one tool they ran with.
type ToolSplit struct {
	Tool       string         `json:"tool"`
	Definition string         `json:"definition"`
	Versions   []VersionStats `json:"versions"`
	Unknown    int            `json:"unknown"`   // jobs that recorded no version of the tool
	Available  []string       `json:"available"` // the tools the window's jobs recorded
}

// VersionStats are the figures of the jobs that ran with one version.
type VersionStats struct {
	Version     string    `json:"version"`
	Jobs        int       `json:"jobs"`
	Failures    int       `json:"failures"`
	SuccessRate Rate      `json:"success_rate"`
	Wall        Stats     `json:"wall"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
}

var toolRe = lazyre.New(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

const defTools = "Jobs that ran in the window (succeeded or failed), by the version of %s they recorded; versions in " +
	"the order they first appeared."

func (f *facts) toolSplit(ctx context.Context, src Source, tool string) (*ToolSplit, error) {
	if !toolRe.MatchString(tool) {
		return nil, fmt.Errorf("split by %q: want a tool name like python, pip or uv: %w", trimForError(tool), ErrBadOption)
	}
	versions, err := src.MetricsJobTools(ctx, f.repo.ID, f.since, tool)
	if err != nil {
		return nil, err
	}
	names, err := src.MetricsToolNames(ctx, f.repo.ID, f.since)
	if err != nil {
		return nil, err
	}
	out := &ToolSplit{Tool: tool, Definition: fmt.Sprintf(defTools, tool), Versions: []VersionStats{}, Available: names}
	if out.Available == nil {
		out.Available = []string{}
	}
	type acc struct {
		VersionStats
		wall []time.Duration
	}
	byVersion := map[string]*acc{}
	for _, j := range f.jobs {
		if !conclusive(j.Conclusion) || j.StartedAt.IsZero() || j.FinishedAt.IsZero() {
			continue
		}
		v, ok := versions[j.ID]
		if !ok {
			out.Unknown++
			continue
		}
		a, ok := byVersion[v]
		if !ok {
			a = &acc{VersionStats: VersionStats{Version: v, FirstSeen: j.StartedAt, LastSeen: j.StartedAt}}
			byVersion[v] = a
		}
		a.Jobs++
		if j.Conclusion == store.ConclusionFailure {
			a.Failures++
		}
		a.wall = append(a.wall, j.FinishedAt.Sub(j.StartedAt))
		if j.StartedAt.Before(a.FirstSeen) {
			a.FirstSeen = j.StartedAt
		}
		if j.StartedAt.After(a.LastSeen) {
			a.LastSeen = j.StartedAt
		}
	}
	for _, a := range byVersion {
		a.SuccessRate = rateOf(a.Jobs-a.Failures, a.Jobs)
		a.Wall = statsOf(a.wall)
		out.Versions = append(out.Versions, a.VersionStats)
	}
	slices.SortFunc(out.Versions, func(a, b VersionStats) int {
		if c := a.FirstSeen.Compare(b.FirstSeen); c != 0 {
			return c
		}
		return compareStrings(a.Version, b.Version)
	})
	return out, nil
}
