package artifacts

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/sluice-ci/sluice/internal/roots"
)

// Selector is download-artifact's choice of artifacts. Name wins over
// IDs, IDs over Pattern; all empty selects every artifact of the run.
type Selector struct {
	Name    string
	Pattern string
	IDs     []int64
	// MergeMultiple extracts every selected artifact into dest itself
	// instead of dest/<name>/. A download by Name always goes into dest.
	MergeMultiple bool
}

// Download extracts the selected artifacts of run under dest and returns
// them. Each zip's sha256 is checked against the recorded digest first, and
// a zip entry that would land outside its directory fails the download.
// A pattern matching nothing is not an error; an unknown name or ID is.
// dest, and everything written under it, must stay inside jr's
// directories: a symlink leading out is refused, never written through.
func (s *Store) Download(ctx context.Context, run string, sel Selector, dest string, jr roots.Set) ([]Artifact, error) {
	if _, _, err := jr.Locate(dest); err != nil {
		return nil, err
	}
	var all []Artifact
	if err := s.withIndex(false, func(idx *index) error {
		all = artifactsOf(idx, run)
		return nil
	}); err != nil {
		return nil, err
	}
	chosen, single, err := choose(all, sel)
	if err != nil {
		return nil, err
	}
	for _, a := range chosen {
		dir := dest
		if !single && !sel.MergeMultiple {
			dir = filepath.Join(dest, a.Name)
		}
		if err := s.extract(ctx, a, dir, jr); err != nil {
			return nil, fmt.Errorf("downloading artifact %q: %w", a.Name, err)
		}
	}
	return chosen, nil
}

func choose(all []Artifact, sel Selector) (chosen []Artifact, single bool, err error) {
	switch {
	case sel.Name != "":
		for _, a := range all {
			if a.Name == sel.Name {
				return []Artifact{a}, true, nil
			}
		}
		return nil, false, fmt.Errorf("artifact not found for name: %s", sel.Name)
	case len(sel.IDs) > 0:
		for _, id := range sel.IDs {
			found := false
			for _, a := range all {
				if a.ID == id {
					chosen, found = append(chosen, a), true
					break
				}
			}
			if !found {
				return nil, false, fmt.Errorf("artifact not found for id: %d", id)
			}
		}
		return chosen, false, nil
	default:
		if sel.Pattern != "" && !doublestar.ValidatePattern(sel.Pattern) {
			return nil, false, fmt.Errorf("invalid artifact pattern %q", sel.Pattern)
		}
		for _, a := range all {
			if ok, _ := doublestar.Match(sel.Pattern, a.Name); sel.Pattern == "" || ok {
				chosen = append(chosen, a)
			}
		}
		return chosen, false, nil
	}
}

func (s *Store) extract(ctx context.Context, a Artifact, dir string, jr roots.Set) error {
	f, done, err := s.openZip(a.Digest)
	if err != nil {
		return fmt.Errorf("opening zip: %w", err)
	}
	defer done()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("reading zip: %w", err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != a.Digest {
		return fmt.Errorf("zip digest %s does not match the recorded %s: refusing a modified artifact", got, a.Digest)
	}
	zr, err := zip.NewReader(f, n)
	if err != nil {
		return fmt.Errorf("reading zip: %w", err)
	}
	// Every name is checked before anything is written, so a crafted zip
	// leaves nothing behind.
	for _, zf := range zr.File {
		if err := checkEntry(zf); err != nil {
			return err
		}
	}
	if err := jr.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	for _, zf := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(zf.Name))
		if strings.HasSuffix(zf.Name, "/") {
			if err := jr.MkdirAll(target, 0o755); err != nil {
				return fmt.Errorf("creating %s: %w", target, err)
			}
			continue
		}
		if err := writeEntry(zf, jr, target); err != nil {
			return err
		}
	}
	return nil
}

func checkEntry(zf *zip.File) error {
	name := strings.TrimSuffix(zf.Name, "/")
	if strings.Contains(name, `\`) || !filepath.IsLocal(filepath.FromSlash(name)) {
		return fmt.Errorf("zip entry %q escapes the download directory", zf.Name)
	}
	if m := zf.Mode(); !m.IsRegular() && !m.IsDir() {
		return fmt.Errorf("zip entry %q is not a regular file", zf.Name)
	}
	return nil
}

func writeEntry(zf *zip.File, jr roots.Set, target string) error {
	rc, err := zf.Open()
	if err != nil {
		return fmt.Errorf("reading zip entry %s: %w", zf.Name, err)
	}
	defer rc.Close()
	// Created anew through the job's root: never written through an
	// existing symlink at the target or on its way.
	out, err := jr.Create(target, 0o644)
	if err != nil {
		return fmt.Errorf("writing %s: %w", target, err)
	}
	_, cerr := io.Copy(out, rc)
	if err := errors.Join(cerr, out.Close()); err != nil {
		return fmt.Errorf("writing %s: %w", target, err)
	}
	return nil
}
