package deps

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// toolPackages are what sluice installs from PyPI when a tool is not on PATH: pinned, since a
// lock tool's output is part of a commit (and pdm 2.29 breaks with hishel 2).
var toolPackages = map[Tool][]string{
	UV:       {"uv==0.13.9"},
	UVPip:    {"uv==0.13.9"},
	Poetry:   {"poetry==2.5.1"},
	PDM:      {"pdm==2.29.4", "hishel[httpx2]>=1.4,<2"},
	PipTools: {"pip-tools==7.7.0"},
}

// Tools finds lock tools on PATH or installs them into sluice's tool cache.
type Tools struct {
	// Dir is the tool cache (e.g. $STATE/tools); each tool gets its own environment there.
	Dir string
	// Env is the environment tools run with (nil: this process's).
	Env []string
	// NoPath skips PATH and always uses the cache (reproducible versions).
	NoPath bool
	Log    func(string)
}

func (t *Tools) env() []string {
	if t.Env != nil {
		return t.Env
	}
	return os.Environ()
}

func (t *Tools) lookPath(name string) string {
	if t.NoPath {
		return ""
	}
	for _, kv := range t.env() {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			for _, d := range filepath.SplitList(p) {
				c := filepath.Join(d, name)
				if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
					return c
				}
			}
		}
	}
	return ""
}

// Argv returns the command that runs tool (its arguments follow).
func (t *Tools) Argv(ctx context.Context, tool Tool) ([]string, error) {
	exe := map[Tool]string{UV: "uv", UVPip: "uv", Poetry: "poetry", PDM: "pdm", PipTools: "pip-compile"}[tool]
	if exe == "" {
		return nil, fmt.Errorf("%s needs no tool", tool)
	}
	suffix := func(argv []string) []string {
		if tool == UVPip {
			return append(argv, "pip", "compile")
		}
		return argv
	}
	if p := t.lookPath(exe); p != "" {
		return suffix([]string{p}), nil
	}
	pkgs := toolPackages[tool]
	venv := filepath.Join(t.Dir, strings.NewReplacer("==", "-", "[", "", "]", "", ">", "", "<", "", "=", "", ",", "").Replace(pkgs[0]))
	py := filepath.Join(venv, "bin", "python")
	if _, err := os.Stat(filepath.Join(venv, "sluice-ready")); err != nil {
		if err := t.install(ctx, venv, pkgs); err != nil {
			return nil, err
		}
	}
	// Run through python -m: a moved environment's scripts have stale shebangs.
	switch tool {
	case UV, UVPip:
		return suffix([]string{filepath.Join(venv, "bin", "uv")}), nil
	case Poetry:
		return []string{py, "-m", "poetry"}, nil
	case PDM:
		return []string{py, "-m", "pdm"}, nil
	default:
		return []string{py, "-m", "piptools", "compile"}, nil
	}
}

// install makes the environment beside its place and renames it in, so a half-made one is
// never used and two processes racing both end with a working one.
func (t *Tools) install(ctx context.Context, venv string, pkgs []string) error {
	if t.Dir == "" {
		return fmt.Errorf("%s is not on PATH and no tool cache is set to install it into", pkgs[0])
	}
	if err := os.MkdirAll(t.Dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(t.Dir, ".install-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if t.Log != nil {
		t.Log(fmt.Sprintf("installing %s from PyPI into %s", strings.Join(pkgs, " "), venv))
	}
	py := "python3"
	if p := t.lookPath("python3"); p != "" {
		py = p
	}
	run := func(argv ...string) error {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = append(t.env(), "PIP_DISABLE_PIP_VERSION_CHECK=1")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("installing %s: %s: %v\n%s", strings.Join(pkgs, " "), strings.Join(argv, " "), err, tail(out.String(), 20))
		}
		return nil
	}
	if err := run(py, "-m", "venv", tmp); err != nil {
		return err
	}
	if err := run(append([]string{filepath.Join(tmp, "bin", "python"), "-m", "pip", "install", "--quiet"}, pkgs...)...); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "sluice-ready"), []byte(strings.Join(pkgs, "\n")), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, venv); err != nil {
		if _, serr := os.Stat(filepath.Join(venv, "sluice-ready")); serr == nil {
			return nil
		}
		return fmt.Errorf("installing into %s: %w", venv, err)
	}
	// The venv's python is a link to the interpreter, which does not care where it lives.
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
