package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/store"
)

// ReleaseDetail is GET /api/v1/releases/{id}: a release, its artifacts with
// their provenance, and where it went.
type ReleaseDetail struct {
	Release    cd.Release             `json:"release"`
	Artifacts  []store.ArtifactRecord `json:"artifacts"`
	Promotions []cd.Promotion         `json:"promotions"` // oldest first
	Repro      []store.ReproCheck     `json:"repro"`      // verify-repro results, newest first
}

// EnvironmentView is one entry of GET /api/v1/repos/{name}/environments.
type EnvironmentView struct {
	Environment cd.Environment `json:"environment"`
	// Current is the environment's latest successful promotion (nil: none).
	Current *cd.Promotion `json:"current"`
	// Pending are its promotions still queued, waiting or in progress, oldest first.
	Pending []cd.Promotion `json:"pending"`
}

// PromoteInput is the body of POST /api/v1/repos/{name}/promotions.
type PromoteInput struct {
	Release string  `json:"release"`
	Env     string  `json:"env"`
	Kind    cd.Kind `json:"kind,omitempty"`
}

// RollbackInput is the body of POST /api/v1/repos/{name}/environments/{env}/rollback.
type RollbackInput struct {
	// To is the promotion whose release to restore; 0 means the one before
	// the current release.
	To int64 `json:"to,omitempty"`
}

// DecideInput is the body of POST /api/v1/promotions/{id}/approve and /reject.
type DecideInput struct {
	Comment string `json:"comment,omitempty"`
}

// apiCDError maps an error of the store or the Deployer to a response. The
// 4xx messages are the error's own: they name the release, environment or
// rule that refused, which is what the caller needs to act on.
func (s *Server) apiCDError(w http.ResponseWriter, err error, what string) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		apiError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, store.ErrConflict):
		apiError(w, http.StatusConflict, err.Error())
	case errors.Is(err, cd.ErrSelfApproval), errors.Is(err, cd.ErrNotReviewer):
		apiError(w, http.StatusForbidden, err.Error())
	case errors.Is(err, cd.ErrNotEligible), errors.Is(err, cd.ErrUpstream), errors.Is(err, cd.ErrReleaseRejected),
		errors.Is(err, cd.ErrDigestMismatch), errors.Is(err, cd.ErrNoRollback):
		apiError(w, http.StatusUnprocessableEntity, err.Error())
	default:
		s.cfg.Log.Error("api: "+what, "err", err)
		apiError(w, http.StatusInternalServerError, "internal error while handling "+what)
	}
}

// apiDeployer returns the Deployer, answering 501 itself when there is none.
func (s *Server) apiDeployer(w http.ResponseWriter) (Deployer, bool) {
	if s.cfg.Deployer == nil {
		apiError(w, http.StatusNotImplemented, "this server does not deploy: it has no deployer")
		return nil, false
	}
	return s.cfg.Deployer, true
}

// apiDecodeOptional is apiDecode for bodies whose fields are all optional:
// no body at all means zero values.
func apiDecodeOptional(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.ContentLength == 0 {
		return true
	}
	return apiDecode(w, r, v)
}

// isFullReleaseID reports whether ref is a whole release ID, with or without
// its "sha256:" prefix.
func isFullReleaseID(ref string) bool {
	h := strings.TrimPrefix(strings.ToLower(ref), "sha256:")
	return len(h) == 64 && strings.Trim(h, "0123456789abcdef") == ""
}

// FindRelease resolves ref (a release ID or a prefix of at least 6 hex
// digits) in repository repoName, or in every repository when repoName is
// "": a full ID is unique anyway, and a prefix two repositories' releases
// share is ErrConflict like one two releases of a repository share.
func (s *Server) FindRelease(ctx context.Context, repoName, ref string) (*cd.Release, error) {
	db := s.cfg.DB
	if repoName != "" {
		repo, err := db.GetRepoByName(ctx, repoName)
		if err != nil {
			return nil, err
		}
		return db.FindRelease(ctx, repo.ID, ref)
	}
	if isFullReleaseID(ref) {
		return db.GetRelease(ctx, "sha256:"+strings.TrimPrefix(strings.ToLower(ref), "sha256:"))
	}
	repos, err := db.ListRepos(ctx)
	if err != nil {
		return nil, fmt.Errorf("finding release %s: %w", ref, err)
	}
	var found *cd.Release
	// The store's own not-found says why (too short a prefix, not hex).
	notFound := fmt.Errorf("release %s: %w", ref, store.ErrNotFound)
	for _, rp := range repos {
		rel, err := db.FindRelease(ctx, rp.ID, ref)
		switch {
		case errors.Is(err, store.ErrNotFound):
			notFound = err
			continue
		case err != nil:
			return nil, err
		case found != nil:
			return nil, fmt.Errorf("release prefix %s matches releases of %s and %s; give more digits or the repository: %w",
				ref, found.Repo, rel.Repo, store.ErrConflict)
		}
		found = rel
	}
	if found == nil {
		return nil, notFound
	}
	return found, nil
}

// ReleaseDetail loads release (found as FindRelease does) with its artifact
// records and promotions.
func (s *Server) ReleaseDetail(ctx context.Context, repoName, ref string) (*ReleaseDetail, error) {
	rel, err := s.FindRelease(ctx, repoName, ref)
	if err != nil {
		return nil, err
	}
	d := &ReleaseDetail{Release: *rel, Artifacts: make([]store.ArtifactRecord, 0, len(rel.Artifacts))}
	for _, a := range rel.Artifacts {
		rec, err := s.cfg.DB.GetArtifact(ctx, a.Digest)
		if err != nil {
			return nil, fmt.Errorf("loading artifact %s of release %s: %w", a.Digest, rel.ID, err)
		}
		d.Artifacts = append(d.Artifacts, *rec)
	}
	if d.Promotions, err = s.cfg.DB.PromotionsOfRelease(ctx, rel.ID); err != nil {
		return nil, err
	}
	if d.Promotions == nil {
		d.Promotions = []cd.Promotion{}
	}
	if d.Repro, err = s.cfg.DB.ListReproChecks(ctx, rel.ID); err != nil {
		return nil, err
	}
	return d, nil
}

func (s *Server) apiListReleases(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.apiRepo(w, r)
	if !ok {
		return
	}
	limit, ok := apiQueryInt(w, r, "limit", 50, 500)
	if !ok {
		return
	}
	rels, err := s.cfg.DB.ListReleases(r.Context(), repo.ID, int(limit))
	if err != nil {
		s.apiCDError(w, err, "releases of "+repo.Name)
		return
	}
	if rels == nil {
		rels = []cd.Release{}
	}
	apiJSON(w, http.StatusOK, rels)
}

func (s *Server) apiGetRelease(w http.ResponseWriter, r *http.Request) {
	d, err := s.ReleaseDetail(r.Context(), r.URL.Query().Get("repo"), r.PathValue("id"))
	if err != nil {
		s.apiCDError(w, err, "release "+r.PathValue("id"))
		return
	}
	apiJSON(w, http.StatusOK, d)
}

func (s *Server) apiRejectRelease(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rel, err := s.FindRelease(ctx, r.URL.Query().Get("repo"), r.PathValue("id"))
	if err == nil {
		rel, err = s.cfg.DB.RejectRelease(ctx, rel.ID)
	}
	if err != nil {
		s.apiCDError(w, err, "rejecting release "+r.PathValue("id"))
		return
	}
	s.cfg.Log.Info("release rejected", "release", rel.ID, "repo", rel.Repo, "by", apiActor(r))
	apiJSON(w, http.StatusOK, rel)
}

func (s *Server) apiRunRelease(w http.ResponseWriter, r *http.Request) {
	id, ok := apiPathID(w, r, "id")
	if !ok {
		return
	}
	rel, err := s.cfg.DB.ReleaseOfRun(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		apiError(w, http.StatusNotFound, fmt.Sprintf("run %d made no release", id))
		return
	}
	if err != nil {
		s.apiCDError(w, err, fmt.Sprintf("release of run %d", id))
		return
	}
	apiJSON(w, http.StatusOK, rel)
}

// Environments lists repo's environments with what each runs and what is on
// its way there.
func (s *Server) Environments(ctx context.Context, repo *store.Repo) ([]EnvironmentView, error) {
	envs, err := s.cfg.DB.ListEnvironments(ctx, repo.ID)
	if err != nil {
		return nil, err
	}
	active, err := s.cfg.DB.ActivePromotions(ctx, repo.ID)
	if err != nil {
		return nil, err
	}
	out := make([]EnvironmentView, 0, len(envs))
	for _, e := range envs {
		v := EnvironmentView{Environment: e, Pending: []cd.Promotion{}}
		if v.Current, err = s.currentPromotion(ctx, repo.ID, e.Name); err != nil {
			return nil, err
		}
		for _, p := range active {
			if p.Env == e.Name {
				v.Pending = append(v.Pending, p)
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// currentPromotion is env's latest success, nil when none. The store keeps
// at most one success per environment (it deactivates the others), but a
// long run of failures can bury it, so the history is read in growing pages
// until it shows up or ends.
func (s *Server) currentPromotion(ctx context.Context, repoID int64, env string) (*cd.Promotion, error) {
	for limit := 50; ; limit *= 8 {
		hist, err := s.cfg.DB.ListPromotions(ctx, repoID, env, limit)
		if err != nil {
			return nil, err
		}
		for i := range hist {
			if hist[i].State == cd.StateSuccess {
				return &hist[i], nil
			}
		}
		if len(hist) < limit {
			return nil, nil
		}
	}
}

func (s *Server) apiListEnvironments(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.apiRepo(w, r)
	if !ok {
		return
	}
	out, err := s.Environments(r.Context(), repo)
	if err != nil {
		s.apiCDError(w, err, "environments of "+repo.Name)
		return
	}
	apiJSON(w, http.StatusOK, out)
}

func (s *Server) apiListDeployments(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.apiRepo(w, r)
	if !ok {
		return
	}
	limit, ok := apiQueryInt(w, r, "limit", 50, 500)
	if !ok {
		return
	}
	ctx, env := r.Context(), r.PathValue("env")
	hist, err := s.cfg.DB.ListPromotions(ctx, repo.ID, env, int(limit))
	if err != nil {
		s.apiCDError(w, err, "deployments of "+env)
		return
	}
	if len(hist) == 0 {
		// An empty history of a misspelt environment would look like a
		// quiet one: say it does not exist instead.
		envs, err := s.cfg.DB.ListEnvironments(ctx, repo.ID)
		if err != nil {
			s.apiCDError(w, err, "environments of "+repo.Name)
			return
		}
		if !hasEnvironment(envs, env) {
			apiError(w, http.StatusNotFound, fmt.Sprintf("environment %s of %s not found", env, repo.Name))
			return
		}
		hist = []cd.Promotion{}
	}
	apiJSON(w, http.StatusOK, hist)
}

func hasEnvironment(envs []cd.Environment, name string) bool {
	for _, e := range envs {
		if e.Name == name {
			return true
		}
	}
	return false
}

func (s *Server) apiPromote(w http.ResponseWriter, r *http.Request) {
	dep, ok := s.apiDeployer(w)
	if !ok {
		return
	}
	repo, ok := s.apiRepo(w, r)
	if !ok {
		return
	}
	var in PromoteInput
	if !apiDecode(w, r, &in) {
		return
	}
	switch {
	case strings.TrimSpace(in.Release) == "":
		apiError(w, http.StatusBadRequest, "release is required (a release ID or at least 6 hex digits of it)")
		return
	case strings.TrimSpace(in.Env) == "":
		apiError(w, http.StatusBadRequest, "env is required")
		return
	}
	switch in.Kind {
	case "", cd.KindForward, cd.KindHotfix, cd.KindRedeploy:
	case cd.KindRollback:
		apiError(w, http.StatusBadRequest, "a rollback is asked for with POST /api/v1/repos/{name}/environments/{env}/rollback")
		return
	default:
		apiError(w, http.StatusBadRequest, fmt.Sprintf("invalid kind %q: want forward, hotfix or redeploy", in.Kind))
		return
	}
	p, err := dep.Promote(r.Context(), repo, PromoteRequest{Release: in.Release, Env: in.Env, Kind: in.Kind, By: apiActor(r)})
	if err != nil {
		s.apiCDError(w, err, fmt.Sprintf("promoting %s to %s", in.Release, in.Env))
		return
	}
	apiJSON(w, http.StatusCreated, p)
}

func (s *Server) apiRollback(w http.ResponseWriter, r *http.Request) {
	dep, ok := s.apiDeployer(w)
	if !ok {
		return
	}
	repo, ok := s.apiRepo(w, r)
	if !ok {
		return
	}
	var in RollbackInput
	if !apiDecodeOptional(w, r, &in) {
		return
	}
	if in.To < 0 {
		apiError(w, http.StatusBadRequest, fmt.Sprintf("invalid to %d: want a promotion ID, or 0 for the previous release", in.To))
		return
	}
	env := r.PathValue("env")
	p, err := dep.Rollback(r.Context(), repo, env, in.To, apiActor(r))
	if err != nil {
		s.apiCDError(w, err, "rolling back "+env)
		return
	}
	apiJSON(w, http.StatusCreated, p)
}

func (s *Server) apiGetPromotion(w http.ResponseWriter, r *http.Request) {
	id, ok := apiPathID(w, r, "id")
	if !ok {
		return
	}
	p, err := s.cfg.DB.GetPromotion(r.Context(), id)
	if err != nil {
		s.apiCDError(w, err, fmt.Sprintf("promotion %d", id))
		return
	}
	apiJSON(w, http.StatusOK, p)
}

// apiDecide serves /approve (approve true) and /reject of a promotion.
func (s *Server) apiDecide(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		dep, ok := s.apiDeployer(w)
		if !ok {
			return
		}
		id, ok := apiPathID(w, r, "id")
		if !ok {
			return
		}
		var in DecideInput
		if !apiDecodeOptional(w, r, &in) {
			return
		}
		p, err := dep.Decide(r.Context(), id, apiActor(r), approve, in.Comment)
		if err != nil {
			s.apiCDError(w, err, fmt.Sprintf("deciding promotion %d", id))
			return
		}
		apiJSON(w, http.StatusOK, p)
	}
}
