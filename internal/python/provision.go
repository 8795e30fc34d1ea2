package python

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SourceProvisioned labels an interpreter sluice installed into its tool cache.
const SourceProvisioned = "provisioned"

// ProvisionEnv are the variables that point uv's managed Python somewhere other than its
// default downloads (python-build-standalone on GitHub, PyPy from python.org): mirrors for
// air-gapped machines, and a custom download list.
var ProvisionEnv = []string{"UV_PYTHON_INSTALL_MIRROR", "UV_PYPY_INSTALL_MIRROR", "UV_PYTHON_DOWNLOADS_JSON_URL"}

// Installer runs uv with extra environment variables and returns its exit code; its output
// goes wherever the caller logs (a step's log).
type Installer func(ctx context.Context, argv []string, env map[string]string) (int, error)

// Provision installs an interpreter matching spec with uv's managed Python (`uv python install`)
// into dir, as setup-python downloads one GitHub's runner lacks, and returns it. The uv
// environment variables in ProvisionEnv are honoured. The error says what was asked, what uv
// answered and what to do.
func Provision(ctx context.Context, run Installer, uv, dir string, spec Spec) (Interpreter, error) {
	req, err := UVRequest(spec)
	if err != nil {
		return Interpreter{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Interpreter{}, fmt.Errorf("creating the tool cache %s: %w", dir, err)
	}
	// --no-bin: nothing is linked into the user's ~/.local/bin; sluice finds it in dir.
	code, err := run(ctx, []string{uv, "python", "install", "--no-bin", "--no-registry", req},
		map[string]string{"UV_PYTHON_INSTALL_DIR": dir, "UV_PYTHON_DOWNLOADS": "automatic"})
	if err != nil {
		return Interpreter{}, fmt.Errorf("running uv python install %s: %w", req, err)
	}
	if code != 0 {
		return Interpreter{}, fmt.Errorf("uv could not install Python %q (uv python install %s exited %d, see above): "+
			"check the version exists for this platform, or point uv at a mirror with UV_PYTHON_INSTALL_MIRROR "+
			"(UV_PYPY_INSTALL_MIRROR for PyPy) or install it yourself (pyenv install, apt-get install)", spec.Raw, req, code)
	}
	found := installCandidates(dir, SourceProvisioned, uvKnown)
	var ins []Interpreter
	for _, c := range found {
		in := Interpreter{}
		if c.known != nil {
			in = *c.known
		} else if in, err = queryInterpreter(ctx, c.path); err != nil {
			continue
		}
		in.Source = SourceProvisioned
		ins = append(ins, in)
	}
	in, err := Select(ins, spec)
	if err != nil {
		return Interpreter{}, fmt.Errorf("uv installed Python into %s, but none of it matches %q: %w", dir, spec.Raw, err)
	}
	return in, nil
}

// UVRequest spells a setup-python version as a `uv python install` request: "3.12", "3.12.1",
// "3.13t", ">=3.9,<3.13", "pypy@3.10".
func UVRequest(s Spec) (string, error) {
	var parts []string
	for _, c := range s.Constraints {
		v := strings.TrimSuffix(c.Version, ".*")
		switch {
		case c.Op == "==" && strings.HasSuffix(c.Version, ".*") && len(s.Constraints) == 1:
			parts = append(parts, v) // a prefix: 3, 3.12
		case c.Op == "==" && len(s.Constraints) == 1:
			parts = append(parts, v)
		default:
			parts = append(parts, c.Op+c.Version)
		}
	}
	ver := strings.Join(parts, ",")
	if s.Impl == "pypy" {
		if ver == "" || ver == "3" {
			return "pypy", nil
		}
		return "pypy@" + ver, nil
	}
	if s.FreeThreaded {
		if len(s.Constraints) != 1 || s.Constraints[0].Op != "==" {
			return "", errors.New("a free-threaded Python can be installed for a version (3.13t), not a range")
		}
		return ver + "t", nil
	}
	if ver == "" {
		return "3", nil
	}
	if len(s.Constraints) > 1 || strings.ContainsAny(ver, "<>=!~") {
		return "cpython@" + ver, nil
	}
	return ver, nil
}

// ManagedDir is where provisioned interpreters live inside a tool cache.
func ManagedDir(toolCache string) string { return filepath.Join(toolCache, "python") }
