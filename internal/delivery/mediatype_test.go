package delivery

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMediaType(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"dist/pkg-1.0-py3-none-any.whl", "", MediaTypeWheel},
		{"dist/pkg-1.0-1-cp312-cp312-manylinux_2_17_x86_64.whl", "", MediaTypeWheel},
		{"dist/not-a-wheel.whl", "", MediaTypeOctetStream},
		{"dist/pkg-1.0.tar.gz", "", MediaTypeSdist},
		{"dist/my-old-pkg-2.0.post1.zip", "", MediaTypeSdistZip},
		{"coverage-report.zip", "", MediaTypeOctetStream},
		{"site.tar.gz", "", MediaTypeOctetStream},
		{"image/manifest.json", `{"schemaVersion":2,"config":{"digest":"sha256:00"},"layers":[]}`, MediaTypeOCIManifest},
		{"image/index.json", `{"schemaVersion":2,"manifests":[]}`, MediaTypeOCIIndex},
		{"image/blob", `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{},"layers":[]}`,
			"application/vnd.docker.distribution.manifest.v2+json"},
		{"image/config.json", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.config.v1+json"}`, MediaTypeOctetStream},
		{"package.json", `{"name":"x","version":"1.0"}`, MediaTypeOctetStream},
		{"broken.json", `{"schemaVersion":2,`, MediaTypeOctetStream},
	}
	for _, tt := range tests {
		if got := mediaType(tt.name, []byte(tt.content)); got != tt.want {
			t.Errorf("mediaType(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestReleaseVersion(t *testing.T) {
	tests := []struct {
		names []string
		want  string
	}{
		{[]string{"dist/app-2.1.0-py3-none-any.whl", "dist/app-2.1.0.tar.gz"}, "2.1.0"},
		{[]string{"a/README.md", "dist/my-app-1!3.0rc1.tar.gz"}, "1!3.0rc1"},
		{[]string{"a/app_name-0.9.dev3+g1234-py3-none-any.whl"}, "0.9.dev3+g1234"},
		{[]string{"a/report.tar.gz", "b/notes.txt"}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, releaseVersion(tt.names)); diff != "" {
			t.Errorf("releaseVersion(%q) (-want +got):\n%s", tt.names, diff)
		}
	}
}
