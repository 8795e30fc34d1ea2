package cache

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// pattern is one path: line split where its glob part starts, so the
// literal part (which may hold characters like '[' from the workspace
// path) never goes through the glob matcher.
type pattern struct {
	base string // absolute, cleaned
	glob string // slash-separated; "" for a plain path
}

// parsePattern expands a leading ~ to home and roots a relative path in
// workspace.
func parsePattern(p, workspace, home string) pattern {
	if p == "~" || strings.HasPrefix(p, "~/") {
		p = home + p[1:]
	}
	segs := strings.Split(filepath.ToSlash(p), "/")
	i := 0
	for i < len(segs) && !strings.ContainsAny(segs[i], "*?[{") {
		i++
	}
	lit := filepath.FromSlash(strings.Join(segs[:i], "/"))
	if strings.HasPrefix(p, "/") && lit == "" {
		lit = "/"
	}
	if !filepath.IsAbs(lit) {
		lit = filepath.Join(workspace, lit)
	}
	return pattern{base: filepath.Clean(lit), glob: strings.Join(segs[i:], "/")}
}

// matches reports whether abs is the pattern's path or matches its glob.
func (p pattern) matches(abs string) bool {
	if p.glob == "" {
		return abs == p.base
	}
	rel, err := filepath.Rel(p.base, abs)
	if err != nil || !filepath.IsLocal(rel) {
		return false
	}
	ok, _ := doublestar.Match(p.glob, filepath.ToSlash(rel))
	return ok
}

// excludedBy reports whether abs or one of its ancestors matches an
// exclusion: excluding a directory excludes what it holds.
func excludedBy(excl []pattern, abs string) bool {
	for d := abs; ; d = filepath.Dir(d) {
		for _, p := range excl {
			if p.matches(d) {
				return true
			}
		}
		if filepath.Dir(d) == d {
			return false
		}
	}
}

// collect expands paths into the sorted list of files, directories and
// symlinks to archive. Symlinks are kept as links, never followed, so a
// cached virtualenv stays a virtualenv.
func collect(paths []string, workspace, home string) ([]string, error) {
	var incl, excl []pattern
	for _, p := range paths {
		p = strings.TrimSpace(p)
		if home == "" && (strings.HasPrefix(p, "~") || strings.HasPrefix(p, "!~")) {
			return nil, fmt.Errorf("expanding %s: home directory unknown", p)
		}
		switch {
		case p == "":
		case strings.HasPrefix(p, "!"):
			excl = append(excl, parsePattern(strings.TrimSpace(p[1:]), workspace, home))
		default:
			incl = append(incl, parsePattern(p, workspace, home))
		}
	}
	seen := map[string]bool{}
	add := func(root string) error {
		return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return fmt.Errorf("reading %s: %w", path, err)
			}
			if excludedBy(excl, path) {
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
		if p.glob == "" {
			if _, err := os.Lstat(p.base); err != nil {
				continue // a missing path is not an error, like GitHub
			}
			if err := add(p.base); err != nil {
				return nil, err
			}
			continue
		}
		if _, err := os.Stat(p.base); err != nil {
			continue
		}
		ms, err := doublestar.Glob(os.DirFS(p.base), p.glob, doublestar.WithNoFollow())
		if err != nil {
			return nil, fmt.Errorf("expanding %s: %w", p.glob, err)
		}
		for _, m := range ms {
			if err := add(filepath.Join(p.base, filepath.FromSlash(m))); err != nil {
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
