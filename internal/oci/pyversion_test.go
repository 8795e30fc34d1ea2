package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type fakeEntry struct{ name, link string }

func imageWith(t *testing.T, layers ...[]fakeEntry) v1.Image {
	t.Helper()
	img := empty.Image
	for _, entries := range layers {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, e := range entries {
			h := &tar.Header{Name: e.name, Mode: 0o755, Typeflag: tar.TypeReg}
			if e.link != "" {
				h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
			}
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
		}
		tw.Close()
		b := buf.Bytes()
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			t.Fatal(err)
		}
		img, err = mutate.AppendLayers(img, l)
		if err != nil {
			t.Fatal(err)
		}
	}
	return img
}

func TestBasePythonVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		python string
		layers [][]fakeEntry
		want   string
	}{
		{"debian symlink", "/usr/bin/python3", [][]fakeEntry{{{"usr/bin/python3", "python3.11"}, {"usr/bin/python3.11", ""}}}, "3.11"},
		{"official image chain", "/usr/local/bin/python3", [][]fakeEntry{
			{{"usr/local/bin/python3", "python3.12"}},
			{{"./usr/local/bin/python3.12", ""}},
		}, "3.12"},
		{"later layer wins", "/usr/bin/python3", [][]fakeEntry{{{"usr/bin/python3", "python3.9"}}, {{"usr/bin/python3", "/usr/bin/python3.10"}}}, "3.10"},
		{"stdlib marker", "/opt/py/bin/python", [][]fakeEntry{{{"usr/local/lib/python3.13/os.py", ""}}}, "3.13"},
		{"no python", "/usr/bin/python3", [][]fakeEntry{{{"etc/hostname", ""}}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := basePythonVersion(imageWith(t, tt.layers...), tt.python)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("version = %q, want %q", got, tt.want)
			}
		})
	}
}

// A base whose Python is not the host's minor version is refused rather than
// given wheels resolved for another interpreter.
func TestBuildRefusesMismatchedPython(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	img := imageWith(t, []fakeEntry{{"usr/bin/python3", "python3.7"}})
	base := filepath.Join(t.TempDir(), "py37.tar")
	if err := tarball.WriteToFile(base, nil, img); err != nil {
		t.Fatal(err)
	}
	s := f.spec(t, t.TempDir())
	s.Base = base
	_, err := Build(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "no host Python 3.7") {
		t.Fatalf("Build error = %v, want a refusal naming Python 3.7", err)
	}
}
