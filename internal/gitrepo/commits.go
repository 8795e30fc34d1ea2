package gitrepo

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sluice-ci/sluice/internal/roots"
)

// PushCommit is what a push event says about one commit (Commit is what a history walk
// reads: subject, body, trailers).
type PushCommit struct {
	SHA, Tree                                    string
	Message                                      string
	AuthorName, AuthorEmail, AuthorDate          string // dates in RFC 3339
	CommitterName, CommitterEmail, CommitterDate string
	Added, Removed, Modified                     []string
}

// Commits lists the commits after `before` up to `after` in dir's repository, oldest first, at
// most max of them (the newest are kept), with the files each changed, in one git call. An
// empty or all-zero before (a new branch) gives `after` alone. Both must be full SHAs.
func Commits(ctx context.Context, dir, before, after string, max int) ([]PushCommit, error) {
	if !isSHA(after) || before != "" && !isSHA(before) {
		return nil, fmt.Errorf("listing commits: %q..%q are not commit ids", before, after)
	}
	revs := []string{after}
	if before != "" && strings.Trim(before, "0") != "" {
		revs = append(revs, "^"+before)
	} else {
		max = 1
	}
	cs, _, err := logCommits(ctx, dir, max, revs...)
	return cs, err
}

// logCommits runs one git log over revs and returns the commits oldest first, with the first
// parent of each.
func logCommits(ctx context.Context, dir string, max int, revs ...string) ([]PushCommit, []string, error) {
	const us, rs = "\x1f", "\x1e"
	args := []string{"log", fmt.Sprintf("--max-count=%d", max), "-z", "--name-status", "--no-renames", "--first-parent", "-m",
		"--format=%x1e%H%x1f%P%x1f%T%x1f%an%x1f%ae%x1f%aI%x1f%cn%x1f%ce%x1f%cI%x1f%B%x1f", "--end-of-options"}
	out, err := git(ctx, dir, append(args, revs...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("listing commits %s: %w", strings.Join(revs, " "), err)
	}
	var (
		commits []PushCommit
		parents []string
	)
	for _, rec := range strings.Split(out, rs) {
		f := strings.SplitN(rec, us, 11)
		if len(f) != 11 {
			continue
		}
		c := PushCommit{SHA: f[0], Tree: f[2], AuthorName: f[3], AuthorEmail: f[4], AuthorDate: f[5],
			CommitterName: f[6], CommitterEmail: f[7], CommitterDate: f[8], Message: strings.TrimRight(f[9], "\n")}
		files := strings.Split(strings.Trim(f[10], "\x00\n"), "\x00")
		for i := 0; i+1 < len(files); i += 2 {
			switch path := files[i+1]; strings.TrimLeft(files[i], "\n") {
			case "A":
				c.Added = append(c.Added, path)
			case "D":
				c.Removed = append(c.Removed, path)
			default:
				c.Modified = append(c.Modified, path)
			}
		}
		parent, _, _ := strings.Cut(f[1], " ")
		commits = append(commits, c)
		parents = append(parents, parent)
	}
	slices.Reverse(commits)
	slices.Reverse(parents)
	return commits, parents, nil
}

// PushOf describes a push of head the way GitHub would report it: before is the upstream's tip
// (origin/BRANCH, what `git push` would move) when head is ahead of it, else head's first
// parent, else "" (a root commit); commits are those the push brings, oldest first, at most
// max, ending with head.
func (r *Repo) PushOf(ctx context.Context, head Head, max int) (before string, commits []PushCommit, err error) {
	if !isSHA(head.SHA) {
		return "", nil, fmt.Errorf("describing the push: HEAD %q is not a commit", head.SHA)
	}
	if branch, ok := strings.CutPrefix(head.Ref, "refs/heads/"); ok {
		if up := r.Resolve(ctx, "refs/remotes/origin/"+branch); up != "" && up != head.SHA {
			cs, _, err := logCommits(ctx, r.Root, max, head.SHA, "^"+up)
			if err == nil && len(cs) > 0 {
				return up, cs, nil
			}
		}
	}
	cs, parents, err := logCommits(ctx, r.Root, 1, head.SHA)
	if err != nil || len(cs) == 0 {
		return "", nil, err
	}
	return parents[0], cs, nil
}

// Resolve gives the commit a full ref name names, or "" when it names none; it reads the .git
// directory and asks git only when it must.
func (r *Repo) Resolve(ctx context.Context, ref string) string {
	gitDir := filepath.Join(r.Root, ".git")
	// A tag's ref may name an annotated tag object, not the commit it tags: git peels it.
	sha, found, absent := lookupRef(gitDir, ref)
	if found && !strings.HasPrefix(ref, "refs/tags/") {
		return sha
	}
	if absent && refsInFiles(gitDir) {
		return ""
	}
	out, err := git(ctx, r.Root, "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// ChangedSince lists the files that differ between before and after, as GitHub's paths filters
// see a push (before..after); an empty or all-zero before gives after's own files (a new
// branch's first commit: all of them when it has no parent).
func (r *Repo) ChangedSince(ctx context.Context, before, after string) ([]string, error) {
	if before == "" || strings.Trim(before, "0") == "" {
		return r.ChangedFiles(ctx, after)
	}
	if !isSHA(before) || !isSHA(after) {
		return nil, fmt.Errorf("listing changed files: %q..%q are not commit ids", before, after)
	}
	out, err := git(ctx, r.Root, "diff", "--no-renames", "--name-only", "--end-of-options", before, after)
	if err != nil {
		return nil, fmt.Errorf("listing files changed in %s..%s: %w", before[:12], after[:12], err)
	}
	return splitLines(out), nil
}

// PullChangedFiles lists the files a pull request from head into base changes: the three-dot
// diff (head against its merge base with base), as GitHub's paths filters see pull_request
// and pull_request_target events. Both must be full SHAs.
func (r *Repo) PullChangedFiles(ctx context.Context, base, head string) ([]string, error) {
	if !isSHA(base) || !isSHA(head) {
		return nil, fmt.Errorf("listing a pull request's files: %q...%q are not commit ids", base, head)
	}
	out, err := git(ctx, r.Root, "diff", "--no-renames", "--name-only", base+"..."+head, "--")
	if err != nil {
		return nil, fmt.Errorf("listing files changed in %s...%s: %w", base[:12], head[:12], err)
	}
	return splitLines(out), nil
}

// ExportDir writes directory dir of commit sha (a full SHA) into dest, leaving the work tree
// and index alone; ok is false when the commit has no such directory. Links that lead out
// of dest are dropped: the caller reads these files itself.
func (r *Repo) ExportDir(ctx context.Context, sha, dir, dest string) (ok bool, err error) {
	if !isSHA(sha) {
		return false, fmt.Errorf("exporting %s: %q is not a commit id", dir, sha)
	}
	if _, err := git(ctx, r.Root, "cat-file", "-e", sha+":"+dir); err != nil {
		return false, nil
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", `git -C "$1" archive --format=tar "$2" -- "$3" | tar -x -C "$4"`, "sh", r.Root, sha, dir, dest)
	if out, err := cmd.CombinedOutput(); err != nil {
		return false, fmt.Errorf("exporting %s of %s: %v: %s", dir, sha[:12], err, strings.TrimSpace(string(out)))
	}
	return true, roots.DropEscapingLinks(dest)
}
