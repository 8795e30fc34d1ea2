package release

import (
	"fmt"

	"github.com/sluice-ci/sluice/internal/python"
)

// Rules are the choices commitizen documents for moving a version.
type Rules struct {
	// MajorVersionZero keeps a 0.x project below 1.0: a breaking change moves the minor number
	// instead of making 1.0.0.
	MajorVersionZero bool
	// Prerelease is "", "a", "b" or "rc": the next version is a pre-release of that kind.
	Prerelease string
	// Devrelease ≥ 0 appends .devN.
	Devrelease int
}

// NormalizePre reads alpha/beta/rc (and a, b, c) as PEP 440's a, b, rc.
func NormalizePre(s string) (string, error) {
	switch s {
	case "":
		return "", nil
	case "a", "alpha":
		return "a", nil
	case "b", "beta":
		return "b", nil
	case "rc", "c":
		return "rc", nil
	}
	return "", fmt.Errorf("pre-release kind %q: use alpha, beta or rc", s)
}

// Next is the version after current for an increment.
//
// current is the last version; lastFinal is the last final (not pre-release) version, which
// equals current unless current is a pre-release. inc is the largest increment of the commits
// since lastFinal. A pre-release series continues while the commits ask for no more than the
// series' base already carries: 1.1.0a0 plus another feat is 1.1.0a1, plus a breaking change is
// 2.0.0a0; without a pre-release asked for, 1.1.0a1 becomes 1.1.0.
func Next(current, lastFinal python.Version, inc Increment, r Rules) (python.Version, error) {
	if r.MajorVersionZero && major(lastFinal) == 0 && inc == Major {
		inc = Minor
	}
	base := bump(lastFinal, inc)
	curKind, curNum := current.Pre()
	if current.IsPrerelease() && cmpRelease(base, current.Release()) <= 0 {
		// The commits fit in the series current belongs to.
		base = pad(current.Release())
		if r.Prerelease == "" {
			return python.NewVersion(current.Epoch(), base, "", 0, -1, devOf(r)), nil
		}
		kind, num := r.Prerelease, 0
		switch {
		case kind == curKind:
			num = curNum + 1
		case preRank(kind) < preRank(curKind):
			// Never go back from rc to alpha within one series: continue the current kind.
			kind, num = curKind, curNum+1
		}
		return python.NewVersion(current.Epoch(), base, kind, num, -1, devOf(r)), nil
	}
	if inc == None {
		return python.Version{}, fmt.Errorf("no increment")
	}
	return python.NewVersion(lastFinal.Epoch(), base, r.Prerelease, 0, -1, devOf(r)), nil
}

func devOf(r Rules) int {
	if r.Devrelease >= 0 {
		return r.Devrelease
	}
	return -1
}

func preRank(k string) int {
	return map[string]int{"": 4, "a": 1, "b": 2, "rc": 3}[k]
}

func major(v python.Version) int {
	rel := v.Release()
	if len(rel) == 0 {
		return 0
	}
	return rel[0]
}

func pad(rel []int) []int {
	out := append([]int(nil), rel...)
	for len(out) < 3 {
		out = append(out, 0)
	}
	return out
}

func bump(v python.Version, inc Increment) []int {
	rel := pad(v.Release())
	switch inc {
	case Major:
		rel = append([]int{rel[0] + 1, 0, 0}, zeros(len(rel)-3)...)
	case Minor:
		rel = append([]int{rel[0], rel[1] + 1, 0}, zeros(len(rel)-3)...)
	case Patch:
		rel = append([]int{rel[0], rel[1], rel[2] + 1}, zeros(len(rel)-3)...)
	}
	return rel[:3]
}

func zeros(n int) []int {
	if n <= 0 {
		return nil
	}
	return make([]int, n)
}

func cmpRelease(a, b []int) int {
	a, b = pad(a), pad(b)
	for i := 0; i < len(a) || i < len(b); i++ {
		x, y := 0, 0
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}
