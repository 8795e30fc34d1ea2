package jobrunner

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/sluice-ci/sluice/internal/actions"
	"github.com/sluice-ci/sluice/internal/agent"
	"github.com/sluice-ci/sluice/internal/cache"
	"github.com/sluice-ci/sluice/internal/roots"
)

// cacheFor is where the job's actions/cache entries go: the server's store
// itself when the agent shares its machine, else the server's store over
// the agent API; nil (the engine's store under StateDir) when the job has
// no server.
func cacheFor(cfg Config, lease agent.Lease, dir string) actions.CacheBackend {
	switch {
	case cfg.Cache != nil:
		return cfg.Cache
	case lease.Server != nil:
		return &remoteCache{server: lease.Server, job: lease.Job.ID, tmp: dir}
	}
	return nil
}

// remoteCache is the server's cache store seen from a remote agent. The
// archives are made and unpacked here by the cache package, exactly as a
// local store makes and unpacks them; the server matches keys.
type remoteCache struct {
	server *agent.Client
	job    int64
	tmp    string // where an archive waits for its upload
}

func (r *remoteCache) Restore(ctx context.Context, scope, key string, restoreKeys []string, version string, lookupOnly bool, jr roots.Set) (string, bool, error) {
	hit, err := r.server.RestoreCache(ctx, agent.CacheQuery{Job: r.job, Scope: scope, Key: key, RestoreKeys: restoreKeys,
		Version: version, LookupOnly: lookupOnly})
	if err != nil || hit == nil {
		return "", false, err
	}
	if hit.Archive == nil {
		return hit.Key, hit.Exact, nil
	}
	defer hit.Archive.Close()
	if err := cache.Extract(ctx, hit.Archive, jr); err != nil {
		return "", false, fmt.Errorf("restoring cache %q: %w", hit.Key, err)
	}
	return hit.Key, hit.Exact, nil
}

func (r *remoteCache) Save(ctx context.Context, scope, key string, paths []string, version string, jr roots.Set) (cache.Entry, error) {
	// A taken key is found before archiving, which can be long, as a local
	// store does; the server still decides a race.
	hit, err := r.server.RestoreCache(ctx, agent.CacheQuery{Job: r.job, Scope: scope, Key: key, Version: version, LookupOnly: true})
	if err != nil {
		return cache.Entry{}, err
	}
	if hit != nil && hit.Exact {
		return cache.Entry{}, fmt.Errorf("saving cache %q: %w", key, cache.ErrExists)
	}
	f, err := os.CreateTemp(r.tmp, "cache-*.tar.gz")
	if err != nil {
		return cache.Entry{}, fmt.Errorf("saving cache %q: %w", key, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := cache.Archive(ctx, f, paths, jr); err != nil {
		return cache.Entry{}, fmt.Errorf("saving cache %q: %w", key, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return cache.Entry{}, fmt.Errorf("saving cache %q: %w", key, err)
	}
	size, err := r.server.SaveCache(ctx, r.job, scope, key, version, f)
	if err != nil {
		return cache.Entry{}, err
	}
	return cache.Entry{Key: key, Version: version, Size: size}, nil
}

var _ actions.CacheBackend = (*remoteCache)(nil)
