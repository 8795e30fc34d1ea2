package python

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

// requirement is a parsed PEP 508 dependency string.
type requirement struct {
	Name      string // normalised
	Extras    []string
	Specifier string // as written, without parentheses
	Marker    string
	URL       string
}

var reqHeadRe = lazyre.New(`^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[([^\]]*)\])?\s*(.*)$`)

func parseRequirement(s string) (requirement, error) {
	m := reqHeadRe.FindStringSubmatch(s)
	if m == nil {
		return requirement{}, fmt.Errorf("invalid requirement %q", s)
	}
	r := requirement{Name: normName(m[1])}
	for _, e := range strings.Split(m[2], ",") {
		if e = strings.TrimSpace(e); e != "" {
			r.Extras = append(r.Extras, normName(e))
		}
	}
	sort.Strings(r.Extras)
	rest := strings.TrimSpace(m[3])
	if strings.HasPrefix(rest, "@") {
		url := strings.TrimSpace(rest[1:])
		// A marker after a URL must be separated by whitespace, since ";" may occur in URLs.
		if i := strings.Index(url, " ;"); i >= 0 {
			r.Marker = strings.TrimSpace(url[i+2:])
			url = strings.TrimSpace(url[:i])
		}
		r.URL = url
		return r, nil
	}
	if i := strings.Index(rest, ";"); i >= 0 {
		r.Marker = strings.TrimSpace(rest[i+1:])
		rest = rest[:i]
	}
	rest = strings.TrimSpace(rest)
	rest = strings.TrimSuffix(strings.TrimPrefix(rest, "("), ")")
	r.Specifier = strings.TrimSpace(rest)
	if _, err := parseSpecifier(r.Specifier); err != nil {
		return requirement{}, fmt.Errorf("requirement %q: %w", s, err)
	}
	return r, nil
}

// pinned reports whether the requirement names exactly one version.
func (r requirement) pinned() bool {
	cs, err := parseSpecifier(r.Specifier)
	if err != nil {
		return false
	}
	for _, c := range cs {
		if (c.Op == "==" && !strings.HasSuffix(c.Version, ".*")) || c.Op == "===" {
			return true
		}
	}
	return false
}

var extraMarkerRe = lazyre.New(`extra\s*==\s*['"]([^'"]+)['"]`)

// markerExtra splits a marker into the extra it is conditioned on and whether anything else
// remains. Lock tools rewrite markers (uv turns python_version into python_full_version and
// reorders clauses), so only this coarse shape is compared.
func markerExtra(marker string) (extra string, other bool) {
	if m := extraMarkerRe.FindStringSubmatch(marker); m != nil {
		extra = normName(m[1])
		rest := extraMarkerRe.ReplaceAllString(marker, "")
		rest = strings.NewReplacer("and", "", "(", "", ")", "", " ", "").Replace(rest)
		return extra, rest != ""
	}
	return "", strings.TrimSpace(marker) != ""
}
