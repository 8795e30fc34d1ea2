//go:build !linux

package engine

import (
	"os"
	"path/filepath"
)

// junitCapture without inotify reads the reports left in the directory at
// the end of the step: a pytest run twice leaves only its last.
type junitCapture struct{ dir string }

func startJUnitCapture(dir string) *junitCapture {
	_ = os.MkdirAll(dir, 0o755)
	return &junitCapture{dir: dir}
}

func (c *junitCapture) stop() [][]byte {
	var out [][]byte
	des, _ := os.ReadDir(c.dir)
	for _, d := range des {
		if b, err := os.ReadFile(filepath.Join(c.dir, d.Name())); err == nil && len(b) > 0 {
			out = append(out, b)
		}
	}
	return out
}
