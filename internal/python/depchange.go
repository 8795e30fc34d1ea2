package python

import (
	"encoding/json"
	"path"
	"reflect"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// What a commit did to a project's dependencies, read from two versions of a file: whether a
// file declares or locks dependencies, whether a pyproject.toml change touched only its
// dependency tables, and which packages a change pinned, capped or downgraded. This is the one
// place that decides what an emergency pin is: delivery metrics (internal/metrics) and the pin
// finder of `sluice deps pins` and the Dependencies page (internal/deps) both read it.

// maxDepFile bounds the size of a dependency file this package reads from history; a larger one
// is treated as unreadable (no pins found), since the content comes from a push.
const maxDepFile = 4 << 20

// DependencyFile reports whether p (a slash-separated path in a repository) declares or locks
// Python dependencies: requirements and constraints files (requirements*.txt|in,
// *requirements.txt|in such as dev-requirements.txt, constraints*.txt|in, anything under a
// requirements/ or constraints/ directory), lock files (uv.lock, poetry.lock, pdm.lock,
// Pipfile.lock, pylock*.toml), Pipfile and pyproject.toml. A pyproject.toml change is about
// dependencies only when OnlyDependencyTablesDiffer says so.
func DependencyFile(p string) bool {
	base := path.Base(p)
	dir := path.Base(path.Dir(p))
	switch {
	case base == "uv.lock", base == "poetry.lock", base == "pdm.lock", base == "Pipfile.lock", base == "Pipfile",
		base == "pyproject.toml":
		return true
	case strings.HasPrefix(base, "pylock.") && strings.HasSuffix(base, ".toml"):
		return true
	case strings.HasSuffix(base, ".txt") || strings.HasSuffix(base, ".in"):
		stem := strings.TrimSuffix(strings.TrimSuffix(base, ".txt"), ".in")
		return strings.HasPrefix(stem, "requirements") || strings.HasPrefix(stem, "constraints") ||
			strings.HasSuffix(stem, "requirements") || strings.HasSuffix(stem, "constraints") ||
			dir == "requirements" || dir == "constraints"
	}
	return false
}

// DependencyPathspecs are git pathspecs that match every path DependencyFile accepts, and
// more: they let git narrow a history walk to commits that may touch dependency files, and
// DependencyFile then decides file by file.
func DependencyPathspecs() []string {
	return []string{":(glob)**/*.txt", ":(glob)**/*.in", ":(glob)**/*.lock", ":(glob)**/*.toml", ":(glob)**/Pipfile"}
}

// pyprojectDepTables are the dotted keys of pyproject.toml that declare dependencies; "*" matches
// any one key (a poetry group's name).
var pyprojectDepTables = [][]string{
	{"project", "dependencies"},
	{"project", "optional-dependencies"},
	{"dependency-groups"},
	{"build-system", "requires"},
	{"tool", "poetry", "dependencies"},
	{"tool", "poetry", "dev-dependencies"},
	{"tool", "poetry", "group", "*", "dependencies"},
	{"tool", "pdm", "dev-dependencies"},
	{"tool", "uv", "dev-dependencies"},
	{"tool", "uv", "constraint-dependencies"},
	{"tool", "uv", "override-dependencies"},
}

// OnlyDependencyTablesDiffer reports whether two versions of a pyproject.toml differ, and only
// in the keys that declare dependencies (project.dependencies and optional-dependencies,
// dependency-groups, build-system.requires, poetry's, pdm's and uv's dependency tables). A file
// that does not parse, or is too large, is not a dependency-only change.
func OnlyDependencyTablesDiffer(old, new []byte) bool {
	if len(old) > maxDepFile || len(new) > maxDepFile {
		return false
	}
	var a, b map[string]any
	if toml.Unmarshal(old, &a) != nil || toml.Unmarshal(new, &b) != nil {
		return false
	}
	if reflect.DeepEqual(a, b) {
		return false
	}
	for _, k := range pyprojectDepTables {
		dropKey(a, k)
		dropKey(b, k)
	}
	return reflect.DeepEqual(pruneEmpty(a), pruneEmpty(b))
}

func dropKey(m map[string]any, key []string) {
	if m == nil || len(key) == 0 {
		return
	}
	if len(key) == 1 {
		delete(m, key[0])
		return
	}
	if key[0] == "*" {
		for _, v := range m {
			if sub, ok := v.(map[string]any); ok {
				dropKey(sub, key[1:])
			}
		}
		return
	}
	if sub, ok := m[key[0]].(map[string]any); ok {
		dropKey(sub, key[1:])
	}
}

// pruneEmpty removes tables left empty by dropKey, so that a table that held only dependencies
// compares equal to its absence.
func pruneEmpty(m map[string]any) map[string]any {
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			if len(pruneEmpty(sub)) == 0 {
				delete(m, k)
			}
		}
	}
	return m
}

// Kinds of PinChange.
const (
	PinExact      = "exact-pin"   // the package is now pinned to one version (==, ===)
	PinUpperBound = "upper-bound" // it gained an upper bound (<, <=, ~=, ==X.*) or a lower one than before
	PinDowngrade  = "downgrade"   // its pinned or locked version went down
)

// PinChange is one package a change pinned, capped or downgraded.
type PinChange struct {
	File    string `json:"file"`
	Package string `json:"package"`
	Kind    string `json:"kind"`
	From    string `json:"from,omitempty"` // the specifier or locked version before ("" when new)
	To      string `json:"to"`
}

// PinChanges compares two versions of dependency file p (nil: absent) and returns the packages
// the change pinned exactly, capped or downgraded, sorted by package. In lock files (and
// requirements files compiled by pip-compile or uv) every version is exact, so only downgrades
// count there. A requirements file in which every requirement is pinned exactly (pip freeze's
// output, or a lock kept by hand) writes every package with ==, so a package added to it is
// not a pin; a declared range narrowed to one version, or a version moved back, is. Lines and
// entries that do not parse are skipped.
func PinChanges(p string, old, new []byte) []PinChange {
	if !DependencyFile(p) || len(old) > maxDepFile || len(new) > maxDepFile {
		return nil
	}
	base := path.Base(p)
	var out []PinChange
	switch {
	case base == "uv.lock" || base == "poetry.lock" || base == "pdm.lock" || strings.HasPrefix(base, "pylock."):
		out = downgrades(p, tomlLockVersions(old), tomlLockVersions(new))
	case base == "Pipfile.lock":
		out = downgrades(p, pipfileLockVersions(old), pipfileLockVersions(new))
	case (strings.HasSuffix(base, ".txt") || strings.HasSuffix(base, ".in")) && compiledHeader(new) != "":
		out = downgrades(p, pinnedVersions(reqFileSpecs(old)), pinnedVersions(reqFileSpecs(new)))
	case strings.HasSuffix(base, ".txt") || strings.HasSuffix(base, ".in"):
		now := reqFileSpecs(new)
		out = specChanges(p, reqFileSpecs(old), now, allPinned(now))
	case base == "pyproject.toml":
		out = specChanges(p, pyprojectSpecs(old), pyprojectSpecs(new), false)
	case base == "Pipfile":
		out = specChanges(p, pipfileSpecs(old), pipfileSpecs(new), false)
	}
	slices.SortFunc(out, func(a, b PinChange) int { return strings.Compare(a.Package, b.Package) })
	return out
}

// DependencyState reads one version of dependency file p: the specifiers it declares by
// package (requirements and constraints files, pyproject.toml, Pipfile; "" for a package
// declared without one) and the versions it locks (lock files, and requirements files compiled
// by pip-compile or uv). Whether a pin is still in effect at a revision is read from these. A
// file that is not a dependency file, too large or does not parse declares and locks nothing.
func DependencyState(p string, data []byte) (declared, locked map[string]string) {
	declared, locked = map[string]string{}, map[string]string{}
	if !DependencyFile(p) || len(data) > maxDepFile {
		return declared, locked
	}
	base := path.Base(p)
	switch {
	case base == "uv.lock" || base == "poetry.lock" || base == "pdm.lock" || strings.HasPrefix(base, "pylock."):
		locked = tomlLockVersions(data)
	case base == "Pipfile.lock":
		locked = pipfileLockVersions(data)
	case (strings.HasSuffix(base, ".txt") || strings.HasSuffix(base, ".in")) && compiledHeader(data) != "":
		locked = pinnedVersions(reqFileSpecs(data))
	case strings.HasSuffix(base, ".txt") || strings.HasSuffix(base, ".in"):
		declared = reqFileSpecs(data)
	case base == "pyproject.toml":
		declared = pyprojectSpecs(data)
	case base == "Pipfile":
		declared = pipfileSpecs(data)
	}
	return declared, locked
}

// specChanges compares declared specifiers by package; in a fully pinned file (pinnedFile) a
// package new to it is not a pin.
func specChanges(file string, old, new map[string]string, pinnedFile bool) []PinChange {
	var out []PinChange
	for name, spec := range new {
		before, had := old[name]
		if had && before == spec || !had && pinnedFile {
			continue
		}
		nc, err := parseSpecifier(spec)
		if err != nil {
			continue
		}
		oc, _ := parseSpecifier(before)
		add := func(kind string) {
			out = append(out, PinChange{File: file, Package: name, Kind: kind, From: before, To: spec})
		}
		newExact, oldExact := exactVersion(nc), exactVersion(oc)
		switch {
		case newExact != "" && oldExact != "":
			if lower(newExact, oldExact) {
				add(PinDowngrade)
			}
		case newExact != "":
			add(PinExact)
		case oldExact != "":
			// Unpinned or loosened: not a pin.
		default:
			newCap, oldCap := upperBound(nc), upperBound(oc)
			if newCap != "" && (oldCap == "" || lower(newCap, oldCap)) {
				add(PinUpperBound)
			}
		}
	}
	return out
}

func downgrades(file string, old, new map[string]string) []PinChange {
	var out []PinChange
	for name, v := range new {
		if before, ok := old[name]; ok && lower(v, before) {
			out = append(out, PinChange{File: file, Package: name, Kind: PinDowngrade, From: before, To: v})
		}
	}
	return out
}

// lower reports whether version a sorts below b; unparsable versions never do.
func lower(a, b string) bool {
	va, err1 := parseVersion(a)
	vb, err2 := parseVersion(b)
	return err1 == nil && err2 == nil && compareVersions(va, vb) < 0
}

// exactVersion is the one version a specifier allows ("" if it allows more).
func exactVersion(cs []Constraint) string {
	for _, c := range cs {
		if (c.Op == "==" && !strings.HasSuffix(c.Version, ".*")) || c.Op == "===" {
			return c.Version
		}
	}
	return ""
}

// upperBound is the version a specifier caps below ("" when it has no cap). ~=X.Y caps at the
// next X, ==X.Y.* at the next Y; the cap is returned as the version compared against.
func upperBound(cs []Constraint) string {
	var best string
	for _, c := range cs {
		var v string
		switch {
		case c.Op == "<" || c.Op == "<=":
			v = c.Version
		case c.Op == "~=" || (c.Op == "==" && strings.HasSuffix(c.Version, ".*")):
			pv, err := parseVersion(strings.TrimSuffix(c.Version, ".*"))
			if err != nil {
				continue
			}
			rel := slices.Clone(pv.release)
			if c.Op == "~=" && len(rel) > 1 {
				rel = rel[:len(rel)-1]
			}
			rel[len(rel)-1]++
			v = joinInts(rel)
		default:
			continue
		}
		if best == "" || lower(v, best) {
			best = v
		}
	}
	return best
}

// reqFileSpecs reads a requirements file's specifiers by package; options, includes, URLs and
// editable lines are skipped.
func reqFileSpecs(data []byte) map[string]string {
	out := map[string]string{}
	for _, line := range logicalLines(string(data)) {
		if strings.HasPrefix(line, "-") {
			continue
		}
		if i := strings.Index(line, " --"); i >= 0 {
			line = line[:i]
		}
		if r, err := parseRequirement(line); err == nil && r.URL == "" {
			out[r.Name] = r.Specifier
		}
	}
	return out
}

// allPinned reports whether a requirements file pins every requirement it has to one version.
func allPinned(specs map[string]string) bool {
	return len(specs) > 0 && len(pinnedVersions(specs)) == len(specs)
}

func pinnedVersions(specs map[string]string) map[string]string {
	out := map[string]string{}
	for n, s := range specs {
		if cs, err := parseSpecifier(s); err == nil {
			if v := exactVersion(cs); v != "" {
				out[n] = v
			}
		}
	}
	return out
}

// pyprojectSpecs reads the PEP 508 dependency lists of a pyproject.toml (project, optional
// dependencies, dependency groups, build requirements); a package listed twice keeps its
// narrowest entry, the last one.
func pyprojectSpecs(data []byte) map[string]string {
	out := map[string]string{}
	var doc map[string]any
	if len(data) == 0 || toml.Unmarshal(data, &doc) != nil {
		return out
	}
	var lists [][]string
	project := asMap(doc["project"])
	lists = append(lists, asStrings(project["dependencies"]))
	for _, v := range asMap(project["optional-dependencies"]) {
		lists = append(lists, asStrings(v))
	}
	for _, v := range asMap(doc["dependency-groups"]) {
		lists = append(lists, asStrings(v))
	}
	lists = append(lists, asStrings(asMap(doc["build-system"])["requires"]))
	uv := asMap(asMap(doc["tool"])["uv"])
	for _, k := range []string{"dev-dependencies", "constraint-dependencies", "override-dependencies"} {
		lists = append(lists, asStrings(uv[k]))
	}
	for _, l := range lists {
		for _, d := range l {
			if r, err := parseRequirement(d); err == nil && r.URL == "" {
				out[r.Name] = r.Specifier
			}
		}
	}
	poetry := asMap(asMap(doc["tool"])["poetry"])
	tables := []map[string]any{asMap(poetry["dependencies"]), asMap(poetry["dev-dependencies"])}
	for _, g := range asMap(poetry["group"]) {
		tables = append(tables, asMap(asMap(g)["dependencies"]))
	}
	for _, t := range tables {
		for name, v := range t {
			if name == "python" {
				continue
			}
			if s, ok := tableSpec(v); ok {
				out[normName(name)] = s
			}
		}
	}
	return out
}

// tableSpec turns a poetry or Pipfile entry ("1.2.3", "^1.2", "*", {version = "..."}) into a
// PEP 440 specifier where it has one: a bare version is an exact pin, "*" and caret or tilde
// ranges (the tools' defaults) are no pin at all.
func tableSpec(v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		s, ok = asMap(v)["version"].(string)
	}
	if !ok {
		return "", false
	}
	s = strings.TrimSpace(s)
	switch {
	case s == "*" || s == "" || strings.HasPrefix(s, "^") || (strings.HasPrefix(s, "~") && !strings.HasPrefix(s, "~=")):
		return "", true
	case strings.ContainsAny(s[:1], "<>=!~"):
		return s, true
	}
	if _, err := parseVersion(s); err == nil {
		return "==" + s, true
	}
	return "", false
}

func pipfileSpecs(data []byte) map[string]string {
	out := map[string]string{}
	var doc map[string]any
	if len(data) == 0 || toml.Unmarshal(data, &doc) != nil {
		return out
	}
	for _, section := range []string{"packages", "dev-packages"} {
		for name, v := range asMap(doc[section]) {
			if s, ok := tableSpec(v); ok {
				out[normName(name)] = s
			}
		}
	}
	return out
}

// tomlLockVersions reads the [[package]] name/version pairs of uv.lock, poetry.lock, pdm.lock
// and pylock.toml. A package locked at several versions (per platform) keeps its highest.
func tomlLockVersions(data []byte) map[string]string {
	out := map[string]string{}
	var doc map[string]any
	if len(data) == 0 || toml.Unmarshal(data, &doc) != nil {
		return out
	}
	for _, p := range tablesOf(doc["package"]) {
		name, _ := p["name"].(string)
		v, _ := p["version"].(string)
		if name == "" || v == "" {
			continue
		}
		n := normName(name)
		if cur, ok := out[n]; !ok || lower(cur, v) {
			out[n] = v
		}
	}
	return out
}

func pipfileLockVersions(data []byte) map[string]string {
	out := map[string]string{}
	var doc map[string]json.RawMessage
	if len(data) == 0 || json.Unmarshal(data, &doc) != nil {
		return out
	}
	for _, section := range []string{"default", "develop"} {
		var entries map[string]struct {
			Version string `json:"version"`
		}
		if json.Unmarshal(doc[section], &entries) != nil {
			continue
		}
		for name, e := range entries {
			if v := strings.TrimPrefix(e.Version, "=="); v != "" && v != e.Version {
				out[normName(name)] = v
			}
		}
	}
	return out
}
