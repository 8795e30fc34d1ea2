package pypi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const demoMetadata = "Metadata-Version: 2.1\n" +
	"Name: demo.pkg\n" +
	"Version: 1.2.3\n" +
	"Summary: A demo\n" +
	"Home-Page: https://example.org\n" +
	"Classifier: Programming Language :: Python :: 3\n" +
	"Classifier: License :: OSI Approved :: MIT License\n" +
	"Requires-Dist: requests>=2\n" +
	"Requires-Python: >=3.9\n" +
	"License-File: LICENSE\n" +
	"Description-Content-Type: text/markdown\n" +
	"\n" +
	"# Demo\n\nLong text.\n\n"

func TestReadMetadata(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		file func() string
		want map[string][]string
	}{
		{
			name: "wheel with body description",
			file: func() string {
				return writeWheel(t, dir, "demo.pkg-1.2.3-py3-none-any.whl", map[string]string{
					"demo/__init__.py":                    "",
					"demo.pkg-1.2.3.dist-info/METADATA":   demoMetadata,
					"demo.pkg-1.2.3.dist-info/WHEEL":      "Wheel-Version: 1.0\n",
					"vendored/other-9.dist-info/METADATA": "Name: other\nVersion: 9\n",
				})
			},
			want: map[string][]string{
				"Metadata-Version":         {"2.1"},
				"Name":                     {"demo.pkg"},
				"Version":                  {"1.2.3"},
				"Summary":                  {"A demo"},
				"Home-page":                {"https://example.org"},
				"Classifier":               {"Programming Language :: Python :: 3", "License :: OSI Approved :: MIT License"},
				"Requires-Dist":            {"requests>=2"},
				"Requires-Python":          {">=3.9"},
				"License-File":             {"LICENSE"},
				"Description-Content-Type": {"text/markdown"},
				"Description":              {"# Demo\n\nLong text.\n"},
			},
		},
		{
			name: "sdist prefers the top-level PKG-INFO over egg-info",
			file: func() string {
				return writeSdist(t, dir, "demo-2.0.tar.gz", map[string]string{
					"demo-2.0/PKG-INFO":                   "Metadata-Version: 1.1\r\nName: demo\r\nVersion: 2.0\r\nX-Custom: kept\r\n",
					"demo-2.0/src/demo.egg-info/PKG-INFO": "Metadata-Version: 1.1\nName: demo\nVersion: 0.0-stale\n",
					"demo-2.0/setup.py":                   "",
				})
			},
			want: map[string][]string{
				"Metadata-Version": {"1.1"},
				"Name":             {"demo"},
				"Version":          {"2.0"},
				"X-Custom":         {"kept"},
			},
		},
		{
			name: "legacy header description with continuation lines",
			file: func() string {
				return writeSdist(t, dir, "old-0.1.tar.gz", map[string]string{
					"old-0.1/PKG-INFO": "Metadata-Version: 1.0\nName: old\nVersion: 0.1\n" +
						"Description: First line\n        |\n        |Third line\n" +
						"Keywords: a,\n  b\n",
				})
			},
			want: map[string][]string{
				"Metadata-Version": {"1.0"},
				"Name":             {"old"},
				"Version":          {"0.1"},
				"Description":      {"First line\n\nThird line"},
				"Keywords":         {"a,\nb"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadMetadata(tt.file())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("metadata (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadMetadataErrors(t *testing.T) {
	dir := t.TempDir()
	notZip := filepath.Join(dir, "broken-1.0-py3-none-any.whl")
	if err := os.WriteFile(notZip, []byte("not a zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, file, want string
	}{
		{"not a zip", notZip, "opening wheel"},
		{"wheel without metadata", writeWheel(t, dir, "empty-1.0-py3-none-any.whl", map[string]string{"x.py": ""}), "no *.dist-info/METADATA"},
		{"sdist without PKG-INFO", writeSdist(t, dir, "bare-1.0.tar.gz", map[string]string{"bare-1.0/setup.py": ""}), "no PKG-INFO"},
		{"missing version", writeSdist(t, dir, "nov-1.0.tar.gz", map[string]string{"nov-1.0/PKG-INFO": "Name: nov\n"}), "no Version field"},
		{"garbage header", writeSdist(t, dir, "bad-1.0.tar.gz", map[string]string{"bad-1.0/PKG-INFO": "Name: bad\nthis is not a header\n"}), `line 2: not a "Field: value" line`},
		{"unknown kind", filepath.Join(dir, "x.zip"), "not a wheel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadMetadata(tt.file)
			if err == nil {
				t.Fatalf("ReadMetadata(%s) succeeded, want error containing %q", tt.file, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), filepath.Base(tt.file)) {
				t.Errorf("error %q should contain %q and name the file", err, tt.want)
			}
		})
	}
}
