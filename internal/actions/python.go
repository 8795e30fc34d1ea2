package actions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/python"
	"github.com/sluice-ci/sluice/internal/venvs"
)

// PythonEnvs are a job's Python environments (a *venvs.Manager): each
// lives at a path that is the same on every run of the job, and making one
// is a step a kept environment can stand in for.
type PythonEnvs interface {
	Dir(name string) string
	Managed(path string) bool
	Apply(ctx context.Context, st venvs.Step) (deferred bool, err error)
}

// SetupPython is actions/setup-python: it finds each requested interpreter
// on this machine (pyenv, uv-managed, system, PATH) and gives the job a
// virtual environment made from it, with a current pip as GitHub's Python
// builds have; every listed version's environment goes on PATH, the last
// one first (the default, whose python-path is the output), so
// `python3.9` reaches 3.9 while `python` is the last version, and
// `pip install` never touches an interpreter itself.
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
	managed := python.ManagedDir(c.ToolCache)
	allowPre := with["allow-prereleases"] == "true"
	parsed := make([]python.Spec, 0, len(specs))
	for _, sp := range specs {
		spec, err := python.ParseSpec(sp, allowPre)
		if err != nil {
			return nil, fmt.Errorf("python-version %q: %w", sp, err)
		}
		parsed = append(parsed, spec)
	}
	found, err := python.DiscoverFor(ctx, extra, parsed, managed)
	if err != nil {
		return nil, fmt.Errorf("looking for Python interpreters: %w", err)
	}
	var interps []python.Interpreter
	for _, spec := range parsed {
		interp, err := python.Select(found, spec)
		if err != nil {
			// Not on this machine: install it, as setup-python downloads what the runner lacks.
			if interp, err = provisionPython(ctx, s, managed, spec, err); err != nil {
				return nil, err
			}
		}
		interps = append(interps, interp)
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
	envs := s.PythonEnvs()
	var dirs, wheels []string
	var last python.Interpreter
	var lastDir, lastPip string
	for _, interp := range interps {
		dir, pip, wheel, err := makeJobEnv(ctx, s, envs, interp, uv)
		if err != nil {
			return nil, err
		}
		dirs, wheels = append(dirs, dir), append(wheels, wheel)
		last, lastDir, lastPip = interp, dir, pip
	}
	// The job's environments are in its own directory (copies of kept
	// ones, never the kept ones themselves): its processes write them there
	// and read the interpreters they were made from (through their links).
	for _, interp := range interps {
		s.AddRoot(filepath.Dir(filepath.Dir(interp.Path)), false)
		if real, err := filepath.EvalSymlinks(interp.Path); err == nil {
			s.AddRoot(filepath.Dir(filepath.Dir(real)), false)
		}
	}
	prefix := filepath.Dir(filepath.Dir(last.Path))
	s.RecordVersion("python", last.Version)
	s.RecordVersion("pip", lastPip)
	if with["update-environment"] != "false" {
		// Each interpreter itself is on PATH too, behind its job environment, as GitHub's
		// setup-python puts it: tools that look for a base interpreter by name (uv venv -p
		// cpython3.12, tox, nox) skip virtual environments and must find it there. It is the
		// job's own copy where one can be made, as the runner's interpreter is the job's:
		// `uv pip install --system` installs into it, not into the machine's.
		for i, d := range dirs {
			bin := filepath.Dir(interps[i].Path)
			if c.JobDir != "" {
				// pip comes with it, as with the runner's: the current pip's wheel, importable
				// as it is, else the interpreter's own.
				var paths []string
				if wheels[i] != "" {
					paths = append(paths, wheels[i])
					s.AddRoot(filepath.Dir(wheels[i]), false)
				}
				sys, err := python.SystemCopy(interps[i], filepath.Join(c.JobDir, "python", filepath.Base(d)), paths...)
				switch {
				case err == nil:
					bin = sys
					if i == len(dirs)-1 {
						prefix = filepath.Dir(sys)
					}
				case errors.Is(err, python.ErrNoSystemCopy):
				default:
					return nil, err
				}
			}
			if bin != "/usr/bin" && bin != "/bin" && bin != "/usr/local/bin" {
				s.AddPath(bin)
			}
			s.AddPath(filepath.Join(d, "bin")) // each goes first: the last listed wins
		}
		s.SetEnv("VIRTUAL_ENV", lastDir)
		s.SetEnv("pythonLocation", prefix)
		s.SetEnv("Python_ROOT_DIR", prefix)
		s.SetEnv("Python3_ROOT_DIR", prefix)
		s.SetEnv("PKG_CONFIG_PATH", filepath.Join(prefix, "lib", "pkgconfig"))
	}
	outs := map[string]string{"python-version": last.Version, "python-path": filepath.Join(lastDir, "bin", "python"), "cache-hit": "false"}
	if mgr := with["cache"]; mgr != "" {
		hit, err := dependencyCacheHit(c, "setup-python-"+mgr+"-"+last.Version, with["cache-dependency-path"], defaultDependencyFiles(mgr))
		if err != nil {
			return nil, err
		}
		outs["cache-hit"] = fmt.Sprint(hit)
	}
	return outs, nil
}

// makeJobEnv makes (or defers to a kept copy of) the job's environment for
// interp: a virtual environment with a current pip from the index, checked
// at most hourly and kept in the state directory (the interpreter's
// bundled pip when the index cannot be reached).
func makeJobEnv(ctx context.Context, s Step, envs PythonEnvs, interp python.Interpreter, uv string) (dir, pipVersion, wheel string, err error) {
	c := s.Context()
	name := "python-" + interp.Version
	if interp.Impl != "" && interp.Impl != "cpython" {
		name = interp.Impl + "-" + interp.Version
	}
	if interp.FreeThreaded {
		name += "t"
	}
	dir = envs.Dir(name)
	index := python.PipIndexURL(c.Env)
	pipDir := filepath.Join(c.StateDir, "tools", "pip")
	wheel, perr := python.CurrentPip(ctx, &http.Client{Timeout: 30 * time.Second}, pipDir, index, interp, time.Now())
	if perr != nil {
		s.Warn(fmt.Sprintf("Using Python %s's bundled pip: %v", interp.Version, perr))
		wheel = ""
	} else {
		python.RememberPip(pipDir, interp, wheel)
	}
	pipVersion = wheelVersion(wheel)
	if wheel == "" {
		pipVersion = "bundled"
	}
	fi, err := os.Stat(interp.Path)
	if err != nil {
		return "", "", "", fmt.Errorf("reading %s: %w", interp.Path, err)
	}
	maker := "venv"
	if uv != "" {
		maker = "uv " + uvVersion(ctx, uv)
	}
	in := python.StepInputs{Values: map[string]string{
		"interpreter": fmt.Sprintf("%s %s %s t=%t %d %d", interp.Path, interp.Version, interp.Impl, interp.FreeThreaded, fi.Size(), fi.ModTime().UnixNano()),
		"pip":         firstNonEmpty(filepath.Base(wheel), "bundled"),
		"dir":         dir,
		"maker":       maker,
	}}
	label := fmt.Sprintf("Python %s environment", interp.Version)
	deferred, err := envs.Apply(ctx, venvs.Step{Name: label, Inputs: in, Targets: []string{dir}, Fixed: true,
		Run: func(ctx context.Context) error {
			_, _, err := python.CreateVenv(ctx, interp, dir, uv, wheel)
			return err
		}})
	if err != nil {
		return "", "", "", err
	}
	state := "new"
	if deferred {
		state = "kept from an earlier run with the same inputs"
	}
	s.Log(fmt.Sprintf("Python %s (%s, %s) at %s", interp.Version, interp.Impl, interp.Source, interp.Path))
	s.Log(fmt.Sprintf("Job environment %s (%s); pip %s", dir, state, pipVersion))
	return dir, pipVersion, wheel, nil
}

// wheelVersion reads the version from a wheel's file name.
func wheelVersion(wheel string) string {
	_, rest, _ := strings.Cut(filepath.Base(wheel), "-")
	v, _, _ := strings.Cut(rest, "-")
	return v
}

// provisionPython installs spec's interpreter with uv's managed Python into the tool cache.
// notFound is why discovery failed: it stays part of the error when nothing can provide one.
func provisionPython(ctx context.Context, s Step, dir string, spec python.Spec, notFound error) (python.Interpreter, error) {
	if s.Context().Env["SLUICE_PYTHON_DOWNLOADS"] == "never" {
		return python.Interpreter{}, fmt.Errorf("%w (downloads are off: SLUICE_PYTHON_DOWNLOADS=never)", notFound)
	}
	uv, err := findUV(ctx, s, "")
	if err != nil {
		return python.Interpreter{}, fmt.Errorf("%w; installing it needs uv, which is missing: %v", notFound, err)
	}
	s.Log(fmt.Sprintf("Python %s is not on this machine: installing it with uv into %s", spec.Raw, dir))
	// The tool cache's interpreters are shared by every job of this machine
	// (read-only in a job's sandbox): sluice installs one itself, outside
	// any sandbox, with the machine's settings (its uv mirrors), so nothing
	// of a job (its environment, its steps) chooses what another job runs.
	c := s.Context()
	run := func(ctx context.Context, argv []string, env map[string]string) (int, error) {
		return runToolEnv(ctx, c, s, env, argv[0], argv[1:]...)
	}
	in, err := python.Provision(ctx, run, uv, dir, spec)
	if err != nil {
		return python.Interpreter{}, fmt.Errorf("%w; and installing it failed: %v", notFound, err)
	}
	return in, nil
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
