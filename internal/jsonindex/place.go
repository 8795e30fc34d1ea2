package jsonindex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sluice-ci/sluice/internal/blob"
)

// Place is where a store keeps its index and its data files: a directory on this machine
// (File), or a blob store several server replicas share (Shared). Data files are written
// whole elsewhere first and moved in by PutFile.
type Place[T any] interface {
	With(write bool, fn func(*T) error) error
	// PutFile moves the finished file at tmp in as name (relative, slash-separated); tmp is
	// gone afterwards, taken or removed.
	PutFile(name, tmp string) error
	OpenFile(name string) (io.ReadCloser, error)
	// RemoveFile deletes name; a failure only leaves an orphan.
	RemoveFile(name string)
}

// PutFile renames tmp to Dir/name.
func (f File[T]) PutFile(name, tmp string) error {
	dst := filepath.Join(f.Dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func (f File[T]) OpenFile(name string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(f.Dir, filepath.FromSlash(name)))
}

func (f File[T]) RemoveFile(name string) { os.Remove(filepath.Join(f.Dir, filepath.FromSlash(name))) }

// Shared keeps the index and files under Prefix in a blob store; the index is read and
// rewritten under Lock, a lock every replica respects.
type Shared[T any] struct {
	Blobs  blob.Store
	Prefix string // "artifacts/"
	Lock   func(ctx context.Context) (release func(), err error)
	// Store names the store in errors ("artifact store"), Name the index ("artifact index").
	Store, Name string
}

// sharedTimeout bounds one index update or file transfer: the stores' callers hold no
// context for these steps.
const sharedTimeout = 5 * time.Minute

func (s Shared[T]) With(write bool, fn func(*T) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	release, err := s.Lock(ctx)
	if err != nil {
		return fmt.Errorf("locking %s: %w", s.Store, err)
	}
	defer release()
	idx := new(T)
	rc, err := s.Blobs.Get(ctx, s.Prefix+"index.json")
	switch {
	case errors.Is(err, blob.ErrNotFound):
	case err != nil:
		return fmt.Errorf("reading %s: %w", s.Name, err)
	default:
		err := json.NewDecoder(rc).Decode(idx)
		rc.Close()
		if err != nil {
			return fmt.Errorf("parsing %s: %w", s.Name, err)
		}
	}
	if err := fn(idx); err != nil || !write {
		return err
	}
	b, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", s.Name, err)
	}
	if err := s.Blobs.Put(ctx, s.Prefix+"index.json", bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("writing %s: %w", s.Name, err)
	}
	return nil
}

func (s Shared[T]) PutFile(name, tmp string) error {
	defer os.Remove(tmp)
	f, err := os.Open(tmp)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	return s.Blobs.Put(ctx, s.Prefix+name, f, st.Size())
}

func (s Shared[T]) OpenFile(name string) (io.ReadCloser, error) {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	rc, err := s.Blobs.Get(ctx, s.Prefix+name)
	if err != nil {
		cancel()
		return nil, err
	}
	return cancelCloser{rc, cancel}, nil
}

func (s Shared[T]) RemoveFile(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	_ = s.Blobs.Delete(ctx, s.Prefix+name)
}

type cancelCloser struct {
	io.ReadCloser
	cancel func()
}

func (c cancelCloser) Close() error {
	defer c.cancel()
	return c.ReadCloser.Close()
}
