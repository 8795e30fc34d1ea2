package python

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/testenv"
)

func TestUVRequest(t *testing.T) {
	tests := []struct{ spec, want, err string }{
		{"3.12", "3.12", ""},
		{"3.12.1", "3.12.1", ""},
		{"3.x", "3", ""},
		{"3", "3", ""},
		{">=3.9 <3.13", "cpython@>=3.9,<3.13", ""},
		{">=3.9,<3.13", "cpython@>=3.9,<3.13", ""},
		{"3.15-dev", "3.15", ""},
		{"3.15.0-alpha.1", "3.15.0a1", ""},
		{"3.13t", "3.13t", ""},
		{"3.13.1t", "3.13.1t", ""},
		{">=3.13t", "", "not a range"},
		{"pypy3.10", "pypy@3.10", ""},
		{"pypy-3.9-v7.3", "pypy@3.9", ""},
		{"pypy3", "pypy", ""},
	}
	for _, tc := range tests {
		spec, err := ParseSpec(tc.spec, false)
		if err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
		got, err := UVRequest(spec)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("UVRequest(%s) = %q, %v; want error %q", tc.spec, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("UVRequest(%s) = %q, %v; want %q", tc.spec, got, err, tc.want)
		}
	}
}

// TestProvision installs CPython and PyPy with uv from a local mirror serving archives packed
// from this machine's own interpreters (python-build-standalone's and pypy.org's layouts),
// then finds them installed without fetching again.
func TestProvision(t *testing.T) {
	uv := filepath.Join(toolsVenv(t), "uv")
	py312 := pyenvPython(t, "3.12.1")
	pypy, err := filepath.EvalSymlinks("/usr/bin/pypy3")
	if err != nil {
		t.Skip("PyPy not installed: apt-get install pypy3")
	}
	ctx := context.Background()
	sys, err := queryInterpreter(ctx, pypy)
	if err != nil {
		t.Fatal(err)
	}
	mirror := testenv.StartPythonMirror(t,
		testenv.PythonBuild{Impl: "cpython", Version: "3.12.1", Prefix: filepath.Dir(filepath.Dir(py312))},
		testenv.PythonBuild{Impl: "pypy", Version: sys.Version, PyPyVer: sys.ImplVersion, Prefix: filepath.Dir(pypy), Binary: filepath.Base(pypy),
			Stdlib: filepath.Join("/usr/lib", filepath.Base(pypy))})
	dir := t.TempDir()
	var log strings.Builder
	run := func(ctx context.Context, argv []string, env map[string]string) (int, error) {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = append(append(os.Environ(), mirror.Env...), "UV_CACHE_DIR="+filepath.Join(dir, "uv-cache"))
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Run(); err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				return ee.ExitCode(), nil
			}
			return -1, err
		}
		return 0, nil
	}
	install := filepath.Join(dir, "toolcache", "python")
	for _, tc := range []struct{ spec, version, impl string }{
		{"3.12.1", "3.12.1", "cpython"},
		{"pypy" + sys.Version[:strings.LastIndex(sys.Version, ".")], sys.Version, "pypy"},
	} {
		spec, _ := ParseSpec(tc.spec, false)
		in, err := Provision(ctx, run, uv, install, spec)
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.spec, err, log.String())
		}
		// The interpreter runs from the tool cache and is what the archive held.
		got, err := queryInterpreter(ctx, in.Path)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{tc.version, tc.impl, SourceProvisioned}, []string{got.Version, got.Impl, in.Source}); diff != "" || !strings.HasPrefix(in.Path, install) {
			t.Errorf("%s: %+v (-want +got):\n%s", tc.spec, in, diff)
		}
	}
	// Installed once: discovery finds both in the tool cache, and a second Provision asks
	// the mirror for nothing.
	found, err := Discover(ctx, nil, install)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, in := range found {
		if in.Source == SourceProvisioned {
			n++
		}
	}
	if n != 2 {
		t.Errorf("Discover found %d provisioned interpreters, want 2: %+v", n, found)
	}
	before := mirror.Requests.Load()
	spec, _ := ParseSpec("3.12", false)
	if _, err := Provision(ctx, run, uv, install, spec); err != nil {
		t.Fatal(err)
	}
	if got := mirror.Requests.Load() - before; got != 0 {
		t.Errorf("a second provisioning made %d requests to the mirror", got)
	}
	// Nothing provides 3.99: the error says what was asked and what to do.
	spec, _ = ParseSpec("3.99", false)
	if _, err := Provision(ctx, run, uv, install, spec); err == nil || !strings.Contains(err.Error(), `uv could not install Python "3.99"`) || !strings.Contains(err.Error(), "UV_PYTHON_INSTALL_MIRROR") {
		t.Errorf("Provision(3.99) = %v", err)
	}
}
