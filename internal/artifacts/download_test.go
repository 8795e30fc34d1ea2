package artifacts

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/roots"
)

// uploadThree stores the artifacts a typical build matrix leaves behind.
func uploadThree(t *testing.T, s *Store) map[string]int64 {
	t.Helper()
	ws := t.TempDir()
	writeTree(t, ws, map[string]string{
		"linux/dist/a.whl":      "linux",
		"mac/dist/b.whl":        "mac",
		"mac/dist/shared.txt":   "from mac",
		"linux/dist/shared.txt": "from linux",
		"cov/report.xml":        "xml",
	})
	ids := map[string]int64{}
	for _, u := range []struct{ name, path string }{
		{"dist-linux", "linux/dist"}, {"dist-mac", "mac/dist"}, {"coverage", "cov/report.xml"},
	} {
		a, _, err := s.Upload(context.Background(), "run", u.name, []string{u.path}, roots.New(ws, ""), defaults())
		if err != nil {
			t.Fatal(err)
		}
		ids[u.name] = a.ID
	}
	return ids
}

func TestDownload(t *testing.T) {
	s, _ := openStore(t)
	ids := uploadThree(t, s)
	tests := []struct {
		name      string
		sel       Selector
		wantNames []string
		wantFiles map[string]string
	}{
		{"by name into dest", Selector{Name: "dist-mac"}, []string{"dist-mac"},
			map[string]string{"b.whl": "mac", "shared.txt": "from mac"}},
		{"by name ignores merge", Selector{Name: "coverage", MergeMultiple: true}, []string{"coverage"},
			map[string]string{"report.xml": "xml"}},
		{"by pattern into named directories", Selector{Pattern: "dist-*"}, []string{"dist-linux", "dist-mac"},
			map[string]string{"dist-linux/a.whl": "linux", "dist-linux/shared.txt": "from linux",
				"dist-mac/b.whl": "mac", "dist-mac/shared.txt": "from mac"}},
		{"by pattern merged", Selector{Pattern: "dist-*", MergeMultiple: true}, []string{"dist-linux", "dist-mac"},
			// Later artifacts overwrite earlier ones' files, as on GitHub.
			map[string]string{"a.whl": "linux", "b.whl": "mac", "shared.txt": "from mac"}},
		{"by ids", Selector{IDs: []int64{ids["coverage"], ids["dist-linux"]}}, []string{"coverage", "dist-linux"},
			map[string]string{"coverage/report.xml": "xml", "dist-linux/a.whl": "linux", "dist-linux/shared.txt": "from linux"}},
		{"all", Selector{}, []string{"dist-linux", "dist-mac", "coverage"},
			map[string]string{"dist-linux/a.whl": "linux", "dist-linux/shared.txt": "from linux",
				"dist-mac/b.whl": "mac", "dist-mac/shared.txt": "from mac", "coverage/report.xml": "xml"}},
		{"pattern matching nothing", Selector{Pattern: "wheels-*"}, nil, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "dest")
			got, err := s.Download(context.Background(), "run", tt.sel, dest, rootsOf(dest))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, a := range got {
				names = append(names, a.Name)
			}
			if diff := cmp.Diff(tt.wantNames, names); diff != "" {
				t.Errorf("downloaded artifacts (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantFiles, readTree(t, dest)); diff != "" {
				t.Errorf("downloaded files (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDownloadNotFound(t *testing.T) {
	s, _ := openStore(t)
	uploadThree(t, s)
	for _, sel := range []Selector{{Name: "nope"}, {IDs: []int64{99}}} {
		if _, err := downloadTo(s, "run", sel, t.TempDir()); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("Download(%+v) error = %v, want not found", sel, err)
		}
	}
	if _, err := downloadTo(s, "other-run", Selector{Name: "coverage"}, t.TempDir()); err == nil {
		t.Error("downloaded another run's artifact")
	}
}

func TestDownloadRefusesTamperedZip(t *testing.T) {
	s, _ := openStore(t)
	ids := uploadThree(t, s)
	list, err := s.List("run")
	if err != nil {
		t.Fatal(err)
	}
	var cov Artifact
	for _, a := range list {
		if a.ID == ids["coverage"] {
			cov = a
		}
	}
	blob := filepath.Join(s.dir, filepath.FromSlash(blobName(cov.Digest)))
	b, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	// Same length, one content byte changed: still a readable zip.
	i := bytes.Index(b, []byte("xml"))
	if i < 0 {
		t.Fatal("stored content not found in the zip")
	}
	b[i] = 'X'
	if err := os.WriteFile(blob, b, 0o644); err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	_, err = s.Download(context.Background(), "run", Selector{Name: "coverage"}, dest, rootsOf(dest))
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("Download error = %v, want a digest mismatch", err)
	}
	if diff := cmp.Diff(map[string]string{}, readTree(t, dest)); diff != "" {
		t.Errorf("files written from a tampered zip (-want +got):\n%s", diff)
	}
}

// addCrafted stores a hand-made zip as an artifact of run, with a correct
// digest, as if the store had been written by someone else.
func addCrafted(t *testing.T, s *Store, run, name string, build func(*zip.Writer)) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	build(zw)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	a := Artifact{Name: name, Size: int64(buf.Len()), Digest: "sha256:" + hex.EncodeToString(sum[:]), Expires: time.Now().Add(time.Hour)}
	if err := os.WriteFile(filepath.Join(s.dir, filepath.FromSlash(blobName(a.Digest))), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	err := s.withIndex(true, func(idx *index) error {
		idx.LastID++
		a.ID = idx.LastID
		idx.Artifacts = append(idx.Artifacts, record{Run: run, Artifact: a})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDownloadRefusesZipSlip(t *testing.T) {
	file := func(name string) func(*zip.Writer) {
		return func(zw *zip.Writer) {
			ok, _ := zw.Create("ok.txt")
			ok.Write([]byte("fine"))
			w, err := zw.Create(name)
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte("evil"))
		}
	}
	tests := []struct {
		name  string
		build func(*zip.Writer)
		want  string
	}{
		{"dot-dot", file("../evil.txt"), "escapes"},
		{"nested dot-dot", file("a/../../evil.txt"), "escapes"},
		{"absolute", file("/tmp/evil.txt"), "escapes"},
		{"backslash", file(`..\evil.txt`), "escapes"},
		{"symlink", func(zw *zip.Writer) {
			h := &zip.FileHeader{Name: "evil-link"}
			h.SetMode(fs.ModeSymlink | 0o777)
			w, err := zw.CreateHeader(h)
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte("/etc"))
		}, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openStore(t)
			addCrafted(t, s, "run", "bad", tt.build)
			parent := t.TempDir()
			dest := filepath.Join(parent, "dest")
			_, err := s.Download(context.Background(), "run", Selector{Name: "bad"}, dest, rootsOf(dest))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Download error = %v, want one containing %q", err, tt.want)
			}
			if diff := cmp.Diff(map[string]string{}, readTree(t, parent)); diff != "" {
				t.Errorf("files written from a crafted zip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	ws := t.TempDir()
	writeTree(t, ws, map[string]string{"short.txt": "s", "long.txt": "l"})
	short, _, err := s.Upload(ctx, "run", "short", []string{"short.txt"}, roots.New(ws, ""), UploadOptions{RetentionDays: 1, CompressionLevel: 6})
	if err != nil {
		t.Fatal(err)
	}
	long, _, err := s.Upload(ctx, "run", "long", []string{"long.txt"}, roots.New(ws, ""), UploadOptions{RetentionDays: 10, CompressionLevel: 6})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.Prune(c.t); err != nil || n != 0 {
		t.Errorf("Prune before expiry = %d, %v; want 0", n, err)
	}
	n, err := s.Prune(c.t.Add(2 * 24 * time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1", n, err)
	}
	list, err := s.List("run")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Artifact{*long}, list); diff != "" {
		t.Errorf("artifacts after prune (-want +got):\n%s", diff)
	}
	if _, err := s.Open("run", short.ID); err == nil {
		t.Error("Open of a pruned artifact succeeded")
	}
	if _, err := os.Stat(filepath.Join(s.dir, filepath.FromSlash(blobName(short.Digest)))); !os.IsNotExist(err) {
		t.Errorf("pruned blob still on disk: %v", err)
	}
}

// TestDownloadRefusesEscapes: download-artifact writes only inside the
// job's directories: a destination elsewhere, or reached through a symlink,
// is refused, and a symlink already at a file's place is replaced, never
// written through.
func TestDownloadRefusesEscapes(t *testing.T) {
	s, _ := openStore(t)
	uploadThree(t, s)
	outside := t.TempDir()
	ws := filepath.Join(t.TempDir(), "ws")
	writeTree(t, ws, map[string]string{"out": "-> " + outside, "cov/report.xml": "-> " + filepath.Join(outside, "victim")})
	writeTree(t, outside, map[string]string{"victim": "untouched"})
	jr := roots.New(ws, "")
	for _, dest := range []string{outside, filepath.Join(ws, "out"), filepath.Join(ws, "out", "sub"), filepath.Join(ws, "..", "x")} {
		_, err := s.Download(context.Background(), "run", Selector{Name: "coverage"}, dest, jr)
		if err == nil || !strings.Contains(err.Error(), "outside the job's directories") {
			t.Errorf("Download to %s = %v; want an error saying it is outside the job's directories", dest, err)
		}
	}
	if _, err := s.Download(context.Background(), "run", Selector{Name: "coverage"}, filepath.Join(ws, "cov"), jr); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"victim": "untouched"}, readTree(t, outside)); diff != "" {
		t.Errorf("files outside the job (-want +got):\n%s", diff)
	}
	if b, err := os.ReadFile(filepath.Join(ws, "cov", "report.xml")); err != nil || string(b) != "xml" {
		t.Errorf("report.xml = %q, %v; want the artifact's file in place of the link", b, err)
	}
}
