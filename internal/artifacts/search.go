package artifacts

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/sluice-ci/sluice/internal/pathglob"
	"github.com/sluice-ci/sluice/internal/roots"
)

func hidden(name string) bool { return strings.HasPrefix(name, ".") && name != "." && name != ".." }

// upload is what a path: input selects: files by absolute path and the
// directory their names in the zip are relative to.
type upload struct {
	files []string
	root  string
}

// search expands the path: lines like upload-artifact v4. Symlinks are
// followed (the zip holds their content) as long as they stay inside the
// job's directories; a path outside them, or a link leading out, is an
// error naming it. Directories contribute their files. Unless includeHidden, a file is dropped when its name, or a
// directory between it and its search path (the search path included), starts
// with a dot — which is why an explicitly listed .coverage is left out, as
// on GitHub.
func search(paths []string, jr roots.Set, includeHidden bool) (upload, error) {
	workspace := jr.Workspace()
	incl, excl, err := pathglob.ParseLines(paths, workspace, jr.Home())
	if err != nil {
		return upload{}, err
	}
	for _, p := range incl {
		if err := jr.CheckRead(p.Base); err != nil {
			return upload{}, err
		}
	}
	seen := map[string]bool{}
	var searchPaths []string
	for _, p := range incl {
		if !contains(searchPaths, p.Base) {
			searchPaths = append(searchPaths, p.Base)
		}
		// The workspace itself is exempt: its name is sluice's choice, not
		// the user's.
		if !includeHidden && p.Base != workspace && hidden(filepath.Base(p.Base)) {
			continue
		}
		w := walker{jr: jr, seen: seen, excl: excl, includeHidden: includeHidden, visited: map[string]bool{}}
		if p.Glob == "" {
			if err := w.walk(p.Base); err != nil {
				return upload{}, err
			}
			continue
		}
		var ms []string
		if _, err := jr.Stat(p.Base); err == nil {
			err = jr.WithFS(p.Base, func(fsys fs.FS) error {
				ms, err = p.ExpandFS(fsys, true)
				return err
			})
			if err != nil {
				return upload{}, err
			}
		} else if roots.IsEscape(err) {
			return upload{}, err
		}
		for _, m := range ms {
			if !includeHidden && hasHiddenPart(m) {
				continue
			}
			if err := w.walk(filepath.Join(p.Base, filepath.FromSlash(m))); err != nil {
				return upload{}, err
			}
		}
	}
	u := upload{files: make([]string, 0, len(seen))}
	for f := range seen {
		u.files = append(u.files, f)
	}
	sort.Strings(u.files)
	switch {
	case len(searchPaths) == 0:
	case len(searchPaths) > 1:
		u.root = commonAncestor(searchPaths)
	case len(u.files) == 1 && u.files[0] == searchPaths[0]:
		// A single file is stored by its base name.
		u.root = filepath.Dir(searchPaths[0])
	default:
		u.root = searchPaths[0]
	}
	return u, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hasHiddenPart(slashPath string) bool {
	for _, part := range strings.Split(slashPath, "/") {
		if hidden(part) {
			return true
		}
	}
	return false
}

// commonAncestor is the deepest directory holding all of paths.
func commonAncestor(paths []string) string {
	lca := paths[0]
	for _, p := range paths[1:] {
		for {
			rel, err := filepath.Rel(lca, p)
			if err == nil && filepath.IsLocal(rel) {
				break
			}
			if filepath.Dir(lca) == lca {
				break
			}
			lca = filepath.Dir(lca)
		}
	}
	return lca
}

type walker struct {
	jr            roots.Set
	seen          map[string]bool
	excl          []pathglob.Pattern
	includeHidden bool
	visited       map[string]bool // resolved directories being walked, against symlink loops
}

func (w walker) walk(path string) error {
	if pathglob.Excluded(w.excl, path) {
		return nil
	}
	info, err := w.jr.Stat(path)
	if err != nil {
		if roots.IsEscape(err) {
			return err
		}
		if errorsIsNotExist(err) {
			return nil // a missing path or dangling link is simply not found
		}
		return fmt.Errorf("reading %s: %w", path, err)
	}
	switch {
	case info.Mode().IsRegular():
		w.seen[path] = true
		return nil
	case !info.IsDir():
		return nil
	}
	// A directory reached twice through links inside the job (a loop) is
	// walked once; the key is the file itself, not its name.
	key := fileKey(info, path)
	if w.visited[key] {
		return nil
	}
	w.visited[key] = true
	defer delete(w.visited, key)
	entries, err := w.jr.ReadDir(path)
	if err != nil {
		if roots.IsEscape(err) {
			return err
		}
		return fmt.Errorf("reading %s: %w", path, err)
	}
	for _, e := range entries {
		if !w.includeHidden && hidden(e.Name()) {
			continue
		}
		if err := w.walk(filepath.Join(path, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// zipName is a file's name inside the artifact.
func (u upload) zipName(file string) (string, error) {
	rel, err := filepath.Rel(u.root, file)
	if err != nil || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("%s is outside the artifact root %s", file, u.root)
	}
	return filepath.ToSlash(rel), nil
}

func errorsIsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// fileKey identifies a directory by device and inode when the platform says
// them, else by its path.
func fileKey(info fs.FileInfo, path string) string {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
	}
	return path
}
