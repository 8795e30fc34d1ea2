package forge

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

const zeroSHA = "0000000000000000000000000000000000000000"

// Parse reads a delivery's event name from its headers and its JSON body.
// Pushes to refs/tags/* become "tag"; GitLab merge requests become
// "pull_request" with GitHub's action names; GitHub pings and GitLab system
// hooks become "ping". Events sluice does not act on, and pushes that delete
// a ref, are ErrIgnored. Parse does not authenticate: call Verify first.
func Parse(kind Kind, h http.Header, body []byte) (*Event, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%w: body is not a JSON object: %v", ErrMalformed, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%w: body is not a JSON object", ErrMalformed)
	}
	var (
		ev  *Event
		err error
	)
	switch kind {
	case GitHub:
		ev, err = parseGitHub(h, m)
	case Gitea:
		ev, err = parseGitea(h, m)
	case GitLab:
		ev, err = parseGitLab(h, m)
	default:
		return nil, fmt.Errorf("%w: unknown forge %q", ErrMalformed, kind)
	}
	if err != nil {
		return nil, err
	}
	if err := ev.check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	ev.Forge = kind
	return ev, nil
}

func firstHeader(h http.Header, names ...string) (name, value string) {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return n, v
		}
	}
	return names[0], ""
}

// parsePushLike fills the fields that GitHub's and Gitea's push payloads
// share (GitLab's are close enough to reuse most of it too).
func parsePushLike(m map[string]any) (*Event, error) {
	ev := &Event{
		Ref:    str(m, "ref"),
		Before: str(m, "before"),
		After:  str(m, "after"),
	}
	if ev.Ref == "" {
		return nil, fmt.Errorf("%w: push without ref", ErrMalformed)
	}
	if ev.After == zeroSHA || m["deleted"] == true {
		return nil, fmt.Errorf("%w: push deletes %s", ErrIgnored, ev.Ref)
	}
	ev.Name = "push"
	if strings.HasPrefix(ev.Ref, "refs/tags/") {
		ev.Name = "tag"
	}
	ev.Commits = commitsOf(m)
	ev.HeadSHA = str(m, "head_commit", "id")
	if ev.HeadSHA == "" {
		ev.HeadSHA = ev.After
	}
	ev.Message = str(m, "head_commit", "message")
	if ev.Message == "" {
		ev.Message = headMessage(ev.Commits, ev.HeadSHA)
	}
	// A tag push lists no commits, and an empty list there says nothing
	// about what changed.
	if ev.Name == "push" && len(ev.Commits) > 0 {
		ev.ChangedFiles = changedFiles(ev.Commits)
	}
	return ev, nil
}

func headMessage(commits []Commit, sha string) string {
	for _, c := range commits {
		if c.ID == sha {
			return c.Message
		}
	}
	if len(commits) > 0 {
		return commits[len(commits)-1].Message
	}
	return ""
}

func repoOf(r map[string]any) Repo {
	return Repo{
		FullName:      str(r, "full_name"),
		CloneURL:      str(r, "clone_url"),
		HTMLURL:       str(r, "html_url"),
		DefaultBranch: str(r, "default_branch"),
	}
}

// parsePullLike reads GitHub's pull_request payload, which Gitea mirrors.
func parsePullLike(m map[string]any) (*Event, error) {
	pr := obj(m, "pull_request")
	if pr == nil {
		return nil, fmt.Errorf("%w: pull_request event without pull_request", ErrMalformed)
	}
	ev := &Event{
		Name:    "pull_request",
		Action:  str(m, "action"),
		Number:  num(m, "number"),
		BaseRef: str(pr, "base", "ref"),
		HeadRef: str(pr, "head", "ref"),
		HeadSHA: str(pr, "head", "sha"),
		Before:  str(m, "before"),
		Message: str(pr, "title"),
	}
	if ev.Number == 0 {
		ev.Number = num(pr, "number")
	}
	if ev.Number <= 0 {
		return nil, fmt.Errorf("%w: pull request without a number", ErrMalformed)
	}
	ev.After = ev.HeadSHA
	ev.Ref = fmt.Sprintf("refs/pull/%d/merge", ev.Number)
	headRepo, baseRepo := str(pr, "head", "repo", "full_name"), str(pr, "base", "repo", "full_name")
	if baseRepo == "" {
		baseRepo = str(m, "repository", "full_name")
	}
	// A missing head repository means the fork was deleted: still not ours.
	ev.Fork = headRepo == "" || !strings.EqualFold(headRepo, baseRepo)
	return ev, nil
}
