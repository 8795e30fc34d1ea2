package engine

import (
	"archive/zip"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestMissingTool(t *testing.T) {
	tests := []struct {
		line, name string
		ok         bool
	}{
		{"bash: line 1: gh: command not found", "gh", true},
		{"/home/runner/work/_temp/x.sh: line 3: pipx: command not found", "pipx", true},
		{"sh: 1: jq: not found", "jq", true},
		{"bash: line 1: frobnicate: command not found", "", false},
		{"gh: command not found in the docs", "", false},
	}
	for _, tt := range tests {
		name, hint, ok := missingTool(tt.line)
		if ok != tt.ok || name != tt.name || (ok && hint == "") {
			t.Errorf("missingTool(%q) = %q, %q, %v; want %q, %v", tt.line, name, hint, ok, tt.name, tt.ok)
		}
	}
}

// tinyWheel writes a wheel of a one-module package, installable without an index.
func tinyWheel(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tiny-0.1-py3-none-any.whl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, body := range map[string]string{
		"tiny/__init__.py":            "VALUE = 1\n",
		"tiny-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: tiny\nVersion: 0.1\n",
		"tiny-0.1.dist-info/WHEEL":    "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
		"tiny-0.1.dist-info/RECORD":   "tiny/__init__.py,,\ntiny-0.1.dist-info/METADATA,,\ntiny-0.1.dist-info/WHEEL,,\ntiny-0.1.dist-info/RECORD,,\n",
	} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestInstallToolKeepsAReadyTool: jobs copy a tool sluice installed (pipx) without a lock, so
// an install that finds it ready must leave it alone. Two packaging jobs asking for pipx at
// once: the second install replaced the first's tool while a job copied it ("pyvenv.cfg: no
// such file or directory"). Concurrent installs of one tool take turns and both succeed.
func TestInstallToolKeepsAReadyTool(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3")
	}
	ctx := context.Background()
	base := map[string]string{"PATH": os.Getenv("PATH"), "HOME": os.Getenv("HOME")}
	wheel := tinyWheel(t)

	ready := filepath.Join(t.TempDir(), "tools", "tiny")
	if err := os.MkdirAll(ready, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{".ready", "in-use"} {
		if err := os.WriteFile(filepath.Join(ready, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := installTool(ctx, ready, wheel, base); err != nil {
		t.Fatalf("installTool over a ready tool: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ready, "in-use")); err != nil {
		t.Errorf("a ready tool was replaced while jobs may be copying it: %v", err)
	}

	dir := filepath.Join(t.TempDir(), "tools", "tiny")
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- installTool(ctx, dir, wheel, base) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent install: %v", err)
		}
	}
	out, err := exec.Command(filepath.Join(dir, "bin", "python"), "-c", "import tiny; print(tiny.VALUE)").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Errorf("the installed tool: %v %s", err, out)
	}
}
