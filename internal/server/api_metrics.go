package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/metrics"
	"github.com/sluice-ci/sluice/internal/store"
)

// metricsTimeout bounds one computation of a repository's delivery figures.
const metricsTimeout = 30 * time.Second

// mirrorDir is where the scheduler keeps repository repoID's bare mirror (what /git/ serves).
func (s *Server) mirrorDir(repoID int64) string {
	if s.cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(s.cfg.DataDir, "repos", fmt.Sprintf("%d.git", repoID))
}

// metricsQuery is what a caller may ask of the figures: the query parameters of
// /api/v1/repos/{name}/metrics and of the metrics page.
type metricsQuery struct {
	Env, Since, LeadFrom, Compare, SplitBy, HotfixWindow string
}

func metricsQueryOf(v url.Values) metricsQuery {
	return metricsQuery{Env: v.Get("env"), Since: v.Get("since"), LeadFrom: v.Get("lead_from"), Compare: v.Get("compare"),
		SplitBy: v.Get("split_by"), HotfixWindow: v.Get("hotfix_window")}
}

// errUnknownEnv is wrapped when the figures are asked for an environment the repository never had.
var errUnknownEnv = errors.New("unknown environment")

// repoMetrics computes repo's delivery figures for q at now.
func (s *Server) repoMetrics(ctx context.Context, repo *store.Repo, q metricsQuery, now time.Time) (*metrics.Report, error) {
	opts := metrics.Options{Env: strings.TrimSpace(q.Env), Now: now, LeadFrom: q.LeadFrom, Compare: q.Compare, SplitBy: q.SplitBy}
	since, err := metrics.ParseSince(q.Since, now)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, metrics.ErrBadOption)
	}
	opts.Since = since
	if q.HotfixWindow != "" {
		d, err := time.ParseDuration(q.HotfixWindow)
		if err != nil || d < time.Minute || d > 30*24*time.Hour {
			return nil, fmt.Errorf("hotfix_window %q: want a duration from 1m to 720h, like 24h: %w", trimParam(q.HotfixWindow), metrics.ErrBadOption)
		}
		opts.HotfixWindow = d
	}
	if opts.Env != "" {
		envs, err := s.cfg.DB.ListEnvironments(ctx, repo.ID)
		if err != nil {
			return nil, err
		}
		if !hasEnvironment(envs, opts.Env) {
			// An environment's history outlives its declaration: a name with promotions is fine.
			hist, err := s.cfg.DB.ListPromotions(ctx, repo.ID, opts.Env, 1)
			if err != nil {
				return nil, err
			}
			if len(hist) == 0 {
				names := make([]string, len(envs))
				for i, e := range envs {
					names[i] = e.Name
				}
				slices.Sort(names)
				known := "it has none"
				if len(names) > 0 {
					known = "it has " + strings.Join(names, ", ")
				}
				return nil, fmt.Errorf("environment %q of %s not found (%s): %w", trimParam(opts.Env), repo.Name, known, errUnknownEnv)
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, metricsTimeout)
	defer cancel()
	return metrics.Compute(ctx, s.facts.With(s.cfg.DB), metrics.Repo{ID: repo.ID, Name: repo.Name, URL: repo.URL,
		DefaultBranch: repo.DefaultBranch, GitDir: s.mirrorDir(repo.ID)}, opts)
}

func trimParam(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// apiRepoMetrics is GET /api/v1/repos/{name}/metrics: the repository's delivery figures as JSON,
// or CSV with format=csv.
func (s *Server) apiRepoMetrics(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.apiRepo(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	format := q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		apiError(w, http.StatusBadRequest, fmt.Sprintf("format %q: want json or csv", trimParam(format)))
		return
	}
	rep, err := s.repoMetrics(r.Context(), repo, metricsQueryOf(q), time.Now())
	switch {
	case errors.Is(err, metrics.ErrBadOption):
		apiError(w, http.StatusBadRequest, strings.TrimSuffix(err.Error(), ": "+metrics.ErrBadOption.Error()))
		return
	case errors.Is(err, errUnknownEnv):
		apiError(w, http.StatusNotFound, strings.TrimSuffix(err.Error(), ": "+errUnknownEnv.Error()))
		return
	case err != nil:
		s.cfg.Log.Error("api: metrics of "+repo.Name, "err", err)
		apiError(w, http.StatusInternalServerError, "internal error while computing the metrics of "+repo.Name)
		return
	}
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="metrics.csv"`)
		if err := metrics.WriteCSV(w, rep); err != nil {
			s.cfg.Log.Warn("api: writing metrics CSV", "err", err)
		}
		return
	}
	apiJSON(w, http.StatusOK, rep)
}
