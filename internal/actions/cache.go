package actions

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sluice-ci/sluice/internal/cache"
	"github.com/sluice-ci/sluice/internal/roots"
)

// defaultCacheBytes bounds the local cache store; least recently used
// entries go first. GitHub gives a repository 10 GB.
const defaultCacheBytes = 10 << 30

// CacheBackend keeps actions/cache entries. A *cache.Store, the machine's
// own store, is one; a job on a remote agent uses the server's store
// through another, so every agent sees the caches of every other.
type CacheBackend interface {
	// Restore finds and extracts an entry as (*cache.Store).Restore does.
	// Files go only into jr's directories.
	Restore(ctx context.Context, scope, key string, restoreKeys []string, version string, lookupOnly bool, jr roots.Set) (matched string, exact bool, err error)
	// Save archives paths (inside jr's directories) as an entry as
	// (*cache.Store).Save does, failing with cache.ErrExists when the key
	// is taken.
	Save(ctx context.Context, scope, key string, paths []string, version string, jr roots.Set) (cache.Entry, error)
}

var _ CacheBackend = (*cache.Store)(nil)

// cacheBackend is the step's cache backend: the one the engine was given,
// else the store under sluice's state directory.
func cacheBackend(c StepContext) (CacheBackend, error) {
	if c.Cache != nil {
		return c.Cache, nil
	}
	return cache.Open(filepath.Join(c.StateDir, "cache", "actions"), defaultCacheBytes)
}

// lines splits a multi-line input into its non-empty trimmed lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// cacheScopes are the step's cache scopes: the repository identity (its
// name when the engine gave none) and the run's refs.
func cacheScopes(c StepContext) (save string, restore []string) {
	id := c.RepoIdentity
	if id == "" {
		id = "name:" + c.Repository
	}
	def := ""
	if c.DefaultBranch != nil {
		def = c.DefaultBranch()
	}
	return cache.Scopes(id, c.Ref, c.BaseRef, def)
}

func cacheInputs(with map[string]string) (key string, paths []string, err error) {
	key = strings.TrimSpace(with["key"])
	if key == "" {
		return "", nil, errors.New("input key is required")
	}
	paths = lines(with["path"])
	if len(paths) == 0 {
		return "", nil, errors.New("input path is required: the files or directories to cache")
	}
	return key, paths, nil
}

// restoreCache is the restore half of actions/cache and actions/cache/restore.
func restoreCache(ctx context.Context, s Step, with map[string]string) (map[string]string, string, []string, error) {
	key, paths, err := cacheInputs(with)
	if err != nil {
		return nil, "", nil, err
	}
	c := s.Context()
	store, err := cacheBackend(c)
	if err != nil {
		return nil, "", nil, err
	}
	version := cache.Version(paths)
	lookupOnly := with["lookup-only"] == "true"
	_, scopes := cacheScopes(c)
	var matched string
	var exact bool
	// The run's own ref first, then its base and default branches, each
	// with the primary key and every restore key before the next.
	for _, scope := range scopes {
		if matched, exact, err = store.Restore(ctx, scope, key, lines(with["restore-keys"]), version, lookupOnly, c.Roots); err != nil || matched != "" {
			break
		}
	}
	if err != nil {
		// As on GitHub, a cache that cannot be reached is a miss, not a
		// failed step; invalid keys and paths still fail it.
		if errors.Is(err, cache.ErrInvalid) {
			return nil, "", nil, fmt.Errorf("restoring cache: %w", err)
		}
		s.Warn(fmt.Sprintf("Failed to restore the cache: %v", err))
		matched, exact = "", false
	}
	outs := map[string]string{"cache-hit": fmt.Sprint(exact), "cache-primary-key": key, "cache-matched-key": matched}
	switch {
	case matched == "":
		s.Log(fmt.Sprintf("Cache not found for input keys: %s", strings.Join(append([]string{key}, lines(with["restore-keys"])...), ", ")))
		if with["fail-on-cache-miss"] == "true" {
			return nil, "", nil, fmt.Errorf("failed to restore cache entry: no cache for key %s (fail-on-cache-miss)", key)
		}
		outs["cache-hit"] = "false"
	case lookupOnly:
		s.Log(fmt.Sprintf("Cache found for key %s (lookup only: nothing restored)", matched))
	default:
		s.Log(fmt.Sprintf("Cache restored from key: %s", matched))
	}
	return outs, key, paths, nil
}

// Cache is actions/cache: restore now, save in a post step when the job
// succeeded and the primary key was not an exact hit.
func Cache(ctx context.Context, s Step, with map[string]string) (map[string]string, error) {
	outs, key, paths, err := restoreCache(ctx, s, with)
	if err != nil {
		return nil, err
	}
	if outs["cache-hit"] == "true" || with["lookup-only"] == "true" {
		return outs, nil
	}
	s.AddPost(Post{Name: "Cache " + key, Run: func(ctx context.Context, s Step) error {
		return saveCache(ctx, s, key, paths)
	}})
	return outs, nil
}

// CacheRestore is actions/cache/restore.
func CacheRestore(ctx context.Context, s Step, with map[string]string) (map[string]string, error) {
	outs, _, _, err := restoreCache(ctx, s, with)
	return outs, err
}

// CacheSave is actions/cache/save.
func CacheSave(ctx context.Context, s Step, with map[string]string) (map[string]string, error) {
	key, paths, err := cacheInputs(with)
	if err != nil {
		return nil, err
	}
	return nil, saveCache(ctx, s, key, paths)
}

func saveCache(ctx context.Context, s Step, key string, paths []string) error {
	c := s.Context()
	store, err := cacheBackend(c)
	if err != nil {
		return err
	}
	scope, _ := cacheScopes(c)
	e, err := store.Save(ctx, scope, key, paths, cache.Version(paths), c.Roots)
	if errors.Is(err, cache.ErrExists) {
		s.Log(fmt.Sprintf("Cache with key %s already exists; not saving again", key))
		return nil
	}
	if err != nil {
		return fmt.Errorf("saving cache: %w", err)
	}
	s.Log(fmt.Sprintf("Cache saved with key: %s (%d bytes)", key, e.Size))
	return nil
}
