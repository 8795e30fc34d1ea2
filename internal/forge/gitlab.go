package forge

import (
	"fmt"
	"maps"
	"net/http"
	"strings"
)

func parseGitLab(h http.Header, m map[string]any) (*Event, error) {
	name := h.Get("X-Gitlab-Event")
	var (
		ev  *Event
		err error
	)
	switch name {
	case "":
		return nil, fmt.Errorf("%w: X-Gitlab-Event header missing", ErrMalformed)
	case "Push Hook", "Tag Push Hook":
		ev, err = parseGitLabPush(m)
	case "Merge Request Hook":
		ev, err = parseGitLabMerge(m)
	case "System Hook":
		// System hooks carry pushes too when enabled instance-wide; anything
		// else they report (project created, user added, …) only shows the
		// hook works.
		switch str(m, "event_name") {
		case "push", "tag_push":
			ev, err = parseGitLabPush(m)
		default:
			ev = &Event{Name: "ping", Payload: maps.Clone(m)}
		}
	default:
		return nil, fmt.Errorf("%w: GitLab event %q", ErrIgnored, name)
	}
	if err != nil {
		return nil, err
	}
	// Idempotency-Key stays the same when GitLab retries a delivery, so it
	// is the better key for de-duplication where it is sent.
	_, ev.DeliveryID = firstHeader(h, "Idempotency-Key", "X-Gitlab-Event-UUID")
	ev.Repo = gitlabRepo(obj(m, "project"))
	if ev.Payload == nil {
		ev.Payload = maps.Clone(m)
	}
	ev.Payload["repository"] = githubRepo(ev.Repo)
	if ev.Sender != "" {
		ev.Payload["sender"] = map[string]any{"login": ev.Sender}
	}
	return ev, nil
}

func gitlabRepo(p map[string]any) Repo {
	return Repo{
		FullName:      str(p, "path_with_namespace"),
		CloneURL:      str(p, "git_http_url"),
		HTMLURL:       str(p, "web_url"),
		DefaultBranch: str(p, "default_branch"),
	}
}

// githubRepo is the repository object of a GitHub payload, for
// github.event.repository.
func githubRepo(r Repo) map[string]any {
	owner, name := r.FullName, r.FullName
	if i := strings.LastIndexByte(r.FullName, '/'); i >= 0 {
		owner, name = r.FullName[:i], r.FullName[i+1:]
	}
	return map[string]any{
		"full_name":      r.FullName,
		"name":           name,
		"owner":          map[string]any{"login": owner},
		"clone_url":      r.CloneURL,
		"html_url":       r.HTMLURL,
		"default_branch": r.DefaultBranch,
	}
}

func parseGitLabPush(m map[string]any) (*Event, error) {
	ev, err := parsePushLike(m)
	if err != nil {
		return nil, err
	}
	// checkout_sha is the commit even when after is an annotated tag object.
	if sha := str(m, "checkout_sha"); sha != "" {
		ev.HeadSHA = sha
	}
	ev.Message = headMessage(ev.Commits, ev.HeadSHA)
	// GitLab lists at most 20 commits; with more, the file list is partial.
	if n := num(m, "total_commits_count"); n > len(ev.Commits) {
		ev.ChangedFiles = nil
	}
	ev.Sender = str(m, "user_username")

	p := maps.Clone(m)
	p["created"] = ev.Before == zeroSHA
	p["deleted"] = false
	p["forced"] = false
	p["pusher"] = map[string]any{"name": str(m, "user_name"), "email": str(m, "user_email")}
	var commits []any
	var head map[string]any
	for _, c := range ev.Commits {
		gc := githubCommit(c)
		commits = append(commits, gc)
		if c.ID == ev.HeadSHA {
			head = gc
		}
	}
	p["commits"] = commits
	if head != nil {
		p["head_commit"] = head
	}
	ev.Payload = p
	return ev, nil
}

func githubCommit(c Commit) map[string]any {
	list := func(s []string) []any {
		out := make([]any, 0, len(s))
		for _, x := range s {
			out = append(out, x)
		}
		return out
	}
	return map[string]any{
		"id":        c.ID,
		"message":   c.Message,
		"timestamp": c.Timestamp,
		"url":       c.URL,
		"author":    map[string]any{"name": c.Author, "email": c.AuthorEmail},
		"added":     list(c.Added),
		"modified":  list(c.Modified),
		"removed":   list(c.Removed),
	}
}

// gitlabAction names a merge request action the way GitHub names the
// pull_request one. An update is a synchronize only when it moved the head
// (GitLab then sends oldrev); otherwise it changed the description, labels,
// etc.
func gitlabAction(a string, moved bool) string {
	switch a {
	case "open":
		return "opened"
	case "reopen":
		return "reopened"
	case "close", "merge":
		return "closed"
	case "update":
		if moved {
			return "synchronize"
		}
		return "edited"
	}
	return a
}

func parseGitLabMerge(m map[string]any) (*Event, error) {
	a := obj(m, "object_attributes")
	if a == nil {
		return nil, fmt.Errorf("%w: merge request event without object_attributes", ErrMalformed)
	}
	ev := &Event{
		Name:    "pull_request",
		Number:  num(a, "iid"),
		BaseRef: str(a, "target_branch"),
		HeadRef: str(a, "source_branch"),
		HeadSHA: str(a, "last_commit", "id"),
		Before:  str(a, "oldrev"),
		Message: str(a, "title"),
		Sender:  str(m, "user", "username"),
	}
	if ev.Number <= 0 {
		return nil, fmt.Errorf("%w: merge request without an iid", ErrMalformed)
	}
	ev.Action = gitlabAction(str(a, "action"), ev.Before != "")
	ev.After = ev.HeadSHA
	ev.Ref = fmt.Sprintf("refs/pull/%d/merge", ev.Number)
	src, tgt := num(a, "source_project_id"), num(a, "target_project_id")
	ev.Fork = !has(a, "source_project_id") || src != tgt

	state := "open"
	if s := str(a, "state"); s == "closed" || s == "merged" || s == "locked" {
		state = "closed"
	}
	p := maps.Clone(m)
	p["action"] = ev.Action
	p["number"] = ev.Number
	if ev.Before != "" {
		p["before"], p["after"] = ev.Before, ev.After
	}
	p["pull_request"] = map[string]any{
		"number":   ev.Number,
		"title":    ev.Message,
		"body":     str(a, "description"),
		"html_url": str(a, "url"),
		"state":    state,
		"merged":   str(a, "state") == "merged" || str(a, "action") == "merge",
		"draft":    a["draft"] == true,
		"user":     map[string]any{"login": ev.Sender},
		"head": map[string]any{
			"ref":  ev.HeadRef,
			"sha":  ev.HeadSHA,
			"repo": githubRepo(gitlabRepo(obj(a, "source"))),
		},
		"base": map[string]any{
			"ref":  ev.BaseRef,
			"repo": githubRepo(gitlabRepo(obj(a, "target"))),
		},
	}
	ev.Payload = p
	return ev, nil
}
