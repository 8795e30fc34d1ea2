package pypi

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// maxMetadataSize bounds how much of a METADATA/PKG-INFO member is read, so
// a hostile archive cannot make us allocate without limit.
const maxMetadataSize = 16 << 20

// descriptionKey is where ReadMetadata puts the message body, which core
// metadata 2.1+ uses for the long description.
const descriptionKey = "Description"

// canonicalFields spells the core metadata fields as the specification does;
// field names are case-insensitive in the files ("Home-page" vs "Home-Page").
var canonicalFields = func() map[string]string {
	names := []string{
		"Metadata-Version", "Name", "Version", "Dynamic", "Platform", "Supported-Platform",
		"Summary", "Description", "Description-Content-Type", "Keywords", "Home-page",
		"Download-URL", "Author", "Author-email", "Maintainer", "Maintainer-email",
		"License", "License-Expression", "License-File", "Classifier", "Requires-Dist",
		"Requires-Python", "Requires-External", "Project-URL", "Provides-Extra",
		"Provides-Dist", "Obsoletes-Dist", "Requires", "Provides", "Obsoletes",
		"Import-Name", "Import-Namespace",
	}
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[strings.ToLower(n)] = n
	}
	return m
}()

// ReadMetadata returns the core metadata of a wheel (its *.dist-info/METADATA)
// or an sdist (its top-level PKG-INFO). Keys are field names spelled as in the
// core metadata specification (unknown fields as written); a field that occurs
// several times (Classifier, Requires-Dist, ...) has several values. A body
// after the headers is returned as Description.
func ReadMetadata(p string) (map[string][]string, error) {
	var raw []byte
	var err error
	switch distType(p) {
	case "bdist_wheel":
		raw, err = wheelMetadata(p)
	case "sdist":
		raw, err = sdistMetadata(p)
	default:
		return nil, fmt.Errorf("reading metadata of %s: not a wheel (.whl) or sdist (.tar.gz)", p)
	}
	if err != nil {
		return nil, fmt.Errorf("reading metadata of %s: %w", p, err)
	}
	md, err := parseMetadata(raw)
	if err != nil {
		return nil, fmt.Errorf("reading metadata of %s: %w", p, err)
	}
	for _, f := range []string{"Name", "Version"} {
		if first(md, f) == "" {
			return nil, fmt.Errorf("reading metadata of %s: no %s field", p, f)
		}
	}
	return md, nil
}

// distType names the upload API's filetype for a distribution file, or "" for
// files that are not distributions we upload.
func distType(p string) string {
	base := filepath.Base(p)
	switch {
	case strings.HasSuffix(base, ".whl"):
		return "bdist_wheel"
	case strings.HasSuffix(base, ".tar.gz"):
		return "sdist"
	}
	return ""
}

func wheelMetadata(p string) ([]byte, error) {
	zr, err := zip.OpenReader(p)
	if err != nil {
		return nil, fmt.Errorf("opening wheel: %w", err)
	}
	defer zr.Close()
	// A wheel is NAME-VERSION-TAGS.whl and its metadata lives in
	// NAME-VERSION.dist-info/METADATA; prefer that directory when a wheel
	// (wrongly, but it happens with vendored code) holds more than one.
	parts := strings.Split(strings.TrimSuffix(filepath.Base(p), ".whl"), "-")
	want := ""
	if len(parts) >= 2 {
		want = strings.ToLower(parts[0] + "-" + parts[1] + ".dist-info/METADATA")
	}
	var found []*zip.File
	for _, f := range zr.File {
		dir, name := path.Split(f.Name)
		if name == "METADATA" && strings.Count(f.Name, "/") == 1 && strings.HasSuffix(dir, ".dist-info/") {
			if strings.ToLower(f.Name) == want {
				found = []*zip.File{f}
				break
			}
			found = append(found, f)
		}
	}
	switch len(found) {
	case 0:
		return nil, errors.New("no *.dist-info/METADATA in wheel")
	case 1:
	default:
		return nil, fmt.Errorf("several *.dist-info/METADATA in wheel (%s, %s)", found[0].Name, found[1].Name)
	}
	rc, err := found[0].Open()
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", found[0].Name, err)
	}
	defer rc.Close()
	return readLimited(rc, found[0].Name)
}

func sdistMetadata(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("opening gzip: %w", err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("no PKG-INFO at the top of the sdist")
		}
		if err != nil {
			return nil, fmt.Errorf("reading tar: %w", err)
		}
		// Only NAME-VERSION/PKG-INFO counts: an *.egg-info/PKG-INFO deeper
		// down may be stale.
		name := strings.TrimPrefix(h.Name, "./")
		if path.Base(name) == "PKG-INFO" && strings.Count(name, "/") == 1 && h.Typeflag == tar.TypeReg {
			return readLimited(tr, name)
		}
	}
}

func readLimited(r io.Reader, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxMetadataSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(b) > maxMetadataSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxMetadataSize)
	}
	return b, nil
}

// parseMetadata reads the email-header format of core metadata: "Field: value"
// lines, continuation lines that start with whitespace, then an optional body.
func parseMetadata(raw []byte) (map[string][]string, error) {
	raw = bytes.TrimPrefix(raw, []byte("\ufeff"))
	text := strings.ReplaceAll(string(raw), "\r\n", "\n")
	md := map[string][]string{}
	var key string // field the previous line belonged to, for continuations
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		if line == "" {
			body := strings.Join(lines[i+1:], "\n")
			if strings.TrimSpace(body) != "" {
				md[descriptionKey] = append(md[descriptionKey], strings.TrimRight(body, "\n")+"\n")
			}
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if key == "" {
				return nil, fmt.Errorf("line %d: continuation line before any field", i+1)
			}
			vals := md[key]
			vals[len(vals)-1] += "\n" + continuation(key, line)
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("line %d: not a \"Field: value\" line: %q", i+1, excerpt(line, 80))
		}
		key = name
		if c, ok := canonicalFields[strings.ToLower(name)]; ok {
			key = c
		}
		md[key] = append(md[key], strings.TrimSpace(value))
	}
	return md, nil
}

// continuation undoes the folding of multi-line header values. setuptools
// used to write Description as a header, indenting its lines with 8 spaces
// (some versions with a "|") so blank lines survive.
func continuation(key, line string) string {
	if key != descriptionKey {
		return strings.TrimSpace(line)
	}
	for _, prefix := range []string{"        |", "       |", "        "} {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			return rest
		}
	}
	return strings.TrimLeft(line, " \t")
}

func first(md map[string][]string, key string) string {
	if v := md[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}
