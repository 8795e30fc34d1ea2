package metrics

import (
	"context"
	"slices"
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
}

// Cache keeps, per repository, the runs and jobs earlier computations read (the bulk of a window's
// facts), and brings them up to date from the event log before each use: the runs the events
// written since are about are read again, nothing else. It is a memo of the store's queries,
// rebuilt from the log whenever it is dropped, never a record of its own. Safe for concurrent use.
type Cache struct {
	// MaxRuns bounds the runs held for all repositories (default 500,000); a repository whose
	// window holds more is read from the store each time.
	MaxRuns int
	// Margin is how many events before the last one seen are read again at each refresh (default
	// eventMargin; negative: none).
	Margin int

	mu    sync.Mutex
	repos map[int64]*runCache
	sizes map[int64]int // runs held per repository
	clock int64         // use counter, for dropping the least recently used repository
}

// eventMargin is how many events before the last one seen are read again at each refresh. SQLite
// commits events in ID order; a database that hands out IDs before commit (Postgres) may commit a
// lower ID late, and a transaction in flight is caught by reading a little behind.
const eventMargin = 256

type runCache struct {
	mu    sync.Mutex
	since time.Time // runs queued at or after since are held
	last  int64     // the events up to here are reflected
	used  int64
	runs  map[int64]store.RunFact
	jobs  map[int64][]store.JobFact // completed jobs by run
}

// With returns src with its runs and jobs read through the cache.
func (c *Cache) With(src CacheSource) Source { return cachedSource{CacheSource: src, c: c} }

type cachedSource struct {
	CacheSource
	c *Cache
}

func (s cachedSource) MetricsRuns(ctx context.Context, repoID int64, since time.Time) ([]store.RunFact, error) {
	rc, err := s.c.refresh(ctx, s.CacheSource, repoID, since)
	if err != nil || rc == nil {
		if err != nil {
			return nil, err
		}
		return s.CacheSource.MetricsRuns(ctx, repoID, since)
	}
	defer rc.mu.Unlock()
	out := make([]store.RunFact, 0, len(rc.runs))
	for _, r := range rc.runs {
		if !r.QueuedAt.Before(since) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b store.RunFact) int {
		if c := a.QueuedAt.Compare(b.QueuedAt); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	return out, nil
}

func (s cachedSource) MetricsJobs(ctx context.Context, repoID int64, since time.Time) ([]store.JobFact, error) {
	rc, err := s.c.refresh(ctx, s.CacheSource, repoID, since)
	if err != nil || rc == nil {
		if err != nil {
			return nil, err
		}
		return s.CacheSource.MetricsJobs(ctx, repoID, since)
	}
	defer rc.mu.Unlock()
	var out []store.JobFact
	for id, js := range rc.jobs {
		if r, ok := rc.runs[id]; ok && !r.QueuedAt.Before(since) {
			out = append(out, js...)
		}
	}
	slices.SortFunc(out, func(a, b store.JobFact) int { return int(a.ID - b.ID) })
	return out, nil
}

// refresh returns repoID's cache, locked and up to date for a window from since, or nil when the
// repository is read from the store directly (too many runs).
func (c *Cache) refresh(ctx context.Context, src CacheSource, repoID int64, since time.Time) (*runCache, error) {
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
		last, reset := rc.last, false
		for _, e := range events {
			last = max(last, e.ID)
			// The repository made again under a reused ID: nothing read before holds.
			reset = reset || e.ID > rc.last && (e.Kind == store.EventRepoCreated || e.Kind == store.EventRepoDeleted)
			if e.RunID != 0 && !seen[e.RunID] {
				seen[e.RunID] = true
				touched = append(touched, e.RunID)
			}
		}
		if !reset {
			if err := rc.reread(ctx, src, repoID, touched); err != nil {
				return nil, err
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
	rc.since, rc.last, rc.runs, rc.jobs = since, last, make(map[int64]store.RunFact, len(runs)), map[int64][]store.JobFact{}
	for _, r := range runs {
		rc.runs[r.ID] = r
	}
	for _, j := range jobs {
		rc.jobs[j.RunID] = append(rc.jobs[j.RunID], j)
	}
	if !c.fits(repoID, len(runs)) {
		rc.runs, rc.jobs = nil, nil
		return nil, nil
	}
	ok = true
	return rc, nil
}

// reread replaces the held runs (and their jobs) that events named since the last refresh.
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
	for _, id := range ids {
		delete(rc.runs, id)
		delete(rc.jobs, id)
	}
	for _, r := range runs {
		if !r.QueuedAt.Before(rc.since) {
			rc.runs[r.ID] = r
		}
	}
	for _, j := range jobs {
		if _, held := rc.runs[j.RunID]; held {
			rc.jobs[j.RunID] = append(rc.jobs[j.RunID], j)
		}
	}
	return nil
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
