package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotFound says a remote answered but has no such ref or commit.
var ErrNotFound = errors.New("not found")

// ResolveRemote finds the commit a ref name means in a remote repository (a URL or a local
// path), as GitHub resolves an action's ref: a tag first (peeled to its commit), then a branch.
// It returns the commit and the full ref name. A remote that has neither gives ErrNotFound; a
// remote that cannot be reached gives git's own words.
func ResolveRemote(ctx context.Context, source, ref string) (sha, fullRef string, err error) {
	ref = strings.TrimPrefix(ref, "refs/")
	candidates := []string{"refs/tags/" + ref, "refs/heads/" + ref}
	if strings.HasPrefix(ref, "tags/") || strings.HasPrefix(ref, "heads/") {
		candidates = []string{"refs/" + ref}
	}
	args := []string{"-c", "protocol.version=2", "ls-remote", "--end-of-options", source}
	for _, c := range candidates {
		args = append(args, c, c+"^{}")
	}
	out, err := git(ctx, "", args...)
	if err != nil {
		return "", "", remoteError(source, err)
	}
	found := map[string]string{}
	for _, line := range splitLines(out) {
		sha, name, ok := strings.Cut(line, "\t")
		if ok && isSHA(sha) {
			found[name] = sha
		}
	}
	for _, c := range candidates {
		if sha := found[c+"^{}"]; sha != "" { // an annotated tag's commit
			return sha, c, nil
		}
		if sha := found[c]; sha != "" {
			return sha, c, nil
		}
	}
	return "", "", fmt.Errorf("%s has no tag or branch %q: %w", source, ref, ErrNotFound)
}

// ExportCommit fetches one commit from a remote repository (a URL or a local path) and writes
// its files, without .git, to dest, which must not exist. want is a full SHA or a full ref
// name. A SHA that the remote will not serve by itself (older servers only serve what a ref
// points at) is looked for in all of the remote's branches and tags. The commit's SHA is
// returned.
func ExportCommit(ctx context.Context, source, want, dest string) (string, error) {
	tmp, err := os.MkdirTemp(filepath.Dir(dest), ".export-")
	if err != nil {
		return "", fmt.Errorf("preparing to fetch: %w", err)
	}
	defer os.RemoveAll(tmp)
	repo := filepath.Join(tmp, "repo")
	if _, err := git(ctx, "", "init", "-q", "--end-of-options", repo); err != nil {
		return "", fmt.Errorf("preparing to fetch: %w", err)
	}
	const target = "refs/sluice/export"
	fetch := func(extra ...string) error {
		args := []string{"-c", "protocol.version=2", "fetch", "-q", "--no-recurse-submodules"}
		if isLocal(source) {
			// A local repository serves any commit it has when asked to; remote servers decide
			// for themselves (and git:// daemons take no program name).
			args = append(args, "--upload-pack=git -c uploadpack.allowAnySHA1InWant=true upload-pack")
		}
		_, err := git(ctx, repo, append(args, extra...)...)
		return err
	}
	if err := fetch("--depth=1", "--no-tags", "--end-of-options", source, "+"+want+":"+target); err != nil {
		if !isSHA(want) {
			return "", remoteError(source, err)
		}
		// The remote may still have the commit in its history: fetch every branch and tag.
		if err := fetch("--end-of-options", source, "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"); err != nil {
			return "", remoteError(source, err)
		}
		if _, err := git(ctx, repo, "cat-file", "-e", want+"^{commit}"); err != nil {
			return "", fmt.Errorf("commit %s is in none of the branches and tags of %s: %w", want, source, ErrNotFound)
		}
		if _, err := git(ctx, repo, "update-ref", target, want); err != nil {
			return "", err
		}
	}
	sha, err := git(ctx, repo, "rev-parse", "--verify", target+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("reading the fetched commit: %w", err)
	}
	sha = strings.TrimSpace(sha)
	if isSHA(want) && !strings.EqualFold(sha, want) {
		return "", fmt.Errorf("%s served commit %s for %s", source, sha, want)
	}
	if _, err := git(ctx, repo, "-c", "advice.detachedHead=false", "checkout", "-q", "--detach", sha); err != nil {
		return "", fmt.Errorf("checking out %s: %w", sha, err)
	}
	if err := os.RemoveAll(filepath.Join(repo, ".git")); err != nil {
		return "", err
	}
	if err := os.Rename(repo, dest); err != nil {
		return "", fmt.Errorf("keeping the fetched files: %w", err)
	}
	return sha, nil
}

// isLocal says whether source is a path or file:// URL rather than a server.
func isLocal(source string) bool {
	if strings.HasPrefix(source, "file://") {
		return true
	}
	if strings.Contains(source, "://") {
		return false
	}
	// scp-like host:path is remote; a path is local.
	colon, slash := strings.Index(source, ":"), strings.Index(source, "/")
	return colon < 0 || (slash >= 0 && slash < colon)
}

// IsSHA reports whether s is a full commit id (SHA-1 or SHA-256).
func IsSHA(s string) bool { return isSHA(s) }

// remoteError keeps git's reason and marks a repository the server does not have (GitHub
// answers a missing repository with a request for credentials) as not found.
func remoteError(source string, err error) error {
	msg := err.Error()
	for _, s := range []string{"not found", "could not read Username", "does not appear to be a git repository", "not our ref", "unadvertised object", "couldn't find remote ref", "no such remote ref", "Repository not found"} {
		if strings.Contains(msg, s) {
			return fmt.Errorf("%s: %w (%s)", source, ErrNotFound, lastLine(msg))
		}
	}
	return fmt.Errorf("%s: %s", source, lastLine(msg))
}

func lastLine(s string) string {
	lines := splitLines(s)
	if len(lines) == 0 {
		return s
	}
	// git's reason is its fatal: line (later ones are advice); "git -c: fatal: ..." reads
	// better without git's prefixes.
	l := lines[len(lines)-1]
	for _, c := range lines {
		if strings.Contains(c, "fatal: ") {
			l = c
			break
		}
	}
	for _, p := range []string{"fatal: ", "error: "} {
		if i := strings.LastIndex(l, p); i >= 0 {
			l = l[i+len(p):]
		}
	}
	return strings.TrimPrefix(l, "git upload-pack: ")
}
