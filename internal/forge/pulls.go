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
)

// PullRequest is a pull request (GitLab: merge request) to open or refresh.
type PullRequest struct {
	Title string
	Body  string // markdown
	Head  string // the branch with the change
	Base  string // the branch it goes into
}

// OpenedPull is where a pull request lives.
type OpenedPull struct {
	Number int    `json:"number"`
	URL    string `json:"url"`
}

// maxPullBody keeps a body under what forges accept (GitHub: 65,536 characters).
const maxPullBody = 60_000

// OpenPullRequest opens a pull request from pr.Head into pr.Base on repoFullName, or, when
// one is already open from that branch, replaces its title and body.
func (c *Client) OpenPullRequest(ctx context.Context, repoFullName string, pr PullRequest) (*OpenedPull, error) {
	if !validBranch(pr.Head) || !validBranch(pr.Base) {
		return nil, fmt.Errorf("opening a pull request on %s: branch %q or %q is not a plain branch name", repoFullName, pr.Head, pr.Base)
	}
	pr.Title = truncate(pr.Title, 250)
	if len(pr.Body) > maxPullBody {
		pr.Body = pr.Body[:maxPullBody] + "\n\n…(cut)"
	}
	repoPath, err := c.repoPath(repoFullName)
	if err != nil {
		return nil, err
	}
	var create map[string]any
	var pulls string
	switch c.Kind {
	case GitHub, Gitea:
		pulls = repoPath + "/pulls"
		create = map[string]any{"title": pr.Title, "body": pr.Body, "head": pr.Head, "base": pr.Base}
	case GitLab:
		pulls = repoPath + "/merge_requests"
		create = map[string]any{"title": pr.Title, "description": pr.Body, "source_branch": pr.Head, "target_branch": pr.Base, "remove_source_branch": true}
	}
	var got pullJSON
	status, err := c.call(ctx, http.MethodPost, pulls, create, &got)
	if err == nil {
		return got.opened(), nil
	}
	// 422 (GitHub) or 409 (Gitea, GitLab): one is open from this branch already.
	if status != http.StatusUnprocessableEntity && status != http.StatusConflict {
		return nil, fmt.Errorf("opening a pull request on %s: %w", repoFullName, err)
	}
	existing, ferr := c.findPull(ctx, repoFullName, repoPath, pr.Head)
	if ferr != nil {
		return nil, fmt.Errorf("opening a pull request on %s: %v; finding the open one: %w", repoFullName, err, ferr)
	}
	var edit map[string]any
	method, path := http.MethodPatch, fmt.Sprintf("%s/%d", pulls, existing.Number)
	switch c.Kind {
	case GitHub, Gitea:
		edit = map[string]any{"title": pr.Title, "body": pr.Body}
	case GitLab:
		method = http.MethodPut
		edit = map[string]any{"title": pr.Title, "description": pr.Body}
	}
	if _, err := c.call(ctx, method, path, edit, nil); err != nil {
		return nil, fmt.Errorf("updating pull request %d on %s: %w", existing.Number, repoFullName, err)
	}
	return existing, nil
}

type pullJSON struct {
	Number  int    `json:"number"`
	IID     int    `json:"iid"`
	HTMLURL string `json:"html_url"`
	WebURL  string `json:"web_url"`
	Head    struct {
		Ref string `json:"ref"`
	} `json:"head"`
	SourceBranch string `json:"source_branch"`
}

func (p pullJSON) opened() *OpenedPull {
	o := &OpenedPull{Number: p.Number, URL: p.HTMLURL}
	if p.IID != 0 {
		o.Number, o.URL = p.IID, p.WebURL
	}
	return o
}

func (c *Client) findPull(ctx context.Context, full, repoPath, head string) (*OpenedPull, error) {
	var q string
	switch c.Kind {
	case GitHub:
		owner, _, _ := strings.Cut(full, "/")
		q = repoPath + "/pulls?state=open&head=" + url.QueryEscape(owner+":"+head)
	case Gitea:
		q = repoPath + "/pulls?state=open&limit=50"
	case GitLab:
		q = repoPath + "/merge_requests?state=opened&source_branch=" + url.QueryEscape(head)
	}
	var list []pullJSON
	if _, err := c.call(ctx, http.MethodGet, q, nil, &list); err != nil {
		return nil, err
	}
	for _, p := range list {
		if p.Head.Ref == head || p.SourceBranch == head {
			return p.opened(), nil
		}
	}
	return nil, fmt.Errorf("no open pull request from %s", head)
}

func (c *Client) repoPath(full string) (string, error) {
	switch c.Kind {
	case GitHub, Gitea:
		owner, name, err := ownerName(full)
		if err != nil {
			return "", err
		}
		return "/repos/" + owner + "/" + name, nil
	case GitLab:
		p, err := gitlabProject(full)
		if err != nil {
			return "", err
		}
		return "/projects/" + p, nil
	}
	return "", fmt.Errorf("unknown forge %q", c.Kind)
}

// call makes one authenticated JSON API call and decodes a 2xx answer into out.
func (c *Client) call(ctx context.Context, method, path string, in, out any) (int, error) {
	base := strings.TrimRight(c.BaseURL, "/")
	if base == "" {
		return 0, fmt.Errorf("no API base URL for %s", c.Kind)
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return 0, err
	}
	c.setHeaders(req)
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(truncate(string(data), 300)))
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

func validBranch(b string) bool {
	if b == "" || strings.HasPrefix(b, "-") || strings.Contains(b, "..") || len(b) > 200 {
		return false
	}
	for _, r := range b {
		if !(r == '/' || r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}
