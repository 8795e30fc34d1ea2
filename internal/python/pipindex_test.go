package python

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPipIndexURL: where the job's current pip is fetched from follows
// pip's own order: the environment, then its configuration files.
func TestPipIndexURL(t *testing.T) {
	home := t.TempDir()
	writeFiles(t, home, map[string]string{".config/pip/pip.conf": "[global]\nindex-url = http://mirror.example/simple/\nextra-index-url = http://extra.example/simple/\n"})
	other := filepath.Join(t.TempDir(), "pip.conf")
	if err := os.WriteFile(other, []byte("[install]\nindex-url = http://file.example/simple/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"nothing configured", map[string]string{"HOME": t.TempDir()}, DefaultIndex},
		{"user configuration", map[string]string{"HOME": home}, "http://mirror.example/simple/"},
		{"environment wins", map[string]string{"HOME": home, "PIP_INDEX_URL": "http://env.example/simple/"}, "http://env.example/simple/"},
		{"PIP_CONFIG_FILE read last", map[string]string{"HOME": home, "PIP_CONFIG_FILE": other}, "http://file.example/simple/"},
		{"configuration off", map[string]string{"HOME": home, "PIP_CONFIG_FILE": os.DevNull}, DefaultIndex},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := PipIndexURL(tc.env); got != tc.want {
				t.Errorf("PipIndexURL = %q, want %q", got, tc.want)
			}
		})
	}
}
