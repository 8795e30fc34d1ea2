package server

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/sluice-ci/sluice/internal/store"
)

//go:embed openapi.json
var apiOpenAPI []byte

// apiMaxBody bounds JSON request bodies of the API (webhooks have their own).
const apiMaxBody = 1 << 20

// apiRoutes registers the JSON API, webhooks, metrics, health and badges.
func (s *Server) apiRoutes() {
	const (
		R = store.ScopeRead
		W = store.ScopeWrite
		A = store.ScopeAdmin
	)
	m := s.mux
	m.HandleFunc("GET /healthz", s.apiHealth)
	m.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(apiOpenAPI)
	})
	m.Handle("GET /metrics", s.metricsHandler())
	m.HandleFunc("GET /badge/{file}", s.apiBadge)

	m.HandleFunc("POST /hooks/{forge}", s.apiHook)

	m.HandleFunc("POST /api/v1/repos", s.require(A, s.apiCreateRepo))
	m.HandleFunc("GET /api/v1/repos", s.require(R, s.apiListRepos))
	m.HandleFunc("GET /api/v1/repos/{name}", s.require(R, s.apiGetRepo))
	m.HandleFunc("DELETE /api/v1/repos/{name}", s.require(A, s.apiDeleteRepo))
	m.HandleFunc("POST /api/v1/repos/{name}/dispatch", s.require(W, s.apiDispatch))

	m.HandleFunc("GET /api/v1/runs", s.require(R, s.apiListRuns))
	m.HandleFunc("GET /api/v1/runs/{id}", s.require(R, s.apiGetRun))
	m.HandleFunc("POST /api/v1/runs/{id}/cancel", s.require(W, s.apiCancelRun))
	m.HandleFunc("POST /api/v1/runs/{id}/approve", s.require(W, s.apiApproveRun))
	m.HandleFunc("POST /api/v1/runs/{id}/rerun", s.require(W, s.apiRerun))
	m.HandleFunc("GET /api/v1/runs/{id}/events", s.require(R, s.apiRunEvents))
	m.HandleFunc("GET /api/v1/jobs/{id}/logs", s.require(R, s.apiJobLogs))
	m.HandleFunc("GET /api/v1/jobs/{id}/logs/stream", s.require(R, s.apiJobLogStream))

	m.HandleFunc("GET /api/v1/secrets", s.require(R, s.apiListSecrets))
	m.HandleFunc("PUT /api/v1/secrets/{secret}", s.require(W, s.apiPutSecret))
	m.HandleFunc("DELETE /api/v1/secrets/{secret}", s.require(W, s.apiDeleteSecret))
	m.HandleFunc("GET /api/v1/repos/{name}/secrets", s.require(R, s.apiListSecrets))
	for _, kind := range []string{"secrets", "vars"} {
		base := "/api/v1/repos/{name}/environments/{env}/" + kind
		m.HandleFunc("GET "+base, s.require(R, s.apiListEnvValues))
		m.HandleFunc("PUT "+base+"/{value}", s.require(W, s.apiPutEnvValue))
		m.HandleFunc("DELETE "+base+"/{value}", s.require(W, s.apiDeleteEnvValue))
	}
	// The repository's own variables (no environment): every run's vars context.
	m.HandleFunc("GET /api/v1/repos/{name}/vars", s.require(R, s.apiListEnvValues))
	m.HandleFunc("PUT /api/v1/repos/{name}/vars/{value}", s.require(W, s.apiPutEnvValue))
	m.HandleFunc("DELETE /api/v1/repos/{name}/vars/{value}", s.require(W, s.apiDeleteEnvValue))
	m.HandleFunc("PUT /api/v1/repos/{name}/secrets/{secret}", s.require(W, s.apiPutSecret))
	m.HandleFunc("DELETE /api/v1/repos/{name}/secrets/{secret}", s.require(W, s.apiDeleteSecret))

	m.HandleFunc("POST /api/v1/tokens", s.require(A, s.apiCreateToken))
	m.HandleFunc("GET /api/v1/tokens", s.require(A, s.apiListTokens))
	m.HandleFunc("DELETE /api/v1/tokens/{id}", s.require(A, s.apiDeleteToken))
	m.HandleFunc("GET /api/v1/identities/logins", s.require(A, s.apiListLogins))
	m.HandleFunc("POST /api/v1/identities/{name}/logins", s.require(A, s.apiLinkLogin))

	m.HandleFunc("GET /api/v1/repos/{name}/releases", s.require(R, s.apiListReleases))
	m.HandleFunc("GET /api/v1/releases/{id}", s.require(R, s.apiGetRelease))
	m.HandleFunc("POST /api/v1/releases/{id}/reject", s.require(W, s.apiRejectRelease))
	m.HandleFunc("GET /api/v1/runs/{id}/release", s.require(R, s.apiRunRelease))
	m.HandleFunc("GET /api/v1/repos/{name}/environments", s.require(R, s.apiListEnvironments))
	m.HandleFunc("GET /api/v1/repos/{name}/metrics", s.require(R, s.apiRepoMetrics))
	m.HandleFunc("GET /api/v1/repos/{name}/environments/{env}/deployments", s.require(R, s.apiListDeployments))
	m.HandleFunc("POST /api/v1/repos/{name}/promotions", s.require(W, s.apiPromote))
	m.HandleFunc("POST /api/v1/repos/{name}/environments/{env}/rollback", s.require(W, s.apiRollback))
	m.HandleFunc("GET /api/v1/promotions/{id}", s.require(R, s.apiGetPromotion))
	m.HandleFunc("POST /api/v1/promotions/{id}/approve", s.require(W, s.apiDecide(true)))
	m.HandleFunc("POST /api/v1/promotions/{id}/reject", s.require(W, s.apiDecide(false)))
	m.HandleFunc("GET /api/v1/releases/{id}/repro", s.require(R, s.apiListReproChecks))
	m.HandleFunc("POST /api/v1/releases/{id}/repro", s.require(W, s.apiAddReproCheck))

	m.HandleFunc("GET /api/v1/repos/{name}/deps", s.require(R, s.apiDeps))
	m.HandleFunc("POST /api/v1/repos/{name}/deps/update", s.require(W, s.apiDepsUpdate))
	m.HandleFunc("GET /api/v1/queue", s.require(R, s.apiQueue))
	m.HandleFunc("GET /api/v1/queue/labels", s.require(R, s.apiQueueByLabels))
	m.HandleFunc("GET /api/v1/agents", s.require(R, s.apiListAgents))
	m.HandleFunc("DELETE /api/v1/agents/{id}", s.require(A, s.apiDeleteAgent))
	m.HandleFunc("POST /api/v1/agents/{id}/drain", s.require(A, s.apiDrainAgent))
}

func (s *Server) apiHealth(w http.ResponseWriter, r *http.Request) {
	if _, err := s.cfg.DB.SchemaVersion(r.Context()); err != nil {
		apiError(w, http.StatusServiceUnavailable, "database unavailable")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
}

// apiJSON writes v as the JSON response with status code.
func apiJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// apiError writes {"error": msg} with status code.
func apiError(w http.ResponseWriter, code int, msg string) {
	apiJSON(w, code, map[string]string{"error": msg})
}

// apiStoreError maps a store error to a response: not found 404, conflict
// 409, anything else a logged 500 that does not leak internals.
func (s *Server) apiStoreError(w http.ResponseWriter, err error, what string) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		apiError(w, http.StatusNotFound, what+" not found")
	case errors.Is(err, store.ErrConflict):
		apiError(w, http.StatusConflict, what+" already exists")
	default:
		s.cfg.Log.Error("api: "+what, "err", err)
		apiError(w, http.StatusInternalServerError, "internal error while handling "+what)
	}
}

// apiDecode reads a JSON request body into v, rejecting unknown fields and
// bodies over apiMaxBody. It writes the 400 itself and reports false on error.
func apiDecode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, apiMaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			apiError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", apiMaxBody))
			return false
		}
		apiError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	if dec.More() {
		apiError(w, http.StatusBadRequest, "invalid JSON body: more than one value")
		return false
	}
	return true
}

// apiPathID parses the path wildcard name as a positive ID.
func apiPathID(w http.ResponseWriter, r *http.Request, name string) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		apiError(w, http.StatusBadRequest, fmt.Sprintf("invalid %s %q: want a positive integer", name, r.PathValue(name)))
		return 0, false
	}
	return id, true
}

// apiQueryInt parses query parameter name, def when absent.
func apiQueryInt(w http.ResponseWriter, r *http.Request, name string, def, max int64) (int64, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || (max > 0 && n > max) {
		msg := fmt.Sprintf("invalid %s %q: want a non-negative integer", name, v)
		if max > 0 {
			msg += fmt.Sprintf(" up to %d", max)
		}
		apiError(w, http.StatusBadRequest, msg)
		return 0, false
	}
	return n, true
}
