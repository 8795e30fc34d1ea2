package python

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVersionFromFile(t *testing.T) {
	tests := []struct {
		name, file, content string
		want                []string
	}{
		{"python-version", ".python-version", "3.11.7\n", []string{"3.11.7"}},
		{"python-version several", ".python-version", "# pinned\n3.12\n\n3.11 pypy3.9 # also\n", []string{"3.12", "3.11", "pypy3.9"}},
		{"tool-versions", ".tool-versions", "nodejs 20.1.0\npython 3.11.7 3.10.13\n", []string{"3.11.7", "3.10.13"}},
		{"requires-python", "pyproject.toml", "[project]\nname = \"x\"\nrequires-python = \">=3.9, <3.13\"\n", []string{">=3.9, <3.13"}},
		{"poetry caret", "pyproject.toml", "[tool.poetry.dependencies]\npython = \"^3.9\"\n", []string{">=3.9,<4"}},
		{"poetry tilde", "pyproject.toml", "[tool.poetry.dependencies]\npython = \"~3.10\"\n", []string{">=3.10,<3.11"}},
		{"poetry range", "pyproject.toml", "[tool.poetry.dependencies]\npython = \">=3.8,<3.12\"\n", []string{">=3.8,<3.12"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{tt.file: tt.content})
			got, err := VersionFromFile(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			// Every answer must be usable as a setup-python spec.
			for _, v := range got {
				if _, err := ParseSpec(v, false); err != nil {
					t.Errorf("ParseSpec(%q): %v", v, err)
				}
			}
		})
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"pyproject.toml": "[project]\nname = \"x\"\n", ".tool-versions": "nodejs 20\n"})
	for _, f := range []string{"pyproject.toml", ".tool-versions", "missing"} {
		if _, err := VersionFromFile(filepath.Join(dir, f)); err == nil {
			t.Errorf("VersionFromFile(%s) succeeded, want error", f)
		}
	}
}
