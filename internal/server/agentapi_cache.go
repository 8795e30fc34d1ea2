package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/sluice-ci/sluice/internal/cache"
	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/store"
)

// agentMaxCache bounds one uploaded cache archive.
const agentMaxCache = 10 << 30

// agentCacheRoutes registers the cache part of the agent protocol: agents
// restore and save actions/cache entries in the server's store, so a cache
// saved on one machine is found on every other.
func (s *Server) agentCacheRoutes() {
	s.mux.Handle("POST /api/v1/agent/cache/restore", s.agentAuth(s.agentCacheRestore))
	s.mux.Handle("POST /api/v1/agent/cache/save", s.agentAuth(s.agentCacheSave))
}

// agentCacheScope admits a cache call when agent a is running job jobID and
// scope is that job's repository: an agent reaches the caches of the
// repositories it builds, while it builds them.
func (s *Server) agentCacheScope(w http.ResponseWriter, r *http.Request, a *store.Agent, jobID int64, scope string, saving bool) bool {
	if s.cfg.Cache == nil {
		agentError(w, http.StatusNotImplemented, "the server keeps no caches")
		return false
	}
	j, err := s.cfg.DB.GetJob(r.Context(), jobID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.agentFail(w, r, "reading job", err)
		return false
	}
	if err != nil || j.Status != store.StatusInProgress || j.AgentID == nil || *j.AgentID != a.ID {
		agentError(w, http.StatusForbidden, fmt.Sprintf("agent %s is not running job %d", a.Name, jobID))
		return false
	}
	var spec jobspec.Spec
	if len(j.Spec) > 0 {
		if err := json.Unmarshal(j.Spec, &spec); err != nil {
			s.agentFail(w, r, "reading job spec", err)
			return false
		}
	}
	// The job's caches follow GitHub's scoping: its repository only, its
	// own ref (where it saves), its base and default branches.
	defaultBranch := ""
	if repo, ok := spec.Run.Payload["repository"].(map[string]any); ok {
		defaultBranch, _ = repo["default_branch"].(string)
	}
	if defaultBranch == "" {
		defaultBranch = spec.Run.DefaultBranch
	}
	if defaultBranch == "" {
		defaultBranch = "main" // as the agent's engine assumes
	}
	baseRef := ""
	if pr, ok := spec.Run.Payload["pull_request"].(map[string]any); ok {
		if b, ok := pr["base"].(map[string]any); ok {
			baseRef, _ = b["ref"].(string)
		}
	}
	save, restore := cache.Scopes(cache.ServerIdentity(spec.Run.RepoID, spec.Run.RepoURL), spec.Run.Ref, baseRef, defaultBranch)
	allowed := scope == save
	for _, sc := range restore {
		allowed = allowed || (!saving && scope == sc)
	}
	if !allowed {
		agentError(w, http.StatusForbidden, fmt.Sprintf("job %d (%s at %s) may not use cache scope %q", jobID, spec.Run.Repository, spec.Run.Ref, scope))
		return false
	}
	// A pull request from a fork may read caches but not write them: what
	// it saved would be restored by the repository's own runs.
	if saving && spec.Run.Fork {
		agentError(w, http.StatusForbidden, "jobs of pull requests from forks cannot save caches")
		return false
	}
	return true
}

type agentCacheRestoreRequest struct {
	Job         int64    `json:"job"`
	Scope       string   `json:"scope"`
	Key         string   `json:"key"`
	RestoreKeys []string `json:"restore_keys"`
	Version     string   `json:"version"`
	LookupOnly  bool     `json:"lookup_only"`
}

// agentCacheRestore answers 204 on a miss; on a hit 200 with the matched
// key (query-escaped, as keys are free text) and whether it is the primary
// key in headers, and the entry's archive as the body unless lookup_only.
func (s *Server) agentCacheRestore(w http.ResponseWriter, r *http.Request, a *store.Agent) {
	var req agentCacheRestoreRequest
	if !agentDecode(w, r, &req) {
		return
	}
	if !s.agentCacheScope(w, r, a, req.Job, req.Scope, false) {
		return
	}
	e, archive, err := s.cfg.Cache.Lookup(r.Context(), req.Scope, req.Key, req.RestoreKeys, req.Version, req.LookupOnly)
	if errors.Is(err, cache.ErrInvalid) {
		agentError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err != nil {
		s.agentFail(w, r, "looking up cache", err)
		return
	}
	if e.Key == "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h := w.Header()
	h.Set("X-Cache-Key", url.QueryEscape(e.Key))
	h.Set("X-Cache-Exact", strconv.FormatBool(e.Key == req.Key))
	h.Set("X-Cache-Size", strconv.FormatInt(e.Size, 10))
	if archive == nil {
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return
	}
	defer archive.Close()
	h.Set("Content-Type", "application/gzip")
	h.Set("Content-Length", strconv.FormatInt(e.Size, 10))
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, archive); err != nil {
		s.cfg.Log.Warn("sending cache archive", "scope", req.Scope, "key", e.Key, "err", err)
	}
}

type agentCacheEntry struct {
	Key     string `json:"key"`
	Version string `json:"version"`
	Size    int64  `json:"size"`
}

// agentCacheSave stores the body, a cache archive, as entry ?key= of
// ?scope= and ?version= for the agent's ?job=. Entries are immutable: 409
// when the key is taken.
func (s *Server) agentCacheSave(w http.ResponseWriter, r *http.Request, a *store.Agent) {
	q := r.URL.Query()
	jobID, err := strconv.ParseInt(q.Get("job"), 10, 64)
	if err != nil {
		agentError(w, http.StatusBadRequest, "bad job id "+q.Get("job"))
		return
	}
	scope := q.Get("scope")
	if !s.agentCacheScope(w, r, a, jobID, scope, true) {
		return
	}
	e, err := s.cfg.Cache.Import(r.Context(), scope, q.Get("key"), q.Get("version"), http.MaxBytesReader(w, r.Body, agentMaxCache))
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, cache.ErrExists):
		agentError(w, http.StatusConflict, err.Error())
	case errors.As(err, &tooBig):
		agentError(w, http.StatusRequestEntityTooLarge, err.Error())
	case errors.Is(err, cache.ErrInvalid):
		agentError(w, http.StatusBadRequest, err.Error())
	case err != nil:
		s.agentFail(w, r, "saving cache", err)
	default:
		s.cfg.Log.Info("cache saved", "scope", scope, "key", e.Key, "size", e.Size, "agent", a.Name, "job", jobID)
		agentJSON(w, http.StatusCreated, agentCacheEntry{Key: e.Key, Version: e.Version, Size: e.Size})
	}
}
