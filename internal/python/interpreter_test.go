package python

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDiscoverFindsPyenvAndConfigured(t *testing.T) {
	py311 := pyenvPython(t, "3.11.7")
	py312 := pyenvPython(t, "3.12.1")
	// A configured directory holding a link to 3.12: it must be reported once, as configured,
	// with the version asked of the binary itself (its name says only "3.12").
	extra := t.TempDir()
	if err := os.Symlink(filepath.Join(filepath.Dir(py312), "python3.12"), filepath.Join(extra, "python3.12")); err != nil {
		t.Fatal(err)
	}
	found, err := Discover(context.Background(), []string{extra})
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]Interpreter{}
	reals := map[string]int{}
	for _, in := range found {
		byPath[in.Path] = in
		real, _ := filepath.EvalSymlinks(in.Path)
		reals[real]++
	}
	for real, n := range reals {
		if n > 1 {
			t.Errorf("%s reported %d times", real, n)
		}
	}
	want311 := Interpreter{Path: py311, Version: "3.11.7", Impl: "cpython", Source: SourcePyenv}
	if d := cmp.Diff(want311, byPath[py311]); d != "" {
		t.Errorf("pyenv 3.11.7 (-want +got):\n%s\nall: %+v", d, found)
	}
	want312 := Interpreter{Path: filepath.Join(extra, "python3.12"), Version: "3.12.1", Impl: "cpython", Source: SourceConfigured}
	if d := cmp.Diff(want312, byPath[want312.Path]); d != "" {
		t.Errorf("configured 3.12 (-want +got):\n%s", d)
	}
	// The type is plain data: it must survive a JSON round trip for callers' caches.
	data, err := json.Marshal(found)
	if err != nil {
		t.Fatal(err)
	}
	var back []Interpreter
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(found, back); d != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", d)
	}
	spec, _ := ParseSpec("3.11", false)
	got, err := Select(found, spec)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != "3.11.7" {
		t.Errorf("Select(3.11) = %+v, want the pyenv 3.11.7 over Debian's 3.11", got)
	}
}

func TestDiscoverPyPy(t *testing.T) {
	if _, err := os.Stat("/usr/bin/pypy3"); err != nil {
		t.Skip("PyPy not installed; install it with: apt-get install -y pypy3")
	}
	found, err := Discover(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := ParseSpec("pypy3", false)
	in, err := Select(found, spec)
	if err != nil {
		t.Fatal(err)
	}
	if in.Impl != "pypy" || !strings.HasPrefix(in.Version, "3.") || in.ImplVersion == "" {
		t.Errorf("PyPy found as %+v", in)
	}
	exact, _ := ParseSpec("pypy"+in.Version[:strings.LastIndex(in.Version, ".")]+"-v"+in.ImplVersion[:strings.LastIndex(in.ImplVersion, ".")], false)
	if !exact.Match(in) {
		t.Errorf("%+v does not match %q", in, exact.Raw)
	}
}

// DiscoverFor leaves PyPy-named binaries unasked for CPython specs (a PyPy
// start is the slow part of setup-python on a warm run) and must choose
// exactly what Select over the full Discover list chooses, for every kind
// of spec.
func TestDiscoverForChoosesAsDiscover(t *testing.T) {
	ctx := context.Background()
	all, err := Discover(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{"3", "3.11", "3.12", ">=3.9 <3.13", "pypy3", "pypy3.9", "3.13t"} {
		spec, err := ParseSpec(raw, false)
		if err != nil {
			t.Fatal(err)
		}
		some, err := DiscoverFor(ctx, nil, []Spec{spec})
		if err != nil {
			t.Fatal(err)
		}
		want, wantErr := Select(all, spec)
		got, gotErr := Select(some, spec)
		if (wantErr == nil) != (gotErr == nil) {
			t.Errorf("%q: over all %v, over DiscoverFor %v", raw, wantErr, gotErr)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%q chose differently (-Discover +DiscoverFor):\n%s", raw, d)
		}
	}
}

func TestDiscoverForSkipsPyPyNamesForCPython(t *testing.T) {
	// A real CPython binary under a PyPy name: asked when a spec wants
	// PyPy (or nothing says what is wanted), left out for CPython specs.
	src, err := filepath.EvalSymlinks("/usr/bin/python3")
	if err != nil {
		t.Skip("no /usr/bin/python3")
	}
	extra := t.TempDir()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(extra, "pypy3")
	if err := os.WriteFile(fake, data, 0o755); err != nil {
		t.Fatal(err)
	}
	has := func(found []Interpreter) bool {
		for _, in := range found {
			if in.Path == fake {
				return true
			}
		}
		return false
	}
	ctx := context.Background()
	cpy, _ := ParseSpec("3", false)
	pypy, _ := ParseSpec("pypy3", false)
	for _, c := range []struct {
		specs []Spec
		want  bool
	}{{nil, true}, {[]Spec{pypy}, true}, {[]Spec{cpy, pypy}, true}, {[]Spec{cpy}, false}} {
		found, err := DiscoverFor(ctx, []string{extra}, c.specs)
		if err != nil {
			t.Fatal(err)
		}
		if has(found) != c.want {
			t.Errorf("specs %+v: %s listed = %v, want %v", c.specs, fake, has(found), c.want)
		}
	}
}
