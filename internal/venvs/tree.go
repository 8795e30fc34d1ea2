package venvs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// entry is one file, directory or symlink of a manifest.
type entry struct {
	Mode  fs.FileMode `json:"mode"`
	Size  int64       `json:"size"`
	MTime int64       `json:"mtime"`
	Link  string      `json:"link,omitempty"`
}

func (e entry) same(o entry) bool {
	if e.Mode != o.Mode || e.Link != o.Link {
		return false
	}
	if e.Mode.IsDir() {
		return true
	}
	return e.Size == o.Size && e.MTime == o.MTime
}

// manifest maps slash-separated paths relative to a root to what is there.
type manifest map[string]entry

// maxManifest bounds how many entries sluice walks in a workspace or an
// environment it keeps.
const maxManifest = 2_000_000

// skipInWorkspace are what a workspace manifest leaves out: the checkout's
// own VCS data, which no install writes.
func skipInWorkspace(rel string) bool { return rel == ".git" }

// walk lists root's tree through os.Root handles, one per directory, so a
// symlink planted in a job-controlled directory is listed as a link and
// never followed, and no path is walked from the top again.
func walk(r *os.Root, skip func(rel string) bool) (manifest, error) {
	m := manifest{}
	var visit func(dir *os.Root, rel string) error
	visit = func(dir *os.Root, rel string) error {
		f, err := dir.Open(".")
		if err != nil {
			return err
		}
		des, err := f.ReadDir(-1)
		f.Close()
		if err != nil {
			return err
		}
		for _, de := range des {
			p := de.Name()
			if rel != "" {
				p = rel + "/" + de.Name()
			}
			if skip != nil && skip(p) {
				continue
			}
			fi, err := dir.Lstat(de.Name())
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				return err
			}
			e := entry{Mode: fi.Mode(), Size: fi.Size(), MTime: fi.ModTime().UnixNano()}
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				if e.Link, err = dir.Readlink(de.Name()); err != nil {
					return err
				}
				e.Size = 0
			case fi.IsDir():
				e.Size, e.MTime = 0, 0
			case !fi.Mode().IsRegular():
				continue // devices, pipes and sockets are not kept
			}
			m[p] = e
			if len(m) > maxManifest {
				return fmt.Errorf("over %d files", maxManifest)
			}
			if fi.IsDir() {
				sub, err := dir.OpenRoot(de.Name())
				if err != nil {
					return err
				}
				err = visit(sub, p)
				sub.Close()
				if err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := visit(r, ""); err != nil {
		return nil, err
	}
	return m, nil
}

// delta is what changed between two manifests of one tree.
type delta struct {
	Created  []string `json:"created,omitempty"`  // new paths (parents first)
	Modified []string `json:"modified,omitempty"` // changed files
	Deleted  []string `json:"deleted,omitempty"`  // paths gone
}

func (d delta) empty() bool { return len(d.Created)+len(d.Modified)+len(d.Deleted) == 0 }

func diff(before, after manifest) delta {
	var d delta
	for p, e := range after {
		b, ok := before[p]
		switch {
		case !ok:
			d.Created = append(d.Created, p)
		case !b.same(e):
			if b.Mode.Type() != e.Mode.Type() {
				d.Deleted = append(d.Deleted, p)
				d.Created = append(d.Created, p)
			} else {
				d.Modified = append(d.Modified, p)
			}
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			d.Deleted = append(d.Deleted, p)
		}
	}
	sort.Strings(d.Created)
	sort.Strings(d.Modified)
	sort.Strings(d.Deleted)
	return d
}

// roots are the created paths whose parent existed before: restoring a
// delta first checks that none of them exists.
func (d delta) roots() []string {
	created := map[string]bool{}
	for _, p := range d.Created {
		created[p] = true
	}
	var out []string
	for _, p := range d.Created {
		if !created[path.Dir(p)] {
			out = append(out, p)
		}
	}
	return out
}

// copier copies trees between a trusted directory (sluice's state) and a
// job-controlled one, always through an os.Root on the job's side.
type copier struct {
	bytes int64
	limit int64
	mu    sync.Mutex
}

var errTooBig = errors.New("too large to keep")

func (c *copier) count(n int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bytes += n
	if c.limit > 0 && c.bytes > c.limit {
		return errTooBig
	}
	return nil
}

// byDir groups slash paths by their directory.
func byDir(paths []string) (dirs []string, files map[string][]string) {
	files = map[string][]string{}
	for _, p := range paths {
		d := path.Dir(p)
		if _, ok := files[d]; !ok {
			dirs = append(dirs, d)
		}
		files[d] = append(files[d], path.Base(p))
	}
	sort.Strings(dirs)
	return dirs, files
}

// fromJob copies the listed paths (a manifest's) of the job side src into
// the plain directory dst.
func (c *copier) fromJob(src *os.Root, m manifest, paths []string, dst string) error {
	var files []string
	for _, p := range paths {
		e := m[p]
		target := filepath.Join(dst, filepath.FromSlash(p))
		switch {
		case e.Mode.IsDir():
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case e.Mode&fs.ModeSymlink != 0:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(e.Link, target); err != nil {
				return err
			}
		default:
			files = append(files, p)
		}
	}
	dirs, names := byDir(files)
	err := parallel(dirs, func(d string) error {
		sub := src
		if d != "." {
			var err error
			if sub, err = src.OpenRoot(filepath.FromSlash(d)); err != nil {
				return err
			}
			defer sub.Close()
		}
		outDir := filepath.Join(dst, filepath.FromSlash(d))
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return err
		}
		for _, name := range names[d] {
			p := name
			if d != "." {
				p = d + "/" + name
			}
			e := m[p]
			if err := c.count(e.Size); err != nil {
				return err
			}
			if err := copyOut(sub, name, filepath.Join(outDir, name), e); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Directories keep their permissions (toJob restores what is on disk
	// here), once their files are in. One the owner could not write or
	// enter stays 0755, so that the kept copy can still be pruned.
	for _, p := range paths {
		if e := m[p]; e.Mode.IsDir() && e.Mode.Perm() != 0o755 && e.Mode.Perm()&0o700 == 0o700 {
			if err := os.Chmod(filepath.Join(dst, filepath.FromSlash(p)), e.Mode.Perm()); err != nil {
				return err
			}
		}
	}
	return nil
}

func copyOut(sub *os.Root, name, target string, e entry) error {
	in, err := sub.Open(name)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, e.Mode.Perm()|0o200)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, io.LimitReader(in, e.Size+1)); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	mt := time.Unix(0, e.MTime)
	return os.Chtimes(target, mt, mt)
}

// toJob copies the plain tree src (listed by m) into the job side dst.
// Nothing is written through a symlink: every directory is opened as an
// os.Root below dst (which refuses a path leaving it), and files are made
// with O_EXCL after removing what was there.
func (c *copier) toJob(src string, m manifest, dst *os.Root) error {
	paths := make([]string, 0, len(m))
	for p := range m {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var entries []string
	for _, p := range paths {
		if e := m[p]; e.Mode.IsDir() {
			if err := dst.MkdirAll(filepath.FromSlash(p), 0o755); err != nil {
				return err
			}
		} else {
			entries = append(entries, p)
		}
	}
	dirs, names := byDir(entries)
	err := parallel(dirs, func(d string) error {
		sub := dst
		if d != "." {
			var err error
			if sub, err = dst.OpenRoot(filepath.FromSlash(d)); err != nil {
				return err
			}
			defer sub.Close()
		}
		for _, name := range names[d] {
			p := name
			if d != "." {
				p = d + "/" + name
			}
			if err := copyIn(filepath.Join(src, filepath.FromSlash(p)), sub, name, m[p]); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range paths {
		if e := m[p]; e.Mode.IsDir() && e.Mode.Perm() != 0o755 {
			_ = dst.Chmod(filepath.FromSlash(p), e.Mode.Perm())
		}
	}
	return nil
}

func copyIn(src string, sub *os.Root, name string, e entry) error {
	if e.Mode&fs.ModeSymlink != 0 {
		if err := sub.Symlink(e.Link, name); errors.Is(err, fs.ErrExist) {
			if err := sub.RemoveAll(name); err != nil {
				return err
			}
			return sub.Symlink(e.Link, name)
		} else if err != nil {
			return err
		}
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := sub.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_EXCL, e.Mode.Perm())
	if errors.Is(err, fs.ErrExist) {
		if err := sub.RemoveAll(name); err != nil {
			return err
		}
		out, err = sub.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_EXCL, e.Mode.Perm())
	}
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	mt := time.Unix(0, e.MTime)
	return sub.Chtimes(name, mt, mt)
}

// parallel runs f over items with a few workers; the first error wins.
func parallel(items []string, f func(string) error) error {
	const workers = 4
	ch := make(chan string)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range ch {
				if err := f(it); err != nil {
					once.Do(func() { first = fmt.Errorf("%s: %w", it, err) })
				}
			}
		}()
	}
	for _, it := range items {
		if first != nil {
			break
		}
		ch <- it
	}
	close(ch)
	wg.Wait()
	return first
}

// clearDir empties dir (through an os.Root) without following links.
func clearDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, de := range des {
		if err := os.RemoveAll(filepath.Join(dir, de.Name())); err != nil {
			return err
		}
	}
	return nil
}

// plainManifest lists a trusted directory (sluice's own snapshot).
func plainManifest(dir string) (manifest, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return walk(r, nil)
}

func cleanRel(p string) (string, bool) {
	p = path.Clean(p)
	return p, p != "." && !strings.HasPrefix(p, "../") && p != ".." && !path.IsAbs(p)
}

// CopyTree copies the trusted directory src into dst, a directory of a job
// (made if missing), writing only through an os.Root on dst.
func CopyTree(src, dst string) error {
	m, err := plainManifest(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	r, err := os.OpenRoot(dst)
	if err != nil {
		return err
	}
	defer r.Close()
	return (&copier{}).toJob(src, m, r)
}
