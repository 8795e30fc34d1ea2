package python

import (
	"sort"
	"strings"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

func sortStrings(s []string) { sort.Strings(s) }

var nameSepRe = lazyre.New(`[-_.]+`)

// normName is the PEP 503 normal form of a distribution or extra name.
func normName(s string) string {
	return strings.ToLower(nameSepRe.ReplaceAllString(strings.TrimSpace(s), "-"))
}
