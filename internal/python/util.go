package python

import (
	"regexp"
	"sort"
	"strings"
)

func sortStrings(s []string) { sort.Strings(s) }

var nameSepRe = regexp.MustCompile(`[-_.]+`)

// normName is the PEP 503 normal form of a distribution or extra name.
func normName(s string) string {
	return strings.ToLower(nameSepRe.ReplaceAllString(strings.TrimSpace(s), "-"))
}
