package python

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSpecMatch(t *testing.T) {
	cp := func(v string) Interpreter { return Interpreter{Version: v, Impl: "cpython"} }
	ft := func(v string) Interpreter { return Interpreter{Version: v, Impl: "cpython", FreeThreaded: true} }
	pypy := func(v, iv string) Interpreter { return Interpreter{Version: v, Impl: "pypy", ImplVersion: iv} }
	tests := []struct {
		spec  string
		pre   bool
		in    Interpreter
		match bool
	}{
		{"3.11", false, cp("3.11.7"), true},
		{"3.11", false, cp("3.12.1"), false},
		{"3.11", false, cp("3.1.5"), false},
		{"3.11.7", false, cp("3.11.7"), true},
		{"3.11.7", false, cp("3.11.8"), false},
		{"3.x", false, cp("3.13.0"), true},
		{"3", false, cp("3.9.18"), true},
		{"3", false, cp("2.7.18"), false},
		{">=3.9 <3.13", false, cp("3.12.1"), true},
		{">=3.9 <3.13", false, cp("3.13.0"), false},
		{">=3.9 <3.13", false, cp("3.8.18"), false},
		{">=3.9,<3.13", false, cp("3.10.13"), true},
		{"^3.10", false, cp("3.13.0"), true},
		// node-semver hyphen ranges (nox's action: "3.10 - 3.14")
		{"3.10 - 3.14", false, cp("3.14.2"), true},
		{"3.10 - 3.14", false, cp("3.10.13"), true},
		{"3.10 - 3.14", false, cp("3.9.18"), false},
		{"3.10 - 3.14", false, cp("3.15.0"), false},
		{"3.10 - 3.14", true, cp("3.15.0a1"), false},
		{"3.10 - 3.12.1", false, cp("3.12.1"), true},
		{"3.10 - 3.12.1", false, cp("3.12.2"), false},
		{"~3.10", false, cp("3.11.0"), false},
		{"3.14", false, cp("3.14.0a1"), false},
		{"3.14", true, cp("3.14.0a1"), true},
		{"3.14-dev", false, cp("3.14.0a1"), true},
		{"3.14-dev", false, cp("3.14.2"), true},
		{"<3.14", true, cp("3.14.0rc1"), false},
		{"3.15.0-alpha.1", false, cp("3.15.0a1"), true},
		{"3.15.0-alpha.1", false, cp("3.15.0a2"), false},
		{"3.13.0-rc.2", false, cp("3.13.0rc2"), true},
		{"3.14t", false, ft("3.14.0"), true},
		{"3.14t", false, cp("3.14.0"), false},
		{"3.14", false, ft("3.14.0"), false},
		{"3.14t-dev", false, ft("3.14.0b1"), true},
		{"pypy3.9", false, pypy("3.9.18", "7.3.16"), true},
		{"pypy3.9", false, cp("3.9.18"), false},
		{"3.9", false, pypy("3.9.18", "7.3.16"), false},
		{"pypy-3.9", false, pypy("3.9.18", "7.3.16"), true},
		{"pypy3.10", false, pypy("3.9.18", "7.3.16"), false},
		{"pypy3.9-v7.3", false, pypy("3.9.18", "7.3.16"), true},
		{"pypy3.9-v7.4", false, pypy("3.9.18", "7.3.16"), false},
		{"pypy3", false, pypy("3.9.18", "7.3.11"), true},
	}
	for _, tt := range tests {
		spec, err := ParseSpec(tt.spec, tt.pre)
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", tt.spec, err)
			continue
		}
		if got := spec.Match(tt.in); got != tt.match {
			t.Errorf("ParseSpec(%q, %v).Match(%+v) = %v, want %v (spec %+v)", tt.spec, tt.pre, tt.in, got, tt.match, spec)
		}
	}
}

func TestParseSpecForms(t *testing.T) {
	tests := []struct {
		in   string
		want Spec
	}{
		{"3.11", Spec{Raw: "3.11", Impl: "cpython", Constraints: []Constraint{{"==", "3.11.*"}}}},
		{"3.x", Spec{Raw: "3.x", Impl: "cpython", Constraints: []Constraint{{"==", "3.*"}}}},
		{"3.14t", Spec{Raw: "3.14t", Impl: "cpython", Constraints: []Constraint{{"==", "3.14.*"}}, FreeThreaded: true}},
		{"3.14-dev", Spec{Raw: "3.14-dev", Impl: "cpython", Constraints: []Constraint{{"==", "3.14.*"}}, Prereleases: true}},
		{">=3.9 <3.13", Spec{Raw: ">=3.9 <3.13", Impl: "cpython", Constraints: []Constraint{{">=", "3.9"}, {"<", "3.13"}}}},
		{"pypy3.9-v7.3", Spec{Raw: "pypy3.9-v7.3", Impl: "pypy", Constraints: []Constraint{{"==", "3.9.*"}}, ImplConstraints: []Constraint{{"==", "7.3.*"}}}},
		{"3.15.0-alpha.1", Spec{Raw: "3.15.0-alpha.1", Impl: "cpython", Constraints: []Constraint{{"==", "3.15.0a1"}}, Prereleases: true}},
	}
	for _, tt := range tests {
		got, err := ParseSpec(tt.in, false)
		if err != nil {
			t.Fatalf("ParseSpec(%q): %v", tt.in, err)
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("ParseSpec(%q) (-want +got):\n%s", tt.in, d)
		}
	}
	for _, bad := range []string{"", "three", "pypy-x.y", "3.8 || 3.9", ">=3.x"} {
		if _, err := ParseSpec(bad, false); err == nil {
			t.Errorf("ParseSpec(%q) succeeded, want error", bad)
		}
	}
}

func TestSelect(t *testing.T) {
	found := []Interpreter{
		{Path: "/usr/bin/python3.11", Version: "3.11.2", Impl: "cpython", Source: SourceSystem},
		{Path: "/p/3.11.7/bin/python3", Version: "3.11.7", Impl: "cpython", Source: SourcePyenv},
		{Path: "/p/3.12.1/bin/python3", Version: "3.12.1", Impl: "cpython", Source: SourcePyenv},
		{Path: "/p/3.14.0a1/bin/python3", Version: "3.14.0a1", Impl: "cpython", Source: SourcePyenv},
		{Path: "/x/python3.12", Version: "3.12.1", Impl: "cpython", Source: SourcePath},
		{Path: "/usr/bin/pypy3", Version: "3.9.16", Impl: "pypy", ImplVersion: "7.3.11", Source: SourceSystem},
	}
	tests := []struct {
		spec string
		pre  bool
		want string
	}{
		{"3.11", false, "/p/3.11.7/bin/python3"},
		{"3.x", false, "/p/3.12.1/bin/python3"}, // pyenv beats PATH at equal versions
		{"3.x", true, "/p/3.12.1/bin/python3"},  // a final release beats a pre-release
		{"3.14", true, "/p/3.14.0a1/bin/python3"},
		{">=3.9 <3.12", false, "/p/3.11.7/bin/python3"},
		{"pypy3.9", false, "/usr/bin/pypy3"},
	}
	for _, tt := range tests {
		spec, err := ParseSpec(tt.spec, tt.pre)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Select(found, spec)
		if err != nil {
			t.Errorf("Select(%q): %v", tt.spec, err)
			continue
		}
		if got.Path != tt.want {
			t.Errorf("Select(%q) = %s, want %s", tt.spec, got.Path, tt.want)
		}
	}
	spec, _ := ParseSpec("3.10", false)
	_, err := Select(found, spec)
	if err == nil {
		t.Fatal("Select(3.10) succeeded with no 3.10")
	}
	for _, want := range []string{"3.12.1 (pyenv", "3.11.2 (system", "pyenv install 3.10", "uv python install 3.10", "apt-get"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
