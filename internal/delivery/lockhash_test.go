package delivery

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestLockHash(t *testing.T) {
	hexOf := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return hex.EncodeToString(sum[:])
	}
	combined := func(recs ...[2]string) string {
		h := sha256.New()
		for _, r := range recs {
			fmt.Fprintf(h, "%s\n%s\n", r[0], hexOf(r[1]))
		}
		return "sha256:" + hex.EncodeToString(h.Sum(nil))
	}
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"none", map[string]string{"pyproject.toml": "[project]", "setup.cfg": ""}, ""},
		{"uv", map[string]string{"uv.lock": "version = 1", "pyproject.toml": "x"}, "sha256:" + hexOf("version = 1")},
		{"poetry", map[string]string{"poetry.lock": "p"}, "sha256:" + hexOf("p")},
		{"pdm", map[string]string{"pdm.lock": "d"}, "sha256:" + hexOf("d")},
		{"pipenv", map[string]string{"Pipfile.lock": "{}"}, "sha256:" + hexOf("{}")},
		{"requirements", map[string]string{"requirements.txt": "a==1", "README.md": "r"}, "sha256:" + hexOf("a==1")},
		{"several", map[string]string{"uv.lock": "u", "requirements-dev.txt": "b==2", "requirements/prod.txt": "c==3", "constraints.txt": "x"},
			combined([2]string{"requirements-dev.txt", "b==2"}, [2]string{"requirements/prod.txt", "c==3"}, [2]string{"uv.lock", "u"})},
		{"nested project ignored", map[string]string{"sub/uv.lock": "u"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for p, c := range tt.files {
				full := filepath.Join(dir, filepath.FromSlash(p))
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := LockHash(dir); got != tt.want {
				t.Errorf("LockHash = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLockHashChangesWithTheLock(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "uv.lock")
	if err := os.WriteFile(p, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := LockHash(dir)
	if err := os.WriteFile(p, []byte("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	if after := LockHash(dir); after == before {
		t.Errorf("LockHash did not change with uv.lock: %s", after)
	}
}
