package cache

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Restore looks for an entry of scope and version the way actions/cache
// does: for the primary key and then each restore key in order, an exact
// key match first, then the newest entry whose key starts with it. On a hit
// it extracts the entry into place unless lookupOnly. It returns the
// matched key ("" on a miss) and whether that key is the primary key
// itself (the action's cache-hit output).
func (s *Store) Restore(ctx context.Context, scope, key string, restoreKeys []string, version string, lookupOnly bool, workspace string) (matched string, exact bool, err error) {
	keys := append([]string{key}, restoreKeys...)
	if err := validateKeys(keys); err != nil {
		return "", false, err
	}
	var f *os.File
	err = s.withIndex(!lookupOnly, func(idx *index) error {
		i := find(idx.Entries, scope, version, keys)
		if i < 0 {
			return nil
		}
		r := &idx.Entries[i]
		matched, exact = r.Key, r.Key == key
		if lookupOnly {
			return nil
		}
		// Opened under the lock: an eviction that follows unlinks the
		// name, but this descriptor keeps the data readable.
		var err error
		if f, err = os.Open(filepath.Join(s.dir, "entries", r.File)); err != nil {
			return fmt.Errorf("opening cache entry %q: %w", r.Key, err)
		}
		r.LastUsed = s.now()
		return nil
	})
	if err != nil || f == nil {
		return matched, exact, err
	}
	defer f.Close()
	rs, err := restoreRoots(workspace)
	if err != nil {
		return "", false, err
	}
	if err := extractArchive(ctx, f, rs); err != nil {
		return "", false, fmt.Errorf("restoring cache %q: %w", matched, err)
	}
	return matched, exact, nil
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

func restoreRoots(workspace string) (roots, error) {
	ws, err := filepath.Abs(workspace)
	if err != nil {
		return nil, fmt.Errorf("resolving workspace %s: %w", workspace, err)
	}
	home, _ := os.UserHomeDir()
	return roots{rootWorkspace: ws, rootHome: home}, nil
}
