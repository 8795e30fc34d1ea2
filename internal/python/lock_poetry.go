package python

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

var (
	poetryLegacyKeys   = []string{"dependencies", "source", "extras", "dev-dependencies"}
	poetryRelevantKeys = append(append([]string(nil), poetryLegacyKeys...), "group")
	poetryProjectKeys  = []string{"requires-python", "dependencies", "optional-dependencies"}
	poetryHeaderRe     = lazyre.New(`Poetry ([0-9][^ ]*)`)
)

// poetryContentHash reproduces Poetry's Locker._get_content_hash: sha256 of json.dumps of the
// relevant [project], [dependency-groups] and [tool.poetry] content with sorted keys. Locks
// written before Poetry 2.3 did not include dependency groups.
func poetryContentHash(pyproject map[string]any, withGroups bool) (string, error) {
	project := asMap(pyproject["project"])
	groups := map[string]any{}
	if withGroups {
		groups = asMap(pyproject["dependency-groups"])
	}
	poetry := asMap(dig(pyproject, "tool", "poetry"))

	projectContent := map[string]any{}
	for _, k := range poetryProjectKeys {
		if v, ok := project[k]; ok {
			projectContent[k] = v
		}
	}
	poetryContent := map[string]any{}
	for _, k := range poetryRelevantKeys {
		v, ok := poetry[k]
		if !ok && (!contains(poetryLegacyKeys, k) || len(projectContent) > 0 || len(groups) > 0) {
			continue
		}
		poetryContent[k] = v // nil renders as null, as Python's None does
	}
	content := map[string]any{}
	if len(projectContent) > 0 {
		content["project"] = projectContent
	}
	if len(groups) > 0 {
		content["dependency-groups"] = groups
	}
	if len(content) > 0 {
		content["tool"] = map[string]any{"poetry": poetryContent}
	} else {
		content = poetryContent
	}
	s, err := pyJSONDumps(content)
	if err != nil {
		return "", err
	}
	return sha256Hex(s), nil
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func checkPoetryLock(dir string) ([]Stale, error) {
	lockPath := filepath.Join(dir, "poetry.lock")
	lock, err := readTOML(lockPath)
	if err != nil {
		return nil, err
	}
	pyproject, err := readPyproject(dir)
	if err != nil {
		return nil, err
	}
	stored, _ := dig(lock, "metadata", "content-hash").(string)
	if stored == "" {
		return []Stale{{File: "poetry.lock", Reason: "poetry.lock has no [metadata] content-hash", Fix: "poetry lock"}}, nil
	}
	want, err := poetryContentHash(pyproject, true)
	if err != nil {
		return nil, fmt.Errorf("hashing pyproject.toml for poetry.lock: %w", err)
	}
	if want == stored {
		return nil, nil
	}
	if v := poetryLockVersion(lockPath); v != "" {
		if pv, err := parseVersion(v); err == nil && compareVersions(pv, pepVersion{release: []int{2, 3}, post: -1, dev: -1}) < 0 {
			old, err := poetryContentHash(pyproject, false)
			if err == nil && old == stored {
				return nil, nil
			}
		}
	}
	return []Stale{{
		File:   "poetry.lock",
		Reason: fmt.Sprintf("pyproject.toml changed since poetry.lock was written (content-hash %.12s…, pyproject gives %.12s…)", stored, want),
		Fix:    "poetry lock",
	}}, nil
}

// poetryLockVersion reads the Poetry version from the lock's first-line comment.
func poetryLockVersion(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if sc.Scan() {
		if m := poetryHeaderRe.FindStringSubmatch(sc.Text()); m != nil {
			return m[1]
		}
	}
	return ""
}
