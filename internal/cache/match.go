package cache

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"

	"github.com/sluice-ci/sluice/internal/pathglob"
	jobroots "github.com/sluice-ci/sluice/internal/roots"
)

// collect expands paths into the sorted list of files, directories and
// symlinks to archive. Symlinks are kept as links, never followed, so a
// cached virtualenv stays a virtualenv; every path is walked through jr's
// directories, and one outside them is an error naming it.
func collect(paths []string, jr jobroots.Set) ([]string, error) {
	incl, excl, err := pathglob.ParseLines(paths, jr.Workspace(), jr.Home())
	if err != nil {
		return nil, err
	}
	for _, p := range incl {
		if err := jr.CheckRead(p.Base); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	add := func(root string) error {
		return jr.WithFS(root, func(fsys fs.FS) error {
			return fs.WalkDir(fsys, ".", func(rel string, d fs.DirEntry, err error) error {
				path := filepath.Join(root, filepath.FromSlash(rel))
				if err != nil {
					return fmt.Errorf("reading %s: %w", path, err)
				}
				if pathglob.Excluded(excl, path) {
					if d.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
				seen[path] = true
				return nil
			})
		})
	}
	for _, p := range incl {
		if p.Glob == "" {
			fi, err := jr.Lstat(p.Base)
			if err != nil {
				if jobroots.IsEscape(err) {
					return nil, err
				}
				continue // a missing path is not an error, like GitHub
			}
			if fi.Mode()&fs.ModeSymlink != 0 {
				seen[p.Base] = true // kept as a link
				continue
			}
			if err := add(p.Base); err != nil {
				return nil, err
			}
			continue
		}
		var ms []string
		if _, err := jr.Stat(p.Base); err != nil {
			if jobroots.IsEscape(err) {
				return nil, err
			}
			continue
		}
		err := jr.WithFS(p.Base, func(fsys fs.FS) error {
			var err error
			ms, err = p.ExpandFS(fsys, false)
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if err := add(filepath.Join(p.Base, filepath.FromSlash(m))); err != nil {
				return nil, err
			}
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	// A parent is a prefix of its children, so it sorts first and is
	// created before them on restore.
	sort.Strings(out)
	return out, nil
}
