package python

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// depKey is the part of a dependency that uv keeps verbatim enough to compare: markers are
// rewritten by uv (python_version becomes python_full_version, clauses are reordered and
// simplified), so of a marker only its extra and whether anything else remains is compared.
func depKey(name string, extras []string, spec, url, extra string, otherMarker bool) (string, error) {
	ns, err := normalSpecifier(spec)
	if err != nil {
		return "", err
	}
	ex := append([]string(nil), extras...)
	for i := range ex {
		ex[i] = normName(ex[i])
	}
	sort.Strings(ex)
	k := normName(name)
	if len(ex) > 0 {
		k += "[" + strings.Join(ex, ",") + "]"
	}
	k += ns
	if url != "" {
		k += " @ " + url
	}
	if extra != "" {
		k += " ; extra=" + extra
	}
	if otherMarker {
		k += " ; marker"
	}
	return k, nil
}

// pyprojectDepKeys turns PEP 508 strings into keys; group (an extra name) is "" for main deps.
func pyprojectDepKeys(deps []string, extra string) ([]string, error) {
	var out []string
	for _, d := range deps {
		r, err := parseRequirement(d)
		if err != nil {
			return nil, err
		}
		_, other := markerExtra(r.Marker)
		k, err := depKey(r.Name, r.Extras, r.Specifier, r.URL, extra, other)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

func uvEntryKeys(entries []map[string]any) ([]string, error) {
	var out []string
	for _, e := range entries {
		name, _ := e["name"].(string)
		spec, _ := e["specifier"].(string)
		url, _ := e["url"].(string)
		marker, _ := e["marker"].(string)
		extra, other := markerExtra(marker)
		k, err := depKey(name, asStrings(e["extras"]), spec, url, extra, other)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// pyprojectGroups gathers [dependency-groups] (with include-group expanded) and uv's legacy
// tool.uv.dev-dependencies, which uv records as the "dev" group.
func pyprojectGroups(pyproject map[string]any) (map[string][]string, error) {
	raw := asMap(pyproject["dependency-groups"])
	norm := map[string][]any{}
	for g, v := range raw {
		l, _ := v.([]any)
		norm[normName(g)] = l
	}
	var expand func(g string, seen map[string]bool) ([]string, error)
	expand = func(g string, seen map[string]bool) ([]string, error) {
		if seen[g] {
			return nil, fmt.Errorf("dependency group %q includes itself", g)
		}
		seen[g] = true
		defer delete(seen, g)
		var out []string
		for _, item := range norm[g] {
			switch x := item.(type) {
			case string:
				out = append(out, x)
			case map[string]any:
				inc, _ := x["include-group"].(string)
				sub, err := expand(normName(inc), seen)
				if err != nil {
					return nil, err
				}
				out = append(out, sub...)
			}
		}
		return out, nil
	}
	groups := map[string][]string{}
	for g := range norm {
		deps, err := expand(g, map[string]bool{})
		if err != nil {
			return nil, err
		}
		groups[g] = deps
	}
	if dev := asStrings(dig(pyproject, "tool", "uv", "dev-dependencies")); len(dev) > 0 {
		groups["dev"] = append(groups["dev"], dev...)
	}
	return groups, nil
}

// diffKeys compares requirements as sets: uv records a requirement a
// group reaches twice (through include-group) once.
func diffKeys(what string, want, have []string) []string {
	count := map[string]int{}
	for _, k := range dedupe(want) {
		count[k]++
	}
	for _, k := range dedupe(have) {
		count[k]--
	}
	var added, removed []string
	for k, n := range count {
		if n > 0 {
			added = append(added, k)
		} else if n < 0 {
			removed = append(removed, k)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	var out []string
	if len(added) > 0 {
		out = append(out, fmt.Sprintf("%s not in lock: %s", what, strings.Join(added, ", ")))
	}
	if len(removed) > 0 {
		out = append(out, fmt.Sprintf("%s in lock but no longer declared: %s", what, strings.Join(removed, ", ")))
	}
	return out
}

func dedupe(keys []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// sourced are the names tool.uv.sources gives a source (workspace, path,
// git, url, index): uv.lock records those without their version
// specifier, with the source instead.
func sourced(pyproject map[string]any) map[string]bool {
	out := map[string]bool{}
	for name, v := range asMap(dig(pyproject, "tool", "uv", "sources")) {
		src := asMap(v)
		if src == nil {
			// A list of sources with markers.
			if l, ok := v.([]any); ok && len(l) > 0 {
				src = asMap(l[0])
			}
		}
		if src == nil {
			continue
		}
		if _, idx := src["index"]; idx && len(src) == 1 {
			continue // an index keeps the specifier
		}
		out[normName(name)] = true
	}
	return out
}

// dropSpecifiers removes the version part of the keys of sourced names.
func dropSpecifiers(keys []string, names map[string]bool) []string {
	if len(names) == 0 {
		return keys
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		name := k
		if j := strings.IndexAny(name, "[<>=!~ ;@"); j >= 0 {
			name = name[:j]
		}
		if !names[name] {
			out[i] = k
			continue
		}
		rest := k[len(name):]
		extras := ""
		if strings.HasPrefix(rest, "[") {
			if e := strings.Index(rest, "]"); e >= 0 {
				extras, rest = rest[:e+1], rest[e+1:]
			}
		}
		marker := ""
		if m := strings.Index(rest, " ; "); m >= 0 {
			marker = rest[m:]
		}
		out[i] = name + extras + marker
	}
	return out
}

func checkUVLock(dir string) ([]Stale, error) {
	lock, err := readTOML(filepath.Join(dir, "uv.lock"))
	if err != nil {
		return nil, err
	}
	root, err := readPyproject(dir)
	if err != nil {
		return nil, err
	}
	var reasons []string
	if rp, ok := dig(root, "project", "requires-python").(string); ok {
		want, err := normalSpecifier(rp)
		if err != nil {
			return nil, fmt.Errorf("pyproject.toml requires-python: %w", err)
		}
		lockRP, _ := lock["requires-python"].(string)
		have, err := normalSpecifier(lockRP)
		if err != nil {
			return nil, fmt.Errorf("uv.lock requires-python: %w", err)
		}
		if want != have {
			reasons = append(reasons, fmt.Sprintf("requires-python is %q in pyproject.toml but %q in uv.lock", rp, lockRP))
		}
	}

	members := map[string]map[string]any{} // path → lock package
	for _, p := range tablesOf(lock["package"]) {
		src := asMap(p["source"])
		for _, k := range []string{"editable", "virtual"} {
			if path, ok := src[k].(string); ok {
				members[filepath.Clean(path)] = p
			}
		}
	}
	if _, hasProject := root["project"]; hasProject {
		if _, ok := members["."]; !ok {
			reasons = append(reasons, "the project in pyproject.toml is not in uv.lock")
		}
	} else {
		r, err := compareUVManifestGroups(root, asMap(lock["manifest"]))
		if err != nil {
			return nil, err
		}
		reasons = append(reasons, r...)
	}
	paths := make([]string, 0, len(members))
	for p := range members {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		r, err := compareUVMember(dir, p, members[p])
		if err != nil {
			return nil, err
		}
		reasons = append(reasons, r...)
	}
	if len(reasons) == 0 {
		return nil, nil
	}
	return []Stale{{File: "uv.lock", Reason: strings.Join(reasons, "; "), Fix: "uv lock"}}, nil
}

func compareUVMember(dir, rel string, pkg map[string]any) ([]string, error) {
	pyproject, err := readTOML(filepath.Join(dir, rel, "pyproject.toml"))
	if err != nil {
		return []string{fmt.Sprintf("workspace member %s has no readable pyproject.toml", rel)}, nil
	}
	label := "pyproject.toml"
	if rel != "." {
		label = filepath.Join(rel, "pyproject.toml")
	}
	project := asMap(pyproject["project"])
	var reasons []string
	if name, _ := project["name"].(string); name != "" {
		if lockName, _ := pkg["name"].(string); normName(name) != normName(lockName) {
			reasons = append(reasons, fmt.Sprintf("%s names the project %q but uv.lock has %q", label, name, lockName))
		}
	}
	want, err := pyprojectDepKeys(asStrings(project["dependencies"]), "")
	if err != nil {
		return nil, fmt.Errorf("reading %s dependencies: %w", label, err)
	}
	for g, deps := range asMap(project["optional-dependencies"]) {
		k, err := pyprojectDepKeys(asStrings(deps), normName(g))
		if err != nil {
			return nil, fmt.Errorf("reading %s optional-dependencies: %w", label, err)
		}
		want = append(want, k...)
	}
	meta := asMap(pkg["metadata"])
	have, err := uvEntryKeys(tablesOf(meta["requires-dist"]))
	if err != nil {
		return nil, fmt.Errorf("reading uv.lock requires-dist: %w", err)
	}
	src := sourced(pyproject)
	if root, err := readPyproject(dir); err == nil && rel != "." {
		for n := range sourced(root) {
			src[n] = true // a workspace's sources apply to its members
		}
	}
	reasons = append(reasons, diffKeys(label+" dependencies", dropSpecifiers(want, src), dropSpecifiers(have, src))...)

	groups, err := pyprojectGroups(pyproject)
	if err != nil {
		return nil, fmt.Errorf("reading %s dependency groups: %w", label, err)
	}
	r, err := compareGroups(label, groups, asMap(meta["requires-dev"]), src)
	if err != nil {
		return nil, err
	}
	return append(reasons, r...), nil
}

func compareGroups(label string, groups map[string][]string, lockGroups map[string]any, src map[string]bool) ([]string, error) {
	names := map[string]bool{}
	for g := range groups {
		names[g] = true
	}
	for g := range lockGroups {
		names[normName(g)] = true
	}
	lockByNorm := map[string]any{}
	for g, v := range lockGroups {
		lockByNorm[normName(g)] = v
	}
	sorted := make([]string, 0, len(names))
	for g := range names {
		sorted = append(sorted, g)
	}
	sort.Strings(sorted)
	var reasons []string
	for _, g := range sorted {
		want, err := pyprojectDepKeys(groups[g], "")
		if err != nil {
			return nil, fmt.Errorf("reading %s group %s: %w", label, g, err)
		}
		have, err := uvEntryKeys(tablesOf(lockByNorm[g]))
		if err != nil {
			return nil, fmt.Errorf("reading uv.lock group %s: %w", g, err)
		}
		reasons = append(reasons, diffKeys(fmt.Sprintf("%s group %s", label, g), dropSpecifiers(want, src), dropSpecifiers(have, src))...)
	}
	return reasons, nil
}

// compareUVManifestGroups checks a project that has dependency groups but no [project] table;
// uv records those groups in [manifest.dependency-groups].
func compareUVManifestGroups(pyproject, manifest map[string]any) ([]string, error) {
	groups, err := pyprojectGroups(pyproject)
	if err != nil {
		return nil, err
	}
	return compareGroups("pyproject.toml", groups, asMap(manifest["dependency-groups"]), sourced(pyproject))
}
