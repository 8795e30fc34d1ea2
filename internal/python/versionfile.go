package python

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

// VersionFromFile reads a setup-python python-version-file. .python-version may list several
// versions (one per line or space-separated) and all are returned; .tool-versions gives the
// "python" entry; pyproject.toml gives project.requires-python, else Poetry's
// tool.poetry.dependencies.python converted to a PEP 440 range.
func VersionFromFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading python version file: %w", err)
	}
	base := filepath.Base(path)
	switch {
	case strings.HasSuffix(base, ".toml"):
		return versionFromPyproject(path, data)
	case base == ".tool-versions":
		for _, line := range contentLines(data) {
			fields := strings.Fields(line)
			if len(fields) > 1 && fields[0] == "python" {
				return fields[1:], nil
			}
		}
		return nil, fmt.Errorf("%s has no python entry", path)
	}
	var out []string
	for _, line := range contentLines(data) {
		out = append(out, strings.Fields(line)...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s names no python version", path)
	}
	return out, nil
}

// contentLines returns the trimmed lines that are neither blank nor comments.
func contentLines(data []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, "#"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line != "" {
			out = append(out, line)
		}
	}
	return out
}

func versionFromPyproject(path string, data []byte) ([]string, error) {
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	if rp, ok := dig(doc, "project", "requires-python").(string); ok && strings.TrimSpace(rp) != "" {
		return []string{strings.TrimSpace(rp)}, nil
	}
	if pv, ok := dig(doc, "tool", "poetry", "dependencies", "python").(string); ok && strings.TrimSpace(pv) != "" {
		r, err := poetryConstraint(pv)
		if err != nil {
			return nil, fmt.Errorf("%s: tool.poetry.dependencies.python: %w", path, err)
		}
		return []string{r}, nil
	}
	return nil, fmt.Errorf("%s has neither project.requires-python nor tool.poetry.dependencies.python", path)
}

// dig walks nested TOML tables; it returns nil when any step is missing.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v, ok = m[k]
		if !ok {
			return nil
		}
	}
	return v
}

var poetryTokenRe = lazyre.New(`^(\^|~=|~|==|!=|>=|<=|>|<|=)?\s*(\S+)$`)

// poetryConstraint converts Poetry's constraint syntax ("^3.9", "~3.10", ">=3.8,<4.0", "3.11.*")
// to a PEP 440 specifier set.
func poetryConstraint(s string) (string, error) {
	if strings.Contains(s, "||") {
		return "", fmt.Errorf("alternatives in %q are not supported", s)
	}
	var out []string
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' }) {
		part = strings.TrimSpace(part)
		if part == "*" || part == "" {
			continue
		}
		m := poetryTokenRe.FindStringSubmatch(part)
		if m == nil {
			return "", fmt.Errorf("cannot read %q", part)
		}
		op, ver := m[1], m[2]
		v, err := parseVersion(strings.TrimSuffix(ver, ".*"))
		if err != nil {
			return "", err
		}
		switch op {
		case "^":
			// Caret raises the first non-zero component.
			upper := make([]int, 0, len(v.release))
			for i, r := range v.release {
				if r != 0 || i == len(v.release)-1 {
					upper = append(upper, r+1)
					break
				}
				upper = append(upper, 0)
			}
			out = append(out, ">="+ver, "<"+joinInts(upper))
		case "~":
			if len(v.release) == 1 {
				out = append(out, ">="+ver, "<"+joinInts([]int{v.release[0] + 1}))
			} else {
				out = append(out, ">="+ver, "<"+joinInts([]int{v.release[0], v.release[1] + 1}))
			}
		case "", "=":
			out = append(out, "=="+ver)
		default:
			out = append(out, op+ver)
		}
	}
	return strings.Join(out, ","), nil
}
