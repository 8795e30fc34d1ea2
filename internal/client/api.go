package client

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

// AddRepo registers a repository (admin).
func (c *Client) AddRepo(ctx context.Context, in server.RepoInput) (*server.RepoView, error) {
	var out server.RepoView
	return &out, c.do(ctx, "POST", "/api/v1/repos", in, &out)
}

// ListRepos lists the repositories.
func (c *Client) ListRepos(ctx context.Context) ([]server.RepoView, error) {
	var out struct {
		Repos []server.RepoView `json:"repos"`
	}
	return out.Repos, c.do(ctx, "GET", "/api/v1/repos", nil, &out)
}

// GetRepo returns repository name.
func (c *Client) GetRepo(ctx context.Context, name string) (*server.RepoView, error) {
	var out server.RepoView
	return &out, c.do(ctx, "GET", "/api/v1/repos/"+url.PathEscape(name), nil, &out)
}

// DeleteRepo removes repository name with its runs and secrets (admin).
func (c *Client) DeleteRepo(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", "/api/v1/repos/"+url.PathEscape(name), nil, nil)
}

// Dispatch starts a workflow_dispatch run of workflow ("ci.yml") at ref
// ("" for the default branch) with inputs.
func (c *Client) Dispatch(ctx context.Context, repo, workflow, ref string, inputs map[string]string) ([]server.RunView, error) {
	var out struct {
		Runs []server.RunView `json:"runs"`
	}
	err := c.do(ctx, "POST", "/api/v1/repos/"+url.PathEscape(repo)+"/dispatch",
		server.DispatchInput{Workflow: workflow, Ref: ref, Inputs: inputs}, &out)
	return out.Runs, err
}

// RunsQuery filters ListRuns; zero fields do not filter.
type RunsQuery struct {
	Repo     string
	Status   string // queued, in_progress, completed
	Workflow string
	Ref      string
	Limit    int
	Before   int64 // run ID to page before
}

// ListRuns lists runs, newest first.
func (c *Client) ListRuns(ctx context.Context, q RunsQuery) ([]server.RunView, error) {
	var out struct {
		Runs []server.RunView `json:"runs"`
	}
	qs := query("repo", q.Repo, "status", q.Status, "workflow", q.Workflow, "ref", q.Ref,
		"limit", itoa(int64(q.Limit)), "before", itoa(q.Before))
	return out.Runs, c.do(ctx, "GET", "/api/v1/runs"+qs, nil, &out)
}

func itoa(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

// GetRun returns run id with the latest attempt of each job and its steps.
func (c *Client) GetRun(ctx context.Context, id int64) (*server.RunDetail, error) {
	var out server.RunDetail
	return &out, c.do(ctx, "GET", fmt.Sprintf("/api/v1/runs/%d", id), nil, &out)
}

// GetRunAttempt returns run id with the jobs of its attempt n (1 is the first run).
func (c *Client) GetRunAttempt(ctx context.Context, id int64, n int) (*server.RunDetail, error) {
	var out server.RunDetail
	return &out, c.do(ctx, "GET", fmt.Sprintf("/api/v1/runs/%d?attempt=%d", id, n), nil, &out)
}

// RunEvents returns run id's events after event ID after.
func (c *Client) RunEvents(ctx context.Context, id, after int64) ([]store.Event, error) {
	var out struct {
		Events []store.Event `json:"events"`
	}
	return out.Events, c.do(ctx, "GET", fmt.Sprintf("/api/v1/runs/%d/events%s", id, query("after", itoa(after))), nil, &out)
}

// Cancel cancels run id.
func (c *Client) Cancel(ctx context.Context, id int64) (*store.Run, error) {
	var out struct {
		Run store.Run `json:"run"`
	}
	return &out.Run, c.do(ctx, "POST", fmt.Sprintf("/api/v1/runs/%d/cancel", id), nil, &out)
}

// ApproveRun lets held run id (a pull request from a fork) start.
func (c *Client) ApproveRun(ctx context.Context, id int64) (*store.Run, error) {
	var out struct {
		Run store.Run `json:"run"`
	}
	return &out.Run, c.do(ctx, "POST", fmt.Sprintf("/api/v1/runs/%d/approve", id), nil, &out)
}

// Rerun starts a new attempt of completed run id: all jobs, or with
// failedOnly the failed ones (and what depends on them).
func (c *Client) Rerun(ctx context.Context, id int64, failedOnly bool) (*store.Run, error) {
	var out struct {
		Run store.Run `json:"run"`
	}
	q := ""
	if failedOnly {
		q = "?failed=true"
	}
	return &out.Run, c.do(ctx, "POST", fmt.Sprintf("/api/v1/runs/%d/rerun%s", id, q), nil, &out)
}

// SetSecret sets secret name to value, of repo or server-wide when repo is "".
func (c *Client) SetSecret(ctx context.Context, repo, name, value string) (*server.SecretView, error) {
	var out server.SecretView
	return &out, c.do(ctx, "PUT", secretPath(repo, name), map[string]string{"value": value}, &out)
}

// DeleteSecret removes secret name of repo (or server-wide when repo is "").
func (c *Client) DeleteSecret(ctx context.Context, repo, name string) error {
	return c.do(ctx, "DELETE", secretPath(repo, name), nil, nil)
}

// ListSecrets lists the secret names of repo (or server-wide when repo is "").
func (c *Client) ListSecrets(ctx context.Context, repo string) ([]server.SecretView, error) {
	var out struct {
		Secrets []server.SecretView `json:"secrets"`
	}
	p := "/api/v1/secrets"
	if repo != "" {
		p = "/api/v1/repos/" + url.PathEscape(repo) + "/secrets"
	}
	return out.Secrets, c.do(ctx, "GET", p, nil, &out)
}

// SetEnvValue sets an environment's secret (kind "secret") or variable ("var").
func (c *Client) SetEnvValue(ctx context.Context, repo, env, kind, name, value string) (*server.EnvValueView, error) {
	var out server.EnvValueView
	return &out, c.do(ctx, "PUT", envValuePath(repo, env, kind)+"/"+url.PathEscape(name), map[string]string{"value": value}, &out)
}

// DeleteEnvValue removes an environment's secret or variable.
func (c *Client) DeleteEnvValue(ctx context.Context, repo, env, kind, name string) error {
	return c.do(ctx, "DELETE", envValuePath(repo, env, kind)+"/"+url.PathEscape(name), nil, nil)
}

// ListEnvValues lists an environment's secrets (names) or variables.
func (c *Client) ListEnvValues(ctx context.Context, repo, env, kind string) ([]server.EnvValueView, error) {
	var out struct {
		Values []server.EnvValueView `json:"values"`
	}
	return out.Values, c.do(ctx, "GET", envValuePath(repo, env, kind), nil, &out)
}

// envValuePath is where an environment's values of kind are, or with env "" the repository's
// own variables.
func envValuePath(repo, env, kind string) string {
	if env == "" {
		return "/api/v1/repos/" + url.PathEscape(repo) + "/" + kind + "s"
	}
	return "/api/v1/repos/" + url.PathEscape(repo) + "/environments/" + url.PathEscape(env) + "/" + kind + "s"
}

func secretPath(repo, name string) string {
	if repo == "" {
		return "/api/v1/secrets/" + url.PathEscape(name)
	}
	return "/api/v1/repos/" + url.PathEscape(repo) + "/secrets/" + url.PathEscape(name)
}

// CreateToken creates an API token with scope (admin, write or read); the
// answer is the only time the token is shown.
// identity is the person the token is for ("": its name).
func (c *Client) CreateToken(ctx context.Context, name, scope, identity string) (*server.TokenCreated, error) {
	var out server.TokenCreated
	return &out, c.do(ctx, "POST", "/api/v1/tokens", map[string]string{"name": name, "scope": scope, "identity": identity}, &out)
}

// LinkLogin links a forge login to sluice identity.
func (c *Client) LinkLogin(ctx context.Context, identity, forgeKind, login string) error {
	return c.do(ctx, "POST", "/api/v1/identities/"+url.PathEscape(identity)+"/logins", map[string]string{"forge": forgeKind, "login": login}, nil)
}

// ListLogins lists the forge logins linked to identities.
func (c *Client) ListLogins(ctx context.Context) ([]store.IdentityLogin, error) {
	var out struct {
		Logins []store.IdentityLogin `json:"logins"`
	}
	return out.Logins, c.do(ctx, "GET", "/api/v1/identities/logins", nil, &out)
}

// ListTokens lists the API tokens (never their values).
func (c *Client) ListTokens(ctx context.Context) ([]store.Token, error) {
	var out struct {
		Tokens []store.Token `json:"tokens"`
	}
	return out.Tokens, c.do(ctx, "GET", "/api/v1/tokens", nil, &out)
}

// DeleteToken revokes token id.
func (c *Client) DeleteToken(ctx context.Context, id int64) error {
	return c.do(ctx, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", id), nil, nil)
}

// ListAgents lists the agents.
func (c *Client) ListAgents(ctx context.Context) ([]server.AgentView, error) {
	var out struct {
		Agents []server.AgentView `json:"agents"`
	}
	return out.Agents, c.do(ctx, "GET", "/api/v1/agents", nil, &out)
}

// Queue returns the pending jobs (with why) and the running ones.
func (c *Client) Queue(ctx context.Context) (*server.QueueView, error) {
	var out server.QueueView
	return &out, c.do(ctx, "GET", "/api/v1/queue", nil, &out)
}

// QueueByLabels returns the queue per runs-on label set (for autoscalers).
func (c *Client) QueueByLabels(ctx context.Context) ([]store.LabelQueue, error) {
	var out struct {
		Labels []store.LabelQueue `json:"labels"`
	}
	return out.Labels, c.do(ctx, "GET", "/api/v1/queue/labels", nil, &out)
}

// DrainAgent drains agent id (drain false: undrains it) and returns it as it is now.
func (c *Client) DrainAgent(ctx context.Context, id int64, drain bool) (*server.AgentView, error) {
	var out server.AgentView
	return &out, c.do(ctx, "POST", fmt.Sprintf("/api/v1/agents/%d/drain", id), server.DrainRequest{Drain: drain}, &out)
}
