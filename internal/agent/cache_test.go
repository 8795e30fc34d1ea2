package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/cache"
	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/roots"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

func TestCacheClientRoundTrip(t *testing.T) {
	h := newHarness(t)
	caches, err := cache.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	// The harness's server keeps no caches; this one, on the same store, does.
	srv, err := server.New(server.Config{DB: h.db, Keys: h.keys, Scheduler: h.sched, Artifacts: h.arts, Cache: caches,
		DataDir: t.TempDir(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	_, tok, err := Register(context.Background(), ts.URL, h.admin, "cacher", nil, 1)
	if err != nil {
		t.Fatal(err)
	}

	ws := t.TempDir()
	if err := os.WriteFile(filepath.Join(ws, "f"), []byte("cached"), 0o644); err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	if err := cache.Archive(context.Background(), &archive, []string{"f"}, roots.New(ws, "")); err != nil {
		t.Fatal(err)
	}
	const key = "ünï key/1"
	type result struct {
		miss, hit, lookup *CacheHit
		saved             int64
		again, foreign    error
		restored          string
		err               error
	}
	results := make(chan result, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Server: ts.URL, Token: tok, Name: "cacher", Parallel: 1, Log: slog.New(h.logs),
			Run: func(ctx context.Context, l Lease, emit func(jobspec.LogLine), step func(jobspec.Step)) (string, map[string]string, string) {
				var res result
				defer func() { results <- res }()
				q := CacheQuery{Job: l.Job.ID, Scope: "server-repo:3|refs/heads/main", Key: key, Version: "v"}
				if res.miss, res.err = l.Server.RestoreCache(ctx, q); res.err != nil {
					return store.ConclusionFailure, nil, ""
				}
				if res.saved, res.err = l.Server.SaveCache(ctx, l.Job.ID, "server-repo:3|refs/heads/main", key, "v", bytes.NewReader(archive.Bytes())); res.err != nil {
					return store.ConclusionFailure, nil, ""
				}
				_, res.again = l.Server.SaveCache(ctx, l.Job.ID, "server-repo:3|refs/heads/main", key, "v", bytes.NewReader(archive.Bytes()))
				_, res.foreign = l.Server.RestoreCache(ctx, CacheQuery{Job: l.Job.ID, Scope: "server-repo:4|refs/heads/main", Key: key, Version: "v"})
				if res.lookup, res.err = l.Server.RestoreCache(ctx, CacheQuery{Job: l.Job.ID, Scope: "server-repo:3|refs/heads/main", Key: "ünï",
					Version: "v", LookupOnly: true}); res.err != nil {
					return store.ConclusionFailure, nil, ""
				}
				if res.hit, res.err = l.Server.RestoreCache(ctx, q); res.err != nil || res.hit == nil {
					return store.ConclusionFailure, nil, ""
				}
				defer res.hit.Archive.Close()
				into := t.TempDir()
				if res.err = cache.Extract(ctx, res.hit.Archive, roots.New(into, "")); res.err != nil {
					return store.ConclusionFailure, nil, ""
				}
				b, err := os.ReadFile(filepath.Join(into, "f"))
				res.restored, res.err = string(b), err
				res.hit.Archive = nil // compared below without the stream
				return store.ConclusionSuccess, nil, ""
			}})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	h.queueJob("cache", nil, `{"run":{"repository":"o/r","repo_id":3,"ref":"refs/heads/main"}}`)
	res := recv(t, results, "the cache round trip")
	if res.err != nil {
		t.Fatalf("round trip: %v", res.err)
	}
	if res.miss != nil {
		t.Errorf("restore before any save = %+v, want a miss", res.miss)
	}
	if res.saved != int64(archive.Len()) {
		t.Errorf("saved %d bytes, want %d", res.saved, archive.Len())
	}
	if !errors.Is(res.again, cache.ErrExists) {
		t.Errorf("second save: %v, want cache.ErrExists", res.again)
	}
	if !isStatus(res.foreign, 403) {
		t.Errorf("restore from another repository: %v, want 403", res.foreign)
	}
	size := int64(archive.Len())
	if diff := cmp.Diff(&CacheHit{Key: key, Exact: false, Size: size}, res.lookup); diff != "" {
		t.Errorf("prefix lookup (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&CacheHit{Key: key, Exact: true, Size: size}, res.hit); diff != "" {
		t.Errorf("hit (-want +got):\n%s", diff)
	}
	if res.restored != "cached" {
		t.Errorf("restored f = %q, want cached", res.restored)
	}
}
