package artifacts

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/roots"
)

func TestUploadLayout(t *testing.T) {
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"logs/run.log": "abs"})
	tree := map[string]string{
		"dist/pkg-1.0.whl":                  "wheel",
		"dist/pkg-1.0.tar.gz":               "sdist",
		"dist/cache/x.tmp":                  "tmp",
		"dist/build.tmp":                    "tmp",
		"reports/junit.xml":                 "junit",
		"out/x/a.txt":                       "a",
		"out/y/b.txt":                       "b",
		"out/.hidden":                       "h",
		"out/.git/config":                   "secret",
		"out/link.txt":                      "-> ../reports/junit.xml",
		".coverage":                         "cov",
		"sub/.coverage.py311":               "cov311",
		"path/to/some/directory/foo1.txt":   "1",
		"path/to/some/directory/foo2.txt":   "2",
		"path/to/other/directory/foo1.txt":  "3",
		"path/to/other/directory/other.txt": "no",
	}
	tests := []struct {
		name   string
		paths  []string
		hidden bool
		want   map[string]string
	}{
		{"directory is the root", []string{"dist"}, false, map[string]string{
			"pkg-1.0.whl": "wheel", "pkg-1.0.tar.gz": "sdist", "cache/x.tmp": "tmp", "build.tmp": "tmp"}},
		{"single file by base name", []string{"dist/pkg-1.0.whl"}, false, map[string]string{"pkg-1.0.whl": "wheel"}},
		{"least common ancestor of several paths", []string{"dist/pkg-1.0.whl", "reports/junit.xml"}, false, map[string]string{
			"dist/pkg-1.0.whl": "wheel", "reports/junit.xml": "junit"}},
		{"ancestor below the workspace", []string{"out/x/a.txt", "out/y/"}, false, map[string]string{
			"x/a.txt": "a", "y/b.txt": "b"}},
		{"hierarchy kept after the first wildcard", []string{"path/to/*/directory/foo?.txt"}, false, map[string]string{
			"some/directory/foo1.txt": "1", "some/directory/foo2.txt": "2", "other/directory/foo1.txt": "3"}},
		{"exclusions do not move the root", []string{"dist/", "!dist/**/*.tmp", "!dist/cache"}, false, map[string]string{
			"pkg-1.0.whl": "wheel", "pkg-1.0.tar.gz": "sdist"}},
		{"hidden files excluded by default", []string{"out"}, false, map[string]string{
			"x/a.txt": "a", "y/b.txt": "b", "link.txt": "junit"}},
		{"hidden files included on request", []string{"out"}, true, map[string]string{
			"x/a.txt": "a", "y/b.txt": "b", "link.txt": "junit", ".hidden": "h", ".git/config": "secret"}},
		{"hidden glob matches included on request", []string{"**/.coverage*"}, true, map[string]string{
			".coverage": "cov", "sub/.coverage.py311": "cov311"}},
		{"absolute path in another of the job's directories", []string{filepath.Join(outside, "logs")}, false, map[string]string{"run.log": "abs"}},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openStore(t)
			ws := t.TempDir()
			writeTree(t, ws, tree)
			o := defaults()
			o.IncludeHidden = tt.hidden
			a, warning, err := s.Upload(ctx, "run-1", "", tt.paths, roots.New(ws, "", outside), o)
			if err != nil || warning != "" || a == nil {
				t.Fatalf("Upload = %v, %q, %v", a, warning, err)
			}
			if diff := cmp.Diff(tt.want, zipContents(t, s, "run-1", a.ID)); diff != "" {
				t.Errorf("zip contents (-want +got):\n%s", diff)
			}
			if a.Name != "artifact" || a.Files != len(tt.want) {
				t.Errorf("artifact %q with %d files, want %q with %d", a.Name, a.Files, "artifact", len(tt.want))
			}
		})
	}
}

func TestUploadNoFiles(t *testing.T) {
	tests := []struct {
		mode        string
		paths       []string
		wantWarning bool
		wantErr     bool
	}{
		{"", []string{"missing/"}, true, false},
		{"warn", []string{"*.whl"}, true, false},
		{"ignore", []string{"missing"}, false, false},
		{"error", []string{"missing"}, false, true},
		// Hidden, even when named: the file exists but is not uploaded.
		{"error", []string{".coverage"}, false, true},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.mode+" "+strings.Join(tt.paths, ","), func(t *testing.T) {
			s, _ := openStore(t)
			ws := t.TempDir()
			writeTree(t, ws, map[string]string{".coverage": "cov", "dist/pkg.tar.gz": "sdist"})
			o := defaults()
			o.IfNoFilesFound = tt.mode
			a, warning, err := s.Upload(ctx, "run", "cov", tt.paths, roots.New(ws, ""), o)
			if a != nil {
				t.Errorf("Upload returned artifact %+v, want none", a)
			}
			if (warning != "") != tt.wantWarning || (err != nil) != tt.wantErr {
				t.Errorf("Upload warning %q, error %v; want warning %v, error %v", warning, err, tt.wantWarning, tt.wantErr)
			}
			for _, msg := range []string{warning, errString(err)} {
				if msg != "" && !strings.Contains(msg, "No files were found with the provided path: "+tt.paths[0]) {
					t.Errorf("message %q does not name the path", msg)
				}
			}
			list, err := s.List("run")
			if err != nil || len(list) != 0 {
				t.Errorf("List = %v, %v; want nothing stored", list, err)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestUploadNameConflictAndOverwrite(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	ws := t.TempDir()
	writeTree(t, ws, map[string]string{"a.txt": "one"})
	first, _, err := s.Upload(ctx, "run", "dist", []string{"a.txt"}, roots.New(ws, ""), defaults())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Upload(ctx, "run", "dist", []string{"a.txt"}, roots.New(ws, ""), defaults()); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second upload error = %v, want a name conflict", err)
	}
	if _, _, err := s.Upload(ctx, "other-run", "dist", []string{"a.txt"}, roots.New(ws, ""), defaults()); err != nil {
		t.Errorf("same name in another run: %v", err)
	}

	writeTree(t, ws, map[string]string{"b.txt": "two"})
	o := defaults()
	o.Overwrite = true
	second, _, err := s.Upload(ctx, "run", "dist", []string{"b.txt"}, roots.New(ws, ""), o)
	if err != nil {
		t.Fatal(err)
	}
	if second.ID <= first.ID {
		t.Errorf("overwrite got ID %d, want more than %d", second.ID, first.ID)
	}
	list, err := s.List("run")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Artifact{*second}, list); diff != "" {
		t.Errorf("artifacts after overwrite (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"b.txt": "two"}, zipContents(t, s, "run", second.ID)); diff != "" {
		t.Errorf("overwritten contents (-want +got):\n%s", diff)
	}
	// The first zip is still used by other-run, so its blob must remain.
	blobs, _ := os.ReadDir(filepath.Join(s.dir, "blobs"))
	if len(blobs) != 2 {
		t.Errorf("%d blobs, want 2 (one shared by content)", len(blobs))
	}
}

func TestUploadOptionsValidation(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		artifact string
		o        UploadOptions
		want     string
	}{
		{"slash in name", "a/b", defaults(), "invalid artifact name"},
		{"colon in name", "a:b", defaults(), "invalid artifact name"},
		{"compression level", "a", UploadOptions{CompressionLevel: 10}, "compression-level"},
		{"if-no-files-found", "a", UploadOptions{IfNoFilesFound: "fail", CompressionLevel: 6}, "if-no-files-found"},
		{"retention", "a", UploadOptions{RetentionDays: -1, CompressionLevel: 6}, "retention-days"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openStore(t)
			ws := t.TempDir()
			writeTree(t, ws, map[string]string{"f": "x"})
			_, _, err := s.Upload(ctx, "run", tt.artifact, []string{"f"}, roots.New(ws, ""), tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Upload error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestUploadRetentionAndCompression(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		days, level int
		wantDays    int
		wantWarning bool
	}{
		{0, 6, 90, false},
		{5, 0, 5, false},
		{400, 9, 90, true},
	}
	for _, tt := range tests {
		s, _ := openStore(t)
		ws := t.TempDir()
		writeTree(t, ws, map[string]string{"f.txt": strings.Repeat("compressible ", 1000)})
		a, warning, err := s.Upload(ctx, "run", "a", []string{"f.txt"}, roots.New(ws, ""), UploadOptions{RetentionDays: tt.days, CompressionLevel: tt.level})
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Expires.Sub(a.Created); got != time.Duration(tt.wantDays)*24*time.Hour {
			t.Errorf("retention %d: expires after %v, want %d days", tt.days, got, tt.wantDays)
		}
		if (warning != "") != tt.wantWarning {
			t.Errorf("retention %d: warning %q, want one: %v", tt.days, warning, tt.wantWarning)
		}
		if stored := a.Size > 13000; stored != (tt.level == 0) {
			t.Errorf("level %d: zip of %d bytes for 13000 bytes of text", tt.level, a.Size)
		}
		if diff := cmp.Diff(map[string]string{"f.txt": strings.Repeat("compressible ", 1000)}, zipContents(t, s, "run", a.ID)); diff != "" {
			t.Errorf("level %d contents (-want +got):\n%s", tt.level, diff)
		}
	}
}

func TestUploadConcurrentIDsAreUnique(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	ws := t.TempDir()
	writeTree(t, ws, map[string]string{"f": "x"})
	names := []string{"a", "b", "c", "d"}
	ids := make([]int64, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() {
			a, _, err := s.Upload(ctx, "run", n, []string{"f"}, roots.New(ws, ""), defaults())
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = a.ID
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for _, id := range ids {
		if id < 1 || id > int64(len(names)) || seen[id] {
			t.Errorf("IDs %v are not 1..%d without repeats", ids, len(names))
			break
		}
		seen[id] = true
	}
}

// TestUploadRefusesEscapes: upload-artifact reads only inside the job's
// directories: an absolute path elsewhere, a path climbing out with .., and
// a symlink (to a file or a directory, named or met by a glob) leading out
// all fail with an error naming the path, and nothing is stored.
func TestUploadRefusesEscapes(t *testing.T) {
	secret := t.TempDir()
	writeTree(t, secret, map[string]string{"secret.key": "KEY", "sub/db": "DB"})
	tests := []struct {
		name  string
		tree  map[string]string
		paths []string
	}{
		{"absolute path", nil, []string{filepath.Join(secret, "secret.key")}},
		{"absolute directory", nil, []string{secret}},
		{"dot-dot", nil, []string{"../../" + filepath.Base(secret)}},
		{"symlinked file", map[string]string{"dist/key": "-> " + filepath.Join(secret, "secret.key")}, []string{"dist"}},
		{"symlinked directory", map[string]string{"dist/data": "-> " + secret}, []string{"dist"}},
		{"symlink named directly", map[string]string{"data": "-> " + secret}, []string{"data/secret.key"}},
		{"glob through a symlinked directory", map[string]string{"data": "-> " + secret}, []string{"data/**/*"}},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openStore(t)
			ws := filepath.Join(t.TempDir(), "ws")
			writeTree(t, ws, map[string]string{"ok.txt": "ok"})
			writeTree(t, ws, tt.tree)
			a, _, err := s.Upload(ctx, "run", "loot", tt.paths, roots.New(ws, secret+"-home"), defaults())
			if err == nil || !strings.Contains(err.Error(), "outside the job's directories") {
				t.Fatalf("Upload = %v, %v; want an error saying the path is outside the job's directories", a, err)
			}
			list, _ := s.List("run")
			if len(list) != 0 {
				t.Errorf("artifacts stored: %+v", list)
			}
			blobs, _ := filepath.Glob(filepath.Join(s.dir, "*", "*"))
			for _, b := range blobs {
				if data, _ := os.ReadFile(b); bytes.Contains(data, []byte("KEY")) {
					t.Errorf("the secret reached the store in %s", b)
				}
			}
		})
	}
}
