package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/artifacts"
	"github.com/sluice-ci/sluice/internal/cache"
	"github.com/sluice-ci/sluice/internal/roots"
)

// newCacheTestEnv is newAgentTestEnv with a server that keeps caches.
func newCacheTestEnv(t *testing.T) *agentTestEnv {
	t.Helper()
	e := newAgentTestEnv(t)
	caches, err := cache.Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	arts, err := artifacts.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if e.srv, err = New(Config{DB: e.db, Keys: e.keys, Scheduler: e.sched, Artifacts: arts, Cache: caches,
		DataDir: t.TempDir(), Log: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(func() {
		e.ts.CloseClientConnections()
		e.ts.Close()
	})
	return e
}

// archiveOf is the cache archive of a workspace holding one file f.
func archiveOf(t *testing.T, content string) []byte {
	t.Helper()
	ws := t.TempDir()
	if err := os.WriteFile(filepath.Join(ws, "f"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := cache.Archive(context.Background(), &buf, []string{"f"}, roots.New(ws, "")); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type cacheAnswer struct {
	Code  int
	Key   string // X-Cache-Key, unescaped
	Exact string // X-Cache-Exact
	F     string // the content of f once the body is extracted; "" for no body
}

// restore asks for a cache and extracts what comes back.
func (e *agentTestEnv) restore(t *testing.T, token string, body map[string]any) cacheAnswer {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", e.ts.URL+"/api/v1/agent/cache/restore", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	key, err := url.QueryUnescape(resp.Header.Get("X-Cache-Key"))
	if err != nil {
		t.Fatal(err)
	}
	a := cacheAnswer{Code: resp.StatusCode, Key: key, Exact: resp.Header.Get("X-Cache-Exact")}
	if resp.StatusCode == http.StatusOK && len(data) > 0 {
		ws := t.TempDir()
		if err := cache.Extract(context.Background(), bytes.NewReader(data), roots.New(ws, "")); err != nil {
			t.Fatalf("extracting the answer: %v", err)
		}
		f, err := os.ReadFile(filepath.Join(ws, "f"))
		if err != nil {
			t.Fatal(err)
		}
		a.F = string(f)
	}
	return a
}

// cacheSpec is a job of repository 7 on branch feat; ownScope its caches.
const (
	cacheSpec    = `{"run":{"repository":"o/r","repo_id":7,"ref":"refs/heads/feat","default_branch":"main"}}`
	ownScope     = "server-repo:7|refs/heads/feat"
	defaultScope = "server-repo:7|refs/heads/main"
)

func savePath(job int64, scope, key, version string) string {
	q := url.Values{"job": {fmt.Sprint(job)}, "scope": {scope}, "key": {key}, "version": {version}}
	return "/api/v1/agent/cache/save?" + q.Encode()
}

func TestAgentCacheSaveAndRestore(t *testing.T) {
	e := newCacheTestEnv(t)
	_, tok := e.register(t, "runner")
	j := e.queue(t, cacheSpec)
	if code, _ := e.claim(t, tok); code != http.StatusOK {
		t.Fatalf("claim: %d", code)
	}
	v := cache.Version([]string{"f"})
	// Saved in this order, so bbb is the newer.
	saves := []struct {
		key, content string
		body         []byte
		want         int
	}{
		{key: "deps-linux-aaa", content: "a", want: http.StatusCreated},
		{key: "deps-linux-bbb", content: "b", want: http.StatusCreated},
		{key: "deps-linux-aaa", content: "again", want: http.StatusConflict},
		{key: "bad", body: []byte("not an archive"), want: http.StatusBadRequest},
		{key: "a,b", content: "x", want: http.StatusBadRequest},
		{key: "ünï cödé key", content: "u", want: http.StatusCreated},
	}
	for _, s := range saves {
		body := s.body
		if body == nil {
			body = archiveOf(t, s.content)
		}
		if code, out := e.do(t, "POST", savePath(j.ID, ownScope, s.key, v), tok, body); code != s.want {
			t.Errorf("save %s: %d %s, want %d", s.key, code, out, s.want)
		}
	}
	tests := []struct {
		name string
		body map[string]any
		want cacheAnswer
	}{
		{"exact hit", map[string]any{"key": "deps-linux-aaa", "restore_keys": []string{"deps-"}},
			cacheAnswer{Code: 200, Key: "deps-linux-aaa", Exact: "true", F: "a"}},
		{"restore-key prefix takes the newest", map[string]any{"key": "deps-linux-zzz", "restore_keys": []string{"nope", "deps-linux-"}},
			cacheAnswer{Code: 200, Key: "deps-linux-bbb", Exact: "false", F: "b"}},
		{"key needing escapes", map[string]any{"key": "ünï cödé key"},
			cacheAnswer{Code: 200, Key: "ünï cödé key", Exact: "true", F: "u"}},
		{"lookup only", map[string]any{"key": "deps-linux-aaa", "lookup_only": true},
			cacheAnswer{Code: 200, Key: "deps-linux-aaa", Exact: "true"}},
		{"miss", map[string]any{"key": "nope", "restore_keys": []string{"zzz"}}, cacheAnswer{Code: 204}},
		{"other version", map[string]any{"key": "deps-linux-aaa", "version": "other"}, cacheAnswer{Code: 204}},
		{"bad key", map[string]any{"key": "a,b"}, cacheAnswer{Code: 400}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := map[string]any{"job": j.ID, "scope": ownScope, "version": v}
			for k, val := range tt.body {
				body[k] = val
			}
			if diff := cmp.Diff(tt.want, e.restore(t, tok, body)); diff != "" {
				t.Errorf("restore (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAgentCacheNeedsTheJob(t *testing.T) {
	e := newCacheTestEnv(t)
	_, owner := e.register(t, "owner")
	_, other := e.register(t, "other")
	j := e.queue(t, cacheSpec)
	if code, _ := e.claim(t, owner); code != http.StatusOK {
		t.Fatalf("claim: %d", code)
	}
	v := cache.Version([]string{"f"})
	if code, out := e.do(t, "POST", savePath(j.ID, ownScope, "k", v), owner, archiveOf(t, "x")); code != http.StatusCreated {
		t.Fatalf("owner's save: %d %s", code, out)
	}
	tests := []struct {
		name  string
		token string
		job   int64
		scope string
		want  int
	}{
		{"no token", "", j.ID, ownScope, http.StatusUnauthorized},
		{"another agent", other, j.ID, ownScope, http.StatusForbidden},
		{"another repository", owner, j.ID, "server-repo:8|refs/heads/feat", http.StatusForbidden},
		{"the repository by name", owner, j.ID, "o/r", http.StatusForbidden},
		{"a sibling branch", owner, j.ID, "server-repo:7|refs/heads/other", http.StatusForbidden},
		{"unknown job", owner, j.ID + 100, ownScope, http.StatusForbidden},
		{"the owner", owner, j.ID, ownScope, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.restore(t, tt.token, map[string]any{"job": tt.job, "scope": tt.scope, "key": "k", "version": v})
			if got.Code != tt.want {
				t.Errorf("restore: %d, want %d", got.Code, tt.want)
			}
			want := tt.want
			if want == http.StatusOK {
				want = http.StatusCreated
			}
			if code, out := e.do(t, "POST", savePath(tt.job, tt.scope, "k-"+tt.name, v), tt.token, archiveOf(t, "x")); code != want {
				t.Errorf("save: %d %s, want %d", code, out, want)
			}
		})
	}
	// Once the job is over the agent has no business with the caches.
	if code, _ := e.do(t, "POST", fmt.Sprintf("/api/v1/agent/jobs/%d/complete", j.ID), owner, map[string]any{"conclusion": "success"}); code != http.StatusOK {
		t.Fatalf("complete: %d", code)
	}
	if got := e.restore(t, owner, map[string]any{"job": j.ID, "scope": ownScope, "key": "k", "version": v}); got.Code != http.StatusForbidden {
		t.Errorf("restore after the job completed: %d, want 403", got.Code)
	}
	if code, _ := e.do(t, "POST", savePath(j.ID, ownScope, "late", v), owner, archiveOf(t, "x")); code != http.StatusForbidden {
		t.Errorf("save after the job completed: %d, want 403", code)
	}
}

func TestAgentCacheWithoutAStore(t *testing.T) {
	e := newAgentTestEnv(t)
	_, tok := e.register(t, "runner")
	j := e.queue(t, cacheSpec)
	if code, _ := e.claim(t, tok); code != http.StatusOK {
		t.Fatalf("claim: %d", code)
	}
	got := e.restore(t, tok, map[string]any{"job": j.ID, "scope": ownScope, "key": "k", "version": "v"})
	if got.Code != http.StatusNotImplemented {
		t.Errorf("restore: %d, want 501", got.Code)
	}
}

// TestAgentCacheDefaultBranch: a job reads its default branch's caches
// (GitHub's rule) but cannot write them, nor read a sibling branch's.
func TestAgentCacheDefaultBranch(t *testing.T) {
	e := newCacheTestEnv(t)
	_, owner := e.register(t, "owner")
	j := e.queue(t, cacheSpec)
	if code, _ := e.claim(t, owner); code != http.StatusOK {
		t.Fatalf("claim: %d", code)
	}
	v := cache.Version([]string{"f"})
	if code, _ := e.do(t, "POST", savePath(j.ID, defaultScope, "k", v), owner, archiveOf(t, "x")); code != http.StatusForbidden {
		t.Errorf("saving into the default branch's scope from branch feat: %d, want 403", code)
	}
	if got := e.restore(t, owner, map[string]any{"job": j.ID, "scope": defaultScope, "key": "k", "version": v}); got.Code != http.StatusNoContent {
		t.Errorf("restoring from the default branch's scope: %d, want 204 (allowed, a miss)", got.Code)
	}
	if got := e.restore(t, owner, map[string]any{"job": j.ID, "scope": "server-repo:7|refs/heads/feat-b", "key": "k", "version": v}); got.Code != http.StatusForbidden {
		t.Errorf("restoring from a sibling branch's scope: %d, want 403", got.Code)
	}
}
