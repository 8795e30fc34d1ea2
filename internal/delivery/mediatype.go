package delivery

import (
	"bytes"
	"encoding/json"
	"path"
	"strings"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

// Media types given to release artifacts. Python's distribution formats have no registered media
// type, so sluice uses vendor types that name the kind and the container format.
const (
	MediaTypeWheel       = "application/vnd.python.wheel+zip"
	MediaTypeSdist       = "application/vnd.python.sdist+gzip" // name-version.tar.gz
	MediaTypeSdistZip    = "application/vnd.python.sdist+zip"  // legacy name-version.zip
	MediaTypeOCIManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeOCIIndex    = "application/vnd.oci.image.index.v1+json"
	MediaTypeOctetStream = "application/octet-stream"
	// Docker's manifest types are kept when a manifest declares them.
	mediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// maxSniff bounds the files read whole to recognise image manifests; manifests are a few KiB.
const maxSniff = 4 << 20

// versionRe is loose on purpose: it only has to tell a version from the rest of a file name
// (PEP 440 versions start with a digit, optionally after an epoch "N!").
var versionRe = lazyre.New(`^(\d+!)?\d[0-9A-Za-z.+_]*$`)

// mediaType names the kind of file: by file name for Python distributions, by content for image
// manifests and indexes (content may be nil when the file was too big to sniff).
func mediaType(name string, content []byte) string {
	base := path.Base(name)
	if _, ok := wheelVersion(base); ok {
		return MediaTypeWheel
	}
	if _, ok := sdistVersion(base); ok {
		if strings.HasSuffix(base, ".zip") {
			return MediaTypeSdistZip
		}
		return MediaTypeSdist
	}
	if mt := manifestType(content); mt != "" {
		return mt
	}
	return MediaTypeOctetStream
}

// wheelVersion reads the version out of a PEP 427 file name:
// {distribution}-{version}(-{build tag})?-{python tag}-{abi tag}-{platform tag}.whl
func wheelVersion(base string) (string, bool) {
	stem, ok := strings.CutSuffix(base, ".whl")
	if !ok {
		return "", false
	}
	parts := strings.Split(stem, "-")
	if (len(parts) != 5 && len(parts) != 6) || parts[0] == "" || !versionRe.MatchString(parts[1]) {
		return "", false
	}
	return parts[1], true
}

// sdistVersion reads the version out of a source distribution's name, {name}-{version}.tar.gz
// (or the legacy .zip). Legacy names may contain dashes, so the version follows the last one.
func sdistVersion(base string) (string, bool) {
	stem, ok := strings.CutSuffix(base, ".tar.gz")
	if !ok {
		if stem, ok = strings.CutSuffix(base, ".zip"); !ok {
			return "", false
		}
	}
	i := strings.LastIndex(stem, "-")
	if i <= 0 || !versionRe.MatchString(stem[i+1:]) {
		return "", false
	}
	return stem[i+1:], true
}

// manifestType recognises an OCI (or Docker) image manifest or index: by its declared mediaType,
// or, since OCI makes that field optional, by its shape.
func manifestType(content []byte) string {
	trimmed := bytes.TrimSpace(content)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return ""
	}
	var m struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		Config        json.RawMessage   `json:"config"`
		Layers        []json.RawMessage `json:"layers"`
		Manifests     []json.RawMessage `json:"manifests"`
	}
	if err := json.Unmarshal(trimmed, &m); err != nil || m.SchemaVersion != 2 {
		return ""
	}
	switch m.MediaType {
	case MediaTypeOCIManifest, MediaTypeOCIIndex, mediaTypeDockerManifest, mediaTypeDockerList:
		return m.MediaType
	case "":
	default:
		return ""
	}
	switch {
	case m.Manifests != nil:
		return MediaTypeOCIIndex
	case len(m.Config) > 0 && m.Layers != nil:
		return MediaTypeOCIManifest
	}
	return ""
}

// releaseVersion is the version of the first wheel or sdist among artifacts sorted by name, or "".
func releaseVersion(names []string) string {
	for _, n := range names {
		base := path.Base(n)
		if v, ok := wheelVersion(base); ok {
			return v
		}
		if v, ok := sdistVersion(base); ok {
			return v
		}
	}
	return ""
}
