package python

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// InstalledDists lists the distributions installed in a virtual
// environment, normalised name → version, from its site-packages metadata
// directories (what `pip freeze --all` reads), without starting Python.
func InstalledDists(env string) map[string]string {
	out := map[string]string{}
	sites, _ := filepath.Glob(filepath.Join(env, "lib", "*", "site-packages"))
	for _, sp := range sites {
		des, err := os.ReadDir(sp)
		if err != nil {
			continue
		}
		for _, d := range des {
			base, ok := strings.CutSuffix(d.Name(), ".dist-info")
			if !ok {
				if base, ok = strings.CutSuffix(d.Name(), ".egg-info"); !ok {
					continue
				}
			}
			name, rest, ok := strings.Cut(base, "-")
			if !ok {
				continue
			}
			version, _, _ := strings.Cut(rest, "-")
			out[normName(name)] = version
		}
	}
	return out
}

// ReaderDigest is the sha256 (hex) of what r holds.
func ReaderDigest(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
