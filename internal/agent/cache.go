package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/sluice-ci/sluice/internal/cache"
)

// CacheQuery asks the server for an actions/cache entry; the server
// matches keys as a local cache store does.
type CacheQuery struct {
	Job         int64    `json:"job"`   // the job the agent runs, which grants access
	Scope       string   `json:"scope"` // the job's repository
	Key         string   `json:"key"`
	RestoreKeys []string `json:"restore_keys,omitempty"`
	Version     string   `json:"version"`
	LookupOnly  bool     `json:"lookup_only,omitempty"`
}

// CacheHit is an entry the server found.
type CacheHit struct {
	Key   string // the matched key
	Exact bool   // the primary key itself
	Size  int64  // bytes of the archive
	// Archive is the entry's gzipped tar, nil for a lookup only; the
	// caller closes it.
	Archive io.ReadCloser
}

// RestoreCache looks up a cache entry in the server's store. A miss is a
// nil hit and a nil error.
func (c *Client) RestoreCache(ctx context.Context, q CacheQuery) (*CacheHit, error) {
	b, err := json.Marshal(q)
	if err != nil {
		return nil, fmt.Errorf("encoding cache query: %w", err)
	}
	resp, err := c.send(ctx, http.MethodPost, "/api/v1/agent/cache/restore", "application/json", bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("restoring cache %q: %w", q.Key, err)
	}
	if resp.StatusCode == http.StatusNoContent {
		resp.Body.Close()
		return nil, nil
	}
	key, kerr := url.QueryUnescape(resp.Header.Get("X-Cache-Key"))
	exact, xerr := strconv.ParseBool(resp.Header.Get("X-Cache-Exact"))
	size, serr := strconv.ParseInt(resp.Header.Get("X-Cache-Size"), 10, 64)
	if err := errors.Join(kerr, xerr, serr); err != nil || key == "" {
		resp.Body.Close()
		return nil, fmt.Errorf("restoring cache %q: the server's answer lacks the matched entry: %v", q.Key, err)
	}
	hit := &CacheHit{Key: key, Exact: exact, Size: size}
	if q.LookupOnly {
		resp.Body.Close()
		return hit, nil
	}
	hit.Archive = resp.Body
	return hit, nil
}

// SaveCache sends archive (a gzipped tar as cache.Archive writes it) to be
// entry key of scope and version in the server's store, for job. A key that
// is taken gives cache.ErrExists: entries are immutable.
func (c *Client) SaveCache(ctx context.Context, job int64, scope, key, version string, archive io.Reader) (size int64, err error) {
	q := url.Values{"job": {strconv.FormatInt(job, 10)}, "scope": {scope}, "key": {key}, "version": {version}}
	resp, err := c.send(ctx, http.MethodPost, "/api/v1/agent/cache/save?"+q.Encode(), "application/gzip", archive)
	if errors.Is(err, ErrLeaseLost) {
		// This endpoint's only 409: the key has an entry already.
		return 0, fmt.Errorf("saving cache %q: %w", key, cache.ErrExists)
	}
	if err != nil {
		return 0, fmt.Errorf("saving cache %q: %w", key, err)
	}
	defer resp.Body.Close()
	var out struct {
		Size int64 `json:"size"`
	}
	if err := decodeJSON(resp.Body, &out); err != nil {
		return 0, fmt.Errorf("saving cache %q: %w", key, err)
	}
	return out.Size, nil
}
