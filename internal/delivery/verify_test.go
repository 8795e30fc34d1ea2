package delivery

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-ci/sluice/internal/artifacts"
	"github.com/sluice-ci/sluice/internal/cd"
)

func blobPath(dir string, a *artifacts.Artifact) string {
	return filepath.Join(dir, "blobs", strings.TrimPrefix(a.Digest, "sha256:")+".zip")
}

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestVerifyRelease(t *testing.T) {
	const wheel, sdist = "the wheel that was tested", "the sdist"
	tests := []struct {
		name string
		// tamper changes the stored zip of the "dist" artifact; nil leaves it alone.
		tamper func(t *testing.T, blob string)
		// wantIn are substrings the error must contain; nil means no error.
		wantIn []string
	}{
		{name: "untouched"},
		{
			name: "wheel replaced",
			tamper: func(t *testing.T, blob string) {
				writeFile(t, blob, zipOf(t, map[string]string{wheelName: "a wheel with a backdoor", sdistName: sdist}))
			},
			wantIn: []string{"dist/" + wheelName, digestOf([]byte(wheel)), digestOf([]byte("a wheel with a backdoor"))},
		},
		{
			name: "byte changed in place",
			tamper: func(t *testing.T, blob string) {
				b, err := os.ReadFile(blob)
				if err != nil {
					t.Fatal(err)
				}
				// Stored uncompressed (level 0 below), so the content is in the zip as is.
				i := bytes.Index(b, []byte("tested"))
				if i < 0 {
					t.Fatal("wheel content not found in the zip")
				}
				b[i] = 'T'
				writeFile(t, blob, b)
			},
			wantIn: []string{"dist/" + wheelName, digestOf([]byte(wheel))},
		},
		{
			name: "sdist removed",
			tamper: func(t *testing.T, blob string) {
				writeFile(t, blob, zipOf(t, map[string]string{wheelName: wheel}))
			},
			wantIn: []string{"dist/" + sdistName, digestOf([]byte(sdist)), "no such file"},
		},
		{
			name: "zip deleted",
			tamper: func(t *testing.T, blob string) {
				if err := os.Remove(blob); err != nil {
					t.Fatal(err)
				}
			},
			wantIn: []string{"dist/" + wheelName, "dist/" + sdistName, "cannot be read"},
		},
		{
			name: "zip garbled",
			tamper: func(t *testing.T, blob string) {
				writeFile(t, blob, []byte("not a zip at all"))
			},
			wantIn: []string{"dist/" + wheelName, "cannot be read"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t)
			dist := f.uploadStored(t, "dist", map[string]string{wheelName: wheel, sdistName: sdist})
			f.upload(t, f.run.ID, "docs", map[string]string{"index.html": "<h1>docs</h1>"})
			rel, _, err := MakeRelease(ctx, f.db, f.arts, f.source())
			if err != nil {
				t.Fatal(err)
			}
			if tt.tamper != nil {
				tt.tamper(t, blobPath(f.dir, dist))
			}
			err = VerifyRelease(ctx, f.arts, rel)
			if tt.wantIn == nil {
				if err != nil {
					t.Fatalf("VerifyRelease: %v", err)
				}
				return
			}
			if !errors.Is(err, cd.ErrDigestMismatch) {
				t.Fatalf("VerifyRelease error = %v, want one wrapping cd.ErrDigestMismatch", err)
			}
			for _, s := range tt.wantIn {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "docs/index.html") {
				t.Errorf("error %q blames the untouched docs artifact", err)
			}
		})
	}
}

func TestVerifyReleaseChangedRecord(t *testing.T) {
	// A release whose record was changed (a digest that its run never produced) fails too.
	ctx := context.Background()
	f := newFixture(t)
	f.upload(t, f.run.ID, "dist", map[string]string{wheelName: "w"})
	rel, _, err := MakeRelease(ctx, f.db, f.arts, f.source())
	if err != nil {
		t.Fatal(err)
	}
	forged := *rel
	forged.Artifacts = []cd.Artifact{rel.Artifacts[0]}
	forged.Artifacts[0].Digest = digestOf([]byte("something else"))
	if err := VerifyRelease(ctx, f.arts, &forged); !errors.Is(err, cd.ErrDigestMismatch) {
		t.Errorf("VerifyRelease = %v, want cd.ErrDigestMismatch", err)
	}
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
