package actions

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sluice-ci/sluice/internal/python"
	"github.com/sluice-ci/sluice/internal/venvs"
)

// SetupUV is astral-sh/setup-uv. uv comes from PATH or from a tools
// environment that sluice fills from PyPI (pip install uv), never from a
// download off GitHub.
func SetupUV(ctx context.Context, s Step, with map[string]string) (map[string]string, error) {
	c := s.Context()
	want := strings.TrimSpace(with["version"])
	if want == "latest" {
		want = ""
	}
	uv, err := findUV(ctx, s, want)
	if err != nil {
		return nil, err
	}
	version := uvVersion(ctx, uv)
	dir, err := uvOnlyDir(uv)
	if err != nil {
		return nil, err
	}
	// The jail mounts the real uv (the links point there) and the directory of links.
	s.AddRoot(filepath.Dir(uv), false)
	s.AddRoot(dir, false)
	s.AddPath(dir)
	s.RecordVersion("uv", version)
	s.Log(fmt.Sprintf("uv %s at %s", version, uv))
	outs := map[string]string{"uv-version": version, "uv-path": uv, "cache-hit": "false"}
	if with["enable-cache"] == "true" || with["enable-cache"] == "auto" {
		patterns := with["cache-dependency-glob"]
		if patterns == "" {
			patterns = "**/uv.lock\n**/requirements*.txt"
		}
		if hit, err := dependencyCacheHit(c, "setup-uv", patterns, nil); err == nil {
			outs["cache-hit"] = fmt.Sprint(hit)
		}
	}
	if v := with["python-version"]; v != "" {
		s.SetEnv("UV_PYTHON", v)
		outs["python-version"] = v
	}
	if with["activate-environment"] == "true" {
		dir := c.Workspace
		if wd := with["working-directory"]; wd != "" {
			dir = filepath.Join(c.Workspace, wd)
		}
		venv := filepath.Join(dir, ".venv")
		argv := []string{uv, "venv", venv}
		if v := with["python-version"]; v != "" {
			argv = append(argv, "--python", v)
		}
		if err := makeUVVenv(ctx, s, argv, dir); err != nil {
			return nil, err
		}
		s.AddPath(filepath.Join(venv, "bin"))
		s.SetEnv("VIRTUAL_ENV", venv)
		outs["venv"] = venv
	}
	if with["prune-cache"] != "false" && (with["enable-cache"] == "true") {
		s.AddPost(Post{Name: "prune uv cache", Run: func(ctx context.Context, s Step) error {
			if code, err := s.Exec(ctx, []string{uv, "cache", "prune", "--ci"}, "", nil); err != nil || code != 0 {
				return fmt.Errorf("uv cache prune failed (exit %d): %v", code, err)
			}
			return nil
		}})
	}
	return outs, nil
}

// findUV returns a uv of the wanted version ("" = any): the machine's PATH
// first, then sluice's tools directory, installing it there from PyPI. It
// is sluice's own tool, run by sluice outside any sandbox, so nothing of the
// job (its PATH, its environment) chooses which program it is.
func findUV(ctx context.Context, s Step, want string) (string, error) {
	c := s.Context()
	machinePath := envValue(c.ToolEnv, "PATH")
	if p, err := lookPath("uv", machinePath); err == nil && (want == "" || uvVersion(ctx, p) == want) {
		return p, nil
	}
	name := "uv"
	if want != "" {
		name = "uv-" + want
	}
	tools := filepath.Join(c.StateDir, "tools", name)
	uv := filepath.Join(tools, "bin", "uv")
	if _, err := os.Stat(uv); err == nil {
		return uv, nil
	}
	py, err := lookPath("python3", machinePath)
	if err != nil {
		return "", fmt.Errorf("setup-uv: no uv on PATH and no python3 to install it with: %w", err)
	}
	// Install beside the final place and rename, so concurrent jobs never
	// see a half-installed uv; the uv binary does not care where its
	// environment lives.
	if err := os.MkdirAll(filepath.Dir(tools), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(tools), ".install-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	s.Log(fmt.Sprintf("Installing uv %s from PyPI into %s", firstNonEmpty(want, "(latest)"), tools))
	if err := runTool(ctx, c, s, py, "-m", "venv", tmp); err != nil {
		return "", fmt.Errorf("setup-uv: creating a tools environment failed: %w", err)
	}
	pkg := "uv"
	if want != "" {
		pkg = "uv==" + want
	}
	if err := runTool(ctx, c, s, filepath.Join(tmp, "bin", "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", pkg); err != nil {
		return "", fmt.Errorf("setup-uv: pip install %s failed: %w", pkg, err)
	}
	if err := os.Rename(tmp, tools); err != nil {
		if _, serr := os.Stat(uv); serr == nil {
			return uv, nil // another job got there first
		}
		return "", fmt.Errorf("setup-uv: installing into %s: %w", tools, err)
	}
	return uv, nil
}

// uvOnlyDir is a directory holding uv and uvx and nothing else, for PATH. sluice's own uv lives
// in a tools environment whose bin/ also holds python, which would otherwise come before the
// job's Python (GitHub's setup-uv adds a directory of uv and uvx only). A uv found on the step's
// PATH is already there: its directory is kept.
func uvOnlyDir(uv string) (string, error) {
	bin := filepath.Dir(uv)
	if _, err := os.Stat(filepath.Join(bin, "python")); err != nil {
		return bin, nil
	}
	dir := filepath.Join(filepath.Dir(bin), "uv-only")
	if _, err := os.Stat(filepath.Join(dir, "uvx")); err == nil {
		return dir, nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(bin), ".uv-only-")
	if err != nil {
		return "", fmt.Errorf("setup-uv: %w", err)
	}
	defer os.RemoveAll(tmp)
	for _, name := range []string{"uv", "uvx"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			continue
		}
		if err := os.Symlink(filepath.Join(bin, name), filepath.Join(tmp, name)); err != nil {
			return "", fmt.Errorf("setup-uv: %w", err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(dir); serr != nil {
			return "", fmt.Errorf("setup-uv: %w", err)
		}
	}
	return dir, nil
}

// runTool runs a program for sluice itself (installing its own uv) with
// the machine's environment, its output in the step's log.
func runTool(ctx context.Context, c StepContext, s Step, name string, args ...string) error {
	code, err := runToolEnv(ctx, c, s, nil, name, args...)
	if err == nil && code != 0 {
		err = fmt.Errorf("%s exited %d", filepath.Base(name), code)
	}
	return err
}

// runToolEnv runs a program for sluice itself with the machine's
// environment plus extra, its output in the step's log, and returns its exit
// code; an error means it could not run.
func runToolEnv(ctx context.Context, c StepContext, s Step, extra map[string]string, name string, args ...string) (int, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append([]string(nil), c.ToolEnv...)
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		cmd.Env = append(cmd.Env, k+"="+extra[k])
	}
	out, err := cmd.CombinedOutput()
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			s.Log(l)
		}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ctx.Err() == nil {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

// envValue is NAME's value in an environment list.
func envValue(env []string, name string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

func uvVersion(ctx context.Context, uv string) string {
	out, err := exec.CommandContext(ctx, uv, "--version").Output()
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(out))
	if len(f) >= 2 {
		return f[1]
	}
	return strings.TrimSpace(string(out))
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// makeUVVenv runs `uv venv` for activate-environment as a step of the
// job's environments: keyed like a `run: uv venv` step, deferred to a kept
// environment when one holds its result.
func makeUVVenv(ctx context.Context, s Step, argv []string, dir string) error {
	c := s.Context()
	envs := s.PythonEnvs()
	env := map[string]string{}
	for k, v := range c.Env {
		env[k] = v
	}
	env["UV_PYTHON_DOWNLOADS"] = "never"
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	script := strings.Join(quoted, " ")
	in, err := python.Recognize(python.Command{Script: script, Dir: dir, Workspace: c.Workspace, Env: env, Managed: envs.Managed})
	if err != nil {
		return fmt.Errorf("activate-environment: %w", err)
	}
	_, err = envs.Apply(ctx, venvs.Step{Name: "uv venv " + filepath.Base(filepath.Dir(argv[2])) + "/.venv", Inputs: in, Targets: in.Targets, Workspace: true,
		Run: func(ctx context.Context) error {
			code, err := s.Exec(ctx, argv, dir, map[string]string{"UV_PYTHON_DOWNLOADS": "never"})
			if err != nil || code != 0 {
				return fmt.Errorf("creating the virtual environment with uv failed (exit %d): %v", code, err)
			}
			return nil
		}})
	return err
}
