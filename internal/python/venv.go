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

// CreateVenv makes a virtual environment with pip in it at dir, with `uv venv --seed` when uvPath
// is set (much faster) and `python -m venv` otherwise. An existing virtual environment at dir is
// replaced; any other non-empty directory is refused, so a wrong path never loses data.
func CreateVenv(ctx context.Context, interp Interpreter, dir, uvPath string) (binDir, python string, err error) {
	if err := clearVenvDir(dir); err != nil {
		return "", "", err
	}
	var cmd *exec.Cmd
	if uvPath != "" {
		cmd = exec.CommandContext(ctx, uvPath, "venv", "--quiet", "--seed", "--python", interp.Path, dir)
		// Never let uv fetch an interpreter: the one asked for is the one we use.
		cmd.Env = append(os.Environ(), "UV_PYTHON_DOWNLOADS=never", "UV_NO_CONFIG=1")
	} else {
		cmd = exec.CommandContext(ctx, interp.Path, "-m", "venv", dir)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("creating virtual environment %s with %s: %w: %s", dir, cmd.Args[0], err, strings.TrimSpace(stderr.String()))
	}
	binDir = filepath.Join(dir, "bin")
	python = filepath.Join(binDir, "python")
	if _, err := os.Stat(python); err != nil {
		return "", "", fmt.Errorf("creating virtual environment %s: no python in it: %w", dir, err)
	}
	return binDir, python, nil
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
