package cache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Save archives paths under key. Paths are globs (with **), a leading !
// excludes, ~ is the home directory and relative paths are relative to
// workspace. Files below the workspace are stored relative to it, so a
// restore into another workspace puts them in the new one. A key that
// already has an entry of this scope and version gives ErrExists. After
// saving, least recently used entries are evicted until the store fits its
// size bound.
func (s *Store) Save(ctx context.Context, scope, key string, paths []string, version, workspace string) (Entry, error) {
	if err := validateKeys([]string{key}); err != nil {
		return Entry{}, err
	}
	// Checked before archiving, which can be long, and again before
	// committing, which decides a race.
	if err := s.withIndex(false, func(idx *index) error { return exists(idx, scope, key, version) }); err != nil {
		return Entry{}, err
	}
	ws, err := filepath.Abs(workspace)
	if err != nil {
		return Entry{}, fmt.Errorf("resolving workspace %s: %w", workspace, err)
	}
	home, _ := os.UserHomeDir()
	files, err := collect(paths, ws, home)
	if err != nil {
		return Entry{}, fmt.Errorf("saving cache %q: %w", key, err)
	}
	if len(files) == 0 {
		return Entry{}, fmt.Errorf("saving cache %q: no files match the paths %s", key, strings.Join(paths, ", "))
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "save-*")
	if err != nil {
		return Entry{}, fmt.Errorf("saving cache %q: %w", key, err)
	}
	committed := false
	defer func() {
		if !committed {
			os.Remove(tmp.Name())
		}
	}()
	werr := writeArchive(ctx, tmp, files, roots{rootWorkspace: ws, rootHome: home})
	info, serr := tmp.Stat()
	if err := errors.Join(werr, serr, tmp.Close()); err != nil {
		return Entry{}, fmt.Errorf("saving cache %q: %w", key, err)
	}
	rec := record{Scope: scope, Key: key, Version: version, Size: info.Size(), File: entryFile(scope, key, version)}
	err = s.withIndex(true, func(idx *index) error {
		if err := exists(idx, scope, key, version); err != nil {
			return err
		}
		if err := os.Rename(tmp.Name(), filepath.Join(s.dir, "entries", rec.File)); err != nil {
			return fmt.Errorf("saving cache %q: %w", key, err)
		}
		committed = true
		rec.Created = s.now()
		rec.LastUsed = rec.Created
		idx.Entries = append(idx.Entries, rec)
		s.evict(idx, len(idx.Entries)-1)
		return nil
	})
	if err != nil {
		return Entry{}, err
	}
	return rec.entry(), nil
}

func exists(idx *index, scope, key, version string) error {
	for _, r := range idx.Entries {
		if r.Scope == scope && r.Key == key && r.Version == version {
			return fmt.Errorf("saving cache %q: %w", key, ErrExists)
		}
	}
	return nil
}

// evict drops least recently used entries, never keep, until the total
// size fits maxBytes. The bound covers all scopes: it protects the disk.
func (s *Store) evict(idx *index, keep int) {
	if s.maxBytes <= 0 {
		return
	}
	var total int64
	for _, r := range idx.Entries {
		total += r.Size
	}
	if total <= s.maxBytes {
		return
	}
	order := make([]int, 0, len(idx.Entries))
	for i := range idx.Entries {
		if i != keep {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool {
		return idx.Entries[order[a]].LastUsed.Before(idx.Entries[order[b]].LastUsed)
	})
	drop := map[int]bool{}
	for _, i := range order {
		if total <= s.maxBytes {
			break
		}
		drop[i] = true
		total -= idx.Entries[i].Size
		// A failed removal leaves an orphan file, not a wrong index.
		os.Remove(filepath.Join(s.dir, "entries", idx.Entries[i].File))
	}
	kept := idx.Entries[:0]
	for i, r := range idx.Entries {
		if !drop[i] {
			kept = append(kept, r)
		}
	}
	idx.Entries = kept
}
