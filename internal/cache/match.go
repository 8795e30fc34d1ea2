package cache

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/sluice-ci/sluice/internal/pathglob"
)

// collect expands paths into the sorted list of files, directories and
// symlinks to archive. Symlinks are kept as links, never followed, so a
// cached virtualenv stays a virtualenv.
func collect(paths []string, workspace, home string) ([]string, error) {
	incl, excl, err := pathglob.ParseLines(paths, workspace, home)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	add := func(root string) error {
		return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
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
	}
	for _, p := range incl {
		if p.Glob == "" {
			if _, err := os.Lstat(p.Base); err != nil {
				continue // a missing path is not an error, like GitHub
			}
			if err := add(p.Base); err != nil {
				return nil, err
			}
			continue
		}
		ms, err := p.Expand(false)
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
