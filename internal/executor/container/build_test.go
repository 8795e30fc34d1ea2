package container

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestContextTarIsAContentHash(t *testing.T) {
	write := func(dir, name, body string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, b := t.TempDir(), t.TempDir()
	for _, d := range []string{a, b} {
		write(d, "Dockerfile", "FROM x\n")
		write(d, "src/main.py", "print(1)\n")
	}
	write(b, ".git/HEAD", "ref: refs/heads/main\n")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(b, "Dockerfile"), old, old); err != nil {
		t.Fatal(err)
	}
	ta, err := contextTar(a)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := contextTar(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ta, tb) {
		t.Error("same content (other mtimes, a .git directory) packs differently")
	}
	write(b, "src/main.py", "print(2)\n")
	tc, err := contextTar(b)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(ta, tc) {
		t.Error("changed content packs the same")
	}
}
