package python

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// CreateVenv makes a virtual environment with pip in it at dir. With uv (uvPath set) it takes
// ~0.1 s instead of seconds: `uv venv` makes the environment and pip is installed into it
// offline from a wheel on disk: pipWheel when set (a current pip, see CurrentPip), else the
// interpreter's own bundled one (ensurepip's), with the bundled setuptools on Pythons before
// 3.12 as `python -m venv` gives them. Without uv, or when there is no wheel, it is
// `python -m venv` (and pipWheel installed with that pip). An existing virtual environment at
// dir is replaced; any other non-empty directory is refused, so a wrong path never loses data.
func CreateVenv(ctx context.Context, interp Interpreter, dir, uvPath, pipWheel string) (binDir, python string, err error) {
	if err := clearVenvDir(dir); err != nil {
		return "", "", err
	}
	binDir = filepath.Join(dir, "bin")
	python = filepath.Join(binDir, "python")
	wheels := bundledWheels(interp)
	if pipWheel != "" {
		if len(wheels) > 0 {
			wheels[0] = pipWheel
		} else {
			wheels = []string{pipWheel}
		}
	}
	if uvPath != "" {
		if len(wheels) > 0 {
			// Never let uv fetch an interpreter or a package: the one asked for is
			// the one we use, and the wheels are on disk.
			env := append(os.Environ(), "UV_PYTHON_DOWNLOADS=never", "UV_NO_CONFIG=1", "UV_OFFLINE=1", "UV_NO_CACHE=1")
			err := runQuiet(ctx, env, uvPath, "venv", "--quiet", "--python", interp.Path, dir)
			if err == nil {
				// Resolved through --find-links, not as file paths, so the
				// distributions carry no direct URL and `pip freeze` reads the
				// same as after `python -m venv`.
				args := []string{"pip", "install", "--quiet", "--no-deps", "--python", python, "--no-index"}
				seen := map[string]bool{}
				for _, w := range wheels {
					if d := filepath.Dir(w); !seen[d] {
						seen[d] = true
						args = append(args, "--find-links", d)
					}
				}
				for _, w := range wheels {
					name, rest, _ := strings.Cut(filepath.Base(w), "-")
					version, _, _ := strings.Cut(rest, "-")
					args = append(args, name+"=="+version)
				}
				err = runQuiet(ctx, env, uvPath, args...)
			}
			if err == nil {
				return binDir, python, nil
			}
			if cerr := clearVenvDir(dir); cerr != nil {
				return "", "", cerr
			}
		}
	}
	if err := runQuiet(ctx, nil, interp.Path, "-m", "venv", dir); err != nil {
		return "", "", fmt.Errorf("creating virtual environment %s: %w", dir, err)
	}
	if _, err := os.Stat(python); err != nil {
		return "", "", fmt.Errorf("creating virtual environment %s: no python in it: %w", dir, err)
	}
	if pipWheel != "" {
		if err := runQuiet(ctx, nil, python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--disable-pip-version-check", pipWheel); err != nil {
			return "", "", fmt.Errorf("installing %s into %s: %w", filepath.Base(pipWheel), dir, err)
		}
	}
	return binDir, python, nil
}

// bundledWheels are the pip wheel ensurepip ships with the interpreter (setuptools too on
// Pythons before 3.12, where `python -m venv` installs it).
func bundledWheels(interp Interpreter) []string {
	prefix := filepath.Dir(filepath.Dir(interp.Path))
	pips, _ := filepath.Glob(filepath.Join(prefix, "lib", "*", "ensurepip", "_bundled", "pip-*.whl"))
	if len(pips) == 0 {
		return nil
	}
	out := pips[:1]
	if older(interp.Version, "3.12") {
		st, _ := filepath.Glob(filepath.Join(filepath.Dir(pips[0]), "setuptools-*.whl"))
		out = append(out, st...)
	}
	return out
}

// older reports whether version v is below major.minor m.
func older(v, m string) bool {
	var a, b, c, d int
	fmt.Sscanf(v, "%d.%d", &a, &b)
	fmt.Sscanf(m, "%d.%d", &c, &d)
	return a < c || a == c && b < d
}

func runQuiet(ctx context.Context, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	if env != nil {
		cmd.Env = env
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", filepath.Base(name), args[0], err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

func clearVenvDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(entries) == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pyvenv.cfg")); err != nil {
		return fmt.Errorf("%s exists and is not a virtual environment; refusing to replace it", dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing old virtual environment %s: %w", dir, err)
	}
	return nil
}

// Freeze lists what is installed in an environment, one `name==version` a line, sorted, so
// two environments can be compared for equality.
func Freeze(ctx context.Context, python string) (string, error) {
	cmd := exec.CommandContext(ctx, python, "-m", "pip", "freeze", "--all", "--disable-pip-version-check")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("pip freeze with %s: %w: %s", python, err, strings.TrimSpace(stderr.String()))
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n"), nil
}
