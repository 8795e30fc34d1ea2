// Package artifacts is the store behind actions/upload-artifact and
// actions/download-artifact (v4): per-run, immutable, named zip archives,
// kept content-addressed (sha256) on local disk.
package artifacts

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/blob"
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
	dir   string // local: temporary files, and the index and blobs unless shared
	place jsonindex.Place[index]
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
		place: jsonindex.File[index]{Dir: dir, Store: "artifact store", Name: "artifact index"}}, nil
}

// OpenShared returns a store whose index and zips live in blobs under "artifacts/", shared by
// every server replica (lock is a lock they all respect), with temporary files in dir.
func OpenShared(dir string, blobs blob.Store, lock func(ctx context.Context) (func(), error)) (*Store, error) {
	s, err := Open(dir)
	if err != nil {
		return nil, err
	}
	s.place = jsonindex.Shared[index]{Blobs: blobs, Prefix: "artifacts/", Lock: lock, Store: "artifact store", Name: "artifact index"}
	return s, nil
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
	f, err := s.place.OpenFile(blobName(a.Digest))
	if err != nil {
		return nil, fmt.Errorf("opening artifact %d: %w", id, err)
	}
	return f, nil
}

// Prune drops artifacts expired at now and returns how many.
func (s *Store) Prune(now time.Time) (int, error) {
	return s.drop(func(r record) bool { return !now.Before(r.Expires) })
}

// Delete drops run's artifacts whose IDs are ids and returns how many it dropped.
func (s *Store) Delete(run string, ids []int64) (int, error) {
	return s.drop(func(r record) bool { return r.Run == run && slices.Contains(ids, r.ID) })
}

// drop removes the artifacts gone selects, with the blobs no artifact left shares, and
// returns how many it removed.
func (s *Store) drop(gone func(record) bool) (int, error) {
	n := 0
	err := s.withIndex(true, func(idx *index) error {
		kept := idx.Artifacts[:0]
		var dropped []record
		for _, r := range idx.Artifacts {
			if gone(r) {
				dropped = append(dropped, r)
			} else {
				kept = append(kept, r)
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
			s.place.RemoveFile(blobName(r.Digest))
		}
	}
}

// blobName is where the zip of digest lives in the store.
func blobName(digest string) string {
	return "blobs/" + strings.TrimPrefix(digest, "sha256:") + ".zip"
}

// openZip returns the zip of digest as a local file (a copy when the store is shared), and
// what to call when done with it.
func (s *Store) openZip(digest string) (*os.File, func(), error) {
	rc, err := s.place.OpenFile(blobName(digest))
	if err != nil {
		return nil, nil, err
	}
	if f, ok := rc.(*os.File); ok {
		return f, func() { f.Close() }, nil
	}
	defer rc.Close()
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "zip-*")
	if err != nil {
		return nil, nil, err
	}
	done := func() { f.Close(); os.Remove(f.Name()) }
	if _, err := io.Copy(f, rc); err != nil {
		done()
		return nil, nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		done()
		return nil, nil, err
	}
	return f, done, nil
}

// withIndex runs fn with the index loaded under the store lock and, when
// write is set, saves what fn left in it.
func (s *Store) withIndex(write bool, fn func(*index) error) error {
	return s.place.With(write, fn)
}
