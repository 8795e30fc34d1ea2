package artifacts

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-ci/sluice/internal/roots"
)

// Import stores a zip of an artifact's files (as an agent sends it, or as
// Open returns it) under run and name. The zip is only the transport: its
// regular files are extracted, entries that would land outside are refused,
// and the store zips them itself, so names, digests and limits stay its own.
func (s *Store) Import(ctx context.Context, run, name string, zipBody io.Reader, o UploadOptions) (*Artifact, string, error) {
	dir, err := os.MkdirTemp(s.dir, "import-")
	if err != nil {
		return nil, "", fmt.Errorf("importing artifact %s: %w", name, err)
	}
	defer os.RemoveAll(dir)
	files := filepath.Join(dir, "files")
	if err := receiveZip(ctx, zipBody, filepath.Join(dir, "upload.zip"), files); err != nil {
		return nil, "", fmt.Errorf("reading the zip of artifact %s: %w", name, err)
	}
	// Hidden files in the zip were chosen by its maker: keep them.
	o.IncludeHidden = true
	return s.Upload(ctx, run, name, []string{files}, roots.New(files, ""), o)
}

// receiveZip saves body to zipPath and extracts its regular files under
// dir, refusing entries that would land outside it.
func receiveZip(ctx context.Context, body io.Reader, zipPath, dir string) error {
	f, err := os.Create(zipPath)
	if err != nil {
		return err
	}
	defer f.Close()
	size, err := io.Copy(f, body)
	if err != nil {
		return fmt.Errorf("receiving: %w", err)
	}
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, zf := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := strings.TrimSuffix(zf.Name, "/")
		if !filepath.IsLocal(name) || strings.Contains(zf.Name, `\`) {
			return fmt.Errorf("entry %q is outside the artifact", zf.Name)
		}
		mode := zf.Mode()
		if mode.IsDir() || strings.HasSuffix(zf.Name, "/") {
			continue
		}
		if !mode.IsRegular() {
			return fmt.Errorf("entry %q is not a regular file", zf.Name)
		}
		if err := extractEntry(zf, filepath.Join(dir, filepath.FromSlash(name))); err != nil {
			return err
		}
	}
	return nil
}

func extractEntry(zf *zip.File, target string) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	rc, err := zf.Open()
	if err != nil {
		return fmt.Errorf("opening %s: %w", zf.Name, err)
	}
	defer rc.Close()
	out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("extracting %s: %w", zf.Name, err)
	}
	_, cerr := io.Copy(out, rc)
	if err := errors.Join(cerr, out.Close()); err != nil {
		return fmt.Errorf("extracting %s: %w", zf.Name, err)
	}
	return nil
}
