package metrics

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sluice-ci/sluice/internal/store"
)

// LeadTime is the change lead time of the commits the window's deployments brought.
type LeadTime struct {
	Definition string `json:"definition"`
	From       string `json:"from"` // commit or push
	Stats
	Commits []CommitLead `json:"commits"`
	// Missing counts deployments whose commit is not in the mirror (force-pushed away and
	// collected, or never fetched): their commits are left out.
	Missing int `json:"missing"`
	// Future counts commits dated after the deployment that brought them (a skewed clock):
	// their lead time counts as zero.
	Future int `json:"future"`
	// PushFallbacks counts commits, with From push, that no recorded push brought: their
	// committer time is used.
	PushFallbacks int `json:"push_fallbacks"`
}

// CommitLead is one commit's way to the environment.
type CommitLead struct {
	Commit    string    `json:"commit"`
	Start     time.Time `json:"start"`      // committer or push time
	StartFrom string    `json:"start_from"` // commit or push
	Promotion int64     `json:"promotion"`  // the deployment that brought it
	Deployed  time.Time `json:"deployed"`
	Lead      Seconds   `json:"lead"`
}

// pushLookback is how far before the window pushes are read, for commits pushed before it and
// deployed in it.
const pushLookback = 1000

func (f *facts) leadTime(ctx context.Context, src Source, env string, deps, succ []deployment) LeadTime {
	from := "its committer time"
	if f.opts.LeadFrom == FromPush {
		from = "when a push to the default branch brought it, as the forge's push webhook said; its committer time when no push did"
	}
	lt := LeadTime{Definition: fmt.Sprintf(defLeadTime, from), From: f.opts.LeadFrom, Commits: []CommitLead{}}
	if len(succ) == 0 || f.git == nil {
		return lt
	}
	if err := f.leadCommits(ctx, src, env, deps, succ, &lt); err != nil {
		f.note("Lead time could not be read from the repository mirror: %v", err)
		lt.Commits, lt.Missing, lt.Future, lt.PushFallbacks = []CommitLead{}, 0, 0, 0
	}
	leads := make([]time.Duration, len(lt.Commits))
	for i, c := range lt.Commits {
		leads[i] = time.Duration(c.Lead)
	}
	lt.Stats = statsOf(leads)
	if lt.Missing > 0 {
		f.note("%d deployment(s) deployed a commit the repository mirror does not have (force-pushed away?): their commits have no lead time.", lt.Missing)
	}
	if lt.Future > 0 {
		f.note("%d commit(s) are dated after the deployment that brought them (a committer's clock was ahead): their lead time counts as zero.", lt.Future)
	}
	return lt
}

func (f *facts) leadCommits(ctx context.Context, src Source, env string, deps, succ []deployment, lt *LeadTime) (err error) {
	// What the environment had before the window: commits of earlier successful deployments.
	minID := deps[0].ID
	for _, d := range deps {
		minID = min(minID, d.ID)
	}
	prior, err := src.MetricsDeployedCommits(ctx, f.repo.ID, env, minID)
	if err != nil {
		return err
	}
	for _, d := range deps {
		if d.succeeded() && d.ended.Before(f.since) {
			prior = append(prior, d.Commit)
		}
	}
	type push struct {
		sha string
		at  time.Time
	}
	var pushes []push
	if f.opts.LeadFrom == FromPush {
		before, err := src.MetricsRunsBefore(ctx, f.repo.ID, f.repo.defaultRef(), f.since, pushLookback)
		if err != nil {
			return err
		}
		first := map[string]time.Time{}
		for _, r := range append(before, f.runs...) {
			if r.Event == "push" && r.Trigger == store.TriggerWebhook && r.Ref == f.repo.defaultRef() {
				if t, ok := first[r.SHA]; !ok || r.QueuedAt.Before(t) {
					first[r.SHA] = r.QueuedAt
				}
			}
		}
		for sha, at := range first {
			pushes = append(pushes, push{sha, at})
		}
		slices.SortFunc(pushes, func(a, b push) int { return a.at.Compare(b.at) })
	}
	// The same deployments after the same commits give the same answer: remembered (lead time
	// from pushes depends on runs too, and is not).
	key := ""
	if f.opts.LeadFrom == FromCommit {
		key = leadKey(f.opts.LeadFrom, succ, prior)
		if r, ok := f.memo.leadFor(key); ok {
			lt.Commits, lt.Missing, lt.Future, lt.PushFallbacks = r.Commits, r.Missing, r.Future, r.PushFallbacks
			return nil
		}
		defer func() {
			if err == nil {
				f.memo.rememberLead(key, *lt)
			}
		}()
	}
	all := append([]string{}, prior...)
	for _, d := range succ {
		all = append(all, d.Commit)
	}
	for _, p := range pushes {
		all = append(all, p.sha)
	}
	present, err := f.git.present(ctx, all)
	if err != nil {
		return err
	}
	keep := func(shas []string) []string {
		var out []string
		for _, s := range shas {
			if present[s] {
				out = append(out, s)
			}
		}
		return out
	}
	var tips []string
	for _, d := range succ {
		if present[d.Commit] {
			tips = append(tips, d.Commit)
		} else {
			lt.Missing++
		}
	}
	for _, p := range pushes {
		if present[p.sha] {
			tips = append(tips, p.sha)
		}
	}
	graph, err := f.git.graph(ctx, tips, keep(prior))
	if err != nil {
		return err
	}
	// Each commit belongs to the first push, and the first deployment, that reached it.
	walk := func(tip string, claimed map[string]bool, claim func(string)) {
		stack := []string{tip}
		for len(stack) > 0 {
			c := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			node, ok := graph[c]
			if !ok || claimed[c] {
				continue
			}
			claimed[c] = true
			claim(c)
			stack = append(stack, node.parents...)
		}
	}
	pushedAt := map[string]time.Time{}
	pushed := map[string]bool{}
	for _, p := range pushes {
		walk(p.sha, pushed, func(c string) { pushedAt[c] = p.at })
	}
	deployed := map[string]bool{}
	for _, d := range succ {
		var batch []CommitLead
		walk(d.Commit, deployed, func(c string) {
			cl := CommitLead{Commit: c, Start: graph[c].time, StartFrom: FromCommit, Promotion: d.ID, Deployed: d.ended}
			if f.opts.LeadFrom == FromPush {
				if at, ok := pushedAt[c]; ok {
					cl.Start, cl.StartFrom = at, FromPush
				} else {
					lt.PushFallbacks++
				}
			}
			lead := d.ended.Sub(cl.Start)
			if lead < 0 {
				lt.Future++
				lead = 0
			}
			cl.Lead = Seconds(lead)
			batch = append(batch, cl)
		})
		slices.SortFunc(batch, func(a, b CommitLead) int {
			if c := a.Start.Compare(b.Start); c != 0 {
				return c
			}
			return compareStrings(a.Commit, b.Commit)
		})
		lt.Commits = append(lt.Commits, batch...)
	}
	return nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
