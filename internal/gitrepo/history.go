package gitrepo

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Commit is one commit of a history, as `sluice bump` and the pin finder read it.
type Commit struct {
	SHA      string
	Date     time.Time // committer date
	Author   string
	Subject  string
	Body     string // the message after the subject line
	Trailers []Trailer
}

// Trailer is one "Key: value" line of a commit's trailer block.
type Trailer struct{ Key, Value string }

// Trailer returns the first value of key (case-insensitive) and whether there was one.
func (c Commit) Trailer(key string) (string, bool) {
	for _, t := range c.Trailers {
		if strings.EqualFold(t.Key, key) {
			return t.Value, true
		}
	}
	return "", false
}

// Git runs git in the repository and returns its standard output; the error carries git's
// own message. It exists so callers outside this package never start git themselves.
func (r *Repo) Git(ctx context.Context, args ...string) (string, error) {
	return git(ctx, r.Root, args...)
}

// Log lists the commits of revRange (e.g. "v1.0.0..HEAD", or "HEAD"), newest first, limited
// to those touching paths when any are given. max ≤ 0 means no limit.
func (r *Repo) Log(ctx context.Context, revRange string, max int, paths ...string) ([]Commit, error) {
	const sep, end = "\x1f", "\x1e"
	args := []string{"log", "--no-color", "--format=%H" + "%x1f%cI%x1f%an%x1f%s%x1f%b%x1f%(trailers:only,unfold)%x1e"}
	if max > 0 {
		args = append(args, fmt.Sprintf("--max-count=%d", max))
	}
	args = append(args, revRange, "--")
	args = append(args, paths...)
	out, err := git(ctx, r.Root, args...)
	if err != nil {
		return nil, fmt.Errorf("reading the history %s: %w", revRange, err)
	}
	var commits []Commit
	for _, rec := range strings.Split(out, end) {
		rec = strings.TrimLeft(rec, "\n")
		if rec == "" {
			continue
		}
		f := strings.SplitN(rec, sep, 6)
		if len(f) != 6 {
			continue
		}
		c := Commit{SHA: f[0], Author: f[2], Subject: f[3], Body: strings.TrimSpace(f[4])}
		c.Date, _ = time.Parse(time.RFC3339, f[1])
		for _, l := range strings.Split(f[5], "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) != "" {
				c.Trailers = append(c.Trailers, Trailer{Key: strings.TrimSpace(k), Value: strings.TrimSpace(v)})
			}
		}
		commits = append(commits, c)
	}
	return commits, nil
}

// TagsMerged lists the tags whose commits are ancestors of (or at) rev.
func (r *Repo) TagsMerged(ctx context.Context, rev string) ([]string, error) {
	out, err := git(ctx, r.Root, "tag", "--merged", rev)
	if err != nil {
		return nil, fmt.Errorf("listing tags: %w", err)
	}
	return splitLines(out), nil
}

// Dirty lists the paths with uncommitted changes (untracked files included), as
// `git status --porcelain` shows them.
func (r *Repo) Dirty(ctx context.Context) ([]string, error) {
	out, err := git(ctx, r.Root, "--no-optional-locks", "status", "--porcelain=v1", "--untracked-files=normal")
	if err != nil {
		return nil, fmt.Errorf("reading working tree status: %w", err)
	}
	var paths []string
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 3 {
			paths = append(paths, l[3:])
		}
	}
	return paths, nil
}

// Show returns the content of path at rev, and false when it does not exist there.
func (r *Repo) Show(ctx context.Context, rev, path string) (string, bool) {
	out, err := git(ctx, r.Root, "show", rev+":"+path)
	if err != nil {
		return "", false
	}
	return out, true
}
