// Package jsonindex keeps the JSON index of an on-disk store that several
// processes share: it is only read and rewritten under an exclusive file
// lock, and replaced by atomic rename, so no reader sees half a write.
package jsonindex

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sluice-ci/sluice/internal/fslock"
)

// File is the index Dir/index.json of a T, locked through Dir/lock.
type File[T any] struct {
	Dir string
	// Store names the store in lock errors ("artifact store"), Name the
	// index in read and write errors ("artifact index").
	Store, Name string
}

// With runs fn with the index loaded under the lock (a zero T before the
// first write) and, when write is set, saves what fn left in it. Nothing is
// saved when fn fails.
func (f File[T]) With(write bool, fn func(*T) error) error {
	unlock, err := fslock.Lock(filepath.Join(f.Dir, "lock"))
	if err != nil {
		return fmt.Errorf("locking %s %s: %w", f.Store, f.Dir, err)
	}
	defer unlock()
	idx, err := f.read()
	if err != nil {
		return err
	}
	if err := fn(idx); err != nil {
		return err
	}
	if !write {
		return nil
	}
	return f.write(idx)
}

func (f File[T]) read() (*T, error) {
	p := filepath.Join(f.Dir, "index.json")
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return new(T), nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Name, err)
	}
	var idx T
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("parsing %s %s: %w", f.Name, p, err)
	}
	return &idx, nil
}

func (f File[T]) write(idx *T) error {
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", f.Name, err)
	}
	tmp, err := os.CreateTemp(f.Dir, "index-*.json")
	if err != nil {
		return fmt.Errorf("writing %s: %w", f.Name, err)
	}
	_, werr := tmp.Write(b)
	if err := errors.Join(werr, tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", f.Name, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(f.Dir, "index.json")); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("replacing %s: %w", f.Name, err)
	}
	return nil
}
