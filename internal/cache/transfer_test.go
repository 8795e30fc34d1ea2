package cache

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// An archive made on one machine, imported into another's store and
// looked up there, extracts to the tree that was archived.
func TestArchiveImportLookupExtract(t *testing.T) {
	ctx := context.Background()
	ws := t.TempDir()
	tree := map[string]string{
		"venv/bin/python":  "-> /usr/bin/python3",
		"venv/lib/site.py": "print(1)",
		"venv/empty/":      "",
		"other/skip":       "not cached",
	}
	writeTree(t, ws, tree)
	paths := []string{"venv"}
	v := Version(paths)
	var buf bytes.Buffer
	if err := Archive(ctx, &buf, paths, jobAt(ws)); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, 0)
	imported, err := s.Import(ctx, "o/r", "venv-1", v, bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if imported.Key != "venv-1" || imported.Version != v || imported.Size != int64(buf.Len()) {
		t.Errorf("Import = %+v, want key venv-1 of %d bytes", imported, buf.Len())
	}

	e, archive, err := s.Lookup(ctx, "o/r", "venv-2", []string{"venv-"}, v, false)
	if err != nil {
		t.Fatal(err)
	}
	if archive == nil || e.Key != "venv-1" {
		t.Fatalf("Lookup = %+v, %v; want venv-1 with its archive", e, archive)
	}
	defer archive.Close()
	ws2 := t.TempDir()
	if err := Extract(ctx, archive, jobAt(ws2)); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"venv/bin/python": "-> /usr/bin/python3", "venv/lib/site.py": "print(1)", "venv/empty/": ""}
	if diff := cmp.Diff(want, readTree(t, ws2)); diff != "" {
		t.Errorf("extracted tree (-want +got):\n%s", diff)
	}
	// Restore reads what Import stored the same way.
	ws3 := t.TempDir()
	if m, exact, err := s.Restore(ctx, "o/r", "venv-1", nil, v, false, jobAt(ws3)); err != nil || m != "venv-1" || !exact {
		t.Fatalf("Restore = %q, %v, %v; want venv-1, true", m, exact, err)
	}
	if diff := cmp.Diff(want, readTree(t, ws3)); diff != "" {
		t.Errorf("restored tree (-want +got):\n%s", diff)
	}
}

func TestArchiveNothingMatches(t *testing.T) {
	var buf bytes.Buffer
	err := Archive(context.Background(), &buf, []string{"missing"}, jobAt(t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "no files match") {
		t.Errorf("Archive error = %v, want no files match", err)
	}
}

func TestLookup(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, 0)
	ws := t.TempDir()
	writeTree(t, ws, map[string]string{"f": "x"})
	v := Version([]string{"f"})
	for _, k := range []string{"deps-a", "deps-b"} {
		if _, err := s.Save(ctx, "o/r", k, []string{"f"}, v, jobAt(ws)); err != nil {
			t.Fatal(err)
		}
	}
	lastUsed := func(key string) string {
		entries, err := s.List("o/r")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Key == key {
				return e.LastUsed.String()
			}
		}
		t.Fatalf("no entry %s", key)
		return ""
	}
	tests := []struct {
		name        string
		key         string
		restoreKeys []string
		version     string
		lookupOnly  bool
		wantKey     string
		wantArchive bool
	}{
		{"exact", "deps-a", nil, v, false, "deps-a", true},
		{"newest prefix", "deps-", nil, v, false, "deps-b", true},
		{"restore key", "nope", []string{"deps-a"}, v, false, "deps-a", true},
		{"lookup only", "deps-a", nil, v, true, "deps-a", false},
		{"other version", "deps-a", nil, "other", false, "", false},
		{"miss", "nope", []string{"zzz"}, v, false, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before string
			if tt.wantKey != "" {
				before = lastUsed(tt.wantKey)
			}
			e, archive, err := s.Lookup(ctx, "o/r", tt.key, tt.restoreKeys, tt.version, tt.lookupOnly)
			if err != nil {
				t.Fatal(err)
			}
			if e.Key != tt.wantKey || (archive != nil) != tt.wantArchive {
				t.Errorf("Lookup = %q, archive %v; want %q, archive %v", e.Key, archive != nil, tt.wantKey, tt.wantArchive)
			}
			if archive == nil {
				if tt.wantKey != "" && lastUsed(tt.wantKey) != before {
					t.Errorf("a lookup that opened nothing marked %s used", tt.wantKey)
				}
				return
			}
			defer archive.Close()
			b, err := io.ReadAll(archive)
			if err != nil || int64(len(b)) != e.Size {
				t.Errorf("archive read %d bytes, %v; want %d", len(b), err, e.Size)
			}
			if lastUsed(tt.wantKey) == before {
				t.Errorf("opening %s did not mark it used", tt.wantKey)
			}
		})
	}
	if _, _, err := s.Lookup(ctx, "o/r", "a,b", nil, v, false); !errors.Is(err, ErrInvalid) {
		t.Errorf("Lookup of a bad key: %v, want ErrInvalid", err)
	}
}

func TestImportRefuses(t *testing.T) {
	ctx := context.Background()
	ws := t.TempDir()
	writeTree(t, ws, map[string]string{"f": strings.Repeat("data ", 1000)})
	var good bytes.Buffer
	if err := Archive(ctx, &good, []string{"f"}, jobAt(ws)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		key         string
		version     string
		body        []byte
		wantInvalid bool
		wantExists  bool
	}{
		{"not gzip", "k", "v", []byte("plain text"), true, false},
		{"truncated", "k", "v", good.Bytes()[:good.Len()-8], true, false},
		{"escaping name", "k", "v", craft(t, []tarEntry{{name: "ws/../evil", typ: tar.TypeReg, body: "x"}}), true, false},
		{"unknown root", "k", "v", craft(t, []tarEntry{{name: "etc/passwd", typ: tar.TypeReg, body: "x"}}), true, false},
		{"hard link", "k", "v", craft(t, []tarEntry{{name: "ws/h", typ: tar.TypeLink, link: "/etc/passwd"}}), true, false},
		{"bad key", "a,b", "v", good.Bytes(), true, false},
		{"no version", "k", "", good.Bytes(), true, false},
		{"taken", "taken", "v", good.Bytes(), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, 0)
			if _, err := s.Import(ctx, "o/r", "taken", "v", bytes.NewReader(good.Bytes())); err != nil {
				t.Fatal(err)
			}
			_, err := s.Import(ctx, "o/r", tt.key, tt.version, bytes.NewReader(tt.body))
			if err == nil {
				t.Fatal("Import succeeded")
			}
			if errors.Is(err, ErrInvalid) != tt.wantInvalid || errors.Is(err, ErrExists) != tt.wantExists {
				t.Errorf("Import error = %v; want invalid %v, exists %v", err, tt.wantInvalid, tt.wantExists)
			}
			entries, err := s.List("o/r")
			if err != nil || len(entries) != 1 {
				t.Errorf("List = %v, %v; want only the taken entry", entries, err)
			}
			for _, d := range []string{"tmp", "entries"} {
				files, err := os.ReadDir(filepath.Join(s.dir, d))
				if err != nil {
					t.Fatal(err)
				}
				if want := map[string]int{"tmp": 0, "entries": 1}[d]; len(files) != want {
					t.Errorf("%d files left in %s, want %d", len(files), d, want)
				}
			}
		})
	}
}
