package deps

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

// PinResult is what WritePin changed.
type PinResult struct {
	Files []string `json:"files"` // relative to the project directory
	How   string   `json:"how"`   // e.g. "[tool.uv] constraint-dependencies"
}

// WritePin holds a package at spec the way the project's tool keeps such a rule — uv's
// constraint-dependencies, pdm's resolution overrides, a narrowed poetry requirement, a line
// in the pip-compile input, or the pinned requirements line — and re-resolves the lock.
func WritePin(ctx context.Context, p Project, name, spec string, tools *Tools, env []string) (*PinResult, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("%q is not a package name", name)
	}
	clause := name + spec
	pyproject := filepath.Join(p.Dir, "pyproject.toml")
	var how string
	var files []string
	var args []string
	switch p.Tool {
	case UV:
		if err := editFile(pyproject, func(b []byte) ([]byte, error) {
			return addTOMLListItem(b, "tool.uv", "constraint-dependencies", clause), nil
		}); err != nil {
			return nil, err
		}
		how, files, args = "[tool.uv] constraint-dependencies", []string{"pyproject.toml", p.Lock}, []string{"lock"}
	case PDM:
		if err := editFile(pyproject, func(b []byte) ([]byte, error) { return setTOMLKey(b, "tool.pdm.resolution.overrides", name, spec), nil }); err != nil {
			return nil, err
		}
		how, files, args = "[tool.pdm.resolution.overrides]", []string{"pyproject.toml", p.Lock}, []string{"lock", "--update-reuse"}
	case Poetry:
		if err := editFile(pyproject, func(b []byte) ([]byte, error) {
			out, ok := capRequirement(b, name, spec)
			if !ok {
				return nil, fmt.Errorf("%s is not declared in pyproject.toml, and poetry has no constraints: declare it (e.g. in a dependency group) to pin it", name)
			}
			return out, nil
		}); err != nil {
			return nil, err
		}
		how, files, args = "narrowed requirement in pyproject.toml", []string{"pyproject.toml", p.Lock}, []string{"lock"}
	case PipTools, UVPip:
		in := ""
		for _, a := range compileArgs(p) {
			if strings.HasSuffix(a, ".in") || strings.HasSuffix(a, ".toml") {
				in = a
				break
			}
		}
		if in == "" || strings.HasSuffix(in, ".toml") {
			in = ""
		}
		if in != "" {
			if err := editFile(filepath.Join(p.Dir, in), func(b []byte) ([]byte, error) { return setRequirementLine(b, name, clause), nil }); err != nil {
				return nil, err
			}
			files = append(files, in)
		}
		how = "pip-compile --upgrade-package " + clause
		files = append(files, p.Lock)
		args = append(compileArgs(p), "--upgrade-package", clause)
	case Requirements:
		if err := editFile(filepath.Join(p.Dir, p.Lock), func(b []byte) ([]byte, error) { return setRequirementLine(b, name, clause), nil }); err != nil {
			return nil, err
		}
		return &PinResult{Files: []string{p.Lock}, How: "requirements line"}, nil
	}
	argv, err := tools.Argv(ctx, p.Tool)
	if err != nil {
		return nil, err
	}
	full := append(append([]string{}, argv...), args...)
	cmd := exec.CommandContext(ctx, full[0], full[1:]...)
	cmd.Dir, cmd.Env = p.Dir, env
	if cmd.Env == nil {
		cmd.Env = tools.env()
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, &ToolError{Tool: p.Tool, Err: err, Output: tail(out.String(), 40)}
	}
	return &PinResult{Files: files, How: how}, nil
}

func editFile(path string, f func([]byte) ([]byte, error)) error {
	b, err := readLimited(path)
	if err != nil {
		return err
	}
	out, err := f(b)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}

// tableBounds finds [table]'s body: the offsets after its header line and before the next
// header; ok is false when the table is absent.
func tableBounds(b []byte, table string) (start, end int, ok bool) {
	lines := strings.SplitAfter(string(b), "\n")
	off := 0
	start = -1
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			if start >= 0 {
				return start, off, true
			}
			if t == "["+table+"]" {
				start = off + len(l)
			}
		}
		off += len(l)
	}
	if start >= 0 {
		return start, len(b), true
	}
	return 0, 0, false
}

func ensureNewline(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] != '\n' {
		return append(b, '\n')
	}
	return b
}

// addTOMLListItem appends a quoted item to key's array in [table], making either as needed.
func addTOMLListItem(b []byte, table, key, item string) []byte {
	q := fmt.Sprintf("%q", item)
	start, end, ok := tableBounds(b, table)
	if !ok {
		return append(ensureNewline(b), []byte(fmt.Sprintf("\n[%s]\n%s = [%s]\n", table, key, q))...)
	}
	body := string(b[start:end])
	re := regexp.MustCompile(`(?m)^(\s*` + regexp.QuoteMeta(key) + `\s*=\s*\[)`)
	if loc := re.FindStringIndex(body); loc != nil {
		at := start + loc[1]
		return []byte(string(b[:at]) + q + ", " + string(b[at:]))
	}
	return []byte(string(b[:start]) + fmt.Sprintf("%s = [%s]\n", key, q) + string(b[start:]))
}

// setTOMLKey sets key = "value" in [table], making the table as needed.
func setTOMLKey(b []byte, table, key, value string) []byte {
	line := fmt.Sprintf("%s = %q\n", key, value)
	start, end, ok := tableBounds(b, table)
	if !ok {
		return append(ensureNewline(b), []byte(fmt.Sprintf("\n[%s]\n%s", table, line))...)
	}
	re := regexp.MustCompile(`(?m)^\s*"?` + regexp.QuoteMeta(key) + `"?\s*=.*\n?`)
	body := string(b[start:end])
	if loc := re.FindStringIndex(body); loc != nil {
		return []byte(string(b[:start+loc[0]]) + line + string(b[start+loc[1]:]))
	}
	return []byte(string(b[:start]) + line + string(b[start:]))
}

// setRequirementLine replaces the requirement line for name, or appends one.
func setRequirementLine(b []byte, name, clause string) []byte {
	lines := strings.SplitAfter(string(b), "\n")
	for i, l := range lines {
		m := reqHeadRe.FindStringSubmatch(l)
		if m != nil && normalize(m[1]) == name {
			nl := ""
			if strings.HasSuffix(l, "\n") {
				nl = "\n"
			}
			lines[i] = clause + nl
			return []byte(strings.Join(lines, ""))
		}
	}
	return append(ensureNewline(b), []byte(clause+"\n")...)
}

var reqHeadRe = lazyre.New(`^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?:[=<>!~;]|$)`)
