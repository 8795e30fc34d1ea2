package actions

import (
	"maps"
	"slices"
	"strings"

	"github.com/rhysd/actionlint"
)

// knownActions are the owner/repo names a typo is compared with: sluice's built-ins and the
// popular actions actionlint knows.
func knownActions() []string {
	set := map[string]bool{}
	for name := range natives() {
		owner, rest, _ := strings.Cut(name, "/")
		repo, _, _ := strings.Cut(rest, "/")
		set[owner+"/"+repo] = true
	}
	for spec := range actionlint.PopularActions {
		name, _, _ := strings.Cut(spec, "@")
		parts := strings.SplitN(strings.ToLower(name), "/", 3)
		if len(parts) >= 2 {
			set[parts[0]+"/"+parts[1]] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// Suggest returns the known action closest to r's owner/repo when r looks like a typo of it
// (two edits or fewer, or a swapped pair of letters), else "".
func Suggest(r Ref) string {
	name := r.Name()
	best, bestDist := "", 3
	for _, k := range knownActions() {
		if k == name {
			return ""
		}
		if d := editDistance(name, k, bestDist); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance (insertions, deletions, substitutions
// and adjacent swaps), giving up at limit.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(b)], limit)
}
