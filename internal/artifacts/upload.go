package artifacts

import (
	"archive/zip"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/roots"
)

// UploadOptions are upload-artifact's inputs besides name and path.
type UploadOptions struct {
	IncludeHidden bool
	// IfNoFilesFound is "warn" (also for ""), "error" or "ignore".
	IfNoFilesFound string
	// RetentionDays: 0 means the default, 90; more than 90 is capped.
	RetentionDays int
	// CompressionLevel is zlib's 0-9. The zero value stores files
	// uncompressed, so callers pass 6 (GitHub's default) when the input
	// is not set.
	CompressionLevel int
	Overwrite        bool
}

const (
	defaultName      = "artifact"
	maxRetentionDays = 90
)

// Upload zips the files paths select into artifact name of run. When
// nothing matches, IfNoFilesFound decides: "error" fails, "warn" returns a
// nil artifact and a warning for the step log, "ignore" returns neither.
// Artifacts of a run are immutable: a name already uploaded in run fails
// unless o.Overwrite, which replaces it under a new ID.
//
// Paths are relative to jr's workspace (~ is its home) and must stay inside
// jr's directories, symlinks included.
func (s *Store) Upload(ctx context.Context, run, name string, paths []string, jr roots.Set, o UploadOptions) (*Artifact, string, error) {
	if name == "" {
		name = defaultName
	}
	if err := validateName(name); err != nil {
		return nil, "", err
	}
	mode := o.IfNoFilesFound
	if mode == "" {
		mode = "warn"
	}
	if mode != "warn" && mode != "error" && mode != "ignore" {
		return nil, "", fmt.Errorf("unrecognized if-no-files-found input %q: use warn, error or ignore", o.IfNoFilesFound)
	}
	if o.CompressionLevel < 0 || o.CompressionLevel > 9 {
		return nil, "", fmt.Errorf("invalid compression-level %d: use 0 to 9", o.CompressionLevel)
	}
	var warnings []string
	days := o.RetentionDays
	switch {
	case days < 0:
		return nil, "", fmt.Errorf("invalid retention-days %d", days)
	case days == 0:
		days = maxRetentionDays
	case days > maxRetentionDays:
		warnings = append(warnings, fmt.Sprintf("retention-days %d is more than the maximum of %d; using %d", days, maxRetentionDays, maxRetentionDays))
		days = maxRetentionDays
	}
	if !o.Overwrite {
		// Fail before zipping; the commit checks again.
		if err := s.withIndex(false, func(idx *index) error { return conflict(idx, run, name) }); err != nil {
			return nil, "", err
		}
	}

	u, err := search(paths, jr, o.IncludeHidden)
	if err != nil {
		return nil, "", fmt.Errorf("uploading artifact %q: %w", name, err)
	}
	if len(u.files) == 0 {
		msg := fmt.Sprintf("No files were found with the provided path: %s. No artifacts will be uploaded.", strings.Join(paths, "\n"))
		switch mode {
		case "error":
			return nil, "", errors.New(msg)
		case "warn":
			warnings = append(warnings, msg)
		}
		return nil, strings.Join(warnings, "\n"), nil
	}

	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "upload-*.zip")
	if err != nil {
		return nil, "", fmt.Errorf("uploading artifact %q: %w", name, err)
	}
	committed := false
	defer func() {
		if !committed {
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	zerr := writeZip(ctx, io.MultiWriter(tmp, h), u, jr, o.CompressionLevel)
	info, serr := tmp.Stat()
	if err := errors.Join(zerr, serr, tmp.Close()); err != nil {
		return nil, "", fmt.Errorf("uploading artifact %q: %w", name, err)
	}
	now := s.now()
	a := Artifact{
		Name:    name,
		Size:    info.Size(),
		Digest:  "sha256:" + hex.EncodeToString(h.Sum(nil)),
		Files:   len(u.files),
		Created: now,
		Expires: now.Add(time.Duration(days) * 24 * time.Hour),
	}
	err = s.withIndex(true, func(idx *index) error {
		var replaced []record
		if o.Overwrite {
			kept := idx.Artifacts[:0]
			for _, r := range idx.Artifacts {
				if r.Run == run && r.Name == name {
					replaced = append(replaced, r)
				} else {
					kept = append(kept, r)
				}
			}
			idx.Artifacts = kept
		} else if err := conflict(idx, run, name); err != nil {
			return err
		}
		// Same digest, same bytes: an existing blob is replaced by the same.
		committed = true // PutFile takes the file, or removes it
		if err := s.place.PutFile(blobName(a.Digest), tmp.Name()); err != nil {
			return fmt.Errorf("uploading artifact %q: %w", name, err)
		}
		idx.LastID++
		a.ID = idx.LastID
		idx.Artifacts = append(idx.Artifacts, record{Run: run, Artifact: a})
		s.removeUnreferenced(idx, replaced)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return &a, strings.Join(warnings, "\n"), nil
}

func conflict(idx *index, run, name string) error {
	for _, r := range idx.Artifacts {
		if r.Run == run && r.Name == name {
			return fmt.Errorf("uploading artifact %q: an artifact with this name already exists on the workflow run (set overwrite to replace it)", name)
		}
	}
	return nil
}

// validateName applies GitHub's rule, which also keeps a name safe as the
// directory download-artifact creates for it.
func validateName(name string) error {
	if strings.ContainsAny(name, "\"<>|*?:\\/\r\n") || name == "." || name == ".." {
		return fmt.Errorf("invalid artifact name %q: it cannot contain any of \" : < > | * ? \\ / or line breaks", name)
	}
	return nil
}

func writeZip(ctx context.Context, w io.Writer, u upload, jr roots.Set, level int) error {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, level)
	})
	method := zip.Deflate
	if level == 0 {
		method = zip.Store
	}
	for _, path := range u.files {
		if err := ctx.Err(); err != nil {
			return err
		}
		name, err := u.zipName(path)
		if err != nil {
			return err
		}
		if err := addToZip(zw, jr, path, name, method); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("finishing zip: %w", err)
	}
	return nil
}

func addToZip(zw *zip.Writer, jr roots.Set, path, name string, method uint16) error {
	f, err := jr.OpenFile(path)
	if roots.IsEscape(err) {
		return err
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	// No mode bits, like GitHub's zips: downloaded files are plain 0644.
	zf, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method, Modified: info.ModTime()})
	if err != nil {
		return fmt.Errorf("zipping %s: %w", path, err)
	}
	if _, err := io.Copy(zf, f); err != nil {
		return fmt.Errorf("zipping %s: %w", path, err)
	}
	return nil
}
