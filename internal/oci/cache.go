package oci

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// depsCacheFormat changes whenever the deps layer's content rules change, so
// old cache entries are never taken for new ones.
const depsCacheFormat = "sluice-oci-deps/1"

func depsCachePath(cacheDir, baseDigest, lockHash, imgPython string) string {
	key := shortHash(depsCacheFormat + "\x00" + baseDigest + "\x00" + lockHash + "\x00" + imgPython)
	return filepath.Join(cacheDir, "deps", key+".tar.gz")
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
