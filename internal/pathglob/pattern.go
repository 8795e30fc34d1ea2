// Package pathglob expands the multi-line path: inputs of actions/cache and
// actions/upload-artifact: one path or glob a line, relative to the
// workspace, with a leading ~ for the home directory and a leading ! for an
// exclusion. How matches become files (links followed or kept, hidden files
// dropped or not) differs between the two actions and stays with them.
package pathglob

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// Pattern is one path line split where its glob part starts, so the literal
// part (which may hold characters like '[' from the workspace path) never
// goes through the glob matcher. Base is also the search path
// upload-artifact roots an artifact's layout in.
type Pattern struct {
	Base string // absolute, cleaned
	Glob string // slash-separated; "" for a plain path
}

// Parse expands a leading ~ to home and roots a relative path in workspace.
func Parse(p, workspace, home string) Pattern {
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
	return Pattern{Base: filepath.Clean(lit), Glob: strings.Join(segs[i:], "/")}
}

// ParseLines splits path: lines into inclusions and exclusions (lines
// starting with !), skipping blank lines. A line starting with ~ is an error
// when home is unknown.
func ParseLines(lines []string, workspace, home string) (incl, excl []Pattern, err error) {
	for _, p := range lines {
		p = strings.TrimSpace(p)
		if home == "" && (strings.HasPrefix(p, "~") || strings.HasPrefix(p, "!~")) {
			return nil, nil, fmt.Errorf("expanding %s: home directory unknown", p)
		}
		switch {
		case p == "":
		case strings.HasPrefix(p, "!"):
			excl = append(excl, Parse(strings.TrimSpace(p[1:]), workspace, home))
		default:
			incl = append(incl, Parse(p, workspace, home))
		}
	}
	return incl, excl, nil
}

// Matches reports whether abs is the pattern's path or matches its glob.
func (p Pattern) Matches(abs string) bool {
	if p.Glob == "" {
		return abs == p.Base
	}
	rel, err := filepath.Rel(p.Base, abs)
	if err != nil || !filepath.IsLocal(rel) {
		return false
	}
	ok, _ := doublestar.Match(p.Glob, filepath.ToSlash(rel))
	return ok
}

// Excluded reports whether abs or one of its ancestors matches an
// exclusion: excluding a directory excludes what it holds.
func Excluded(excl []Pattern, abs string) bool {
	for d := abs; ; d = filepath.Dir(d) {
		for _, p := range excl {
			if p.Matches(d) {
				return true
			}
		}
		if filepath.Dir(d) == d {
			return false
		}
	}
}

// Expand returns what the pattern's glob matches below Base, as
// slash-separated paths relative to Base; none when Base does not exist.
// followLinks says whether the walk descends into symlinked directories
// (upload-artifact) or leaves links as they are (cache).
func (p Pattern) Expand(followLinks bool) ([]string, error) {
	if _, err := os.Stat(p.Base); err != nil {
		return nil, nil
	}
	var opts []doublestar.GlobOption
	if !followLinks {
		opts = append(opts, doublestar.WithNoFollow())
	}
	ms, err := doublestar.Glob(os.DirFS(p.Base), p.Glob, opts...)
	if err != nil {
		return nil, fmt.Errorf("expanding %s: %w", p.Glob, err)
	}
	return ms, nil
}

// ExpandFS is Expand over fsys, a view of Base (an os.Root's, so that the
// walk never leaves the directory it was given).
func (p Pattern) ExpandFS(fsys fs.FS, followLinks bool) ([]string, error) {
	var opts []doublestar.GlobOption
	if !followLinks {
		opts = append(opts, doublestar.WithNoFollow())
	}
	ms, err := doublestar.Glob(fsys, p.Glob, opts...)
	if err != nil {
		return nil, fmt.Errorf("expanding %s: %w", p.Glob, err)
	}
	return ms, nil
}
