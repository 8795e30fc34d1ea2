package actions

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sluice-ci/sluice/internal/gitrepo"
	"github.com/sluice-ci/sluice/internal/roots"
)

// Checkout is actions/checkout: a clone of the user's repository (or
// another local or remote git repository) into the workspace.
func Checkout(ctx context.Context, s Step, with map[string]string) (map[string]string, error) {
	c := s.Context()
	src := c.RepoRoot
	if c.CloneSource != "" {
		src = c.CloneSource
	}
	o := gitrepo.CheckoutOptions{Source: src, SHA: c.SHA, Ref: c.Ref, Depth: 1, Clean: true}
	overlay := c.WorkingTree
	if r := with["repository"]; r != "" && !strings.EqualFold(r, c.Repository) {
		if err := remoteSource(r); err != nil {
			return nil, err
		}
		o.Source, o.SHA, o.Ref, overlay = r, "", "", false
	}
	if r := with["ref"]; r != "" {
		o.Ref, o.SHA, overlay = r, "", false
		switch {
		case isHexSHA(r):
			o.SHA, o.Ref = r, ""
		case !strings.HasPrefix(r, "refs/"):
			o.Ref = "refs/heads/" + r
			if (&gitrepo.Repo{Root: o.Source}).HasRef(ctx, "refs/tags/"+r) {
				o.Ref = "refs/tags/" + r
			}
		}
	}
	if o.Ref == "" && o.SHA == "" {
		o.Ref = "HEAD"
	}
	if d := with["fetch-depth"]; d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("fetch-depth %q is not a whole number", d)
		}
		o.Depth = n
	}
	o.FetchTags = with["fetch-tags"] == "true"
	if with["clean"] == "false" {
		o.Clean = false
	}
	for _, l := range strings.Split(with["sparse-checkout"], "\n") {
		if l = strings.TrimSpace(l); l != "" {
			o.Sparse = append(o.Sparse, l)
		}
	}
	dest := c.Workspace
	if p := with["path"]; p != "" {
		// Inside the workspace, symlinks resolved, as on GitHub.
		var err error
		if dest, err = roots.New(c.Workspace, "").Resolve(p); err != nil {
			return nil, fmt.Errorf("checkout path %q: %w", p, err)
		}
	}
	// git runs in the job's sandbox: the destination is the job's, so what
	// a step left there (a .git/config) acts only inside it. The source is
	// readable there for this checkout only.
	var sourceDirs []string
	if filepath.IsAbs(o.Source) {
		sourceDirs = append(sourceDirs, o.Source)
	}
	o.Git = func(ctx context.Context, dir string, args ...string) (string, error) {
		return s.Output(ctx, append([]string{"git"}, args...), dir, sourceDirs)
	}
	at := o.SHA
	if at == "" {
		at = o.Ref
	}
	s.Log(fmt.Sprintf("Checking out %s at %s into %s", o.Source, at, dest))
	if err := gitrepo.Checkout(ctx, dest, o); err != nil {
		return nil, err
	}
	if overlay {
		if err := gitrepo.OverlayWorkingTree(ctx, c.RepoRoot, dest); err != nil {
			return nil, err
		}
		s.Log("Applied uncommitted changes from the working tree (--working-tree)")
	}
	if sub := with["submodules"]; sub == "true" || sub == "recursive" {
		argv := []string{"git", "submodule", "update", "--init"}
		if sub == "recursive" {
			argv = append(argv, "--recursive")
		}
		if code, err := s.Exec(ctx, argv, dest, nil); err != nil || code != 0 {
			return nil, fmt.Errorf("updating submodules failed (exit %d): %v", code, err)
		}
	}
	commit := o.SHA
	if h, err := gitrepo.HeadWith(ctx, o.Git, dest); err == nil {
		commit = h.SHA
	}
	return map[string]string{"ref": o.Ref, "commit": commit}, nil
}

// remoteSource checks a checkout's repository input: another repository
// comes from a forge by URL, never from a path on this machine (sluice's
// own data is there) nor through a transport that runs commands.
func remoteSource(r string) error {
	lower := strings.ToLower(r)
	for _, p := range []string{"https://", "http://", "ssh://", "git://"} {
		if strings.HasPrefix(lower, p) {
			return nil
		}
	}
	if at := strings.Index(r, "@"); at > 0 && strings.Contains(r[at:], ":") && !strings.Contains(r[:at], "/") && !strings.HasPrefix(r, "-") {
		return nil // scp-like git@host:owner/name
	}
	return fmt.Errorf("checkout repository %q: another repository is checked out from its URL (https://host/owner/name.git or git@host:owner/name.git); a path on this machine, or owner/name without GitHub, is not reachable from a job", r)
}

func isHexSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}
