package pathglob

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseLines(t *testing.T) {
	tests := []struct {
		name       string
		lines      []string
		home       string
		incl, excl []Pattern
		wantErr    bool
	}{
		{
			name:  "relative, absolute and home",
			lines: []string{"dist", "  /opt/x/*.whl ", "~/.cache/pip", "", "!dist/tmp", "! ~/.cache/pip/http"},
			home:  "/home/u",
			incl:  []Pattern{{Base: "/ws/[a]/dist"}, {Base: "/opt/x", Glob: "*.whl"}, {Base: "/home/u/.cache/pip"}},
			excl:  []Pattern{{Base: "/ws/[a]/dist/tmp"}, {Base: "/home/u/.cache/pip/http"}},
		},
		{
			name:  "glob from the first wild segment",
			lines: []string{"a/b*/c/**/*.py", "/*.txt", "{x,y}"},
			incl:  []Pattern{{Base: "/ws/[a]/a", Glob: "b*/c/**/*.py"}, {Base: "/", Glob: "*.txt"}, {Base: "/ws/[a]", Glob: "{x,y}"}},
		},
		{name: "home unknown", lines: []string{"~/x"}, wantErr: true},
		{name: "excluded home unknown", lines: []string{"!~/x"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			incl, excl, err := ParseLines(tt.lines, "/ws/[a]", tt.home)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if d := cmp.Diff(tt.incl, incl); d != "" {
				t.Errorf("inclusions (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.excl, excl); d != "" {
				t.Errorf("exclusions (-want +got):\n%s", d)
			}
		})
	}
}

func TestExcluded(t *testing.T) {
	excl := []Pattern{{Base: "/ws/build"}, {Base: "/ws", Glob: "**/*.log"}}
	tests := []struct {
		path string
		want bool
	}{
		{"/ws/build", true},
		{"/ws/build/lib/a.py", true},
		{"/ws/builder/a.py", false},
		{"/ws/src/x.log", true},
		{"/ws/src/x.log/inner", true},
		{"/ws/src/x.py", false},
		{"/elsewhere/x.log", false},
	}
	for _, tt := range tests {
		if got := Excluded(excl, tt.path); got != tt.want {
			t.Errorf("Excluded(%s) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestExpand(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"real/a.txt", "real/sub/b.txt", "c.txt"} {
		p := filepath.Join(root, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("real", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		p      Pattern
		follow bool
		want   []string
	}{
		{"following links", Pattern{Base: root, Glob: "**/*.txt"}, true,
			[]string{"c.txt", "link/a.txt", "link/sub/b.txt", "real/a.txt", "real/sub/b.txt"}},
		{"keeping links", Pattern{Base: root, Glob: "**/*.txt"}, false,
			[]string{"c.txt", "real/a.txt", "real/sub/b.txt"}},
		{"missing base", Pattern{Base: filepath.Join(root, "none"), Glob: "*"}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.p.Expand(tt.follow)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Expand (-want +got):\n%s", d)
			}
		})
	}
}
