// Package event makes the github.event payloads GitHub sends for push and pull_request when an
// event did not come from GitHub itself (sluice run, a polled or dispatched run, Gitea, GitLab):
// the fields GitHub documents and actions read (repository with its default branch and URLs,
// sender, commits and head_commit, before/after, a pull request's number, head, base, draft,
// merged and labels) are filled in from what is known. Nothing the event already carries is
// overwritten, so GitHub's own deliveries pass through unchanged.
package event

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/sluice-ci/sluice/internal/gitrepo"
)

// ZeroSHA is GitHub's "no commit", the before of a new branch.
const ZeroSHA = "0000000000000000000000000000000000000000"

// Repository is a repository as payloads name it.
type Repository struct {
	FullName      string // owner/name
	HTMLURL       string
	CloneURL      string
	DefaultBranch string
}

// PullRequest is what is known of a pull request.
type PullRequest struct {
	Number           int
	Title, Body      string
	HeadRef, HeadSHA string
	BaseRef, BaseSHA string
	HeadRepo         *Repository // nil: the base repository
	Draft, Merged    bool
	Labels           []string
}

// Facts is what sluice knows about an event.
type Facts struct {
	Event, Action string
	Ref           string
	Before, After string // push: the ref's previous and new commit
	Repo          Repository
	Sender        string
	Commits       []gitrepo.PushCommit // pushed commits, oldest first; the last is the head commit
	PR            *PullRequest
}

// Fill adds to payload p (which may be nil) every field of Facts that p lacks and returns it.
func Fill(p map[string]any, f Facts) map[string]any {
	if p == nil {
		p = map[string]any{}
	}
	repo := repository(f.Repo)
	p["repository"] = merge(p["repository"], repo)
	if f.Sender != "" {
		p["sender"] = merge(p["sender"], user(f.Sender))
	}
	switch f.Event {
	case "push":
		fillPush(p, f, repo)
	case "pull_request", "pull_request_target":
		fillPull(p, f, repo)
	}
	return p
}

func fillPush(p map[string]any, f Facts, repo map[string]any) {
	before := f.Before
	if before == "" {
		before = ZeroSHA
	}
	setDefault(p, "ref", f.Ref)
	setDefault(p, "before", before)
	setDefault(p, "after", f.After)
	setDefault(p, "created", before == ZeroSHA)
	setDefault(p, "deleted", false)
	setDefault(p, "forced", false)
	setDefault(p, "base_ref", nil)
	if html, _ := repo["html_url"].(string); strings.HasPrefix(html, "http") && f.After != "" {
		setDefault(p, "compare", fmt.Sprintf("%s/compare/%s...%s", html, short(before), short(f.After)))
	}
	commits := make([]any, 0, len(f.Commits))
	var head map[string]any
	for _, c := range f.Commits {
		m := commit(c, repo)
		commits = append(commits, m)
		if c.SHA == f.After {
			head = m
		}
	}
	setDefault(p, "commits", commits)
	if head == nil && len(f.Commits) > 0 {
		head = commits[len(commits)-1].(map[string]any)
	}
	if head != nil {
		setDefault(p, "head_commit", head)
		author, _ := head["author"].(map[string]any)
		setDefault(p, "pusher", map[string]any{"name": author["name"], "email": author["email"]})
	}
}

func fillPull(p map[string]any, f Facts, repo map[string]any) {
	pr := f.PR
	if pr == nil {
		return
	}
	setDefault(p, "action", firstNonEmpty(f.Action, "opened"))
	setDefault(p, "number", float64(pr.Number))
	headRepo := repo
	if pr.HeadRepo != nil {
		headRepo = repository(*pr.HeadRepo)
	}
	owner := func(r map[string]any) string {
		o, _ := r["owner"].(map[string]any)
		s, _ := o["login"].(string)
		return s
	}
	labels := make([]any, 0, len(pr.Labels))
	for _, l := range pr.Labels {
		labels = append(labels, map[string]any{"name": l})
	}
	html, _ := repo["html_url"].(string)
	want := map[string]any{
		"number":   float64(pr.Number),
		"title":    pr.Title,
		"body":     pr.Body,
		"state":    "open",
		"draft":    pr.Draft,
		"merged":   pr.Merged,
		"labels":   labels,
		"user":     user(f.Sender),
		"html_url": fmt.Sprintf("%s/pull/%d", html, pr.Number),
		"head": map[string]any{
			"ref": pr.HeadRef, "sha": pr.HeadSHA, "label": owner(headRepo) + ":" + pr.HeadRef, "repo": headRepo,
		},
		"base": map[string]any{
			"ref": pr.BaseRef, "sha": pr.BaseSHA, "label": owner(repo) + ":" + pr.BaseRef, "repo": repo,
		},
	}
	if pr.Merged {
		want["state"] = "closed"
	}
	p["pull_request"] = merge(p["pull_request"], want)
}

// RepositoryFromURL describes the repository at a clone URL or path. Credentials in the URL are
// dropped: a payload is visible to every step.
func RepositoryFromURL(raw, fullName, defaultBranch string) Repository {
	r := Repository{FullName: fullName, DefaultBranch: defaultBranch}
	raw = strings.TrimSpace(raw)
	switch {
	case raw == "":
	case strings.Contains(raw, "://"):
		u, err := url.Parse(raw)
		if err != nil {
			break
		}
		u.User = nil
		u.RawQuery, u.Fragment = "", ""
		if u.Scheme == "file" {
			r.CloneURL, r.HTMLURL = u.String(), u.String()
			break
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			u.Scheme = "https" // ssh://git@host/o/r.git
		}
		u.Host = u.Hostname() + portOf(u)
		u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), ".git")
		r.HTMLURL = u.String()
		r.CloneURL = r.HTMLURL + ".git"
	case !strings.HasPrefix(raw, "/") && strings.Contains(raw, ":"):
		// scp-like: git@host:owner/name.git
		hostPart, path, _ := strings.Cut(raw, ":")
		if i := strings.LastIndex(hostPart, "@"); i >= 0 {
			hostPart = hostPart[i+1:]
		}
		r.HTMLURL = "https://" + hostPart + "/" + strings.TrimSuffix(strings.Trim(path, "/"), ".git")
		r.CloneURL = r.HTMLURL + ".git"
	default:
		abs, err := filepath.Abs(raw)
		if err != nil {
			abs = raw
		}
		r.CloneURL = (&url.URL{Scheme: "file", Path: abs}).String()
		r.HTMLURL = r.CloneURL
	}
	return r
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" && u.Scheme == "http" {
		return ":" + p
	}
	return ""
}

func repository(r Repository) map[string]any {
	owner, name := "", r.FullName
	if i := strings.LastIndex(r.FullName, "/"); i >= 0 {
		owner, name = r.FullName[:i], r.FullName[i+1:]
	}
	return map[string]any{
		"name":           name,
		"full_name":      r.FullName,
		"owner":          map[string]any{"login": owner, "name": owner, "type": "User"},
		"private":        false,
		"html_url":       r.HTMLURL,
		"clone_url":      r.CloneURL,
		"url":            r.HTMLURL,
		"default_branch": r.DefaultBranch,
		"master_branch":  r.DefaultBranch, // GitHub sends both in push payloads
	}
}

func user(login string) map[string]any {
	return map[string]any{"login": login, "type": "User"}
}

func commit(c gitrepo.PushCommit, repo map[string]any) map[string]any {
	list := func(s []string) []any {
		out := make([]any, 0, len(s))
		for _, x := range s {
			out = append(out, x)
		}
		return out
	}
	html, _ := repo["html_url"].(string)
	return map[string]any{
		"id":        c.SHA,
		"tree_id":   c.Tree,
		"message":   c.Message,
		"timestamp": c.CommitterDate,
		"url":       html + "/commit/" + c.SHA,
		"distinct":  true,
		"author":    map[string]any{"name": c.AuthorName, "email": c.AuthorEmail, "date": c.AuthorDate},
		"committer": map[string]any{"name": c.CommitterName, "email": c.CommitterEmail, "date": c.CommitterDate},
		"added":     list(c.Added),
		"removed":   list(c.Removed),
		"modified":  list(c.Modified),
	}
}

// merge adds want's keys that have is missing, recursively into maps both hold; a value that
// is not a map (a forge's own shape) is kept as it is.
func merge(have any, want map[string]any) any {
	m, ok := have.(map[string]any)
	if have != nil && !ok {
		return have
	}
	if m == nil {
		m = map[string]any{}
	}
	for k, v := range want {
		cur, present := m[k]
		if !present || cur == nil || cur == "" {
			m[k] = v
			continue
		}
		if wm, ok := v.(map[string]any); ok {
			m[k] = merge(cur, wm)
		}
	}
	return m
}

func setDefault(p map[string]any, k string, v any) {
	if cur, ok := p[k]; !ok || cur == "" {
		p[k] = v
	}
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
