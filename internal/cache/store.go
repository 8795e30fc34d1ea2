// Package cache is the store behind actions/cache, actions/cache/restore and
// actions/cache/save: immutable, versioned, prefix-matched entries kept on
// local disk and shared by every run on the machine.
package cache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sluice-ci/sluice/internal/blob"
	"github.com/sluice-ci/sluice/internal/jsonindex"
)

// ErrExists reports a Save under a key that already has an entry: GitHub
// caches are immutable, a new content needs a new key.
var ErrExists = errors.New("cache entry already exists")

// ErrInvalid marks errors in what was asked (a bad key, a malformed
// archive) as opposed to failures of the store itself, so a server can
// tell its client which it was.
var ErrInvalid = errors.New("invalid cache request")

// invalidError keeps its own message and matches ErrInvalid.
type invalidError struct{ err error }

func (e invalidError) Error() string   { return e.err.Error() }
func (e invalidError) Unwrap() []error { return []error{e.err, ErrInvalid} }

func invalid(format string, args ...any) error {
	return invalidError{fmt.Errorf(format, args...)}
}

// Entry describes one saved cache.
type Entry struct {
	Key      string
	Version  string
	Size     int64 // bytes of the compressed archive
	Created  time.Time
	LastUsed time.Time
}

// Store keeps cache entries under one directory. Several processes may use
// the same directory: the index is only read and rewritten under an
// exclusive file lock, and archives are written beside it and renamed into
// place, so no reader ever sees half an entry.
type Store struct {
	dir      string // local: temporary files, and the index and entries unless shared
	place    jsonindex.Place[index]
	maxBytes int64
	// now is replaceable so tests can order entries without sleeping.
	now func() time.Time
}

// record is an Entry as the index stores it.
type record struct {
	Scope    string    `json:"scope"`
	Key      string    `json:"key"`
	Version  string    `json:"version"`
	Size     int64     `json:"size"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used"`
	File     string    `json:"file"`
}

func (r record) entry() Entry {
	return Entry{Key: r.Key, Version: r.Version, Size: r.Size, Created: r.Created, LastUsed: r.LastUsed}
}

type index struct {
	Entries []record `json:"entries"`
}

// Open returns the store in dir, creating it if needed. maxBytes bounds the
// total archive size over all scopes; zero or less means no bound.
func Open(dir string, maxBytes int64) (*Store, error) {
	for _, d := range []string{dir, filepath.Join(dir, "entries"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("creating cache directory %s: %w", d, err)
		}
	}
	return &Store{dir: dir, maxBytes: maxBytes, now: time.Now,
		place: jsonindex.File[index]{Dir: dir, Store: "cache", Name: "cache index"}}, nil
}

// OpenShared returns a store whose index and archives live in blobs under "cache/", shared by
// every server replica (lock is a lock they all respect), with temporary files in dir.
func OpenShared(dir string, maxBytes int64, blobs blob.Store, lock func(ctx context.Context) (func(), error)) (*Store, error) {
	s, err := Open(dir, maxBytes)
	if err != nil {
		return nil, err
	}
	s.place = jsonindex.Shared[index]{Blobs: blobs, Prefix: "cache/", Lock: lock, Store: "cache", Name: "cache index"}
	return s, nil
}

// List returns the entries of one scope, newest first.
func (s *Store) List(scope string) ([]Entry, error) {
	var out []Entry
	err := s.withIndex(false, func(idx *index) error {
		for _, r := range newestFirst(idx.Entries) {
			if r.Scope == scope {
				out = append(out, r.entry())
			}
		}
		return nil
	})
	return out, err
}

// withIndex runs fn with the index loaded under the store lock and, when
// write is set, saves what fn left in it.
func (s *Store) withIndex(write bool, fn func(*index) error) error {
	return s.place.With(write, fn)
}
