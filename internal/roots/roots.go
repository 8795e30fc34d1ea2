// Package roots holds a job's boundary on the filesystem: the directories a
// job (its steps and every native action acting for it) may read and write —
// its workspace, runner temp and home. A path from a workflow is placed in
// one of them by name, then opened through an os.Root, so that neither
// `..` nor a symlink (made by the job, at any moment) leads outside.
// Anything else is refused with an error naming the path.
package roots

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Set is a job's directories.
type Set struct {
	workspace, home string
	list            []dir // longest path first: the most specific wins
}

type dir struct {
	path string // as given, cleaned and absolute
	real string // with symlinks resolved
	ro   bool   // read, never written (a tool, an image sluice built)
}

// New is the set of the workspace, the job's home (may be ""), and any
// other directories of the job (runner temp, ...).
func New(workspace, home string, others ...string) Set {
	s := Set{workspace: filepath.Clean(workspace)}
	if home != "" {
		s.home = filepath.Clean(home)
	}
	seen := map[string]bool{}
	for _, d := range append([]string{workspace, home}, others...) {
		if d == "" {
			continue
		}
		abs, err := filepath.Abs(d)
		if err != nil || seen[abs] {
			continue
		}
		seen[abs] = true
		real, err := filepath.EvalSymlinks(abs)
		if err != nil {
			real = abs
		}
		s.list = append(s.list, dir{path: abs, real: real})
	}
	s.sort()
	return s
}

// WithReadOnly adds directories the job's actions may read but not write:
// what a native action prepared for the job (an image it built).
func (s Set) WithReadOnly(dirs ...string) Set {
	out := Set{workspace: s.workspace, home: s.home, list: append([]dir(nil), s.list...)}
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil || d == "" {
			continue
		}
		real, err := filepath.EvalSymlinks(abs)
		if err != nil {
			real = abs
		}
		out.list = append(out.list, dir{path: abs, real: real, ro: true})
	}
	out.sort()
	return out
}

func (s *Set) sort() {
	sort.SliceStable(s.list, func(i, j int) bool { return len(s.list[i].path) > len(s.list[j].path) })
}

// Workspace is the job's workspace, where relative paths start.
func (s Set) Workspace() string { return s.workspace }

// Home is the job's home directory, what a leading ~ stands for.
func (s Set) Home() string { return s.home }

// Dirs are the job's writable directories, as given.
func (s Set) Dirs() []string {
	var out []string
	for _, d := range s.list {
		if !d.ro {
			out = append(out, d.path)
		}
	}
	return out
}

// Abs turns a path input into an absolute, clean path: ~ is the job's
// home, a relative path starts at the workspace. It does not check it.
func (s Set) Abs(p string) string {
	if (p == "~" || strings.HasPrefix(p, "~/")) && s.home != "" {
		p = s.home + p[1:]
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(s.workspace, p)
	}
	return filepath.Clean(p)
}

// OutsideError is a path outside every directory of the job.
type OutsideError struct {
	Path string
	Dirs []string
	// Link is true when the path names a place inside but a symlink on the
	// way leads out.
	Link bool
}

func (e *OutsideError) Error() string {
	if e.Link {
		return fmt.Sprintf("%s leads outside the job's directories through a symlink; a job's actions read and write only inside %s", e.Path, strings.Join(e.Dirs, ", "))
	}
	return fmt.Sprintf("%s is outside the job's directories; a job's actions read and write only inside %s", e.Path, strings.Join(e.Dirs, ", "))
}

// Locate returns the job directory holding abs by name (no symlink is
// followed) and abs relative to it, for writing.
func (s Set) Locate(abs string) (root, rel string, err error) {
	return s.locate(abs, true)
}

func (s Set) locate(abs string, write bool) (root, rel string, err error) {
	abs = filepath.Clean(abs)
	for _, d := range s.list {
		if write && d.ro {
			continue
		}
		for _, base := range []string{d.path, d.real} {
			if r, ok := relTo(abs, base); ok {
				return d.real, r, nil
			}
		}
	}
	return "", "", &OutsideError{Path: abs, Dirs: s.Dirs()}
}

// CheckRead says whether abs lies, by name, where the job's actions may
// read: its directories and what natives prepared for it.
func (s Set) CheckRead(abs string) error {
	_, _, err := s.locate(abs, false)
	return err
}

// Contains says whether abs lies inside the job's directories by name.
func (s Set) Contains(abs string) bool {
	_, _, err := s.Locate(abs)
	return err == nil
}

// Resolve places a path input (relative to the workspace, ~ for home) in
// the job's directories and returns it with its symlinks resolved, checked
// to be inside them still: for handing a path to code that opens it by
// name. The part that does not exist yet is taken as it is.
func (s Set) Resolve(p string) (string, error) {
	abs := s.Abs(p)
	if _, _, err := s.locate(abs, false); err != nil {
		return "", err
	}
	real := abs
	rest := ""
	for cur := abs; ; cur = filepath.Dir(cur) {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			real = filepath.Join(r, rest)
			break
		}
		if filepath.Dir(cur) == cur {
			break
		}
		rest = filepath.Join(filepath.Base(cur), rest)
	}
	for _, d := range s.list {
		if _, ok := relTo(real, d.real); ok {
			return real, nil
		}
	}
	return "", &OutsideError{Path: abs, Dirs: s.Dirs(), Link: true}
}

// Open opens the os.Root of the job directory holding abs and returns abs
// relative to it; every operation through the root stays inside it. Use it
// for writing; read-only directories are not offered.
func (s Set) Open(abs string) (*os.Root, string, error) {
	return s.open(abs, true)
}

func (s Set) open(abs string, write bool) (*os.Root, string, error) {
	root, rel, err := s.locate(abs, write)
	if err != nil {
		return nil, "", err
	}
	r, err := os.OpenRoot(root)
	if errors.Is(err, fs.ErrNotExist) {
		// A job's directory that is not there yet (a restore into a new
		// workspace) is made; it is the job's by definition.
		if err = os.MkdirAll(root, 0o755); err == nil {
			r, err = os.OpenRoot(root)
		}
	}
	if err != nil {
		return nil, "", fmt.Errorf("opening %s: %w", root, err)
	}
	return r, rel, nil
}

// Explain turns an os.Root refusal for abs into an OutsideError; other
// errors pass through.
func (s Set) Explain(abs string, err error) error {
	if err == nil {
		return nil
	}
	if IsEscape(err) {
		return &OutsideError{Path: abs, Dirs: s.Dirs(), Link: true}
	}
	return err
}

// IsEscape says whether err is os.Root refusing a path that leaves it.
func IsEscape(err error) bool {
	var oe *OutsideError
	if errors.As(err, &oe) {
		return true
	}
	return err != nil && strings.Contains(err.Error(), "path escapes from parent")
}

// Stat follows symlinks inside the job's directories.
func (s Set) Stat(abs string) (fs.FileInfo, error) {
	r, rel, err := s.open(abs, false)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	fi, err := r.Stat(rel)
	return fi, s.Explain(abs, err)
}

// Lstat does not follow a final symlink.
func (s Set) Lstat(abs string) (fs.FileInfo, error) {
	r, rel, err := s.open(abs, false)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	fi, err := r.Lstat(rel)
	return fi, s.Explain(abs, err)
}

// OpenFile opens a file for reading inside the job's directories.
func (s Set) OpenFile(abs string) (*os.File, error) {
	r, rel, err := s.open(abs, false)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	f, err := r.Open(rel)
	return f, s.Explain(abs, err)
}

// ReadDir lists a directory inside the job's directories.
func (s Set) ReadDir(abs string) ([]fs.DirEntry, error) {
	r, rel, err := s.open(abs, false)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	ents, err := fs.ReadDir(r.FS(), filepath.ToSlash(rel))
	return ents, s.Explain(abs, err)
}

// MkdirAll creates a directory and its parents inside the job's directories.
func (s Set) MkdirAll(abs string, perm fs.FileMode) error {
	r, rel, err := s.Open(abs)
	if err != nil {
		return err
	}
	defer r.Close()
	if rel == "." {
		return nil
	}
	return s.Explain(abs, r.MkdirAll(rel, perm))
}

// Create makes a new file at abs, replacing (never writing through) what
// was there: a file or a symlink is removed first.
func (s Set) Create(abs string, perm fs.FileMode) (*os.File, error) {
	r, rel, err := s.Open(abs)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if dir := filepath.Dir(rel); dir != "." {
		if err := r.MkdirAll(dir, 0o755); err != nil {
			return nil, s.Explain(abs, err)
		}
	}
	if err := r.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, s.Explain(abs, fmt.Errorf("replacing %s: %w", abs, err))
	}
	f, err := r.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	return f, s.Explain(abs, err)
}

// Symlink makes a symlink at abs (what it points to is not checked: it is
// followed only through the job's directories).
func (s Set) Symlink(target, abs string) error {
	r, rel, err := s.Open(abs)
	if err != nil {
		return err
	}
	defer r.Close()
	if dir := filepath.Dir(rel); dir != "." {
		if err := r.MkdirAll(dir, 0o755); err != nil {
			return s.Explain(abs, err)
		}
	}
	if err := r.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s.Explain(abs, err)
	}
	return s.Explain(abs, r.Symlink(target, rel))
}

// Chmod changes a mode inside the job's directories.
func (s Set) Chmod(abs string, mode fs.FileMode) error {
	r, rel, err := s.Open(abs)
	if err != nil {
		return err
	}
	defer r.Close()
	return s.Explain(abs, r.Chmod(rel, mode))
}

// Chtimes sets times inside the job's directories.
func (s Set) Chtimes(abs string, atime, mtime time.Time) error {
	r, rel, err := s.Open(abs)
	if err != nil {
		return err
	}
	defer r.Close()
	return s.Explain(abs, r.Chtimes(rel, atime, mtime))
}

// Readlink reads a symlink inside the job's directories.
func (s Set) Readlink(abs string) (string, error) {
	r, rel, err := s.open(abs, false)
	if err != nil {
		return "", err
	}
	defer r.Close()
	l, err := r.Readlink(rel)
	return l, s.Explain(abs, err)
}

// WithFS calls fn with the directory abs as an fs.FS: walking it never
// leaves the job's directories (a symlink that would is an error).
func (s Set) WithFS(abs string, fn func(fsys fs.FS) error) error {
	r, rel, err := s.open(abs, false)
	if err != nil {
		return err
	}
	defer r.Close()
	sub, err := fs.Sub(r.FS(), filepath.ToSlash(rel))
	if err != nil {
		return err
	}
	return s.Explain(abs, fn(sub))
}

func relTo(abs, base string) (string, bool) {
	if abs == base {
		return ".", true
	}
	if base == "/" {
		return abs[1:], true
	}
	if strings.HasPrefix(abs, base+"/") {
		return abs[len(base)+1:], true
	}
	return "", false
}

// DropEscapingLinks removes every symlink under dir whose target (followed
// to its end) lies outside dir, or is dangling: after a commit's files are
// exported for sluice itself to read (workflows, environments, lock files),
// none of them may lead it to a file of the machine.
func DropEscapingLinks(dir string) error {
	base, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		real, rerr := filepath.EvalSymlinks(p)
		if rerr == nil {
			if _, ok := relTo(real, base); ok {
				return nil
			}
		}
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("removing the link %s: %w", p, err)
		}
		return nil
	})
}
