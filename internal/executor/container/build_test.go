package container

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
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
	ta, _, err := contextTar(a)
	if err != nil {
		t.Fatal(err)
	}
	tb, _, err := contextTar(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ta, tb) {
		t.Error("same content (other mtimes, a .git directory) packs differently")
	}
	write(b, "src/main.py", "print(2)\n")
	tc, _, err := contextTar(b)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(ta, tc) {
		t.Error("changed content packs the same")
	}
}

// The Dockerfile of a build must be a plain file of the packed context: the engine reads it on
// the host, outside any container, so a path or link leading out would read a host file.
func TestBuildImageDockerfileStaysInContext(t *testing.T) {
	dir, host := t.TempDir(), t.TempDir()
	secret := filepath.Join(host, "secret.txt")
	for name, body := range map[string]string{"Dockerfile": "FROM x\n", "sub/Dockerfile.ci": "FROM y\n", secret: "HOST-SECRET\n"} {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, name)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"linked": secret, "hostdir": host, "inner": "sub/Dockerfile.ci",
		"up": "../" + filepath.Base(dir), "subl": "sub", "loop": "loop", "sub/back": "../linked"} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	_, entries, err := contextTar(dir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		image, want, wantErr string
	}{
		{image: "Dockerfile", want: "Dockerfile"},
		{image: "./sub/../sub/Dockerfile.ci", want: "sub/Dockerfile.ci"},
		{image: "../../../../../../../.." + secret, wantErr: "inside the action's directory"},
		{image: secret, wantErr: "inside the action's directory"},
		// Links inside the context are followed as the engine would, and the path without
		// them is what the engine gets.
		{image: "inner", want: "sub/Dockerfile.ci"},
		{image: "subl/Dockerfile.ci", want: "sub/Dockerfile.ci"},
		{image: "linked", wantErr: "outside the action's directory"},
		{image: "sub/back", wantErr: "outside the action's directory"},
		{image: "up/Dockerfile", wantErr: "outside the action's directory"},
		{image: "hostdir/secret.txt", wantErr: "outside the action's directory"},
		{image: "loop", wantErr: "symbolic link"},
		{image: "sub/Dockerfile.ci/x", wantErr: "is not a directory of the action"},
		{image: "http://127.0.0.1:9/Dockerfile", wantErr: "want docker://IMAGE"},
		{image: "missing", wantErr: "no such file in the action's directory"},
		{image: ".", wantErr: "no such file in the action's directory"},
	}
	for _, tt := range tests {
		got, err := contextFile(entries, tt.image)
		switch {
		case tt.wantErr == "" && (err != nil || got != tt.want):
			t.Errorf("contextFile(%q) = %q, %v; want %q", tt.image, got, err, tt.want)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("contextFile(%q) = %q, %v; want an error saying %q", tt.image, got, err, tt.wantErr)
		}
	}
}
