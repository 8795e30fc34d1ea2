package python

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

// pepVersion is a PEP 440 version. Interpreter versions, lock pins and specifiers all use it,
// so one comparison rule serves setup-python specs and lockfile checks alike.
type pepVersion struct {
	epoch   int
	release []int
	preKind int // 0 none, 1 a, 2 b, 3 rc
	preNum  int
	post    int // -1 when absent
	dev     int // -1 when absent
	local   string
}

var pepRe = lazyre.New(`^v?(?:(\d+)!)?(\d+(?:\.\d+)*)` +
	`(?:[-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?(\d*))?` +
	`(?:(?:-(\d+))|(?:[-_.]?(post|rev|r)[-_.]?(\d*)))?` +
	`(?:[-_.]?(dev)[-_.]?(\d*))?` +
	`(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?$`)

func parseVersion(s string) (pepVersion, error) {
	m := pepRe.FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
	if m == nil {
		return pepVersion{}, fmt.Errorf("invalid version %q", s)
	}
	v := pepVersion{post: -1, dev: -1, local: m[10]}
	if m[1] != "" {
		v.epoch, _ = strconv.Atoi(m[1])
	}
	for _, p := range strings.Split(m[2], ".") {
		n, err := strconv.Atoi(p)
		if err != nil {
			return pepVersion{}, fmt.Errorf("invalid version %q: %w", s, err)
		}
		v.release = append(v.release, n)
	}
	if m[3] != "" {
		switch m[3] {
		case "a", "alpha":
			v.preKind = 1
		case "b", "beta":
			v.preKind = 2
		default:
			v.preKind = 3
		}
		v.preNum = atoiOr0(m[4])
	}
	if m[5] != "" {
		v.post = atoiOr0(m[5])
	} else if m[6] != "" {
		v.post = atoiOr0(m[7])
	}
	if m[8] != "" {
		v.dev = atoiOr0(m[9])
	}
	return v, nil
}

func atoiOr0(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func (v pepVersion) isPrerelease() bool { return v.preKind > 0 || v.dev >= 0 }

// String gives the normal form, e.g. "3.14.0a1".
func (v pepVersion) String() string {
	var b strings.Builder
	if v.epoch != 0 {
		fmt.Fprintf(&b, "%d!", v.epoch)
	}
	for i, r := range v.release {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(r))
	}
	if v.preKind > 0 {
		b.WriteString([]string{"", "a", "b", "rc"}[v.preKind])
		b.WriteString(strconv.Itoa(v.preNum))
	}
	if v.post >= 0 {
		fmt.Fprintf(&b, ".post%d", v.post)
	}
	if v.dev >= 0 {
		fmt.Fprintf(&b, ".dev%d", v.dev)
	}
	if v.local != "" {
		b.WriteString("+" + v.local)
	}
	return b.String()
}

func cmpInts(a, b []int) int {
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

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compareVersions orders by PEP 440: dev < pre < final < post, local last.
func compareVersions(a, b pepVersion) int {
	if c := cmpInt(a.epoch, b.epoch); c != 0 {
		return c
	}
	if c := cmpInts(a.release, b.release); c != 0 {
		return c
	}
	// Map the pre/dev segments to sortable keys: a bare dev release sorts before any pre-release.
	preKey := func(v pepVersion) [2]int {
		switch {
		case v.preKind == 0 && v.post < 0 && v.dev >= 0:
			return [2]int{-1, 0}
		case v.preKind == 0:
			return [2]int{4, 0}
		}
		return [2]int{v.preKind, v.preNum}
	}
	pa, pb := preKey(a), preKey(b)
	if c := cmpInts(pa[:], pb[:]); c != 0 {
		return c
	}
	if c := cmpInt(a.post, b.post); c != 0 {
		return c
	}
	devKey := func(v pepVersion) int {
		if v.dev < 0 {
			return int(^uint(0) >> 1)
		}
		return v.dev
	}
	if c := cmpInt(devKey(a), devKey(b)); c != 0 {
		return c
	}
	return strings.Compare(a.local, b.local)
}

// Constraint is one PEP 440 clause such as ">=3.9" or "==3.11.*".
type Constraint struct {
	Op      string `json:"op"`
	Version string `json:"version"`
}

func (c Constraint) String() string { return c.Op + c.Version }

var clauseRe = lazyre.New(`^\s*(~=|===|==|!=|<=|>=|<|>)\s*([^\s,;]+)\s*$`)

// parseSpecifier parses a comma-separated PEP 440 specifier set; "" is the empty set.
func parseSpecifier(s string) ([]Constraint, error) {
	var out []Constraint
	for _, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		m := clauseRe.FindStringSubmatch(part)
		if m == nil {
			return nil, fmt.Errorf("invalid specifier %q", part)
		}
		c := Constraint{Op: m[1], Version: m[2]}
		if c.Op != "===" {
			if _, err := parseVersion(strings.TrimSuffix(c.Version, ".*")); err != nil {
				return nil, err
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// contains reports whether v satisfies the clause, ignoring the rule that excludes
// pre-releases by default: callers decide that themselves.
func (c Constraint) contains(v pepVersion) bool {
	if c.Op == "===" {
		return v.String() == c.Version
	}
	if strings.HasSuffix(c.Version, ".*") {
		p, err := parseVersion(strings.TrimSuffix(c.Version, ".*"))
		if err != nil {
			return false
		}
		match := v.epoch == p.epoch && prefixMatch(v.release, p.release)
		if c.Op == "!=" {
			return !match
		}
		return c.Op == "==" && match
	}
	w, err := parseVersion(c.Version)
	if err != nil {
		return false
	}
	if w.local == "" {
		v.local = ""
	}
	cmp := compareVersions(v, w)
	switch c.Op {
	case "==":
		return cmp == 0
	case "!=":
		return cmp != 0
	case "<=":
		return cmp <= 0
	case ">=":
		return cmp >= 0
	case "<":
		// "<3.14" must not admit 3.14.0a1.
		return cmp < 0 && !(v.isPrerelease() && !w.isPrerelease() && cmpInts(v.release, w.release) == 0)
	case ">":
		return cmp > 0 && !(v.post >= 0 && w.post < 0 && cmpInts(v.release, w.release) == 0)
	case "~=":
		if len(w.release) < 2 || cmp < 0 {
			return false
		}
		return v.epoch == w.epoch && prefixMatch(v.release, w.release[:len(w.release)-1])
	}
	return false
}

// prefixMatch compares release segments padded with zeros, as PEP 440 prefix matching does.
func prefixMatch(v, prefix []int) bool {
	for i, p := range prefix {
		x := 0
		if i < len(v) {
			x = v[i]
		}
		if x != p {
			return false
		}
	}
	return true
}

func satisfiesAll(cs []Constraint, v pepVersion) bool {
	for _, c := range cs {
		if !c.contains(v) {
			return false
		}
	}
	return true
}

// normalSpecifier gives a canonical text for a specifier set so that two spellings of the same
// set (spaces, clause order, "3.9" vs "3.9.0") compare equal.
func normalSpecifier(s string) (string, error) {
	cs, err := parseSpecifier(s)
	if err != nil {
		return "", err
	}
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		ver := c.Version
		if c.Op != "===" && !strings.HasSuffix(ver, ".*") {
			if v, err := parseVersion(ver); err == nil {
				for len(v.release) > 1 && v.release[len(v.release)-1] == 0 && c.Op != "~=" {
					v.release = v.release[:len(v.release)-1]
				}
				ver = v.String()
			}
		}
		parts = append(parts, c.Op+ver)
	}
	sortStrings(parts)
	return strings.Join(parts, ","), nil
}
