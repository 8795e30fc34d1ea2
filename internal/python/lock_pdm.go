package python

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

var pdmGroupNameRe = lazyre.New(`[^A-Za-z0-9]+`)

// pdmContentHash reproduces PDM's PyProject.content_hash. legacy selects the form of PDM
// releases before [dependency-groups] support, which hashed tool.pdm.dev-dependencies as written.
func pdmContentHash(pyproject map[string]any, legacy bool) (string, error) {
	project := asMap(pyproject["project"])
	settings := asMap(dig(pyproject, "tool", "pdm"))
	var dev any
	if legacy {
		dev = getOr(settings, "dev-dependencies", map[string]any{})
	} else {
		groups := map[string]any{}
		for g, deps := range asMap(pyproject["dependency-groups"]) {
			groups[strings.ToLower(pdmGroupNameRe.ReplaceAllString(g, "-"))] = deps
		}
		for g, deps := range asMap(settings["dev-dependencies"]) {
			n := strings.ToLower(pdmGroupNameRe.ReplaceAllString(g, "-"))
			prev, _ := groups[n].([]any)
			more, _ := deps.([]any)
			groups[n] = append(append([]any{}, prev...), more...)
		}
		dev = groups
	}
	data := map[string]any{
		"sources":               getOr(settings, "source", []any{}),
		"dependencies":          getOr(project, "dependencies", []any{}),
		"dev-dependencies":      dev,
		"optional-dependencies": getOr(project, "optional-dependencies", map[string]any{}),
		"requires-python":       getOr(project, "requires-python", ""),
		"resolution":            getOr(settings, "resolution", map[string]any{}),
	}
	s, err := pyJSONDumps(data)
	if err != nil {
		return "", err
	}
	return sha256Hex(s), nil
}

func checkPDMLock(dir string) ([]Stale, error) {
	lock, err := readTOML(filepath.Join(dir, "pdm.lock"))
	if err != nil {
		return nil, err
	}
	pyproject, err := readPyproject(dir)
	if err != nil {
		return nil, err
	}
	stored, _ := dig(lock, "metadata", "content_hash").(string)
	algo, value, ok := strings.Cut(stored, ":")
	if !ok || algo != "sha256" {
		return []Stale{{File: "pdm.lock", Reason: fmt.Sprintf("pdm.lock has no sha256 content_hash (found %q)", stored), Fix: "pdm lock"}}, nil
	}
	var want string
	for _, legacy := range []bool{false, true} {
		h, err := pdmContentHash(pyproject, legacy)
		if err != nil {
			return nil, fmt.Errorf("hashing pyproject.toml for pdm.lock: %w", err)
		}
		if h == value {
			return nil, nil
		}
		if want == "" {
			want = h
		}
	}
	return []Stale{{
		File:   "pdm.lock",
		Reason: fmt.Sprintf("pyproject.toml changed since pdm.lock was written (content_hash %.12s…, pyproject gives %.12s…)", value, want),
		Fix:    "pdm lock",
	}}, nil
}
