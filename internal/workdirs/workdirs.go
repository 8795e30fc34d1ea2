// Package workdirs makes the directories jobs work in and sweeps the ones
// left behind: a directory is held (a lock inside it) while a run or job
// uses it, so that a later start, on any process, can tell a directory whose
// owner died (a crashed server or agent, a killed sluice run) from one in
// use, and remove it.
package workdirs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/sluice-ci/sluice/internal/fslock"
)

const (
	lockName = ".sluice-in-use"
	keepName = ".sluice-kept"
	// minAge spares a directory just made, whose owner may not hold it yet
	// (between its lock file being created and locked).
	minAge = 2 * time.Second
)

// Make creates a fresh directory under parent (named pattern, as
// os.MkdirTemp) and holds it until release is called.
func Make(parent, pattern string) (dir string, release func(), err error) {
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", nil, fmt.Errorf("creating %s: %w", parent, err)
	}
	dir, err = os.MkdirTemp(parent, pattern)
	if err != nil {
		return "", nil, fmt.Errorf("creating a work directory in %s: %w", parent, err)
	}
	release, err = Hold(dir)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, release, nil
}

// Hold marks dir as in use until release is called.
func Hold(dir string) (release func(), err error) {
	unlock, ok, err := fslock.TryLock(filepath.Join(dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("holding %s: %w", dir, err)
	}
	if !ok {
		return nil, fmt.Errorf("%s is in use by another sluice process", dir)
	}
	return unlock, nil
}

// Keep marks dir to be left alone by Sweep (sluice run --keep).
func Keep(dir string) error {
	return os.WriteFile(filepath.Join(dir, keepName), nil, 0o644)
}

// Sweep removes the directories directly under parent, named as match
// (filepath.Match), that were made by Make (they carry its lock file) and
// that no live process holds, are older than minAge and were not kept;
// it returns what it removed. A directory sluice did not make is never
// touched.
func Sweep(parent, match string) ([]string, error) {
	entries, err := os.ReadDir(parent)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", parent, err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if ok, _ := filepath.Match(match, e.Name()); !ok {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		if _, err := os.Lstat(filepath.Join(dir, lockName)); err != nil {
			continue // not ours
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < minAge {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, keepName)); err == nil {
			continue
		}
		unlock, ok, err := fslock.TryLock(filepath.Join(dir, lockName))
		if err != nil || !ok {
			continue // held: in use
		}
		err = os.RemoveAll(dir)
		unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", dir, err))
			continue
		}
		removed = append(removed, dir)
	}
	return removed, errors.Join(errs...)
}
