package cache

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	jobroots "github.com/sluice-ci/sluice/internal/roots"
)

// Archive names start with the root they are relative to, so a restore
// into another workspace (or another HOME) puts files back in the new one.
const (
	rootWorkspace = "ws"
	rootHome      = "home"
	rootAbsolute  = "abs"
)

// roots maps a root name to the directory it stands for in one Save or
// Restore.
type roots map[string]string

// archiveName names abs inside the archive relative to the most specific
// root containing it; ok is false for the root directory itself, which the
// archive does not need to carry.
func (r roots) archiveName(abs string) (name string, ok bool) {
	best, bestDir := rootAbsolute, "/"
	for _, n := range []string{rootWorkspace, rootHome} {
		d := r[n]
		if d == "" {
			continue
		}
		if rel, err := filepath.Rel(d, abs); err == nil && filepath.IsLocal(rel) {
			if len(d) > len(bestDir) {
				best, bestDir = n, d
			}
		}
	}
	rel, err := filepath.Rel(bestDir, abs)
	if err != nil || rel == "." {
		return "", false
	}
	return best + "/" + filepath.ToSlash(rel), true
}

// target maps an archive name back to a path on disk, refusing names that
// would land outside their root.
func (r roots) target(name string) (string, error) {
	name = strings.TrimSuffix(name, "/")
	root, rel, ok := strings.Cut(name, "/")
	dir := r[root]
	if root == rootAbsolute {
		dir = "/"
	}
	if !ok || dir == "" {
		return "", fmt.Errorf("archive entry %q has no known root", name)
	}
	local := filepath.FromSlash(rel)
	if !filepath.IsLocal(local) || filepath.Clean(local) != local {
		return "", fmt.Errorf("archive entry %q escapes its root", name)
	}
	return filepath.Join(dir, local), nil
}

// writeArchive writes files (sorted, parents first) as a gzipped tar.
func writeArchive(ctx context.Context, w io.Writer, files []string, r roots, jr jobroots.Set) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	for _, path := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		name, ok := r.archiveName(path)
		if !ok {
			continue
		}
		if err := addToTar(tw, jr, path, name); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finishing archive: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("finishing archive: %w", err)
	}
	return nil
}

func addToTar(tw *tar.Writer, jr jobroots.Set, path, name string) error {
	info, err := jr.Lstat(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	var link string
	switch {
	case info.Mode()&fs.ModeSymlink != 0:
		if link, err = jr.Readlink(path); err != nil {
			return fmt.Errorf("reading link %s: %w", path, err)
		}
	case info.IsDir(), info.Mode().IsRegular():
	default:
		return nil // sockets, fifos and devices have no place in a cache
	}
	hdr, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return fmt.Errorf("archiving %s: %w", path, err)
	}
	hdr.Name = name
	if info.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uname, hdr.Gname = "", ""
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("archiving %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	f, err := jr.OpenFile(path)
	if err != nil {
		return fmt.Errorf("archiving %s: %w", path, err)
	}
	defer f.Close()
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		return fmt.Errorf("archiving %s: %w", path, err)
	}
	return nil
}

// extractArchive unpacks a gzipped tar written by writeArchive. It refuses
// entries outside their root and entries below a symlink that the archive
// itself created, the two ways a crafted archive writes where it should not,
// and writes only through jr: nothing lands outside the job's directories.
func extractArchive(ctx context.Context, rd io.Reader, r roots, jr jobroots.Set) error {
	zr, err := gzip.NewReader(rd)
	if err != nil {
		return fmt.Errorf("reading archive: %w", err)
	}
	tr := tar.NewReader(zr)
	links := map[string]bool{}
	type dirMeta struct {
		path  string
		mode  fs.FileMode
		mtime time.Time
	}
	var dirs []dirMeta
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading archive: %w", err)
		}
		target, err := r.target(hdr.Name)
		if err != nil {
			return err
		}
		if _, _, err := jr.Locate(target); err != nil {
			return fmt.Errorf("archive entry %q: %w", hdr.Name, err)
		}
		for d := filepath.Dir(target); d != filepath.Dir(d); d = filepath.Dir(d) {
			if links[d] {
				return fmt.Errorf("archive entry %q goes through a symlink it created", hdr.Name)
			}
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := jr.MkdirAll(target, 0o755); err != nil {
				return fmt.Errorf("restoring %s: %w", target, err)
			}
			// Modes are applied last: a read-only directory must still
			// receive its children.
			dirs = append(dirs, dirMeta{target, hdr.FileInfo().Mode().Perm(), hdr.ModTime})
		case tar.TypeReg:
			if err := writeFile(tr, jr, target, hdr); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := jr.Symlink(hdr.Linkname, target); err != nil {
				return fmt.Errorf("restoring %s: %w", target, err)
			}
			links[target] = true
		default:
			return fmt.Errorf("archive entry %q has unsupported type %c", hdr.Name, hdr.Typeflag)
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		if err := jr.Chmod(d.path, d.mode); err != nil {
			return fmt.Errorf("restoring %s: %w", d.path, err)
		}
		jr.Chtimes(d.path, d.mtime, d.mtime) // best effort: mtimes are a nicety
	}
	return nil
}

// checkArchive reads an archive through, gzip trailer included, and
// refuses what extractArchive would refuse by name or type alone. The roots
// stand in for real directories: only the names are judged.
func checkArchive(ctx context.Context, rd io.Reader) error {
	zr, err := gzip.NewReader(rd)
	if err != nil {
		return invalid("reading archive: %v", err)
	}
	tr := tar.NewReader(zr)
	r := roots{rootWorkspace: "/ws", rootHome: "/home"}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return invalid("reading archive: %v", err)
		}
		if _, err := r.target(hdr.Name); err != nil {
			return invalid("%v", err)
		}
		switch hdr.Typeflag {
		case tar.TypeDir, tar.TypeReg, tar.TypeSymlink:
		default:
			return invalid("archive entry %q has unsupported type %c", hdr.Name, hdr.Typeflag)
		}
	}
	// The tar ends before the gzip stream does; its checksum is at the end.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return invalid("reading archive: %v", err)
	}
	return nil
}

func writeFile(src io.Reader, jr jobroots.Set, target string, hdr *tar.Header) error {
	mode := hdr.FileInfo().Mode().Perm()
	// Created anew: an existing file or link there is removed first, so
	// restoring never writes through an old symlink.
	f, err := jr.Create(target, mode|0o200)
	if err != nil {
		return fmt.Errorf("restoring %s: %w", target, err)
	}
	_, cerr := io.Copy(f, src)
	if err := errors.Join(cerr, f.Close()); err != nil {
		return fmt.Errorf("restoring %s: %w", target, err)
	}
	// Chmod after writing: the umask applied at create, and read-only files
	// had to be writable to be filled.
	if err := jr.Chmod(target, mode); err != nil {
		return fmt.Errorf("restoring %s: %w", target, err)
	}
	jr.Chtimes(target, hdr.ModTime, hdr.ModTime) // best effort
	return nil
}
