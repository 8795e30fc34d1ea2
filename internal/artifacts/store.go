// Package artifacts is the store behind actions/upload-artifact and
// actions/download-artifact (v4): per-run, immutable, named zip archives,
// kept content-addressed (sha256) on local disk.
package artifacts

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/jsonindex"
)

// Artifact describes one uploaded artifact.
type Artifact struct {
	ID      int64
	Name    string
	Size    int64  // bytes of the zip
	Digest  string // "sha256:" and the hex digest of the zip
	Files   int
	Created time.Time
	Expires time.Time
}

// Store keeps artifacts under one directory: blobs/<hex>.zip named by
// digest, and an index of runs, names and IDs. The index is rewritten
// under an exclusive file lock by atomic rename, so several processes can
// share the directory.
type Store struct {
	dir       string
	indexFile jsonindex.File[index]
	// now is replaceable so tests control creation and expiry times.
	now func() time.Time
}

type record struct {
	Run string `json:"run"`
	Artifact
}

type index struct {
	LastID    int64    `json:"last_id"`
	Artifacts []record `json:"artifacts"`
}

// Open returns the store in dir, creating it if needed.
func Open(dir string) (*Store, error) {
	for _, d := range []string{dir, filepath.Join(dir, "blobs"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("creating artifact directory %s: %w", d, err)
		}
	}
	return &Store{dir: dir, now: time.Now,
		indexFile: jsonindex.File[index]{Dir: dir, Store: "artifact store", Name: "artifact index"}}, nil
}

// List returns the artifacts of a run in upload order.
func (s *Store) List(run string) ([]Artifact, error) {
	var out []Artifact
	err := s.withIndex(false, func(idx *index) error {
		out = artifactsOf(idx, run)
		return nil
	})
	return out, err
}

func artifactsOf(idx *index, run string) []Artifact {
	var out []Artifact
	for _, r := range idx.Artifacts {
		if r.Run == run {
			out = append(out, r.Artifact)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Open returns the zip of one artifact of run, as uploaded.
func (s *Store) Open(run string, id int64) (io.ReadCloser, error) {
	var a *Artifact
	err := s.withIndex(false, func(idx *index) error {
		for _, r := range idx.Artifacts {
			if r.Run == run && r.ID == id {
				a = &r.Artifact
				return nil
			}
		}
		return fmt.Errorf("artifact %d not found in run %s", id, run)
	})
	if err != nil {
		return nil, err
	}
	f, err := os.Open(s.blobPath(a.Digest))
	if err != nil {
		return nil, fmt.Errorf("opening artifact %d: %w", id, err)
	}
	return f, nil
}

// Prune drops artifacts expired at now and returns how many.
func (s *Store) Prune(now time.Time) (int, error) {
	n := 0
	err := s.withIndex(true, func(idx *index) error {
		kept := idx.Artifacts[:0]
		var dropped []record
		for _, r := range idx.Artifacts {
			if now.Before(r.Expires) {
				kept = append(kept, r)
			} else {
				dropped = append(dropped, r)
			}
		}
		idx.Artifacts = kept
		n = len(dropped)
		s.removeUnreferenced(idx, dropped)
		return nil
	})
	return n, err
}

// removeUnreferenced deletes the blobs of dropped that no artifact left in
// idx shares. A failed removal only leaves an orphan file.
func (s *Store) removeUnreferenced(idx *index, dropped []record) {
	used := map[string]bool{}
	for _, r := range idx.Artifacts {
		used[r.Digest] = true
	}
	for _, r := range dropped {
		if !used[r.Digest] {
			os.Remove(s.blobPath(r.Digest))
		}
	}
}

func (s *Store) blobPath(digest string) string {
	hex := strings.TrimPrefix(digest, "sha256:")
	return filepath.Join(s.dir, "blobs", hex+".zip")
}

// withIndex runs fn with the index loaded under the store lock and, when
// write is set, saves what fn left in it.
func (s *Store) withIndex(write bool, fn func(*index) error) error {
	return s.indexFile.With(write, fn)
}
