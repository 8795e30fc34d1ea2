package metrics

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluice-ci/sluice/internal/store"
)

// CacheSource is a Source that can say what changed: what a Cache needs.
type CacheSource interface {
	Source
	MetricsLastEvent(ctx context.Context, repoID int64) (int64, error)
	MetricsEventsAfter(ctx context.Context, repoID, after int64) ([]store.TouchedEvent, error)
	MetricsRunsByID(ctx context.Context, repoID int64, ids []int64) ([]store.RunFact, error)
	MetricsJobsOfRuns(ctx context.Context, ids []int64) ([]store.JobFact, error)
	MetricsTests(ctx context.Context, repoID int64, since time.Time) ([]store.TestFact, error)
	MetricsTestsOfRuns(ctx context.Context, ids []int64) ([]store.TestFact, error)
}

// Cache keeps, per repository, the bulk of a window's facts that earlier computations read (runs,
// their jobs and test cases, promotions, the commits an environment had received) and brings
// them up to date from the event log before each computation (With): the runs the events written since are
// about are read again, and promotions when one changed; nothing else. It is a memo of the
// store's queries, rebuilt from the log whenever it is dropped, never a record of its own.
// Every answer is the store's own for the same question (TestCacheColdAndWarmGiveTheSameFigures).
// Safe for concurrent use.
type Cache struct {
	// MaxRuns bounds the runs held for all repositories (default 500,000); a repository whose
	// window holds more is read from the store each time.
	MaxRuns int
	// Margin is how many events before the last one seen are read again at each refresh (default
	// eventMargin; negative: none).
	Margin int

	mu    sync.Mutex
	repos map[int64]*runCache
	sizes map[int64]int // runs held per repository, about
	memos map[int64]*gitMemo
	clock int64 // use counter, for dropping the least recently used repository
}

// eventMargin is how many events before the last one seen are read again at each refresh. SQLite
// commits events in ID order; a database that hands out IDs before commit (Postgres) may commit a
// lower ID late, and a transaction in flight is caught by reading a little behind.
const eventMargin = 256

type runCache struct {
	mu    sync.Mutex
	since time.Time // the runs queued at or after since are held
	last  int64     // the events up to here are reflected
	used  int64

	runs  map[int64]store.RunFact
	jobs  map[int64][]store.JobFact  // completed jobs by run
	tests map[int64][]store.TestFact // test cases by run
	// The same in the order of their runs' queue times, so that a window is a suffix; nil when
	// something changed since. Never changed in place: a computation may still read an old one.
	sorted  []store.RunFact
	sortedJ []heldJob
	sortedT []store.TestFact

	// Promotions (by environment) and deployed commits (by environment and bound), read again
	// after any promotion event.
	promos   map[string][]store.PromotionFact
	deployed map[string][]string

	memo *gitMemo // survives refreshes: what it holds never changes
}

// heldJob is a job with its run's queue time, by which the held jobs are sorted.
type heldJob struct {
	store.JobFact
	queued time.Time
}

// order builds the sorted views after a change.
func (rc *runCache) order() {
	if rc.sorted != nil {
		return
	}
	rc.sorted = make([]store.RunFact, 0, len(rc.runs))
	for _, r := range rc.runs {
		rc.sorted = append(rc.sorted, r)
	}
	slices.SortFunc(rc.sorted, func(a, b store.RunFact) int {
		if c := a.QueuedAt.Compare(b.QueuedAt); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	rc.sortedJ, rc.sortedT = nil, nil
	for _, r := range rc.sorted {
		for _, j := range rc.jobs[r.ID] {
			rc.sortedJ = append(rc.sortedJ, heldJob{j, r.QueuedAt})
		}
		rc.sortedT = append(rc.sortedT, rc.tests[r.ID]...)
	}
}

// from is the index of the first element of a sorted view at or after since.
func from[T any](s []T, since time.Time, at func(T) time.Time) int {
	i, _ := slices.BinarySearchFunc(s, since, func(x T, t time.Time) int {
		if at(x).Before(t) {
			return -1
		}
		return 1
	})
	return i
}

// gitMemo returns repository repoID's memo of its mirror's answers.
func (s cachedSource) gitMemo(repoID int64) *gitMemo {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if s.c.memos == nil {
		s.c.memos = map[int64]*gitMemo{}
	}
	m := s.c.memos[repoID]
	if m == nil {
		m = newGitMemo()
		s.c.memos[repoID] = m
	}
	return m
}

// With returns src with the bulk of its facts read through the cache, for one computation: the
// cache is brought up to date from the event log once, at its first question about a repository,
// so that every figure of the computation reads the same moment of the history (and the log is
// not read again for each query). Make one for each computation.
func (c *Cache) With(src CacheSource) Source {
	return cachedSource{CacheSource: src, c: c, fresh: &freshness{repos: map[int64]bool{}}}
}

type cachedSource struct {
	CacheSource
	c     *Cache
	fresh *freshness
}

// freshness is which repositories a source brought up to date already.
type freshness struct {
	mu    sync.Mutex
	repos map[int64]bool
}

// first reports whether this is the source's first use of repository repoID.
func (f *freshness) first(repoID int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.repos[repoID] {
		return false
	}
	f.repos[repoID] = true
	return true
}

// anyWindow asks held for whatever window the cache holds (for facts that do not depend on it).
var anyWindow = time.Unix(1<<40, 0)

// held runs fn on repoID's cache, up to date for a window from since (anyWindow: the one held);
// without one (too many runs, or nothing held for anyWindow) it returns false and the caller
// asks the store.
func (s cachedSource) held(ctx context.Context, repoID int64, since time.Time, fn func(rc *runCache) error) (bool, error) {
	rc, err := s.c.refresh(ctx, s.CacheSource, repoID, since, s.fresh)
	if err != nil || rc == nil {
		return false, err
	}
	defer rc.mu.Unlock()
	return true, fn(rc)
}

func (s cachedSource) MetricsRuns(ctx context.Context, repoID int64, since time.Time) ([]store.RunFact, error) {
	var out []store.RunFact
	ok, err := s.held(ctx, repoID, since, func(rc *runCache) error {
		rc.order()
		// Shared, not copied: the facts are read only.
		out = rc.sorted[from(rc.sorted, since, func(r store.RunFact) time.Time { return r.QueuedAt }):]
		return nil
	})
	if !ok && err == nil {
		return s.CacheSource.MetricsRuns(ctx, repoID, since)
	}
	return out, err
}

// inWindow reports whether run id is held and queued at or after since.
func (rc *runCache) inWindow(id int64, since time.Time) bool {
	r, ok := rc.runs[id]
	return ok && !r.QueuedAt.Before(since)
}

func (s cachedSource) MetricsJobs(ctx context.Context, repoID int64, since time.Time) ([]store.JobFact, error) {
	var out []store.JobFact
	ok, err := s.held(ctx, repoID, since, func(rc *runCache) error {
		rc.order()
		held := rc.sortedJ[from(rc.sortedJ, since, func(j heldJob) time.Time { return j.queued }):]
		out = make([]store.JobFact, len(held))
		for i, j := range held {
			out[i] = j.JobFact
		}
		return nil
	})
	if !ok && err == nil {
		return s.CacheSource.MetricsJobs(ctx, repoID, since)
	}
	return out, err
}

// windowTests returns the held test cases of runs queued at or after since (shared: read only).
func (rc *runCache) windowTests(since time.Time) []store.TestFact {
	rc.order()
	return rc.sortedT[from(rc.sortedT, since, func(t store.TestFact) time.Time { return t.Queued }):]
}

func (s cachedSource) MetricsTestFailures(ctx context.Context, repoID int64, since time.Time) ([]store.TestFact, error) {
	var out []store.TestFact
	ok, err := s.held(ctx, repoID, since, func(rc *runCache) error {
		for _, t := range rc.windowTests(since) {
			if t.Outcome == store.TestFailed || t.Outcome == store.TestError {
				t.Queued = time.Time{} // as the store answers
				out = append(out, t)
			}
		}
		slices.SortFunc(out, func(a, b store.TestFact) int {
			if a.JobID != b.JobID {
				return int(a.JobID - b.JobID)
			}
			return strings.Compare(a.Name, b.Name)
		})
		return nil
	})
	if !ok && err == nil {
		return s.CacheSource.MetricsTestFailures(ctx, repoID, since)
	}
	return out, err
}

func (s cachedSource) MetricsTestJobs(ctx context.Context, repoID int64, since time.Time) ([]int64, error) {
	var out []int64
	ok, err := s.held(ctx, repoID, since, func(rc *runCache) error {
		seen := map[int64]bool{}
		for _, t := range rc.windowTests(since) {
			if !seen[t.JobID] {
				seen[t.JobID] = true
				out = append(out, t.JobID)
			}
		}
		slices.Sort(out)
		return nil
	})
	if !ok && err == nil {
		return s.CacheSource.MetricsTestJobs(ctx, repoID, since)
	}
	return out, err
}

func (s cachedSource) MetricsTestPassed(ctx context.Context, repoID int64, since time.Time, pairs [][2]string) (map[[2]string]bool, error) {
	out := map[[2]string]bool{}
	ok, err := s.held(ctx, repoID, since, func(rc *runCache) error {
		want := map[[2]string]bool{}
		for _, p := range pairs {
			want[p] = true
		}
		names := map[string]bool{}
		for _, p := range pairs {
			names[p[1]] = true
		}
		for _, t := range rc.windowTests(since) {
			if t.Outcome != store.TestPassed || !names[t.Name] {
				continue
			}
			if p := [2]string{rc.runs[t.RunID].SHA, t.Name}; want[p] {
				out[p] = true
			}
		}
		return nil
	})
	if !ok && err == nil {
		return s.CacheSource.MetricsTestPassed(ctx, repoID, since, pairs)
	}
	return out, err
}

func (s cachedSource) MetricsSlowTests(ctx context.Context, repoID int64, since time.Time) ([]store.SlowTestFact, error) {
	var out []store.SlowTestFact
	ok, err := s.held(ctx, repoID, since, func(rc *runCache) error {
		type key struct {
			name string
			week time.Time
		}
		acc := map[key]*store.SlowTestFact{}
		for _, t := range rc.windowTests(since) {
			if t.Outcome != store.TestPassed {
				continue
			}
			k := key{t.Name, store.WeekOf(t.Queued)}
			f := acc[k]
			if f == nil {
				f = &store.SlowTestFact{Name: t.Name, Week: k.week}
				acc[k] = f
			}
			f.N++
			f.Sum += t.Duration
			f.Max = max(f.Max, t.Duration)
		}
		for _, f := range acc {
			out = append(out, *f)
		}
		slices.SortFunc(out, func(a, b store.SlowTestFact) int {
			if c := strings.Compare(a.Name, b.Name); c != 0 {
				return c
			}
			return a.Week.Compare(b.Week)
		})
		return nil
	})
	if !ok && err == nil {
		return s.CacheSource.MetricsSlowTests(ctx, repoID, since)
	}
	return out, err
}

func (s cachedSource) MetricsPromotions(ctx context.Context, repoID int64, env string, since time.Time) ([]store.PromotionFact, error) {
	var out []store.PromotionFact
	ok, err := s.held(ctx, repoID, since, func(rc *runCache) error {
		all, held := rc.promos[env]
		if !held {
			var err error
			if all, err = s.CacheSource.MetricsPromotions(ctx, repoID, env, rc.since); err != nil {
				return err
			}
			rc.promos[env] = all
		}
		for _, p := range all {
			if !p.Updated.Before(since) || !p.Created.Before(since) {
				out = append(out, p)
			}
		}
		return nil
	})
	if !ok && err == nil {
		return s.CacheSource.MetricsPromotions(ctx, repoID, env, since)
	}
	return out, err
}

func (s cachedSource) MetricsDeployedCommits(ctx context.Context, repoID int64, env string, before int64) ([]string, error) {
	var out []string
	ok, err := s.held(ctx, repoID, anyWindow, func(rc *runCache) error {
		k := fmt.Sprintf("%s\x00%d", env, before)
		if got, held := rc.deployed[k]; held {
			out = got
			return nil
		}
		var err error
		if out, err = s.CacheSource.MetricsDeployedCommits(ctx, repoID, env, before); err == nil {
			rc.deployed[k] = out
		}
		return err
	})
	if !ok && err == nil {
		return s.CacheSource.MetricsDeployedCommits(ctx, repoID, env, before)
	}
	return out, err
}

// refresh returns repoID's cache, locked and up to date for a window from since, or nil when the
// repository is read from the store directly (too many runs). A since after the end of time
// means any window held will do.
// With update false the events are not read (the caller brought the cache up to date already).
func (c *Cache) refresh(ctx context.Context, src CacheSource, repoID int64, since time.Time, fresh *freshness) (*runCache, error) {
	c.mu.Lock()
	if c.repos == nil {
		c.repos = map[int64]*runCache{}
	}
	rc := c.repos[repoID]
	if rc == nil {
		rc = &runCache{}
		c.repos[repoID] = rc
	}
	c.clock++
	rc.used = c.clock
	c.mu.Unlock()

	rc.mu.Lock()
	ok := false
	defer func() {
		if !ok {
			rc.mu.Unlock()
		}
	}()
	// Asked under rc.mu, not before: a computation asks for its facts from several goroutines,
	// and one that was told "already brought up to date" must not read rc before the one told
	// "first" has brought it up to date (TestCacheConcurrentFirstUseIsFresh).
	update := fresh.first(repoID)
	if rc.runs == nil && since.Equal(anyWindow) {
		return nil, nil // nothing held to answer from
	}
	if rc.runs != nil && !since.Before(rc.since) && !update {
		ok = true
		return rc, nil
	}
	if rc.runs != nil && !since.Before(rc.since) {
		margin := int64(c.Margin)
		if c.Margin == 0 {
			margin = eventMargin
		}
		events, err := src.MetricsEventsAfter(ctx, repoID, max(0, rc.last-max(0, margin)))
		if err != nil {
			return nil, err
		}
		var touched []int64
		seen := map[int64]bool{}
		last, reset, promos := rc.last, false, false
		for _, e := range events {
			last = max(last, e.ID)
			// The repository made again under a reused ID: nothing read before holds.
			reset = reset || e.ID > rc.last && (e.Kind == store.EventRepoCreated || e.Kind == store.EventRepoDeleted)
			promos = promos || e.ID > rc.last && strings.HasPrefix(e.Kind, "promotion.")
			if e.RunID != 0 && !seen[e.RunID] {
				seen[e.RunID] = true
				touched = append(touched, e.RunID)
			}
		}
		if !reset {
			if err := rc.reread(ctx, src, repoID, touched); err != nil {
				return nil, err
			}
			if promos {
				rc.promos, rc.deployed = map[string][]store.PromotionFact{}, map[string][]string{}
			}
			rc.last = max(rc.last, last)
			ok = true
			return rc, nil
		}
	}
	// A first read, an older window, or a repository made again: everything from since.
	last, err := src.MetricsLastEvent(ctx, repoID)
	if err != nil {
		return nil, err
	}
	runs, err := src.MetricsRuns(ctx, repoID, since)
	if err != nil {
		return nil, err
	}
	jobs, err := src.MetricsJobs(ctx, repoID, since)
	if err != nil {
		return nil, err
	}
	tests, err := src.MetricsTests(ctx, repoID, since)
	if err != nil {
		return nil, err
	}
	rc.since, rc.last, rc.sorted, rc.sortedJ, rc.sortedT = since, last, nil, nil, nil
	rc.runs, rc.jobs, rc.tests = make(map[int64]store.RunFact, len(runs)), map[int64][]store.JobFact{}, map[int64][]store.TestFact{}
	rc.promos, rc.deployed = map[string][]store.PromotionFact{}, map[string][]string{}
	for _, r := range runs {
		rc.runs[r.ID] = r
	}
	for _, j := range jobs {
		rc.jobs[j.RunID] = append(rc.jobs[j.RunID], j)
	}
	for _, t := range tests {
		rc.tests[t.RunID] = append(rc.tests[t.RunID], t)
	}
	normalize(rc.jobs, rc.tests)
	if !c.fits(repoID, len(runs)) {
		rc.runs, rc.jobs, rc.tests = nil, nil, nil
		return nil, nil
	}
	ok = true
	return rc, nil
}

// reread replaces the held runs (with their jobs and tests) that events named since the last
// refresh.
func (rc *runCache) reread(ctx context.Context, src CacheSource, repoID int64, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	runs, err := src.MetricsRunsByID(ctx, repoID, ids)
	if err != nil {
		return err
	}
	jobs, err := src.MetricsJobsOfRuns(ctx, ids)
	if err != nil {
		return err
	}
	tests, err := src.MetricsTestsOfRuns(ctx, ids)
	if err != nil {
		return err
	}
	newRuns := map[int64]store.RunFact{}
	newJobs, newTests := map[int64][]store.JobFact{}, map[int64][]store.TestFact{}
	for _, r := range runs {
		if !r.QueuedAt.Before(rc.since) {
			newRuns[r.ID] = r
		}
	}
	for _, j := range jobs {
		if _, held := newRuns[j.RunID]; held {
			newJobs[j.RunID] = append(newJobs[j.RunID], j)
		}
	}
	for _, t := range tests {
		if _, held := newRuns[t.RunID]; held {
			newTests[t.RunID] = append(newTests[t.RunID], t)
		}
	}
	normalize(newJobs, newTests)
	for _, id := range ids {
		old, had := rc.runs[id]
		now, has := newRuns[id]
		if had == has && old == now && slices.Equal(rc.jobs[id], newJobs[id]) && slices.Equal(rc.tests[id], newTests[id]) {
			continue // read again for the margin, unchanged: the sorted views stand
		}
		delete(rc.runs, id)
		delete(rc.jobs, id)
		delete(rc.tests, id)
		if has {
			rc.runs[id], rc.jobs[id], rc.tests[id] = now, newJobs[id], newTests[id]
		}
		rc.sorted = nil
	}
	return nil
}

// normalize puts each run's jobs and tests in one order, whichever query read them, so that a
// run read again compares equal when nothing changed.
func normalize(jobs map[int64][]store.JobFact, tests map[int64][]store.TestFact) {
	for _, js := range jobs {
		slices.SortFunc(js, func(a, b store.JobFact) int { return int(a.ID - b.ID) })
	}
	for _, ts := range tests {
		slices.SortFunc(ts, func(a, b store.TestFact) int {
			if a.JobID != b.JobID {
				return int(a.JobID - b.JobID)
			}
			return strings.Compare(a.Name, b.Name)
		})
	}
}

// fits makes room for n runs of repoID, dropping the least recently used other repositories
// (a computation still using one keeps its copy); false when n alone is over the bound.
func (c *Cache) fits(repoID int64, n int) bool {
	limit := c.MaxRuns
	if limit <= 0 {
		limit = 500_000
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sizes == nil {
		c.sizes = map[int64]int{}
	}
	if n > limit {
		delete(c.sizes, repoID)
		return false
	}
	c.sizes[repoID] = n
	for {
		total := 0
		var victim int64
		for id, size := range c.sizes {
			total += size
			if id != repoID && (victim == 0 || c.repos[id].used < c.repos[victim].used) {
				victim = id
			}
		}
		if total <= limit || victim == 0 {
			return true
		}
		delete(c.sizes, victim)
		delete(c.repos, victim)
	}
}
