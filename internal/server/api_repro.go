package server

import (
	"net/http"
	"strings"

	"github.com/sluice-ci/sluice/internal/store"
)

// ReproInput is the body of POST /api/v1/releases/{id}/repro: the outcome of rebuilding the
// release's Python artifacts (sluice verify-repro).
type ReproInput struct {
	Identical bool     `json:"identical"`
	Differ    []string `json:"differ"`
	Detail    string   `json:"detail"`
}

// apiReproReleaseID reads the full release ID of the path, "sha256:" optional, answering 400
// itself when it is not one: checks are recorded against a release, never a guess at one.
func apiReproReleaseID(w http.ResponseWriter, r *http.Request) (string, bool) {
	h := strings.TrimPrefix(strings.ToLower(r.PathValue("id")), "sha256:")
	if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
		apiError(w, http.StatusBadRequest, "invalid release "+r.PathValue("id")+": want its full ID, sha256:<64 hex digits>")
		return "", false
	}
	return "sha256:" + h, true
}

func (s *Server) apiAddReproCheck(w http.ResponseWriter, r *http.Request) {
	id, ok := apiReproReleaseID(w, r)
	if !ok {
		return
	}
	var in ReproInput
	if !apiDecode(w, r, &in) {
		return
	}
	if in.Identical && len(in.Differ) > 0 {
		apiError(w, http.StatusBadRequest, "a check cannot be identical and name files that differ")
		return
	}
	c, err := s.cfg.DB.AddReproCheck(r.Context(), store.ReproCheck{ReleaseID: id, Identical: in.Identical,
		Differ: in.Differ, Detail: in.Detail, By: apiActor(r)})
	if err != nil {
		s.apiStoreError(w, err, "release "+id)
		return
	}
	s.cfg.Log.Info("reproducibility check recorded", "release", id, "identical", c.Identical, "by", c.By)
	apiJSON(w, http.StatusCreated, c)
}

func (s *Server) apiListReproChecks(w http.ResponseWriter, r *http.Request) {
	id, ok := apiReproReleaseID(w, r)
	if !ok {
		return
	}
	// An unknown release is a 404, not an empty history.
	if _, err := s.cfg.DB.GetRelease(r.Context(), id); err != nil {
		s.apiStoreError(w, err, "release "+id)
		return
	}
	checks, err := s.cfg.DB.ListReproChecks(r.Context(), id)
	if err != nil {
		s.apiStoreError(w, err, "repro checks of release "+id)
		return
	}
	apiJSON(w, http.StatusOK, checks)
}
