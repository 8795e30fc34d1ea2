package actions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-ci/sluice/internal/gitrepo"
)

// Resolver finds remote actions offline: in a local action store (a
// directory of checkouts) or through a git mirror.
type Resolver struct {
	// Store is a directory holding OWNER/REPO@REF or OWNER/REPO (a plain
	// copy, or a git repository from which REF is exported).
	Store string
	// Mirror is a git URL template with {owner} and {repo}, e.g.
	// https://git.example.com/mirrors/{owner}/{repo}.git
	Mirror string
	// CacheDir holds exported and cloned actions, one directory per ref.
	CacheDir string
}

// Available says whether r can be resolved without running anything: it
// is in the store, already cached, or a mirror is configured to fetch it.
func (rs Resolver) Available(r Ref) bool {
	if r.Kind != Remote {
		return false
	}
	if rs.Mirror != "" {
		return true
	}
	if _, err := os.Stat(rs.cached(r)); err == nil {
		return true
	}
	for _, d := range rs.storeDirs(r) {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

func (rs Resolver) storeDirs(r Ref) []string {
	if rs.Store == "" {
		return nil
	}
	return []string{
		filepath.Join(rs.Store, r.Owner, r.Repo+"@"+r.Ref),
		filepath.Join(rs.Store, r.Owner, r.Repo),
	}
}

func (rs Resolver) cached(r Ref) string {
	return filepath.Join(rs.CacheDir, r.Owner, r.Repo+"@"+strings.ReplaceAll(r.Ref, "/", "%2F"))
}

// Resolve returns the directory of the action (with r.Path applied).
func (rs Resolver) Resolve(ctx context.Context, r Ref) (string, error) {
	if r.Kind != Remote {
		return "", fmt.Errorf("%s is not a remote action", r.Raw)
	}
	sub := func(dir string) string { return filepath.Join(dir, filepath.FromSlash(r.Path)) }
	if c := rs.cached(r); exists(c) {
		return sub(c), nil
	}
	dirs := rs.storeDirs(r)
	if len(dirs) == 2 && exists(dirs[0]) {
		return sub(dirs[0]), nil
	}
	if len(dirs) == 2 && exists(dirs[1]) {
		repo := dirs[1]
		if !exists(filepath.Join(repo, ".git")) {
			return sub(repo), nil // a plain copy serves every ref
		}
		if err := rs.export(ctx, repo, r); err != nil {
			return "", err
		}
		return sub(rs.cached(r)), nil
	}
	if rs.Mirror != "" {
		url := strings.NewReplacer("{owner}", r.Owner, "{repo}", r.Repo).Replace(rs.Mirror)
		if err := rs.export(ctx, url, r); err != nil {
			return "", err
		}
		return sub(rs.cached(r)), nil
	}
	return "", Unresolvable(r)
}

// export checks the ref out of a repository (store checkout or mirror)
// into the cache, through a temporary directory so a half-done export is
// never used.
func (rs Resolver) export(ctx context.Context, source string, r Ref) error {
	dest := rs.cached(r)
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dest), ".fetch-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	o := gitrepo.CheckoutOptions{Source: source, Depth: 1}
	switch {
	case len(r.Ref) == 40 && strings.Trim(strings.ToLower(r.Ref), "0123456789abcdef") == "":
		o.SHA = r.Ref
	case (&gitrepo.Repo{Root: source}).HasRef(ctx, "refs/tags/"+r.Ref):
		o.Ref = "refs/tags/" + r.Ref
	default:
		o.Ref = "refs/heads/" + r.Ref
		if exists(source) && !(&gitrepo.Repo{Root: source}).HasRef(ctx, o.Ref) {
			o.Ref = "refs/tags/" + r.Ref
		}
	}
	if err := gitrepo.Checkout(ctx, tmp, o); err != nil {
		return fmt.Errorf("fetching action %s from %s: %w", r.Raw, source, err)
	}
	if err := os.Rename(tmp, dest); err != nil && !exists(dest) {
		return fmt.Errorf("caching action %s: %w", r.Raw, err)
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return !errors.Is(err, os.ErrNotExist)
}
