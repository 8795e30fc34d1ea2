package python

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

// Spec is a parsed setup-python python-version. All Constraints must hold.
type Spec struct {
	Raw          string       `json:"raw"`
	Impl         string       `json:"impl"` // "cpython" or "pypy"
	Constraints  []Constraint `json:"constraints,omitempty"`
	FreeThreaded bool         `json:"free_threaded,omitempty"`
	// Prereleases admits alpha/beta/rc interpreters: set by allow-prereleases, "-dev" or a
	// spec that itself names a pre-release.
	Prereleases     bool         `json:"prereleases,omitempty"`
	ImplConstraints []Constraint `json:"impl_constraints,omitempty"` // PyPy's own version
}

var (
	pypyRe        = lazyre.New(`^pypy-?(\d+(?:\.\d+)*|\d+\.x)?(?:-v?(\d+(?:\.\d+)*(?:\.x)?))?$`)
	semverPreRe   = lazyre.New(`^(\d+\.\d+\.\d+)-(alpha|beta|rc)\.?(\d+)$`)
	hyphenRangeRe = lazyre.New(`^v?(\d+(?:\.\d+)*)\s+-\s+v?(\d+(?:\.\d+)*)$`)
	rangeTokenRe  = lazyre.New(`(~=|===|==|!=|<=|>=|<|>|=|\^|~)?\s*v?(\d[0-9A-Za-z.*\-]*|x|\*)`)
)

// ParseSpec understands the python-version forms of actions/setup-python: "3.11", "3.11.7",
// "3.x", "3", ">=3.9 <3.13", PEP 440 sets like ">=3.9,<3.13", "3.14-dev", "3.14t", "pypy3.9",
// "pypy-3.9", "pypy3.9-v7.3" and semver pre-releases such as "3.15.0-alpha.1".
func ParseSpec(s string, allowPrereleases bool) (Spec, error) {
	raw := strings.TrimSpace(s)
	spec := Spec{Raw: raw, Impl: "cpython", Prereleases: allowPrereleases}
	if raw == "" {
		return Spec{}, errors.New("empty python version")
	}
	body := strings.ToLower(raw)
	if strings.HasPrefix(body, "pypy") {
		m := pypyRe.FindStringSubmatch(body)
		if m == nil {
			return Spec{}, fmt.Errorf("invalid PyPy version %q", raw)
		}
		spec.Impl = "pypy"
		lang := m[1]
		if lang == "" {
			lang = "3"
		}
		spec.Constraints = []Constraint{prefixConstraint(lang)}
		if m[2] != "" {
			spec.ImplConstraints = []Constraint{prefixConstraint(m[2])}
		}
		return spec, nil
	}
	if b, ok := strings.CutSuffix(body, "-dev"); ok {
		body = b
		spec.Prereleases = true
	}
	if b, ok := strings.CutSuffix(body, "t"); ok {
		body = b
		spec.FreeThreaded = true
	}
	if m := semverPreRe.FindStringSubmatch(body); m != nil {
		kind := map[string]string{"alpha": "a", "beta": "b", "rc": "rc"}[m[2]]
		spec.Constraints = []Constraint{{Op: "==", Version: m[1] + kind + m[3]}}
		spec.Prereleases = true
		return spec, nil
	}
	cs, err := parseRange(body)
	if err != nil {
		return Spec{}, fmt.Errorf("invalid python version %q: %w", raw, err)
	}
	spec.Constraints = cs
	for _, c := range cs {
		if v, err := parseVersion(c.Version); err == nil && v.isPrerelease() {
			spec.Prereleases = true
		}
	}
	return spec, nil
}

// hyphenRange is node-semver's "X - Y" (setup-python reads python-version with it; nox's action
// asks for "3.10 - 3.14"): at least X, at most Y, where a partial Y covers all of it (3.14 is
// below 3.15).
func hyphenRange(lo, hi string) ([]Constraint, error) {
	if _, err := parseVersion(lo); err != nil {
		return nil, err
	}
	v, err := parseVersion(hi)
	if err != nil {
		return nil, err
	}
	out := []Constraint{{Op: ">=", Version: lo}}
	if len(v.release) >= 3 {
		return append(out, Constraint{Op: "<=", Version: hi}), nil
	}
	next := append([]int(nil), v.release...)
	next[len(next)-1]++
	return append(out, Constraint{Op: "<", Version: joinInts(next)}), nil
}

// prefixConstraint turns "3.11", "3", "3.x" into a prefix match and "3.11.7" into an exact one.
func prefixConstraint(v string) Constraint {
	v = strings.TrimSuffix(strings.TrimSuffix(v, ".x"), ".*")
	v = strings.TrimSuffix(v, ".x")
	if strings.Count(v, ".") >= 2 {
		return Constraint{Op: "==", Version: v}
	}
	return Constraint{Op: "==", Version: v + ".*"}
}

// parseRange reads both PEP 440 (comma-separated) and node-semver (space-separated) ranges.
func parseRange(s string) ([]Constraint, error) {
	if strings.Contains(s, "||") {
		return nil, errors.New("alternatives (||) are not supported")
	}
	rest := strings.TrimSpace(s)
	if m := hyphenRangeRe.FindStringSubmatch(rest); m != nil {
		return hyphenRange(m[1], m[2])
	}
	var out []Constraint
	for rest != "" {
		rest = strings.TrimLeft(rest, " ,")
		if rest == "" {
			break
		}
		loc := rangeTokenRe.FindStringSubmatchIndex(rest)
		if loc == nil || loc[0] != 0 {
			return nil, fmt.Errorf("cannot read %q", rest)
		}
		op, ver := "", rest[loc[4]:loc[5]]
		if loc[2] >= 0 {
			op = rest[loc[2]:loc[3]]
		}
		rest = rest[loc[1]:]
		if m := semverPreRe.FindStringSubmatch(ver); m != nil {
			ver = m[1] + map[string]string{"alpha": "a", "beta": "b", "rc": "rc"}[m[2]] + m[3]
		}
		if ver == "x" || ver == "*" {
			continue // any version
		}
		wild := strings.HasSuffix(ver, ".x") || strings.HasSuffix(ver, ".*")
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(ver, ".x"), ".*"), ".x")
		v, err := parseVersion(base)
		if err != nil {
			return nil, err
		}
		switch op {
		case "", "=":
			if wild || len(v.release) < 3 {
				out = append(out, Constraint{Op: "==", Version: base + ".*"})
			} else {
				out = append(out, Constraint{Op: "==", Version: base})
			}
		case "^":
			next := []int{v.release[0] + 1}
			out = append(out, Constraint{Op: ">=", Version: base}, Constraint{Op: "<", Version: joinInts(next)})
		case "~":
			if len(v.release) == 1 {
				out = append(out, Constraint{Op: ">=", Version: base}, Constraint{Op: "<", Version: joinInts([]int{v.release[0] + 1})})
			} else {
				out = append(out, Constraint{Op: ">=", Version: base}, Constraint{Op: "<", Version: joinInts([]int{v.release[0], v.release[1] + 1})})
			}
		default:
			if wild && op != "==" && op != "!=" {
				return nil, fmt.Errorf("wildcard not allowed with %s", op)
			}
			if wild {
				base += ".*"
			}
			out = append(out, Constraint{Op: op, Version: base})
		}
	}
	return out, nil
}

func joinInts(xs []int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, ".")
}

// Match reports whether the interpreter satisfies the spec.
func (s Spec) Match(i Interpreter) bool {
	impl := i.Impl
	if impl == "" {
		impl = "cpython"
	}
	if impl != s.Impl || i.FreeThreaded != s.FreeThreaded {
		return false
	}
	v, err := parseVersion(i.Version)
	if err != nil {
		return false
	}
	if v.isPrerelease() && !s.Prereleases {
		return false
	}
	if !satisfiesAll(s.Constraints, v) {
		return false
	}
	if len(s.ImplConstraints) > 0 {
		iv, err := parseVersion(i.ImplVersion)
		if err != nil || !satisfiesAll(s.ImplConstraints, iv) {
			return false
		}
	}
	return true
}

// Select picks the highest interpreter matching spec. Like setup-python, a pre-release is taken
// only when no final release matches.
func Select(found []Interpreter, spec Spec) (Interpreter, error) {
	var stable, pre []Interpreter
	for _, in := range found {
		if !spec.Match(in) {
			continue
		}
		if v, _ := parseVersion(in.Version); v.isPrerelease() {
			pre = append(pre, in)
		} else {
			stable = append(stable, in)
		}
	}
	for _, group := range [][]Interpreter{stable, pre} {
		if len(group) > 0 {
			sortInterpreters(group)
			return group[0], nil
		}
	}
	return Interpreter{}, noMatchError(found, spec)
}

func noMatchError(found []Interpreter, spec Spec) error {
	have := make([]string, 0, len(found))
	sorted := append([]Interpreter(nil), found...)
	sortInterpreters(sorted)
	for _, in := range sorted {
		name := in.Version
		if in.FreeThreaded {
			name += "t"
		}
		if in.Impl == "pypy" {
			name = "pypy" + name
		}
		have = append(have, fmt.Sprintf("%s (%s, %s)", name, in.Source, in.Path))
	}
	list := "none"
	if len(have) > 0 {
		list = strings.Join(have, ", ")
	}
	var how string
	if spec.Impl == "pypy" {
		how = "install PyPy with `apt-get install pypy3`, `pyenv install pypy3.X` or `uv python install pypy@3.X` (where uv can download)"
	} else {
		ver := strings.TrimSuffix(spec.Raw, "-dev")
		how = fmt.Sprintf("add one with `pyenv install %s`, `apt-get install python3` (Debian's own version) or `uv python install %s` (where uv can download), or point sluice at a directory holding it", ver, ver)
	}
	return fmt.Errorf("no Python matches %q; found: %s; %s", spec.Raw, list, how)
}
