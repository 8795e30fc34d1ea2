// Package gitrepo asks the git binary about the user's repository and makes
// job checkouts from it without ever writing to it.
package gitrepo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Repo is a local git repository.
type Repo struct {
	Root string // top-level directory of the work tree
}

// Head is where the repository stands.
type Head struct {
	SHA string
	Ref string // refs/heads/<branch>, or the SHA when detached
}

// Open finds the repository containing dir.
func Open(ctx context.Context, dir string) (*Repo, error) {
	out, err := git(ctx, dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, notARepo(dir, err)
	}
	return &Repo{Root: strings.TrimSpace(out)}, nil
}

func notARepo(dir string, err error) error {
	return fmt.Errorf("%s is not inside a git repository (sluice run needs one: `git init && git add -A && git commit -m init`): %w", dir, err)
}

// OpenAt finds the repository containing dir and where its HEAD stands,
// in one git call: sluice run's start-up cost is mostly processes.
func OpenAt(ctx context.Context, dir string) (*Repo, Head, error) {
	if root, h, ok := readHead(dir); ok {
		return &Repo{Root: root}, h, nil
	}
	// rev-parse options apply to the arguments after them: the first HEAD
	// prints the commit, the second its symbolic name.
	out, err := git(ctx, dir, "rev-parse", "--show-toplevel", "HEAD", "--symbolic-full-name", "HEAD")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if err != nil || len(lines) != 3 {
		if _, oerr := Open(ctx, dir); oerr != nil {
			return nil, Head{}, oerr
		}
		if err == nil {
			err = fmt.Errorf("unexpected output %q", out)
		}
		return nil, Head{}, fmt.Errorf("reading HEAD (does the repository have a commit yet?): %w", err)
	}
	return &Repo{Root: lines[0]}, head(lines[1], lines[2]), nil
}

// Head returns HEAD's commit and symbolic ref in one git call.
func (r *Repo) Head(ctx context.Context) (Head, error) {
	out, err := git(ctx, r.Root, "rev-parse", "HEAD", "--symbolic-full-name", "HEAD")
	if err != nil {
		return Head{}, fmt.Errorf("reading HEAD (does the repository have a commit yet?): %w", err)
	}
	lines := strings.Fields(out)
	if len(lines) != 2 {
		return Head{}, fmt.Errorf("reading HEAD: unexpected output %q", out)
	}
	return head(lines[0], lines[1]), nil
}

func head(sha, ref string) Head {
	if ref == "HEAD" { // detached
		ref = sha
	}
	return Head{SHA: sha, Ref: ref}
}

// ChangedFiles lists the paths changed by sha against its first parent; the
// root commit counts all its files as changed.
func (r *Repo) ChangedFiles(ctx context.Context, sha string) ([]string, error) {
	// diff-tree ignores --first-parent for merges, so name the parent.
	parents, err := git(ctx, r.Root, "rev-list", "--parents", "-n1", "--end-of-options", sha)
	if err != nil {
		return nil, fmt.Errorf("reading the parents of %s: %w", sha, err)
	}
	args := []string{"diff-tree", "--no-commit-id", "--name-only", "-r", "--root", "--end-of-options", sha}
	if f := strings.Fields(parents); len(f) > 1 {
		args = []string{"diff-tree", "--no-commit-id", "--name-only", "-r", "--end-of-options", f[1], sha}
	}
	out, err := git(ctx, r.Root, args...)
	if err != nil {
		return nil, fmt.Errorf("listing files changed by %s: %w", sha, err)
	}
	return splitLines(out), nil
}

// Identity is who and where the repository says it is.
type Identity struct {
	Repository string // owner/name from the origin URL, else local/<dir>
	Actor      string // user.name, else $USER
	OriginURL  string // the origin remote's URL, "" without one
}

// Identity reads the origin URL and user.name in one git call.
func (r *Repo) Identity(ctx context.Context) Identity {
	if id, ok := readIdentity(r.Root); ok {
		return id
	}
	id := Identity{Repository: "local/" + filepath.Base(r.Root), Actor: os.Getenv("USER")}
	out, _ := git(ctx, r.Root, "config", "-z", "--get-regexp", `^(remote\.origin\.url|user\.name)$`)
	for _, rec := range strings.Split(out, "\x00") {
		key, val, ok := strings.Cut(rec, "\n")
		if !ok {
			continue
		}
		switch key {
		case "user.name":
			if v := strings.TrimSpace(val); v != "" {
				id.Actor = v
			}
		case "remote.origin.url":
			id.OriginURL = strings.TrimSpace(val)
			if name := repoNameFromURL(val); name != "" {
				id.Repository = name
			}
		}
	}
	return id
}

// repoNameFromURL turns https://host/owner/name.git, git@host:owner/name
// and /path/owner/name into owner/name.
func repoNameFromURL(u string) string {
	u = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(u), "/"), ".git")
	u = strings.ReplaceAll(u, ":", "/")
	parts := strings.Split(u, "/")
	if len(parts) >= 2 && parts[len(parts)-1] != "" && parts[len(parts)-2] != "" {
		return parts[len(parts)-2] + "/" + parts[len(parts)-1]
	}
	return ""
}

// CheckoutOptions are the parts of actions/checkout a local clone honours.
type CheckoutOptions struct {
	Source    string // repository to clone from (a path or URL)
	SHA       string // commit to check out; empty means Ref's tip
	Ref       string // refs/heads/x, refs/tags/y, a branch name or a sha
	Depth     int    // 0 = full history with all branches and tags
	FetchTags bool
	Sparse    []string
	Clean     bool
	// Config are extra `git -c` settings for talking to Source, such as
	// http.extraHeader=Authorization: Bearer ... for an agent.
	Config []string
	// Git runs git in dir; nil runs it here. A job's checkout passes one
	// that runs inside the job's sandbox: the destination is the job's, and
	// a .git/config a job planted there must not run anything outside it.
	Git Runner
}

// Runner runs git with args in dir and returns its standard output.
type Runner func(ctx context.Context, dir string, args ...string) (string, error)

func (o CheckoutOptions) git(ctx context.Context, dir string, args ...string) (string, error) {
	if o.Git != nil {
		return o.Git(ctx, dir, args...)
	}
	return git(ctx, dir, args...)
}

// HeadWith is Head, with git run by run.
func HeadWith(ctx context.Context, run Runner, dir string) (Head, error) {
	if run == nil {
		return (&Repo{Root: dir}).Head(ctx)
	}
	out, err := run(ctx, dir, "rev-parse", "HEAD", "--symbolic-full-name", "HEAD")
	if err != nil {
		return Head{}, fmt.Errorf("reading HEAD: %w", err)
	}
	lines := strings.Fields(out)
	if len(lines) != 2 {
		return Head{}, fmt.Errorf("reading HEAD: unexpected output %q", out)
	}
	return head(lines[0], lines[1]), nil
}

// Checkout makes dest a git work tree of the source at the given commit.
// The upload-pack side is told to allow any reachable object so that a
// commit that no ref names can be fetched from a local repository.
func Checkout(ctx context.Context, dest string, o CheckoutOptions) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return fmt.Errorf("creating checkout directory: %w", err)
	}
	if _, err := os.Lstat(filepath.Join(dest, ".git")); err != nil {
		if _, err := o.git(ctx, dest, "init", "-q"); err != nil {
			return fmt.Errorf("initialising checkout in %s: %w", dest, err)
		}
		if _, err := o.git(ctx, dest, "remote", "add", "--end-of-options", "origin", o.Source); err != nil {
			return fmt.Errorf("adding origin: %w", err)
		}
	}
	want := o.SHA
	if want == "" {
		want = o.Ref
	}
	branch := ""
	if strings.HasPrefix(o.Ref, "refs/heads/") {
		branch = strings.TrimPrefix(o.Ref, "refs/heads/")
	}
	var args []string
	for _, c := range o.Config {
		args = append(args, "-c", c)
	}
	args = append(args, "-c", "protocol.version=2", "fetch", "-q", "--no-recurse-submodules",
		"--upload-pack=git -c uploadpack.allowAnySHA1InWant=true upload-pack")
	// The wanted commit always lands in refs/sluice/checkout, whatever
	// names it (a branch, a tag, HEAD or a commit no ref names).
	const target = "refs/sluice/checkout"
	refspecs := []string{"+" + want + ":" + target}
	if o.Depth > 0 {
		args = append(args, fmt.Sprintf("--depth=%d", o.Depth))
		if !o.FetchTags {
			args = append(args, "--no-tags")
		}
		if branch != "" {
			refspecs = append(refspecs, "+"+want+":refs/remotes/origin/"+branch)
		}
	} else {
		args = append(args, "--tags", "--prune")
		refspecs = append(refspecs, "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*")
	}
	args = append(args, "--end-of-options", "origin")
	args = append(args, refspecs...)
	if _, err := o.git(ctx, dest, args...); err != nil {
		return fmt.Errorf("fetching %s from %s: %w", want, o.Source, err)
	}
	if len(o.Sparse) > 0 {
		sp := append([]string{"sparse-checkout", "set", "--end-of-options"}, o.Sparse...)
		if _, err := o.git(ctx, dest, sp...); err != nil {
			return fmt.Errorf("setting sparse checkout: %w", err)
		}
	}
	co := []string{"checkout", "-q", "--force"}
	if branch != "" {
		co = append(co, "-B", branch, target)
	} else {
		co = append(co, "--detach", target)
	}
	if _, err := o.git(ctx, dest, co...); err != nil {
		return fmt.Errorf("checking out %s: %w", want, err)
	}
	if o.Clean {
		if _, err := o.git(ctx, dest, "clean", "-ffdx"); err != nil {
			return fmt.Errorf("cleaning checkout: %w", err)
		}
	}
	return nil
}

// OverlayWorkingTree copies the source work tree's uncommitted state onto a
// checkout: modified and untracked (not ignored) files are copied, deleted
// ones removed. It reads the source and never writes to it.
func OverlayWorkingTree(ctx context.Context, src, dest string) error {
	// --no-optional-locks: status must not refresh the user's index.
	out, err := git(ctx, src, "--no-optional-locks", "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames")
	if err != nil {
		return fmt.Errorf("reading working tree status: %w", err)
	}
	for _, rec := range strings.Split(out, "\x00") {
		if len(rec) < 4 {
			continue
		}
		code, path := rec[:2], rec[3:]
		from := filepath.Join(src, path)
		to := filepath.Join(dest, path)
		if strings.Contains(code, "D") {
			if err := os.RemoveAll(to); err != nil {
				return fmt.Errorf("removing %s: %w", path, err)
			}
			continue
		}
		if err := copyFile(from, to); err != nil {
			return fmt.Errorf("copying %s: %w", path, err)
		}
	}
	return nil
}

func copyFile(from, to string) error {
	fi, err := os.Lstat(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	// Never write through what stands at the destination (a link that
	// became a file would otherwise write outside the checkout).
	if dfi, err := os.Lstat(to); err == nil && !dfi.Mode().IsRegular() {
		if err := os.RemoveAll(to); err != nil {
			return err
		}
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		target, err := os.Readlink(from)
		if err != nil {
			return err
		}
		_ = os.Remove(to)
		return os.Symlink(target, to)
	}
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.WriteFile(to, b, fi.Mode().Perm()); err != nil {
		return err
	}
	return os.Chmod(to, fi.Mode().Perm())
}

func splitLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return stdout.String(), fmt.Errorf("git %s: %s", args[0], msg)
	}
	return stdout.String(), nil
}

// HasRef reports whether the repository has the full ref name.
func (r *Repo) HasRef(ctx context.Context, ref string) bool {
	_, err := git(ctx, r.Root, "rev-parse", "--verify", "--quiet", "--end-of-options", ref)
	return err == nil
}

// DefaultBranch is the repository's default branch: what origin's HEAD
// names, else main or master when there is one, else current (the
// checked-out branch's name), else main. A plain .git directory is read
// directly (no git process); a worktree's or submodule's asks git.
func (r *Repo) DefaultBranch(ctx context.Context, current string) string {
	gitDir := filepath.Join(r.Root, ".git")
	fallback := strings.TrimPrefix(current, "refs/heads/")
	if fallback == "" || strings.HasPrefix(fallback, "refs/") {
		fallback = "main"
	}
	if fi, err := os.Stat(gitDir); err == nil && fi.IsDir() {
		if b, err := os.ReadFile(filepath.Join(gitDir, "refs", "remotes", "origin", "HEAD")); err == nil {
			if ref, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "ref: refs/remotes/origin/"); ok && ref != "" {
				return ref
			}
		}
		for _, b := range []string{"main", "master"} {
			if _, ok := readRef(gitDir, "refs/heads/"+b); ok {
				return b
			}
		}
		return fallback
	}
	if out, err := git(ctx, r.Root, "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"); err == nil {
		if b := strings.TrimPrefix(strings.TrimSpace(out), "origin/"); b != "" {
			return b
		}
	}
	for _, b := range []string{"main", "master"} {
		if r.HasRef(ctx, "refs/heads/"+b) {
			return b
		}
	}
	return fallback
}
