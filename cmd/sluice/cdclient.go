package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/client"
	"github.com/sluice-ci/sluice/internal/server"
)

// cdAPI calls the continuous-deployment endpoints of the API (releases,
// environments, promotions) with a client's server and token, answering
// failures as *client.Error like the client's own methods do.
type cdAPI struct{ c *client.Client }

func (a cdAPI) do(ctx context.Context, method, path string, in, out any) error {
	return a.c.Do(ctx, method, path, in, out)
}

// repoOrOnly is name, or when it is "" the server's only repository: most
// servers deploy one project, and a second one makes --repo necessary.
func (a cdAPI) repoOrOnly(ctx context.Context, name string) (string, error) {
	if name != "" {
		return name, nil
	}
	repos, err := a.c.ListRepos(ctx)
	if err != nil {
		return "", err
	}
	switch len(repos) {
	case 0:
		return "", fmt.Errorf("the server has no repositories (add one with sluice repo add)")
	case 1:
		return repos[0].Name, nil
	}
	names := make([]string, len(repos))
	for i, r := range repos {
		names[i] = r.Name
	}
	return "", fmt.Errorf("pass --repo: the server has %d repositories (%s)", len(repos), strings.Join(names, ", "))
}

func repoPath(repo string, rest ...string) string {
	p := "/api/v1/repos/" + url.PathEscape(repo)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

func limitQuery(limit int) string {
	if limit <= 0 {
		return ""
	}
	return fmt.Sprintf("?limit=%d", limit)
}

func (a cdAPI) releases(ctx context.Context, repo string, limit int) ([]cd.Release, error) {
	var out []cd.Release
	return out, a.do(ctx, "GET", repoPath(repo, "releases")+limitQuery(limit), nil, &out)
}

// releaseQuery narrows a release prefix to repo when one is given.
func releaseQuery(repo string) string {
	if repo == "" {
		return ""
	}
	return "?repo=" + url.QueryEscape(repo)
}

func (a cdAPI) release(ctx context.Context, repo, id string) (*server.ReleaseDetail, error) {
	var out server.ReleaseDetail
	return &out, a.do(ctx, "GET", "/api/v1/releases/"+url.PathEscape(id)+releaseQuery(repo), nil, &out)
}

func (a cdAPI) rejectRelease(ctx context.Context, repo, id string) (*cd.Release, error) {
	var out cd.Release
	return &out, a.do(ctx, "POST", "/api/v1/releases/"+url.PathEscape(id)+"/reject"+releaseQuery(repo), nil, &out)
}

func (a cdAPI) environments(ctx context.Context, repo string) ([]server.EnvironmentView, error) {
	var out []server.EnvironmentView
	return out, a.do(ctx, "GET", repoPath(repo, "environments"), nil, &out)
}

func (a cdAPI) deployments(ctx context.Context, repo, env string, limit int) ([]cd.Promotion, error) {
	var out []cd.Promotion
	return out, a.do(ctx, "GET", repoPath(repo, "environments", env, "deployments")+limitQuery(limit), nil, &out)
}

func (a cdAPI) promote(ctx context.Context, repo string, in server.PromoteInput) (*cd.Promotion, error) {
	var out cd.Promotion
	return &out, a.do(ctx, "POST", repoPath(repo, "promotions"), in, &out)
}

func (a cdAPI) rollback(ctx context.Context, repo, env string, to int64) (*cd.Promotion, error) {
	var out cd.Promotion
	return &out, a.do(ctx, "POST", repoPath(repo, "environments", env, "rollback"), server.RollbackInput{To: to}, &out)
}

func (a cdAPI) promotion(ctx context.Context, id int64) (*cd.Promotion, error) {
	var out cd.Promotion
	return &out, a.do(ctx, "GET", fmt.Sprintf("/api/v1/promotions/%d", id), nil, &out)
}

func (a cdAPI) decide(ctx context.Context, id int64, approve bool, comment string) (*cd.Promotion, error) {
	verb := "reject"
	if approve {
		verb = "approve"
	}
	var out cd.Promotion
	return &out, a.do(ctx, "POST", fmt.Sprintf("/api/v1/promotions/%d/%s", id, verb), server.DecideInput{Comment: comment}, &out)
}

// shortRelease is the 12 hex digits a release is shown by.
func shortRelease(id string) string {
	h := strings.TrimPrefix(id, "sha256:")
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func shortTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// promotionLine says in one line what a promotion is and where it stands.
func promotionLine(p *cd.Promotion) string {
	s := fmt.Sprintf("promotion %d: %s %s to %s: %s", p.ID, p.Kind, shortRelease(p.ReleaseID), p.Env, p.State)
	if p.Reason != "" {
		s += " (" + p.Reason + ")"
	}
	if p.URL != "" {
		s += " " + p.URL
	}
	return s
}
