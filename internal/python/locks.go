package python

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/BurntSushi/toml"
)

// Stale is one lock file that no longer matches what it was made from.
type Stale struct {
	File   string `json:"file"`   // relative to the checked directory
	Reason string `json:"reason"` // what differs
	Fix    string `json:"fix"`    // the command that refreshes it, e.g. "uv lock"
}

// CheckLocks finds uv.lock, poetry.lock, pdm.lock and pip-compile/uv-compiled requirements files
// in dir (and dir/requirements/) and reports those that are stale. A project without a lock has
// nothing to check and is not an error.
func CheckLocks(ctx context.Context, dir string) ([]Stale, error) {
	_, stale, err := CheckLockFiles(ctx, dir)
	return stale, err
}

// CheckLockFiles is CheckLocks that also says which lock files it checked (relative to dir,
// slash-separated), so a caller can tell "up to date" from "nothing to check".
func CheckLockFiles(ctx context.Context, dir string) ([]string, []Stale, error) {
	var out []Stale
	var checked []string
	checks := []struct {
		file  string
		check func(dir string) ([]Stale, error)
	}{
		{"uv.lock", checkUVLock},
		{"poetry.lock", checkPoetryLock},
		{"pdm.lock", checkPDMLock},
	}
	for _, c := range checks {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		if _, err := os.Stat(filepath.Join(dir, c.file)); err != nil {
			continue
		}
		checked = append(checked, c.file)
		st, err := c.check(dir)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, st...)
	}
	compiled, st, err := checkCompiledRequirements(dir)
	if err != nil {
		return nil, nil, err
	}
	checked = append(checked, compiled...)
	out = append(out, st...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].File < out[j].File })
	return checked, out, nil
}

func readTOML(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	return doc, nil
}

// readPyproject returns an empty document when the file does not exist.
func readPyproject(dir string) (map[string]any, error) {
	doc, err := readTOML(filepath.Join(dir, "pyproject.toml"))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]any{}, nil
	}
	return doc, err
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// getOr returns m[k] when present, else def; presence matters because Python's dict.get does.
func getOr(m any, k string, def any) any {
	if mm, ok := m.(map[string]any); ok {
		if v, ok := mm[k]; ok {
			return v
		}
	}
	return def
}

func asMap(v any) map[string]any {
	if m, ok := v.(map[string]any); ok {
		return m
	}
	return map[string]any{}
}

func asStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, e := range l {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func tablesOf(v any) []map[string]any {
	switch x := v.(type) {
	case []map[string]any:
		return x
	case []any:
		var out []map[string]any
		for _, e := range x {
			if m, ok := e.(map[string]any); ok {
				out = append(out, m)
			}
		}
		return out
	}
	return nil
}
