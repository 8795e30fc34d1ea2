package forge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sluice-ci/sluice/internal/cd"
)

// Deployment is one release going to one environment, as the forge should show it.
type Deployment struct {
	Repo        string // owner/name (GitLab: the project path, nested groups allowed)
	SHA         string // the commit deployed
	Ref         string // the full git ref it was built from; GitLab records the branch or tag
	Environment string
	Description string
	// Transient marks an environment that will stop existing (a pull request's preview);
	// Production marks one end users use. GitHub only.
	Transient  bool
	Production bool
}

// DeploymentStatus is a deployment's new state. SHA and Environment are what forges without a
// deployments API (Gitea, Forgejo) need to put the state on the commit instead; GitHub takes
// Environment as the deployment's (possibly new) environment name.
type DeploymentStatus struct {
	State          cd.State
	Environment    string
	SHA            string
	EnvironmentURL string
	LogURL         string
	Description    string
}

// DeployContext is the commit status context under which Gitea and Forgejo, which have no
// deployments API, show a deployment to env.
func DeployContext(env string) string { return "deploy/" + env }

// CreateDeployment records a deployment on the forge and returns the forge's id for it, to pass
// to SetDeploymentStatus. GitHub and GitLab have deployments; Gitea and Forgejo get a pending
// commit status under DeployContext instead, and the id is 0.
func (c *Client) CreateDeployment(ctx context.Context, d Deployment) (id int64, err error) {
	if !isSHA(d.SHA) {
		return 0, fmt.Errorf("creating deployment on %s: commit %q is not a hex SHA", d.Repo, d.SHA)
	}
	if d.Environment == "" {
		return 0, fmt.Errorf("creating deployment on %s: no environment", d.Repo)
	}
	switch c.Kind {
	case GitHub:
		owner, name, err := ownerName(d.Repo)
		if err != nil {
			return 0, fmt.Errorf("creating deployment: %w", err)
		}
		body := map[string]any{
			"ref":                    d.SHA,
			"environment":            d.Environment,
			"auto_merge":             false,
			"required_contexts":      []string{},
			"description":            truncate(d.Description, maxDescription),
			"transient_environment":  d.Transient,
			"production_environment": d.Production,
		}
		return c.postForID(ctx, http.MethodPost, "/repos/"+owner+"/"+name+"/deployments", body, "creating deployment on "+d.Repo)
	case GitLab:
		path, err := gitlabProject(d.Repo)
		if err != nil {
			return 0, fmt.Errorf("creating deployment: %w", err)
		}
		ref, tag := gitlabRef(d.Ref, d.SHA)
		body := map[string]any{
			"environment": d.Environment,
			"sha":         d.SHA,
			"ref":         ref,
			"tag":         tag,
			"status":      "created",
		}
		return c.postForID(ctx, http.MethodPost, "/projects/"+path+"/deployments", body, "creating deployment on "+d.Repo)
	case Gitea:
		err := c.SetStatus(ctx, d.Repo, Status{SHA: d.SHA, Context: DeployContext(d.Environment), State: Pending,
			Description: orDefault(d.Description, "deployment to "+d.Environment+" created")})
		if err != nil {
			return 0, fmt.Errorf("creating deployment: %w", err)
		}
		return 0, nil
	}
	return 0, fmt.Errorf("creating deployment: unknown forge %q", c.Kind)
}

// SetDeploymentStatus reports deployment id's new state. A state the forge cannot show is
// skipped: GitLab cannot move a deployment back to created (queued, waiting), and a commit status
// cannot say inactive.
func (c *Client) SetDeploymentStatus(ctx context.Context, repo string, id int64, st DeploymentStatus) error {
	what := fmt.Sprintf("setting the status of deployment %d on %s", id, repo)
	switch c.Kind {
	case GitHub:
		owner, name, err := ownerName(repo)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		state, err := githubDeploymentState(st.State)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		body := map[string]any{"state": state}
		putNonEmpty(body, "environment", st.Environment)
		putNonEmpty(body, "environment_url", st.EnvironmentURL)
		putNonEmpty(body, "log_url", st.LogURL)
		putNonEmpty(body, "description", truncate(st.Description, maxDescription))
		_, err = c.postForID(ctx, http.MethodPost, "/repos/"+owner+"/"+name+"/deployments/"+strconv.FormatInt(id, 10)+"/statuses", body, what)
		return err
	case GitLab:
		path, err := gitlabProject(repo)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		status, ok, err := gitlabDeploymentStatus(st.State)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if !ok {
			return nil
		}
		_, err = c.postForID(ctx, http.MethodPut, "/projects/"+path+"/deployments/"+strconv.FormatInt(id, 10), map[string]any{"status": status}, what)
		return err
	case Gitea:
		state, ok, err := commitState(st.State)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if !ok {
			return nil
		}
		if st.Environment == "" {
			return fmt.Errorf("%s: Gitea has no deployments API, and without an environment there is no status context", what)
		}
		target := st.LogURL
		if target == "" || (st.State == cd.StateSuccess && st.EnvironmentURL != "") {
			target = st.EnvironmentURL
		}
		desc := orDefault(st.Description, "deployment to "+st.Environment+": "+strings.ReplaceAll(string(st.State), "_", " "))
		if err := c.SetStatus(ctx, repo, Status{SHA: st.SHA, Context: DeployContext(st.Environment), State: state,
			Description: desc, TargetURL: target}); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	return fmt.Errorf("%s: unknown forge %q", what, c.Kind)
}

// githubDeploymentState passes cd's states through (they are GitHub's), except waiting: the REST
// API has no such state, and pending is how it shows a deployment that has not started.
func githubDeploymentState(s cd.State) (string, error) {
	switch s {
	case cd.StateWaiting:
		return "pending", nil
	case cd.StateQueued, cd.StateInProgress, cd.StateSuccess, cd.StateFailure, cd.StateError, cd.StateInactive:
		return string(s), nil
	}
	return "", fmt.Errorf("unknown deployment state %q", s)
}

// gitlabDeploymentStatus maps onto the statuses GitLab lets an API client set; ok is false for
// the states it has no later equivalent of.
func gitlabDeploymentStatus(s cd.State) (status string, ok bool, err error) {
	switch s {
	case cd.StateQueued, cd.StateWaiting:
		return "", false, nil
	case cd.StateInProgress:
		return "running", true, nil
	case cd.StateSuccess:
		return "success", true, nil
	case cd.StateFailure, cd.StateError:
		return "failed", true, nil
	case cd.StateInactive:
		return "canceled", true, nil
	}
	return "", false, fmt.Errorf("unknown deployment state %q", s)
}

// commitState maps a deployment state onto a commit status for forges without deployments. A
// superseded deployment (inactive) leaves the commit's last status as it was.
func commitState(s cd.State) (state State, ok bool, err error) {
	switch s {
	case cd.StateQueued, cd.StateWaiting, cd.StateInProgress:
		return Pending, true, nil
	case cd.StateSuccess:
		return Success, true, nil
	case cd.StateFailure:
		return Failure, true, nil
	case cd.StateError:
		return Error, true, nil
	case cd.StateInactive:
		return "", false, nil
	}
	return "", false, fmt.Errorf("unknown deployment state %q", s)
}

// gitlabRef is the branch or tag name GitLab wants, and whether it is a tag. Other refs (a merge
// request's) are passed whole; with none, the commit stands for itself.
func gitlabRef(ref, sha string) (string, bool) {
	if t, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
		return t, true
	}
	if b, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
		return b, false
	}
	if ref == "" {
		return sha, false
	}
	return ref, false
}

func ownerName(repo string) (string, string, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("repository %q is not owner/name", repo)
	}
	return url.PathEscape(owner), url.PathEscape(name), nil
}

// gitlabProject is the project path as one URL-encoded segment ("group%2Fproject").
func gitlabProject(repo string) (string, error) {
	if repo == "" || strings.HasPrefix(repo, "/") || strings.HasSuffix(repo, "/") {
		return "", fmt.Errorf("project %q is not a path with namespace", repo)
	}
	return url.PathEscape(repo), nil
}

// postForID sends a JSON body and returns the "id" of the object the forge answers with (0 when
// it names none).
func (c *Client) postForID(ctx context.Context, method, path string, body map[string]any, what string) (int64, error) {
	base := strings.TrimRight(c.BaseURL, "/")
	if base == "" {
		return 0, fmt.Errorf("%s: no API base URL for %s", what, c.Kind)
	}
	data, err := json.Marshal(body)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(data))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	c.setHeaders(req)
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	// GitHub answers 202 when it merged the default branch instead of deploying; auto_merge is
	// off, so any 2xx but 200/201 means nothing was created.
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return 0, fmt.Errorf("%s: %s: %s", what, resp.Status, strings.TrimSpace(string(head(reply, 512))))
	}
	var obj struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(reply, &obj); err != nil {
		return 0, fmt.Errorf("%s: reading the answer: %w", what, err)
	}
	return obj.ID, nil
}

// setHeaders authenticates req the way each forge's API expects.
func (c *Client) setHeaders(req *http.Request) {
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sluice")
	switch c.Kind {
	case GitHub:
		req.Header.Set("Accept", "application/vnd.github+json")
		req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
		req.Header.Set("Authorization", "Bearer "+c.Token)
	case Gitea:
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Authorization", "token "+c.Token)
	case GitLab:
		req.Header.Set("Accept", "application/json")
		req.Header.Set("PRIVATE-TOKEN", c.Token)
	}
}

func putNonEmpty(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func head(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
