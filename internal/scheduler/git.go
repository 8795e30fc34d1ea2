package scheduler

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/sluice-ci/sluice/internal/roots"
)

// mirror keeps a bare copy of each repository under the data directory, so
// planning reads workflows at any commit without a work tree.
type mirror struct {
	dir string
	// locks serialise fetches per repository: two first webhooks of a new
	// repository must not both create its mirror.
	locks *sync.Map
}

func (m mirror) lock(repoID int64) func() {
	v, _ := m.locks.LoadOrStore(repoID, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

func (m mirror) path(repoID int64) string {
	return filepath.Join(m.dir, fmt.Sprintf("%d.git", repoID))
}

// fetch brings branches, tags and (when given) one extra ref or commit from
// url into the repository's mirror.
func (m mirror) fetch(ctx context.Context, repoID int64, url string, extra ...string) (string, error) {
	defer m.lock(repoID)()
	return m.fetchLocked(ctx, repoID, url, extra...)
}

// fetchLocked is fetch for a caller that holds the repository's lock.
func (m mirror) fetchLocked(ctx context.Context, repoID int64, url string, extra ...string) (string, error) {
	p := m.path(repoID)
	if _, err := os.Stat(p); err != nil {
		// Made beside its place and renamed, so a half-made mirror is
		// never seen.
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return "", err
		}
		tmp, err := os.MkdirTemp(m.dir, ".init-")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(tmp)
		if _, err := git(ctx, tmp, "init", "-q", "--bare"); err != nil {
			return "", err
		}
		if err := os.Rename(tmp, p); err != nil {
			return "", fmt.Errorf("creating the mirror of repository %d: %w", repoID, err)
		}
	}
	// --end-of-options before every value that came from outside (a URL,
	// a webhook's ref or commit id): none of them is ever read as an option.
	args := []string{"fetch", "-q", "--force", "--prune", "--end-of-options", url, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"}
	if _, err := git(ctx, p, args...); err != nil {
		return "", fmt.Errorf("fetching %s: %w", url, err)
	}
	for _, e := range extra {
		if e == "" {
			continue
		}
		if _, err := git(ctx, p, "cat-file", "-e", "--end-of-options", e+"^{commit}"); err == nil {
			continue // the branches already brought it
		}
		// A pull request head or a commit no branch names.
		_, _ = git(ctx, p, "fetch", "-q", "--force", "--end-of-options", url, e)
	}
	return p, nil
}

func (m mirror) resolve(ctx context.Context, repoID int64, ref string) (string, error) {
	out, err := git(ctx, m.path(repoID), "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("no commit for %q in the repository", ref)
	}
	return strings.TrimSpace(out), nil
}

// export writes the tree at sha into dir.
func (m mirror) export(ctx context.Context, repoID int64, sha, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", `git --git-dir="$1" archive --format=tar --end-of-options "$2" | tar -x -C "$3"`, "sh", m.path(repoID), sha, dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("exporting %s: %v: %s", sha, err, strings.TrimSpace(stderr.String()))
	}
	// The server reads these files itself: a link out of the tree must not
	// lead it to its own data.
	return roots.DropEscapingLinks(dir)
}

func (m mirror) changedFiles(ctx context.Context, repoID int64, before, sha string) []string {
	var out string
	var err error
	if before == "" || strings.Trim(before, "0") == "" {
		out, err = git(ctx, m.path(repoID), "diff-tree", "--no-commit-id", "--name-only", "-r", "--root", "--end-of-options", sha)
	} else {
		out, err = git(ctx, m.path(repoID), "diff", "--name-only", "--end-of-options", before, sha)
	}
	if err != nil {
		return nil
	}
	var files []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			files = append(files, l)
		}
	}
	return files
}

// pullChangedFiles are the files a pull request changes: the three-dot diff of its head sha
// against the merge base with base (its base branch), as GitHub reads `paths:` for
// pull_request events; ok is false when the mirror cannot tell (no such base branch).
func (m mirror) pullChangedFiles(ctx context.Context, repoID int64, base, sha string) ([]string, bool) {
	out, err := git(ctx, m.path(repoID), "diff", "--name-only", "refs/heads/"+strings.TrimPrefix(base, "refs/heads/")+"..."+sha, "--")
	if err != nil {
		return nil, false
	}
	files := []string{}
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			files = append(files, l)
		}
	}
	return files, true
}

// fullMessage is commit sha's whole message (subject, body and trailers).
func (m mirror) fullMessage(ctx context.Context, repoID int64, sha string) string {
	out, err := git(ctx, m.path(repoID), "log", "-1", "--format=%B", sha, "--")
	if err != nil {
		return ""
	}
	return out
}

func (m mirror) message(ctx context.Context, repoID int64, sha string) string {
	out, err := git(ctx, m.path(repoID), "log", "-1", "--format=%s", "--end-of-options", sha)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %s", args[0], strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// SyncMirror makes sure repository repoID's mirror on this replica has the commits wants name
// (all of them fetched from the repository when it lacks any, or when it has no mirror yet):
// an agent may fetch its job's commit from any replica, not only the one that planned the run.
func (s *Scheduler) SyncMirror(ctx context.Context, repoID int64, wants []string) error {
	// The check waits for a fetch under way: git writes a small fetch's objects one by one, a
	// commit before its tree, so a commit seen mid-fetch may not be whole yet, and serving it
	// fails the agent's checkout with "possible repository corruption".
	defer s.mirror.lock(repoID)()
	p := s.mirror.path(repoID)
	if _, err := os.Stat(p); err == nil {
		missing := false
		for _, w := range wants {
			if _, err := git(ctx, p, "cat-file", "-e", "--end-of-options", w+"^{commit}"); err != nil {
				missing = true
				break
			}
		}
		if !missing {
			return nil
		}
	}
	repo, err := s.cfg.DB.GetRepo(ctx, repoID)
	if err != nil {
		return err
	}
	_, err = s.mirror.fetchLocked(ctx, repoID, s.cloneURL(repo), wants...)
	return err
}
