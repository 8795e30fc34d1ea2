package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecureDataDir: a data directory and database left readable by others
// (an older sluice, a umask of 022) are made the server's alone at start.
func TestSecureDataDir(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, dir string)
	}{
		{"fresh", func(*testing.T, string) {}},
		{"readable by others", func(t *testing.T, dir string) {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"sluice.db", "sluice.db-wal"} {
				if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			tc.prepare(t, dir)
			if err := secureDataDir(dir, filepath.Join(dir, "sluice.db")); err != nil {
				t.Fatal(err)
			}
			want := map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "sluice.db"): 0o600}
			if _, err := os.Stat(filepath.Join(dir, "sluice.db-wal")); err == nil {
				want[filepath.Join(dir, "sluice.db-wal")] = 0o600
			}
			for p, mode := range want {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != mode {
					t.Errorf("%s has mode %o, want %o", p, fi.Mode().Perm(), mode)
				}
			}
		})
	}
}

// TestServeSandboxReadOnlyRepeats: --sandbox-readonly given twice keeps
// both directories, as on `sluice agent` (a second flag used to replace the
// first, silently).
func TestServeSandboxReadOnlyRepeats(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SLUICE_STATE_DIR", dir)
	out, err := runCLI(t, serveCmd(), "", "--check-config", "--data", filepath.Join(dir, "data"),
		"--sandbox-readonly", "/opt/tools-a", "--sandbox-readonly", "/opt/tools-b")
	if err != nil {
		t.Fatalf("serve --check-config: %v\n%s", err, out)
	}
	if !strings.Contains(out, "/opt/tools-a"+string(os.PathListSeparator)+"/opt/tools-b") {
		t.Errorf("both directories are not in the settings:\n%s", out)
	}
}
