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

// walk lists root's tree through an os.Root, so a symlink planted in a
// job-controlled directory is listed as a link and never followed.
func walk(r *os.Root, skip func(rel string) bool) (manifest, error) {
	m := manifest{}
	var visit func(dir string) error
	visit = func(dir string) error {
		f, err := r.Open(dir)
		if err != nil {
			return err
		}
		des, err := f.ReadDir(-1)
		f.Close()
		if err != nil {
			return err
		}
		for _, de := range des {
			rel := de.Name()
			if dir != "." {
				rel = dir + "/" + de.Name()
			}
			if skip != nil && skip(rel) {
				continue
			}
			fi, err := r.Lstat(rel)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				return err
			}
			e := entry{Mode: fi.Mode(), Size: fi.Size(), MTime: fi.ModTime().UnixNano()}
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				if e.Link, err = r.Readlink(rel); err != nil {
					return err
				}
				e.Size = 0
			case fi.IsDir():
				e.Size, e.MTime = 0, 0
			case !fi.Mode().IsRegular():
				continue // devices, pipes and sockets are not kept
			}
			m[rel] = e
			if len(m) > maxManifest {
				return fmt.Errorf("over %d files", maxManifest)
			}
			if fi.IsDir() {
				if err := visit(rel); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := visit("."); err != nil {
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

// fromJob copies the listed paths (a manifest's, parents first) of the job
// side src into the plain directory dst.
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
	return parallel(files, func(p string) error {
		e := m[p]
		if err := c.count(e.Size); err != nil {
			return err
		}
		in, err := src.Open(filepath.FromSlash(p))
		if err != nil {
			return err
		}
		defer in.Close()
		target := filepath.Join(dst, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
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
	})
}

// toJob copies the plain tree src (listed by m, parents first) into the
// job side dst. Nothing is written through a symlink: os.Root refuses a
// path that would leave dst, and a link sluice made itself is created last
// in its directory's order only as a link.
func (c *copier) toJob(src string, m manifest, dst *os.Root) error {
	paths := make([]string, 0, len(m))
	for p := range m {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var files, links []string
	for _, p := range paths {
		e := m[p]
		switch {
		case e.Mode.IsDir():
			if err := dst.MkdirAll(filepath.FromSlash(p), 0o755); err != nil {
				return err
			}
		case e.Mode&fs.ModeSymlink != 0:
			links = append(links, p)
		default:
			files = append(files, p)
		}
	}
	err := parallel(files, func(p string) error {
		e := m[p]
		in, err := os.Open(filepath.Join(src, filepath.FromSlash(p)))
		if err != nil {
			return err
		}
		defer in.Close()
		rel := filepath.FromSlash(p)
		_ = dst.Remove(rel)
		out, err := dst.OpenFile(rel, os.O_CREATE|os.O_WRONLY|os.O_EXCL, e.Mode.Perm())
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
		return dst.Chtimes(rel, mt, mt)
	})
	if err != nil {
		return err
	}
	for _, p := range links {
		rel := filepath.FromSlash(p)
		_ = dst.Remove(rel)
		if err := dst.Symlink(m[p].Link, rel); err != nil {
			return err
		}
	}
	// Directories last: creating their entries moved their times.
	for i := len(paths) - 1; i >= 0; i-- {
		if e := m[paths[i]]; e.Mode.IsDir() {
			_ = dst.Chmod(filepath.FromSlash(paths[i]), e.Mode.Perm())
		}
	}
	return nil
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
