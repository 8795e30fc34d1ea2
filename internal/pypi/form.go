package pypi

import (
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

// formField is one name/value pair of the upload form; the legacy API takes
// multi-valued fields as repeated parts of the same name.
type formField struct{ Name, Value string }

// uploadFieldNames maps core metadata fields to the upload form's names. Most
// are the field lowercased with "_" for "-"; the index renamed a few.
var uploadFieldNames = map[string]string{
	"Metadata-Version":         "metadata_version",
	"Name":                     "name",
	"Version":                  "version",
	"Platform":                 "platform",
	"Supported-Platform":       "supported_platform",
	"Summary":                  "summary",
	"Description":              "description",
	"Description-Content-Type": "description_content_type",
	"Keywords":                 "keywords",
	"Home-page":                "home_page",
	"Download-URL":             "download_url",
	"Author":                   "author",
	"Author-email":             "author_email",
	"Maintainer":               "maintainer",
	"Maintainer-email":         "maintainer_email",
	"License":                  "license",
	"License-Expression":       "license_expression",
	"License-File":             "license_file",
	"Classifier":               "classifiers",
	"Requires-Dist":            "requires_dist",
	"Requires-Python":          "requires_python",
	"Requires-External":        "requires_external",
	"Project-URL":              "project_urls",
	"Provides-Extra":           "provides_extra",
	"Provides-Dist":            "provides_dist",
	"Obsoletes-Dist":           "obsoletes_dist",
	"Requires":                 "requires",
	"Provides":                 "provides",
	"Obsoletes":                "obsoletes",
	"Dynamic":                  "dynamic",
}

var unsafeNameRun = lazyre.New(`[^A-Za-z0-9.]+`)

// uploadForm builds the form fields for one distribution file, everything but
// the "content" part.
func uploadForm(file string, md map[string][]string, d digests) []formField {
	fields := []formField{
		{":action", "file_upload"},
		{"protocol_version", "1"},
	}
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys) // a stable request makes failures reproducible
	dropLicenseFiles := metadataVersionBelow(first(md, "Metadata-Version"), 2, 4)
	for _, k := range keys {
		name, ok := uploadFieldNames[k]
		if !ok {
			continue
		}
		// setuptools writes License-File under Metadata-Version 2.1/2.2,
		// which PyPI rejects; twine drops it likewise.
		if k == "License-File" && dropLicenseFiles {
			continue
		}
		for _, v := range md[k] {
			if k == "Name" {
				// Warehouse compares against the pkg_resources-style safe name.
				v = unsafeNameRun.ReplaceAllString(v, "-")
			}
			fields = append(fields, formField{name, v})
		}
	}
	ft := distType(file)
	fields = append(fields,
		formField{"filetype", ft},
		formField{"pyversion", pyVersion(file, ft)},
		formField{"md5_digest", d.MD5},
		formField{"sha256_digest", d.SHA256},
		formField{"blake2_256_digest", d.Blake2b256},
	)
	return fields
}

// pyVersion is the form's "pyversion": "source" for sdists, the Python tag
// (e.g. "py3", "cp312") from a wheel's file name.
func pyVersion(file, filetype string) string {
	if filetype != "bdist_wheel" {
		return "source"
	}
	parts := strings.Split(strings.TrimSuffix(filepath.Base(file), ".whl"), "-")
	// NAME-VERSION(-BUILD)?-PYTAG-ABITAG-PLATTAG
	if len(parts) >= 5 {
		return parts[len(parts)-3]
	}
	return ""
}

// metadataVersionBelow reports whether v (like "2.1") is below major.minor;
// an unreadable version counts as below.
func metadataVersionBelow(v string, major, minor int) bool {
	maj, mnr, _ := strings.Cut(v, ".")
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(mnr)
	if err1 != nil || err2 != nil {
		return true
	}
	return a < major || (a == major && b < minor)
}
