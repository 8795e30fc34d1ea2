package delivery

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// LockHash identifies the dependency set locked in the project at dir, as "sha256:<hex>". With one
// lock file it is that file's sha256, the same value the image builder keys its dependency layer
// by; with several it is the sha256 of their sorted "<path>\n<sha256 hex>\n" records. It is ""
// when dir has no lock file. Unreadable files are left out: the hash is a label, not a check.
func LockHash(dir string) string {
	// The lock files python.CheckLocks and setup-python's dependency caching recognise at a
	// project's root, and pinned requirements files where CheckLocks looks for them.
	lockNames := []string{"uv.lock", "poetry.lock", "pdm.lock", "Pipfile.lock"}
	lockGlobs := []string{"requirements*.txt", "requirements/*.txt"}
	var found []string
	for _, n := range lockNames {
		if st, err := os.Stat(filepath.Join(dir, n)); err == nil && st.Mode().IsRegular() {
			found = append(found, n)
		}
	}
	for _, g := range lockGlobs {
		m, _ := filepath.Glob(filepath.Join(dir, g))
		for _, p := range m {
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				rel, _ := filepath.Rel(dir, p)
				found = append(found, filepath.ToSlash(rel))
			}
		}
	}
	slices.Sort(found)
	found = slices.Compact(found)
	type rec struct{ name, hex string }
	var recs []rec
	for _, n := range found {
		h, err := fileSHA256(filepath.Join(dir, filepath.FromSlash(n)))
		if err != nil {
			continue
		}
		recs = append(recs, rec{n, h})
	}
	switch len(recs) {
	case 0:
		return ""
	case 1:
		return "sha256:" + recs[0].hex
	}
	h := sha256.New()
	for _, r := range recs {
		fmt.Fprintf(h, "%s\n%s\n", r.name, r.hex)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
