package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// GitHub's limits, checked before any work so a bad key fails the step
// the way it does there.
const (
	maxKeyLength = 512
	maxKeys      = 10 // primary key plus restore keys
)

// compression names the archive format inside the version: an entry made
// with another format must not be offered for restore.
const compression = "gzip"

// versionSalt is bumped when the archive layout changes incompatibly.
const versionSalt = "sluice-1"

// Version identifies what a cache holds: the path list as written (not
// expanded) and the compression, hashed. Restore only matches entries of the
// same version, so changing path: never restores an unrelated archive.
func Version(paths []string) string {
	parts := append(append([]string(nil), paths...), compression, versionSalt)
	sum := sha256.Sum256([]byte(strings.Join(parts, "|")))
	return hex.EncodeToString(sum[:])
}

func validateKeys(keys []string) error {
	if len(keys) > maxKeys {
		return invalid("key validation error: keys are limited to a maximum of %d", maxKeys)
	}
	for _, k := range keys {
		switch {
		case k == "":
			return invalid("key validation error: key must not be empty")
		case len(k) > maxKeyLength:
			return invalid("key validation error: %s... cannot be larger than %d characters", k[:32], maxKeyLength)
		case strings.Contains(k, ","):
			return invalid("key validation error: %s cannot contain commas", k)
		}
	}
	return nil
}

// entryFile names an entry's archive: one file per (scope, key, version),
// which immutability makes unique.
func entryFile(scope, key, version string) string {
	sum := sha256.Sum256([]byte(scope + "\x00" + key + "\x00" + version))
	return hex.EncodeToString(sum[:]) + ".tar.gz"
}
