// Package deps keeps a Python project's dependencies fresh: it re-resolves the project's lock
// with the project's own tool (uv, poetry, pdm, pip-tools, or plain pinned requirements),
// grouped and held back as .sluice/deps.yml says, and reports what moved; it writes emergency
// pins and finds them again in the history (the one place that decides what a pin is).
package deps

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/sluice-ci/sluice/internal/lazyre"
	"github.com/sluice-ci/sluice/internal/python"
)

// Tool names the lock tool a project uses.
type Tool string

// The tools sluice drives.
const (
	UV           Tool = "uv"
	Poetry       Tool = "poetry"
	PDM          Tool = "pdm"
	PipTools     Tool = "pip-tools"
	UVPip        Tool = "uv-pip-compile"
	Requirements Tool = "requirements" // pinned requirements files no tool wrote
)

// Limits on what is read from a repository: a lock file past them is refused, not parsed.
const (
	maxLockBytes    = 64 << 20
	maxLockPackages = 50_000
)

// Project is a directory with one lock.
type Project struct {
	Dir  string
	Tool Tool
	// Lock is the lock file relative to Dir (uv.lock, poetry.lock, pdm.lock, or the
	// requirements file).
	Lock string
	// Command is the recorded compile command of a pip-tools/uv output file.
	Command []string
}

// Locked is one package as a lock pins it.
type Locked struct {
	Name    string `json:"name"` // PEP 503 normal form
	Version string `json:"version"`
	Dev     bool   `json:"dev,omitempty"` // only development groups need it
}

// Detect finds the project's lock: uv.lock, poetry.lock, pdm.lock, a pip-compile or
// `uv pip compile` output, or pinned requirements files, in that order.
func Detect(dir string) (Project, error) {
	for _, c := range []struct {
		file string
		tool Tool
	}{{"uv.lock", UV}, {"poetry.lock", Poetry}, {"pdm.lock", PDM}} {
		if fi, err := os.Stat(filepath.Join(dir, c.file)); err == nil && fi.Mode().IsRegular() {
			return Project{Dir: dir, Tool: c.tool, Lock: c.file}, nil
		}
	}
	reqs := requirementFiles(dir)
	for _, f := range reqs {
		data, err := readLimited(filepath.Join(dir, f))
		if err != nil {
			return Project{}, err
		}
		cmd := python.CompileCommand(data)
		if cmd == "" {
			continue
		}
		words, err := python.SplitCommand(cmd)
		if err != nil || len(words) == 0 {
			return Project{}, fmt.Errorf("%s: the recorded compile command %q cannot be re-run: %v", f, cmd, err)
		}
		tool := PipTools
		if len(words) >= 3 && words[0] == "uv" && words[1] == "pip" && words[2] == "compile" {
			tool = UVPip
		} else if words[0] != "pip-compile" {
			return Project{}, fmt.Errorf("%s: recorded compile command %q is neither pip-compile nor uv pip compile", f, cmd)
		}
		return Project{Dir: dir, Tool: tool, Lock: f, Command: words}, nil
	}
	for _, f := range reqs {
		data, _ := readLimited(filepath.Join(dir, f))
		if pinnedLineRe.Match(data) {
			return Project{Dir: dir, Tool: Requirements, Lock: f}, nil
		}
	}
	return Project{}, fmt.Errorf("no lock found in %s: sluice deps updates uv.lock, poetry.lock, pdm.lock, pip-compile output or pinned requirements*.txt", dir)
}

func requirementFiles(dir string) []string {
	var out []string
	for _, pat := range []string{"requirements*.txt", "*requirements.txt", "requirements/*.txt"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, f := range m {
			rel, _ := filepath.Rel(dir, f)
			out = append(out, filepath.ToSlash(rel))
		}
	}
	sort.Strings(out)
	uniq := out[:0]
	for i, f := range out {
		if i == 0 || f != out[i-1] {
			uniq = append(uniq, f)
		}
	}
	return uniq
}

func readLimited(path string) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (a symlink or device is not read)", path)
	}
	if fi.Size() > maxLockBytes {
		return nil, fmt.Errorf("%s is %d MiB, over the %d MiB a lock may have", path, fi.Size()>>20, maxLockBytes>>20)
	}
	return os.ReadFile(path)
}

var (
	pinnedLineRe = lazyre.New(`(?m)^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([A-Za-z0-9.!+_-]+)`)
	nameRe       = lazyre.New(`^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,200}[A-Za-z0-9])?$`)
	versionRe    = lazyre.New(`^[A-Za-z0-9.!+_-]{1,100}$`)
)

// ValidName reports whether s is a valid distribution name: anything that reaches a lock
// tool's argv passes through it, so a name can never be read as an option.
func ValidName(s string) bool { return nameRe.MatchString(s) }

// ValidVersion reports whether s is a PEP 440 version.
func ValidVersion(s string) bool {
	if !versionRe.MatchString(s) || strings.HasPrefix(s, "-") {
		return false
	}
	_, err := python.ParseVersion(s)
	return err == nil
}

// ReadLock reads what a project's lock pins.
func ReadLock(p Project) (map[string]Locked, error) {
	data, err := readLimited(filepath.Join(p.Dir, p.Lock))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p.Lock, err)
	}
	var out map[string]Locked
	switch p.Tool {
	case UV:
		out, err = readUVLock(data)
	case Poetry, PDM:
		out, err = readGroupLock(data, p.Tool)
	default:
		out, err = readRequirements(data, isDevFile(p.Lock))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Lock, err)
	}
	if len(out) > maxLockPackages {
		return nil, fmt.Errorf("%s: %d packages, over the %d sluice reads", p.Lock, len(out), maxLockPackages)
	}
	return out, nil
}

func isDevFile(name string) bool {
	b := strings.ToLower(filepath.Base(name))
	for _, w := range []string{"dev", "test", "lint", "doc", "ci"} {
		if strings.Contains(b, w) {
			return true
		}
	}
	return false
}

type tomlDep struct {
	Name string `toml:"name"`
}

func readUVLock(data []byte) (map[string]Locked, error) {
	var doc struct {
		Package []struct {
			Name         string               `toml:"name"`
			Version      string               `toml:"version"`
			Source       map[string]any       `toml:"source"`
			Dependencies []tomlDep            `toml:"dependencies"`
			Optional     map[string][]tomlDep `toml:"optional-dependencies"`
			Dev          map[string][]tomlDep `toml:"dev-dependencies"`
		} `toml:"package"`
	}
	if err := decodeTOML(data, &doc); err != nil {
		return nil, err
	}
	deps := map[string][]string{}
	var runtimeRoots, devRoots []string
	members := map[string]bool{}
	for _, p := range doc.Package {
		n := python.NormalizeName(p.Name)
		for _, d := range p.Dependencies {
			deps[n] = append(deps[n], python.NormalizeName(d.Name))
		}
		for _, l := range p.Optional {
			for _, d := range l {
				deps[n] = append(deps[n], python.NormalizeName(d.Name))
			}
		}
		_, editable := p.Source["editable"]
		_, virtual := p.Source["virtual"]
		if editable || virtual {
			members[n] = true
			runtimeRoots = append(runtimeRoots, deps[n]...)
			for _, l := range p.Dev {
				for _, d := range l {
					devRoots = append(devRoots, python.NormalizeName(d.Name))
				}
			}
		}
	}
	runtime := reach(runtimeRoots, deps)
	out := map[string]Locked{}
	for _, p := range doc.Package {
		n := python.NormalizeName(p.Name)
		if members[n] || p.Version == "" {
			continue // the project itself and its workspace members are not dependencies
		}
		l := Locked{Name: n, Version: p.Version, Dev: !runtime[n]}
		if prev, ok := out[n]; ok && newer(prev.Version, l.Version) {
			l.Version = prev.Version
		}
		out[n] = l
	}
	_ = devRoots // what is not reached from the runtime roots is development-only
	return out, nil
}

func reach(roots []string, deps map[string][]string) map[string]bool {
	seen := map[string]bool{}
	stack := append([]string(nil), roots...)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[n] {
			continue
		}
		seen[n] = true
		stack = append(stack, deps[n]...)
	}
	return seen
}

// readGroupLock reads poetry.lock and pdm.lock, which mark each package with its groups
// (poetry ≥ 2: groups ["main", ...]; older poetry: category "main"/"dev"; pdm: groups
// ["default", ...]).
func readGroupLock(data []byte, tool Tool) (map[string]Locked, error) {
	var doc struct {
		Package []struct {
			Name     string   `toml:"name"`
			Version  string   `toml:"version"`
			Groups   []string `toml:"groups"`
			Category string   `toml:"category"`
		} `toml:"package"`
	}
	if err := decodeTOML(data, &doc); err != nil {
		return nil, err
	}
	main := "main"
	if tool == PDM {
		main = "default"
	}
	out := map[string]Locked{}
	for _, p := range doc.Package {
		n := python.NormalizeName(p.Name)
		dev := p.Category == "dev"
		if len(p.Groups) > 0 {
			dev = true
			for _, g := range p.Groups {
				if g == main {
					dev = false
				}
			}
		}
		out[n] = Locked{Name: n, Version: p.Version, Dev: dev}
	}
	return out, nil
}

func decodeTOML(data []byte, v any) error {
	if _, err := toml.NewDecoder(bytes.NewReader(data)).Decode(v); err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return fmt.Errorf("line %d: %s", perr.Position.Line, perr.Message)
		}
		return err
	}
	return nil
}

func readRequirements(data []byte, dev bool) (map[string]Locked, error) {
	out := map[string]Locked{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := pinnedLineRe.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n := python.NormalizeName(m[1])
		out[n] = Locked{Name: n, Version: m[3], Dev: dev}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func newer(a, b string) bool {
	va, err1 := python.ParseVersion(a)
	vb, err2 := python.ParseVersion(b)
	return err1 == nil && err2 == nil && va.Compare(vb) > 0
}
