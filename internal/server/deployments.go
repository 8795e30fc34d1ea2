package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/store"
)

// ReportDeployment reports promotion p to its repository's forge: a
// deployment made on its first report (GitHub, GitLab; a commit status
// "deploy/<env>" on Gitea and Forgejo), then its state on every change. It
// does nothing for a repository without a forge and status token.
func (s *Server) ReportDeployment(ctx context.Context, repo *store.Repo, p *cd.Promotion) error {
	c, full, err := s.forgeClient(repo, nil)
	if err != nil || c == nil {
		if err != nil {
			return fmt.Errorf("reporting deployment %d: %w", p.ID, err)
		}
		return nil
	}
	rel, err := s.cfg.DB.GetRelease(ctx, p.ReleaseID)
	if err != nil {
		return fmt.Errorf("reporting deployment %d: %w", p.ID, err)
	}
	id, err := s.cfg.DB.PromotionForgeID(ctx, p.ID)
	if err != nil {
		return err
	}
	if id == 0 {
		env := p.Env
		desc := fmt.Sprintf("sluice %s of release %s", p.Kind, strings.TrimPrefix(rel.ID, "sha256:")[:12])
		if id, err = c.CreateDeployment(ctx, forge.Deployment{Repo: full, SHA: rel.Commit, Ref: rel.Ref, Environment: env,
			Description: desc, Production: deployTier(s, ctx, repo.ID, env) == cd.TierProduction}); err != nil {
			return fmt.Errorf("creating the %s deployment of promotion %d: %w", c.Kind, p.ID, err)
		}
		if id != 0 {
			if err := s.cfg.DB.SetPromotionForgeID(ctx, p.ID, id); err != nil {
				return err
			}
		}
	}
	logURL := strings.TrimSuffix(s.cfg.BaseURL, "/") + "/repos/" + repo.Name + "/environments"
	if p.RunID != 0 {
		logURL = strings.TrimSuffix(s.cfg.BaseURL, "/") + fmt.Sprintf("/runs/%d", p.RunID)
	}
	err = c.SetDeploymentStatus(ctx, full, id, forge.DeploymentStatus{State: p.State, Environment: p.Env, SHA: rel.Commit,
		EnvironmentURL: p.URL, LogURL: logURL, Description: p.Reason})
	if err != nil {
		return fmt.Errorf("reporting deployment %d to %s: %w", p.ID, c.Kind, err)
	}
	return nil
}

func deployTier(s *Server, ctx context.Context, repoID int64, env string) string {
	envs, err := s.cfg.DB.ListEnvironments(ctx, repoID)
	if err != nil {
		return ""
	}
	for _, e := range envs {
		if e.Name == env {
			return e.Tier
		}
	}
	return ""
}
