package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

// Disk is a Store in a directory: each blob a file at its key's path. Files are written under
// .tmp and renamed into place, so readers see whole blobs; every path is resolved inside the
// directory (os.Root), so a symlink planted in it cannot lead a key elsewhere.
type Disk struct {
	root *os.Root
	dir  string
}

// tmpDir holds blobs being written; its name is not a valid first key part's only because
// keys come from the server, which never uses it.
const tmpDir = ".tmp"

// OpenDisk returns the store in dir, creating dir if needed.
func OpenDisk(dir string) (*Disk, error) {
	abs, err := absDir(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs+"/"+tmpDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating blob directory %s: %w", abs, err)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("opening blob directory %s: %w", abs, err)
	}
	return &Disk{root: root, dir: abs}, nil
}

func (d *Disk) String() string { return d.dir }

func checkKey(key string) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	if key == tmpDir || strings.HasPrefix(key, tmpDir+"/") {
		return fmt.Errorf("blob key %q: %s is the store's own", key, tmpDir)
	}
	return nil
}

func (d *Disk) Put(ctx context.Context, key string, r io.Reader, _ int64) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if dir := path.Dir(key); dir != "." {
		if err := d.root.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("storing blob %s: %w", key, err)
		}
	}
	tmp, err := os.CreateTemp(d.dir+"/"+tmpDir, "put-*")
	if err != nil {
		return fmt.Errorf("storing blob %s: %w", key, err)
	}
	tmpName := tmpDir + "/" + path.Base(tmp.Name())
	_, err = io.Copy(tmp, ctxReader{ctx, r})
	if err == nil {
		err = tmp.Sync()
	}
	if err := errors.Join(err, tmp.Close()); err != nil {
		d.root.Remove(tmpName)
		return fmt.Errorf("storing blob %s: %w", key, err)
	}
	if err := d.root.Rename(tmpName, key); err != nil {
		d.root.Remove(tmpName)
		return fmt.Errorf("storing blob %s: %w", key, err)
	}
	return nil
}

func (d *Disk) Get(_ context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	f, err := d.root.Open(key)
	if err != nil {
		return nil, notFoundErr(key, err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("blob %s: %w", key, ErrNotFound)
	}
	return f, nil
}

func (d *Disk) Stat(_ context.Context, key string) (Info, error) {
	if err := checkKey(key); err != nil {
		return Info{}, err
	}
	st, err := d.root.Stat(key)
	if err != nil {
		return Info{}, notFoundErr(key, err)
	}
	if !st.Mode().IsRegular() {
		return Info{}, fmt.Errorf("blob %s: %w", key, ErrNotFound)
	}
	return Info{Key: key, Size: st.Size(), Modified: st.ModTime().UTC()}, nil
}

func (d *Disk) Delete(_ context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := d.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting blob %s: %w", key, err)
	}
	return nil
}

func (d *Disk) List(ctx context.Context, prefix string) ([]Info, error) {
	if err := validPrefix(prefix); err != nil {
		return nil, err
	}
	// Walk only the directory the prefix is in.
	start := "."
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = prefix[:i]
	}
	var out []Info
	err := fs.WalkDir(d.root.FS(), start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if e.IsDir() {
			if p == tmpDir {
				return fs.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() || !strings.HasPrefix(p, prefix) {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		out = append(out, Info{Key: p, Size: info.Size(), Modified: info.ModTime().UTC()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing blobs %s*: %w", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func notFoundErr(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob %s: %w", key, ErrNotFound)
	}
	return fmt.Errorf("reading blob %s: %w", key, err)
}

// ctxReader stops a long copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
