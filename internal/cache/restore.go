package cache

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	jobroots "github.com/sluice-ci/sluice/internal/roots"
)

// Restore looks for an entry of scope and version the way actions/cache
// does: for the primary key and then each restore key in order, an exact
// key match first, then the newest entry whose key starts with it. On a hit
// it extracts the entry into place unless lookupOnly. It returns the
// matched key ("" on a miss) and whether that key is the primary key
// itself (the action's cache-hit output).
func (s *Store) Restore(ctx context.Context, scope, key string, restoreKeys []string, version string, lookupOnly bool, jr jobroots.Set) (matched string, exact bool, err error) {
	e, archive, err := s.Lookup(ctx, scope, key, restoreKeys, version, lookupOnly)
	if err != nil || archive == nil {
		return e.Key, e.Key == key, err
	}
	defer archive.Close()
	if err := Extract(ctx, archive, jr); err != nil {
		return "", false, fmt.Errorf("restoring cache %q: %w", e.Key, err)
	}
	return e.Key, e.Key == key, nil
}

// Lookup finds the entry Restore would restore, by the same rules. On a
// hit it returns the entry and, unless lookupOnly, its archive open for
// reading (the caller closes it), counting the entry as used; a server
// hands that archive to an agent, which extracts it with Extract. A miss
// is a zero Entry and a nil archive.
func (s *Store) Lookup(ctx context.Context, scope, key string, restoreKeys []string, version string, lookupOnly bool) (Entry, io.ReadCloser, error) {
	keys := append([]string{key}, restoreKeys...)
	if err := validateKeys(keys); err != nil {
		return Entry{}, nil, err
	}
	if err := ctx.Err(); err != nil {
		return Entry{}, nil, err
	}
	var e Entry
	var f io.ReadCloser
	err := s.withIndex(!lookupOnly, func(idx *index) error {
		i := find(idx.Entries, scope, version, keys)
		if i < 0 {
			return nil
		}
		r := &idx.Entries[i]
		if !lookupOnly {
			// Opened under the lock: an eviction that follows unlinks the
			// name, but this descriptor keeps the data readable.
			var err error
			if f, err = s.place.OpenFile("entries/" + r.File); err != nil {
				return fmt.Errorf("opening cache entry %q: %w", r.Key, err)
			}
			r.LastUsed = s.now()
		}
		e = r.entry()
		return nil
	})
	if err != nil {
		if f != nil {
			f.Close()
		}
		return Entry{}, nil, err
	}
	if f == nil {
		return e, nil, nil // not a typed nil: callers test archive == nil
	}
	return e, f, nil
}

// Extract unpacks an archive written by Save or Archive into place: files
// of the workspace into jr's workspace, files of the home directory into
// jr's home, absolute paths where they were — all only inside jr's
// directories, never through a symlink leading out. A restore from this
// store and one from another machine's go through here alike.
func Extract(ctx context.Context, archive io.Reader, jr jobroots.Set) error {
	return extractArchive(ctx, archive, rootsOf(jr), jr)
}

// find returns the index of the entry keys select, or -1.
func find(entries []record, scope, version string, keys []string) int {
	order := newestFirst(entries)
	pos := make(map[*record]int, len(entries))
	for i := range entries {
		pos[&entries[i]] = i
	}
	for _, k := range keys {
		for _, r := range order {
			if r.Scope == scope && r.Version == version && r.Key == k {
				return pos[r]
			}
		}
		for _, r := range order {
			if r.Scope == scope && r.Version == version && strings.HasPrefix(r.Key, k) {
				return pos[r]
			}
		}
	}
	return -1
}

// newestFirst orders entries by creation, newest first; entries created at
// the same instant keep their index order reversed (later saves first).
func newestFirst(entries []record) []*record {
	out := make([]*record, len(entries))
	for i := range entries {
		out[len(entries)-1-i] = &entries[i]
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out
}

// rootsOf names the roots an archive's entries are relative to.
func rootsOf(jr jobroots.Set) roots {
	return roots{rootWorkspace: jr.Workspace(), rootHome: jr.Home()}
}
