package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/sluice-ci/sluice/internal/deps"
	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/gitrepo"
	"github.com/sluice-ci/sluice/internal/store"
)

// DepsRunner makes a repository's dependency updates now (the scheduled job, on demand).
type DepsRunner interface {
	Start(ctx context.Context, repo *store.Repo) ([]store.DepUpdate, error)
}

// ForgeClient is the API client of repo's forge and the repository's full name there; nil
// when the repository has no forge or token. Dependency updates open pull requests with it.
func (s *Server) ForgeClient(repo *store.Repo) (*forge.Client, string, error) {
	return s.forgeClient(repo, nil)
}

// DepsView is what GET /api/v1/repos/{name}/deps answers.
type DepsView struct {
	Status  *store.DepStatus  `json:"status,omitempty"`
	Updates []store.DepUpdate `json:"updates"`
	Pins    []deps.Pin        `json:"pins"`
}

// depsView gathers a repository's dependency facts: the last look at its lock, its updates,
// and the open pins in its default branch's history (read from the server's mirror).
func (s *Server) depsView(ctx context.Context, repo *store.Repo) (*DepsView, error) {
	v := &DepsView{Pins: []deps.Pin{}}
	st, err := s.cfg.DB.GetDepStatus(ctx, repo.ID)
	if err == nil {
		v.Status = st
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if v.Updates, err = s.cfg.DB.ListDepUpdates(ctx, repo.ID, false, 50); err != nil {
		return nil, err
	}
	mirror := filepath.Join(s.cfg.DataDir, "repos", fmt.Sprintf("%d.git", repo.ID))
	if _, err := os.Stat(mirror); err == nil {
		branch := repo.DefaultBranch
		if branch == "" {
			branch = "main"
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		pins, err := deps.FindPins(pctx, &gitrepo.Repo{Root: mirror}, "refs/heads/"+branch, 300)
		if err == nil {
			for _, p := range pins {
				if p.Open {
					v.Pins = append(v.Pins, p)
				}
			}
		}
	}
	return v, nil
}

func (s *Server) apiDeps(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.apiRepo(w, r)
	if !ok {
		return
	}
	v, err := s.depsView(r.Context(), repo)
	if err != nil {
		s.apiStoreError(w, err, "dependencies of "+repo.Name)
		return
	}
	apiJSON(w, http.StatusOK, v)
}

// apiDepsUpdate starts the repository's dependency update now; it answers 202 at once and
// the update shows in GET .../deps as it goes.
func (s *Server) apiDepsUpdate(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.apiRepo(w, r)
	if !ok {
		return
	}
	if s.cfg.Deps == nil {
		apiError(w, http.StatusNotImplemented, "dependency updates are not enabled on this server")
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		if _, err := s.cfg.Deps.Start(ctx, repo); err != nil {
			s.cfg.Log.Warn("deps: update on demand", "repo", repo.Name, "err", err)
		}
	}()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(map[string]string{"status": "started", "repo": repo.Name})
}
