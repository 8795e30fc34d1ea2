package python

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

// Interpreter is one Python found on the machine. It is plain data so callers can cache
// Discover's answer as JSON.
type Interpreter struct {
	Path         string `json:"path"`
	Version      string `json:"version"` // language version, PEP 440 form: "3.11.7", "3.14.0a1"
	Impl         string `json:"impl"`    // "cpython" or "pypy"
	FreeThreaded bool   `json:"free_threaded,omitempty"`
	Source       string `json:"source"`                 // pyenv, uv, system, path, configured
	ImplVersion  string `json:"impl_version,omitempty"` // PyPy's own version, e.g. "7.3.11"
}

// Source labels, in the order Discover prefers them when one binary is found twice.
const (
	SourceConfigured = "configured"
	SourcePyenv      = "pyenv"
	SourceUV         = "uv"
	SourceSystem     = "system"
	SourcePath       = "path"
)

type candidate struct {
	path, source string
	known        *Interpreter // set when the directory name tells the version reliably
}

var (
	binNameRe   = lazyre.New(`^(python3(\.\d+t?)?|pypy3(\.\d+)?)$`)
	pyenvNameRe = lazyre.New(`^(\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?)(t?)$`)
	uvNameRe    = lazyre.New(`^(cpython|pypy)-(\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?)(\+freethreaded)?-`)
)

// Discover finds the interpreters on this machine: pyenv versions, uv-managed Pythons, python3.X,
// python3 and pypy3 in PATH, /usr/bin, /usr/local/bin, extraDirs, and those provisioned before
// into the managed directories (see Provision). Each real binary appears once. A version is read
// from the install directory's name where that name is authoritative (pyenv, uv); every other
// binary is asked once, concurrently.
func Discover(ctx context.Context, extraDirs []string, managed ...string) ([]Interpreter, error) {
	return DiscoverFor(ctx, extraDirs, nil, managed...)
}

// DiscoverFor is Discover for a job that asks for specs: a binary named pypy* is asked its
// version only when a spec wants PyPy. PyPy starts in ~0.3 s (seconds on a loaded machine)
// against CPython's ~0.02 s, and a CPython spec never matches it, so Select's answer for specs
// is the same as over Discover's full list. No specs means every binary is asked.
func DiscoverFor(ctx context.Context, extraDirs []string, specs []Spec, managed ...string) ([]Interpreter, error) {
	wantPyPy := len(specs) == 0
	for _, sp := range specs {
		if sp.Impl == "pypy" {
			wantPyPy = true
		}
	}
	home, _ := os.UserHomeDir()
	var cands []candidate
	for _, d := range extraDirs {
		cands = append(cands, binCandidates(d, SourceConfigured)...)
	}
	for _, d := range managed {
		cands = append(cands, installCandidates(d, SourceProvisioned, uvKnown)...)
	}
	pyenvRoot, uvDir := ManagedDirs(home, os.Getenv)
	if pyenvRoot != "" {
		cands = append(cands, installCandidates(filepath.Join(pyenvRoot, "versions"), SourcePyenv, pyenvKnown)...)
	}
	if uvDir != "" {
		cands = append(cands, installCandidates(uvDir, SourceUV, uvKnown)...)
	}
	for _, d := range []string{"/usr/local/bin", "/usr/bin"} {
		cands = append(cands, binCandidates(d, SourceSystem)...)
	}
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		cands = append(cands, binCandidates(d, SourcePath)...)
	}

	seen := map[string]bool{}
	var unique []candidate
	for _, c := range cands {
		real, err := filepath.EvalSymlinks(c.path)
		if err != nil || seen[real] || !isBinary(real) {
			continue
		}
		if !wantPyPy && c.known == nil && (isPyPyName(c.path) || isPyPyName(real)) {
			continue
		}
		seen[real] = true
		unique = append(unique, c)
	}

	out := make([]Interpreter, len(unique))
	errs := make([]error, len(unique))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, c := range unique {
		if c.known != nil {
			out[i] = *c.known
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			in, err := queryInterpreter(ctx, c.path)
			in.Source = c.source
			out[i], errs[i] = in, err
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var found []Interpreter
	for i := range out {
		// A binary that will not run (broken install, wrong arch) is not an interpreter.
		if errs[i] == nil {
			found = append(found, out[i])
		}
	}
	return found, nil
}

// isPyPyName says whether a binary's name says PyPy (pypy3, pypy3.10).
func isPyPyName(path string) bool { return strings.HasPrefix(filepath.Base(path), "pypy") }

// binCandidates lists the interpreter-named files directly in dir.
func binCandidates(dir, source string) []candidate {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []candidate
	for _, e := range entries {
		if binNameRe.MatchString(e.Name()) {
			out = append(out, candidate{path: filepath.Join(dir, e.Name()), source: source})
		}
	}
	return out
}

// installCandidates lists root/*/bin/python{3,} for tool-managed installs.
func installCandidates(root, source string, known func(dir, path string) *Interpreter) []candidate {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	var out []candidate
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		for _, name := range []string{"python3", "python", "pypy3", "pypy"} {
			p := filepath.Join(root, e.Name(), "bin", name)
			if _, err := os.Stat(p); err == nil {
				c := candidate{path: p, source: source, known: known(e.Name(), p)}
				if c.known != nil {
					c.known.Source = source
				}
				out = append(out, c)
				break
			}
		}
	}
	return out
}

func pyenvKnown(dir, path string) *Interpreter {
	m := pyenvNameRe.FindStringSubmatch(dir)
	if m == nil {
		return nil // pypy, -dev builds and virtualenvs: ask the binary
	}
	return &Interpreter{Path: path, Version: m[1], Impl: "cpython", FreeThreaded: m[2] == "t"}
}

func uvKnown(dir, path string) *Interpreter {
	m := uvNameRe.FindStringSubmatch(dir)
	if m == nil || m[1] != "cpython" {
		return nil
	}
	return &Interpreter{Path: path, Version: m[2], Impl: "cpython", FreeThreaded: m[3] != ""}
}

// isBinary rejects scripts such as pyenv shims, which would re-dispatch to another interpreter.
func isBinary(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 2)
	if _, err := io.ReadFull(f, head); err != nil {
		return false
	}
	return !bytes.Equal(head, []byte("#!"))
}

const queryScript = `import sys, json, sysconfig
v = sys.version_info
p = getattr(sys, "pypy_version_info", None)
print(json.dumps([sys.implementation.name, list(v[:3]), v.releaselevel, v.serial,
    bool(sysconfig.get_config_var("Py_GIL_DISABLED")), list(p[:3]) if p else []]))`

func queryInterpreter(ctx context.Context, path string) (Interpreter, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-I", "-c", queryScript)
	out, err := cmd.Output()
	if err != nil {
		return Interpreter{}, fmt.Errorf("asking %s its version: %w", path, err)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(out, &raw); err != nil || len(raw) != 6 {
		return Interpreter{}, fmt.Errorf("asking %s its version: unexpected answer %q", path, out)
	}
	var (
		impl, level string
		ver, pypy   []int
		serial      int
		ft          bool
	)
	for i, dst := range []any{&impl, &ver, &level, &serial, &ft, &pypy} {
		if err := json.Unmarshal(raw[i], dst); err != nil {
			return Interpreter{}, fmt.Errorf("asking %s its version: %w", path, err)
		}
	}
	if len(ver) != 3 {
		return Interpreter{}, fmt.Errorf("asking %s its version: unexpected answer %q", path, out)
	}
	version := fmt.Sprintf("%d.%d.%d", ver[0], ver[1], ver[2])
	switch level {
	case "alpha":
		version += fmt.Sprintf("a%d", serial)
	case "beta":
		version += fmt.Sprintf("b%d", serial)
	case "candidate":
		version += fmt.Sprintf("rc%d", serial)
	}
	in := Interpreter{Path: path, Version: version, Impl: impl, FreeThreaded: ft}
	if len(pypy) == 3 {
		in.ImplVersion = fmt.Sprintf("%d.%d.%d", pypy[0], pypy[1], pypy[2])
	}
	return in, nil
}

// sourceRank orders sources for tie-breaking between equal versions.
func sourceRank(s string) int {
	for i, x := range []string{SourceConfigured, SourcePyenv, SourceUV, SourceProvisioned, SourceSystem, SourcePath} {
		if s == x {
			return i
		}
	}
	return 99
}

func sortInterpreters(in []Interpreter) {
	sort.SliceStable(in, func(i, j int) bool {
		vi, _ := parseVersion(in[i].Version)
		vj, _ := parseVersion(in[j].Version)
		if c := compareVersions(vi, vj); c != 0 {
			return c > 0
		}
		if r := sourceRank(in[i].Source) - sourceRank(in[j].Source); r != 0 {
			return r < 0
		}
		return strings.Compare(in[i].Path, in[j].Path) < 0
	})
}
