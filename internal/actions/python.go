package actions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-ci/sluice/internal/python"
	"github.com/sluice-ci/sluice/internal/venvs"
)

// EnvManager is a Python environment a native action put first on PATH;
// the engine consults it around the job's `run:` steps and releases it
// when the job ends.
type EnvManager interface {
	BeforeRun(ctx context.Context, dir, script string, run venvs.Exec) (skip bool, note string, err error)
	AfterRun(succeeded bool)
	Release(jobSucceeded bool) error
}

// SetupPython is actions/setup-python: it finds the requested interpreter
// on this machine (pyenv, uv-managed, system, PATH) and puts a per-job
// virtual environment made from it first on PATH, so `pip install` in a
// step never touches the interpreter itself.
func SetupPython(ctx context.Context, s Step, with map[string]string) (map[string]string, error) {
	c := s.Context()
	specs := lines(with["python-version"])
	if len(specs) == 0 {
		file := with["python-version-file"]
		if file == "" {
			if _, err := os.Stat(filepath.Join(c.Workspace, ".python-version")); err == nil {
				file = ".python-version"
			}
		}
		if file != "" {
			vs, err := python.VersionFromFile(filepath.Join(c.Workspace, file))
			if err != nil {
				return nil, fmt.Errorf("python-version-file: %w", err)
			}
			specs = vs
		}
	}
	if len(specs) == 0 {
		s.Warn("Neither python-version nor python-version-file was supplied; using the newest python3 found on this machine")
		specs = []string{"3"}
	}
	// Extra interpreter directories are the machine's setting, never the
	// workflow's: an interpreter found is run by sluice itself.
	var extra []string
	if d := os.Getenv("SLUICE_PYTHON_DIRS"); d != "" {
		extra = filepath.SplitList(d)
	}
	found, err := python.Discover(ctx, extra)
	if err != nil {
		return nil, fmt.Errorf("looking for Python interpreters: %w", err)
	}
	allowPre := with["allow-prereleases"] == "true"
	var interp python.Interpreter
	for _, sp := range specs {
		spec, err := python.ParseSpec(sp, allowPre)
		if err != nil {
			return nil, fmt.Errorf("python-version %q: %w", sp, err)
		}
		if interp, err = python.Select(found, spec); err != nil {
			return nil, err
		}
	}
	if with["check-latest"] == "true" {
		s.Log("check-latest: no download source is reachable; using the newest matching interpreter on this machine")
	}
	// uv makes a virtual environment with pip in ~0.1 s where `python -m
	// venv` takes seconds; sluice keeps its own uv from PyPI for this.
	uv, err := findUV(ctx, s, "")
	if err != nil {
		s.Debug(fmt.Sprintf("no uv (%v): creating environments with python -m venv", err))
		uv = ""
	}
	env, err := venvs.Acquire(ctx, interp, venvs.Options{
		StateDir: c.StateDir, JobKey: c.JobKey + "|" + strings.Join(specs, ","), Workspace: c.Workspace,
		UVPath: uv, Reuse: c.EnvReuse,
	})
	if err != nil {
		return nil, err
	}
	s.ManageEnv(env)
	prefix := filepath.Dir(filepath.Dir(interp.Path))
	// The job's processes write its environment and read the interpreter
	// it was made from (through the environment's links).
	s.AddRoot(env.Dir, true)
	s.AddRoot(prefix, false)
	if real, err := filepath.EvalSymlinks(interp.Path); err == nil {
		s.AddRoot(filepath.Dir(filepath.Dir(real)), false)
	}
	state := "new"
	if env.Reused {
		state = "kept from the last run, checked intact"
	}
	s.Log(fmt.Sprintf("Python %s (%s, %s) at %s", interp.Version, interp.Impl, interp.Source, interp.Path))
	s.Log(fmt.Sprintf("Job environment %s (%s); pip %s", env.Dir, state, pipVersion(env.Dir)))
	s.RecordVersion("python", interp.Version)
	s.RecordVersion("pip", pipVersion(env.Dir))
	if with["update-environment"] != "false" {
		s.AddPath(env.Bin)
		s.SetEnv("VIRTUAL_ENV", env.Dir)
		s.SetEnv("pythonLocation", prefix)
		s.SetEnv("Python_ROOT_DIR", prefix)
		s.SetEnv("Python3_ROOT_DIR", prefix)
		s.SetEnv("PKG_CONFIG_PATH", filepath.Join(prefix, "lib", "pkgconfig"))
	}
	outs := map[string]string{"python-version": interp.Version, "python-path": env.Python, "cache-hit": "false"}
	if mgr := with["cache"]; mgr != "" {
		hit, err := dependencyCacheHit(c, "setup-python-"+mgr+"-"+interp.Version, with["cache-dependency-path"], defaultDependencyFiles(mgr))
		if err != nil {
			return nil, err
		}
		outs["cache-hit"] = fmt.Sprint(hit)
	}
	return outs, nil
}

func defaultDependencyFiles(manager string) []string {
	switch manager {
	case "pipenv":
		return []string{"**/Pipfile.lock"}
	case "poetry":
		return []string{"**/poetry.lock"}
	}
	return []string{"**/requirements*.txt", "**/pyproject.toml"}
}

// dependencyCacheHit answers setup-python's cache-hit. pip's and uv's caches
// live in sluice's state directory and are shared by every run, so nothing
// is copied; what is recorded is whether these dependency files were seen
// before, which is when the shared cache already holds their downloads.
func dependencyCacheHit(c StepContext, prefix, depPaths string, defaults []string) (bool, error) {
	patterns := lines(depPaths)
	if len(patterns) == 0 {
		patterns = defaults
	}
	h := sha256.New()
	n := 0
	for _, p := range patterns {
		matches, err := globWorkspace(c.Workspace, p)
		if err != nil {
			return false, err
		}
		for _, m := range matches {
			b, err := os.ReadFile(m)
			if err != nil {
				return false, fmt.Errorf("reading %s: %w", m, err)
			}
			fmt.Fprintf(h, "%s\x00%d\x00", m[len(c.Workspace):], len(b))
			h.Write(b)
			n++
		}
	}
	if n == 0 {
		return false, fmt.Errorf("no dependency file matches %s (set cache-dependency-path)", strings.Join(patterns, ", "))
	}
	marker := filepath.Join(c.StateDir, "cache", "seen", prefix+"-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(marker); err == nil {
		return true, nil
	}
	if err := os.MkdirAll(filepath.Dir(marker), 0o755); err != nil {
		return false, err
	}
	return false, os.WriteFile(marker, nil, 0o644)
}

func pipVersion(envDir string) string {
	m, _ := filepath.Glob(filepath.Join(envDir, "lib", "*", "site-packages", "pip-*.dist-info"))
	if len(m) == 0 {
		return "not installed"
	}
	name := strings.TrimSuffix(filepath.Base(m[0]), ".dist-info")
	return strings.TrimPrefix(name, "pip-")
}

// lookPath finds name on the given PATH (a step's, not sluice's own).
func lookPath(name, path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New(name + " is not on PATH")
}
