package forge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// State is a commit status state, in GitHub's vocabulary.
type State string

// Commit status states.
const (
	Pending State = "pending"
	Success State = "success"
	Failure State = "failure"
	Error   State = "error"
)

// Status is one commit status: the result of one workflow on one commit.
type Status struct {
	SHA         string
	Context     string // "sluice/<workflow>"
	Description string
	TargetURL   string
	State       State
}

// maxDescription is GitHub's limit: it rejects a longer description rather
// than cutting it, so we cut it.
const maxDescription = 140

// Client reports commit statuses to one forge.
type Client struct {
	Kind Kind
	// BaseURL is the API root: https://api.github.com (or
	// https://HOST/api/v3), https://HOST/api/v1 for Gitea, https://HOST/api/v4
	// for GitLab. See APIBaseURL.
	BaseURL string
	Token   string
	// HTTP is the client to use; nil means http.DefaultClient. Bound the
	// time of a call with the context.
	HTTP *http.Client
}

// SetStatus creates a commit status on repoFullName ("owner/name"; for
// GitLab the project path, nested groups allowed).
func (c *Client) SetStatus(ctx context.Context, repoFullName string, s Status) error {
	req, err := c.statusRequest(ctx, repoFullName, s)
	if err != nil {
		return fmt.Errorf("setting commit status on %s: %w", repoFullName, err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("setting commit status on %s@%s: %w", repoFullName, s.SHA, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	// GitLab refuses to post the state a status already has ("Cannot
	// transition status via :run from :running"); the forge shows what we
	// meant, so that is success.
	if c.Kind == GitLab && resp.StatusCode == http.StatusBadRequest && bytes.Contains(body, []byte("Cannot transition status")) {
		return nil
	}
	return fmt.Errorf("setting commit status on %s@%s: %s: %s", repoFullName, s.SHA, resp.Status, strings.TrimSpace(string(body)))
}

func (c *Client) statusRequest(ctx context.Context, repoFullName string, s Status) (*http.Request, error) {
	if !isSHA(s.SHA) {
		return nil, fmt.Errorf("commit %q is not a hex SHA", s.SHA)
	}
	if s.Context == "" {
		s.Context = "sluice"
	}
	s.Description = truncate(s.Description, maxDescription)
	base := strings.TrimRight(c.BaseURL, "/")
	if base == "" {
		return nil, fmt.Errorf("no API base URL for %s", c.Kind)
	}
	var (
		path string
		body map[string]string
	)
	switch c.Kind {
	case GitHub, Gitea:
		owner, name, ok := strings.Cut(repoFullName, "/")
		if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
			return nil, fmt.Errorf("repository %q is not owner/name", repoFullName)
		}
		if s.State != Pending && s.State != Success && s.State != Failure && s.State != Error {
			return nil, fmt.Errorf("unknown status state %q", s.State)
		}
		path = "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name) + "/statuses/" + s.SHA
		body = map[string]string{"state": string(s.State), "context": s.Context}
	case GitLab:
		if repoFullName == "" || strings.HasPrefix(repoFullName, "/") || strings.HasSuffix(repoFullName, "/") {
			return nil, fmt.Errorf("project %q is not a path with namespace", repoFullName)
		}
		st, err := gitlabState(s.State)
		if err != nil {
			return nil, err
		}
		// The project path is one URL-encoded segment ("group%2Fproject").
		path = "/projects/" + url.PathEscape(repoFullName) + "/statuses/" + s.SHA
		body = map[string]string{"state": st, "name": s.Context}
	default:
		return nil, fmt.Errorf("unknown forge %q", c.Kind)
	}
	if s.Description != "" {
		body["description"] = s.Description
	}
	if s.TargetURL != "" {
		body["target_url"] = s.TargetURL
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	c.setHeaders(req)
	return req, nil
}

// gitlabState maps our states onto GitLab's: there is no "error" there, so
// an errored or cancelled run shows as canceled, distinct from a failure.
func gitlabState(s State) (string, error) {
	switch s {
	case Pending:
		return "running", nil
	case Success:
		return "success", nil
	case Failure:
		return "failed", nil
	case Error:
		return "canceled", nil
	}
	return "", fmt.Errorf("unknown status state %q", s)
}

func isSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// APIBaseURL derives a forge's API root from a repository's web URL and
// full name: github.com → https://api.github.com, GitHub Enterprise →
// /api/v3, Gitea → /api/v1, GitLab → /api/v4, each under the path the
// forge is served from.
func APIBaseURL(kind Kind, htmlURL, fullName string) (string, error) {
	u, err := url.Parse(htmlURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("repository URL %q is not an http(s) URL", htmlURL)
	}
	p := strings.TrimSuffix(strings.TrimRight(u.Path, "/"), ".git")
	root, ok := strings.CutSuffix(p, "/"+fullName)
	if !ok || fullName == "" {
		return "", fmt.Errorf("repository URL %q does not end in %q", htmlURL, fullName)
	}
	base := u.Scheme + "://" + u.Host + root
	switch kind {
	case GitHub:
		if strings.EqualFold(u.Host, "github.com") {
			return "https://api.github.com", nil
		}
		return base + "/api/v3", nil
	case Gitea:
		return base + "/api/v1", nil
	case GitLab:
		return base + "/api/v4", nil
	}
	return "", fmt.Errorf("unknown forge %q", kind)
}
