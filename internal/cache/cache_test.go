package cache

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	jobroots "github.com/sluice-ci/sluice/internal/roots"
)

func TestSaveRestoreExactHit(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, 0)
	ws := t.TempDir()
	tree := map[string]string{
		"venv/bin/python":   "-> /usr/bin/python3",
		"venv/lib/site.py":  "print(1)",
		"venv/empty/":       "",
		"venv/bin/activate": "source me",
	}
	writeTree(t, ws, tree)
	if err := os.Chmod(filepath.Join(ws, "venv/bin/activate"), 0o755); err != nil {
		t.Fatal(err)
	}
	paths := []string{"venv"}
	v := Version(paths)
	if _, err := s.Save(ctx, "o/r", "venv-1", paths, v, jobAt(ws)); err != nil {
		t.Fatal(err)
	}

	ws2 := t.TempDir()
	matched, exact, err := s.Restore(ctx, "o/r", "venv-1", nil, v, false, jobAt(ws2))
	if err != nil {
		t.Fatal(err)
	}
	if matched != "venv-1" || !exact {
		t.Errorf("Restore = %q, %v; want venv-1, true", matched, exact)
	}
	if diff := cmp.Diff(tree, readTree(t, ws2)); diff != "" {
		t.Errorf("restored tree (-want +got):\n%s", diff)
	}
	info, err := os.Stat(filepath.Join(ws2, "venv/bin/activate"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o755 {
		t.Errorf("mode = %v, want 0755", info.Mode().Perm())
	}

	// Another scope never sees the entry.
	if m, _, err := s.Restore(ctx, "other/repo", "venv-1", nil, v, false, jobAt(t.TempDir())); err != nil || m != "" {
		t.Errorf("other scope Restore = %q, %v; want a miss", m, err)
	}
}

func TestRestoreKeyMatching(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, 0)
	ws := t.TempDir()
	writeTree(t, ws, map[string]string{"f": "x"})
	paths := []string{"f"}
	v := Version(paths)
	// Saved in this order, so each is newer than the one before.
	for _, k := range []string{"deps-linux-aaa", "deps-linux-bbb", "deps-linux", "deps-mac-ccc", "deps-linux-ddd"} {
		if _, err := s.Save(ctx, "o/r", k, paths, v, jobAt(ws)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name        string
		key         string
		restoreKeys []string
		wantMatched string
		wantExact   bool
	}{
		{"exact primary", "deps-linux-bbb", []string{"deps-"}, "deps-linux-bbb", true},
		{"primary is a prefix too", "deps-mac", nil, "deps-mac-ccc", false},
		{"newest prefix match", "deps-linux-zzz", []string{"deps-linux-"}, "deps-linux-ddd", false},
		{"exact restore key beats newer prefix match", "nope", []string{"deps-linux"}, "deps-linux", false},
		{"restore keys in order", "nope", []string{"deps-mac-", "deps-linux-"}, "deps-mac-ccc", false},
		{"later restore key when earlier misses", "nope", []string{"zzz", "deps-linux-a"}, "deps-linux-aaa", false},
		{"miss", "nope", []string{"zzz"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			matched, exact, err := s.Restore(ctx, "o/r", tt.key, tt.restoreKeys, v, true, jobAt(t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			if matched != tt.wantMatched || exact != tt.wantExact {
				t.Errorf("Restore = %q, %v; want %q, %v", matched, exact, tt.wantMatched, tt.wantExact)
			}
		})
	}
}

func TestRestoreVersionMismatchMisses(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, 0)
	ws := t.TempDir()
	writeTree(t, ws, map[string]string{"a/f": "x", "b/f": "y"})
	if _, err := s.Save(ctx, "o/r", "k", []string{"a"}, Version([]string{"a"}), jobAt(ws)); err != nil {
		t.Fatal(err)
	}
	if Version([]string{"a"}) == Version([]string{"a", "b"}) {
		t.Fatal("different path lists share a version")
	}
	matched, _, err := s.Restore(ctx, "o/r", "k", []string{"k"}, Version([]string{"a", "b"}), false, jobAt(t.TempDir()))
	if err != nil || matched != "" {
		t.Errorf("Restore = %q, %v; want a miss", matched, err)
	}
}

func TestRestoreLookupOnly(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, 0)
	ws := t.TempDir()
	writeTree(t, ws, map[string]string{"f": "x"})
	v := Version([]string{"f"})
	if _, err := s.Save(ctx, "o/r", "k", []string{"f"}, v, jobAt(ws)); err != nil {
		t.Fatal(err)
	}
	before, err := s.List("o/r")
	if err != nil {
		t.Fatal(err)
	}
	ws2 := t.TempDir()
	matched, exact, err := s.Restore(ctx, "o/r", "k", nil, v, true, jobAt(ws2))
	if err != nil || matched != "k" || !exact {
		t.Fatalf("Restore = %q, %v, %v; want k, true, nil", matched, exact, err)
	}
	if diff := cmp.Diff(map[string]string{}, readTree(t, ws2)); diff != "" {
		t.Errorf("lookup-only wrote files (-want +got):\n%s", diff)
	}
	after, err := s.List("o/r")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("lookup-only changed the entry (-before +after):\n%s", diff)
	}
}

func TestSaveRootsRestoreIntoNewWorkspace(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	t.Setenv("HOME", home)
	outside := t.TempDir()
	ws := t.TempDir()
	writeTree(t, home, map[string]string{".cache/pip/wheel.whl": "wheel", ".cache/other": "no"})
	writeTree(t, ws, map[string]string{"build/out.o": "obj", "src/main.py": "no"})
	writeTree(t, outside, map[string]string{"tool/bin": "tool"})
	paths := []string{"~/.cache/pip", "build", filepath.Join(outside, "tool")}
	v := Version(paths)
	s := openStore(t, 0)
	if _, err := s.Save(ctx, "o/r", "k", paths, v, jobroots.New(ws, home, outside)); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{home, outside} {
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
	}

	ws2 := t.TempDir()
	if m, _, err := s.Restore(ctx, "o/r", "k", nil, v, false, jobroots.New(ws2, home, outside)); err != nil || m != "k" {
		t.Fatalf("Restore = %q, %v; want k", m, err)
	}
	got := map[string]map[string]string{"home": readTree(t, home), "ws2": readTree(t, ws2), "outside": readTree(t, outside)}
	want := map[string]map[string]string{
		"home":    {".cache/pip/wheel.whl": "wheel"},
		"ws2":     {"build/out.o": "obj"},
		"outside": {"tool/bin": "tool"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("restored files (-want +got):\n%s", diff)
	}
}

func TestSaveGlobsAndExclusions(t *testing.T) {
	ctx := context.Background()
	ws := t.TempDir()
	writeTree(t, ws, map[string]string{
		"pkgs/a/keep.py":    "a",
		"pkgs/a/debug.log":  "log",
		"pkgs/b/keep.py":    "b",
		"pkgs/b/tmp/x.py":   "tmp",
		"pkgs/c.txt":        "c",
		"other/keep.py":     "no",
		"pkgs/b/deep/y.log": "log",
	})
	paths := []string{"pkgs/**/*.py", "pkgs/*.txt", "!**/*.log", "!pkgs/b/tmp"}
	v := Version(paths)
	s := openStore(t, 0)
	if _, err := s.Save(ctx, "o/r", "k", paths, v, jobAt(ws)); err != nil {
		t.Fatal(err)
	}
	ws2 := t.TempDir()
	if _, _, err := s.Restore(ctx, "o/r", "k", nil, v, false, jobAt(ws2)); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"pkgs/a/keep.py": "a", "pkgs/b/keep.py": "b", "pkgs/c.txt": "c"}
	if diff := cmp.Diff(want, readTree(t, ws2)); diff != "" {
		t.Errorf("restored files (-want +got):\n%s", diff)
	}
}

func TestSaveErrors(t *testing.T) {
	ctx := context.Background()
	ws := t.TempDir()
	writeTree(t, ws, map[string]string{"f": "x"})
	s := openStore(t, 0)
	if _, err := s.Save(ctx, "o/r", "taken", []string{"f"}, Version([]string{"f"}), jobAt(ws)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		key   string
		paths []string
		want  string
	}{
		{"immutable", "taken", []string{"f"}, ErrExists.Error()},
		{"nothing matches", "k", []string{"missing", "*.nope"}, "no files match"},
		{"comma", "a,b", []string{"f"}, "cannot contain commas"},
		{"too long", strings.Repeat("k", 513), []string{"f"}, "cannot be larger than 512"},
		{"empty", "", []string{"f"}, "must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Save(ctx, "o/r", tt.key, tt.paths, Version(tt.paths), jobAt(ws))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Save error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := s.Save(ctx, "o/r", "taken", []string{"f"}, Version([]string{"f"}), jobAt(ws)); !errors.Is(err, ErrExists) {
		t.Errorf("second Save error = %v, want ErrExists", err)
	}
	// The same key under another version is a different cache.
	if _, err := s.Save(ctx, "o/r", "taken", []string{"./f"}, Version([]string{"./f"}), jobAt(ws)); err != nil {
		t.Errorf("Save under another version: %v", err)
	}
	keys := make([]string, 11)
	for i := range keys {
		keys[i] = "k"
	}
	if _, _, err := s.Restore(ctx, "o/r", "k", keys[1:], "v", true, jobAt(ws)); err == nil {
		t.Error("Restore with 11 keys succeeded, want a validation error")
	}
}

// randomTree writes n bytes that gzip cannot shrink, so archive sizes are
// predictable enough to test the bound.
func randomTree(t *testing.T, n int) string {
	t.Helper()
	ws := t.TempDir()
	b := make([]byte, n)
	rand.Read(b)
	if err := os.WriteFile(filepath.Join(ws, "blob"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return ws
}

func TestEvictLeastRecentlyUsed(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, 25_000) // room for two 10 kB entries, not three
	v := Version([]string{"blob"})
	for _, k := range []string{"a", "b"} {
		if _, err := s.Save(ctx, "o/r", k, []string{"blob"}, v, jobAt(randomTree(t, 10_000))); err != nil {
			t.Fatal(err)
		}
	}
	// Using a makes b the least recently used.
	if m, _, err := s.Restore(ctx, "o/r", "a", nil, v, false, jobAt(t.TempDir())); err != nil || m != "a" {
		t.Fatalf("Restore = %q, %v", m, err)
	}
	if _, err := s.Save(ctx, "o/r", "c", []string{"blob"}, v, jobAt(randomTree(t, 10_000))); err != nil {
		t.Fatal(err)
	}
	entries, err := s.List("o/r")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range entries {
		keys = append(keys, e.Key)
	}
	if diff := cmp.Diff([]string{"c", "a"}, keys); diff != "" {
		t.Errorf("entries after eviction (-want +got):\n%s", diff)
	}
	files, err := os.ReadDir(filepath.Join(s.dir, "entries"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Errorf("%d archive files left, want 2", len(files))
	}
}

func TestConcurrentSaveOneWins(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, 0)
	v := Version([]string{"blob"})
	wss := []string{randomTree(t, 1000), randomTree(t, 1000)}
	errs := make([]error, len(wss))
	var wg sync.WaitGroup
	for i, ws := range wss {
		wg.Go(func() {
			// A second Store on the same directory stands for another process.
			st, err := Open(s.dir, 0)
			if err != nil {
				errs[i] = err
				return
			}
			_, errs[i] = st.Save(ctx, "o/r", "k", []string{"blob"}, v, jobAt(ws))
		})
	}
	wg.Wait()
	var ok, exists int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrExists):
			exists++
		default:
			t.Errorf("Save: %v", err)
		}
	}
	if ok != 1 || exists != 1 {
		t.Errorf("%d saves succeeded and %d got ErrExists, want 1 and 1", ok, exists)
	}
	entries, err := s.List("o/r")
	if err != nil || len(entries) != 1 {
		t.Errorf("List = %v, %v; want one entry", entries, err)
	}
	tmp, _ := os.ReadDir(filepath.Join(s.dir, "tmp"))
	if len(tmp) != 0 {
		t.Errorf("%d temporary files left behind", len(tmp))
	}
}

type tarEntry struct {
	name, link string
	typ        byte
	body       string
}

func craft(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body))}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRestoreRefusesEscapes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		entries func(outside string) []tarEntry
		want    string
	}{
		{"dot-dot", func(string) []tarEntry {
			return []tarEntry{{name: "ws/../evil", typ: tar.TypeReg, body: "x"}}
		}, "escapes"},
		{"absolute after root", func(string) []tarEntry {
			return []tarEntry{{name: "ws//etc/evil", typ: tar.TypeReg, body: "x"}}
		}, "escapes"},
		{"abs with dot-dot", func(string) []tarEntry {
			return []tarEntry{{name: "abs/tmp/../../evil", typ: tar.TypeReg, body: "x"}}
		}, "escapes"},
		{"unknown root", func(string) []tarEntry {
			return []tarEntry{{name: "/etc/evil", typ: tar.TypeReg, body: "x"}}
		}, "no known root"},
		{"through own symlink", func(outside string) []tarEntry {
			return []tarEntry{
				{name: "ws/link", typ: tar.TypeSymlink, link: outside},
				{name: "ws/link/evil", typ: tar.TypeReg, body: "x"},
			}
		}, "symlink"},
		{"hard link", func(outside string) []tarEntry {
			return []tarEntry{{name: "ws/h", typ: tar.TypeLink, link: outside}}
		}, "unsupported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, 0)
			ws := t.TempDir()
			writeTree(t, ws, map[string]string{"f": "x"})
			v := Version([]string{"f"})
			if _, err := s.Save(ctx, "o/r", "k", []string{"f"}, v, jobAt(ws)); err != nil {
				t.Fatal(err)
			}
			outside := t.TempDir()
			archive := filepath.Join(s.dir, "entries", entryFile("o/r", "k", v))
			if err := os.WriteFile(archive, craft(t, tt.entries(outside)), 0o644); err != nil {
				t.Fatal(err)
			}
			parent := t.TempDir()
			ws2 := filepath.Join(parent, "ws")
			_, _, err := s.Restore(ctx, "o/r", "k", nil, v, false, jobAt(ws2))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Restore error = %v, want one containing %q", err, tt.want)
			}
			for _, d := range []string{outside, parent} {
				for name := range readTree(t, d) {
					if strings.Contains(name, "evil") {
						t.Errorf("crafted entry written to %s/%s", d, name)
					}
				}
			}
		})
	}
}

// TestCacheStaysInsideTheJob: actions/cache saves and restores only inside
// the job's directories: an absolute path elsewhere, or a symlink leading
// out, is refused at save; an entry holding an absolute path outside this
// job's directories (saved by another job, or crafted) is refused at
// restore and writes nothing there.
func TestCacheStaysInsideTheJob(t *testing.T) {
	ctx := context.Background()
	secret := t.TempDir()
	writeTree(t, secret, map[string]string{"secret.key": "KEY"})
	ws := t.TempDir()
	writeTree(t, ws, map[string]string{"data": "-> " + secret, "ok/f": "ok"})
	home := t.TempDir()
	s := openStore(t, 0)
	for _, paths := range [][]string{{secret}, {filepath.Join(secret, "secret.key")}, {"../" + filepath.Base(secret)}, {"data/secret.key"}, {"data/*"}} {
		_, err := s.Save(ctx, "o/r", "k", paths, Version(paths), jobroots.New(ws, home))
		if err == nil || !strings.Contains(err.Error(), "outside the job's directories") {
			t.Errorf("Save(%q) = %v; want an error saying it is outside the job's directories", paths, err)
		}
	}
	// Saved by a job whose directories held the path...
	other := t.TempDir()
	writeTree(t, other, map[string]string{"tool/bin": "tool"})
	paths := []string{filepath.Join(other, "tool")}
	v := Version(paths)
	if _, err := s.Save(ctx, "o/r", "abs", paths, v, jobroots.New(t.TempDir(), home, other)); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(other); err != nil {
		t.Fatal(err)
	}
	// ...restored by a job whose directories do not.
	_, _, err := s.Restore(ctx, "o/r", "abs", nil, v, false, jobroots.New(t.TempDir(), home))
	if err == nil || !strings.Contains(err.Error(), "outside the job's directories") {
		t.Errorf("Restore = %v; want an error saying the entry's path is outside the job's directories", err)
	}
	if _, err := os.Stat(other); err == nil {
		t.Errorf("restore recreated %s outside the job", other)
	}
}
