package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	jobroots "github.com/sluice-ci/sluice/internal/roots"
)

// Save archives paths under key. Paths are globs (with **), a leading !
// excludes, ~ is the home directory and relative paths are relative to
// jr's workspace; every path must stay inside jr's directories, symlinks
// included. Files below the workspace are stored relative to it, so a
// restore into another workspace puts them in the new one. A key that
// already has an entry of this scope and version gives ErrExists. After
// saving, least recently used entries are evicted until the store fits its
// size bound.
func (s *Store) Save(ctx context.Context, scope, key string, paths []string, version string, jr jobroots.Set) (Entry, error) {
	if err := validateKeys([]string{key}); err != nil {
		return Entry{}, err
	}
	// Checked before archiving, which can be long, and again before
	// committing, which decides a race.
	if err := s.withIndex(false, func(idx *index) error { return exists(idx, scope, key, version) }); err != nil {
		return Entry{}, err
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "save-*")
	if err != nil {
		return Entry{}, fmt.Errorf("saving cache %q: %w", key, err)
	}
	werr := Archive(ctx, tmp, paths, jr)
	info, serr := tmp.Stat()
	if err := errors.Join(werr, serr, tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return Entry{}, fmt.Errorf("saving cache %q: %w", key, err)
	}
	return s.commit(tmp.Name(), scope, key, version, info.Size())
}

// Archive writes what Save would store for paths (same globs, same roots)
// to w, for a store on another machine to Import.
func Archive(ctx context.Context, w io.Writer, paths []string, jr jobroots.Set) error {
	files, err := collect(paths, jr)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no files match the paths %s", strings.Join(paths, ", "))
	}
	return writeArchive(ctx, w, files, rootsOf(jr), jr)
}

// Import stores archive, a gzipped tar as Archive writes it, as the entry
// (scope, key, version): another machine's Save. The archive is read to its
// end and its names checked first, so a truncated or foreign upload never
// becomes an entry; extraction still guards against the rest. A key that
// already has an entry gives ErrExists.
func (s *Store) Import(ctx context.Context, scope, key, version string, archive io.Reader) (Entry, error) {
	if err := validateKeys([]string{key}); err != nil {
		return Entry{}, err
	}
	if version == "" {
		return Entry{}, invalid("importing cache %q: no version", key)
	}
	if err := s.withIndex(false, func(idx *index) error { return exists(idx, scope, key, version) }); err != nil {
		return Entry{}, err
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "import-*")
	if err != nil {
		return Entry{}, fmt.Errorf("importing cache %q: %w", key, err)
	}
	size, err := copyChecked(ctx, tmp, archive)
	if err := errors.Join(err, tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return Entry{}, fmt.Errorf("importing cache %q: %w", key, err)
	}
	return s.commit(tmp.Name(), scope, key, version, size)
}

// copyChecked copies an archive to f, then reads it back as Extract would,
// without writing anything.
func copyChecked(ctx context.Context, f *os.File, archive io.Reader) (int64, error) {
	size, err := io.Copy(f, archive)
	if err != nil {
		return 0, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	if err := checkArchive(ctx, f); err != nil {
		return 0, err
	}
	return size, nil
}

// commit moves the archive at tmp into the store as (scope, key, version)
// unless that entry exists by now, and evicts what no longer fits. tmp is
// removed when it is not taken.
func (s *Store) commit(tmp, scope, key, version string, size int64) (Entry, error) {
	rec := record{Scope: scope, Key: key, Version: version, Size: size, File: entryFile(scope, key, version)}
	taken := false
	err := s.withIndex(true, func(idx *index) error {
		if err := exists(idx, scope, key, version); err != nil {
			return err
		}
		taken = true // PutFile takes the file, or removes it
		if err := s.place.PutFile("entries/"+rec.File, tmp); err != nil {
			return fmt.Errorf("saving cache %q: %w", key, err)
		}
		rec.Created = s.now()
		rec.LastUsed = rec.Created
		idx.Entries = append(idx.Entries, rec)
		s.evict(idx, len(idx.Entries)-1)
		return nil
	})
	if !taken {
		os.Remove(tmp)
	}
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
		s.place.RemoveFile("entries/" + idx.Entries[i].File)
	}
	kept := idx.Entries[:0]
	for i, r := range idx.Entries {
		if !drop[i] {
			kept = append(kept, r)
		}
	}
	idx.Entries = kept
}
