package deps

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ci/sluice/internal/testenv"
)

// fixture is a real package index and the lock tools, shared by a test's subtests.
type fixture struct {
	index testenv.Pypiserver
	tools *Tools
	env   []string
	now   time.Time
	py    string
}

var fixtureNow = time.Now().UTC().Truncate(time.Second)

// oldReleases are on the index when the projects are locked; newReleases come after.
var oldReleases = []testenv.WheelSpec{
	{Name: "alpha", Version: "1.0.0", ProjectURLs: map[string]string{"Changelog": "https://example.org/alpha/changes"}},
	{Name: "beta", Version: "1.0.0"},
	{Name: "gamma", Version: "0.1.0"},
	{Name: "delta", Version: "1.0.0", Module: "OK = True\n"},
}

func newReleases(now time.Time) []testenv.WheelSpec {
	day := 24 * time.Hour
	return []testenv.WheelSpec{
		{Name: "alpha", Version: "1.1.0", Uploaded: now.Add(-30 * day), ProjectURLs: map[string]string{"Changelog": "https://example.org/alpha/changes"}},
		{Name: "alpha", Version: "2.0.0", Uploaded: now.Add(-20 * day), ProjectURLs: map[string]string{"Changelog": "https://example.org/alpha/changes"}},
		{Name: "beta", Version: "1.0.1", Uploaded: now.Add(-10 * day)},
		{Name: "gamma", Version: "0.2.0", Uploaded: now.Add(-1 * day)}, // inside a 3-day cooldown
		{Name: "delta", Version: "1.1.0", Uploaded: now.Add(-5 * day), Module: "OK = False  # the breaking release\n"},
	}
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a package index and the lock tools")
	}
	py := testenv.LockTools(t)
	ctx := context.Background()
	idx := testenv.StartLocalIndex(t, ctx, testenv.PypiTools(t))
	day := 24 * time.Hour
	for _, w := range oldReleases {
		w.Uploaded = fixtureNow.Add(-400 * day)
		testenv.WriteWheel(t, idx.Packages, w)
	}
	interp, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	interp, _ = filepath.EvalSymlinks(interp)
	cache := t.TempDir()
	env := append(os.Environ(), "UV_PYTHON="+interp, "UV_PYTHON_DOWNLOADS=never", "UV_CACHE_DIR="+cache,
		"POETRY_CACHE_DIR="+cache, "POETRY_VIRTUALENVS_CREATE=false", "PDM_CACHE_DIR="+cache, "PDM_CHECK_UPDATE=false",
		"PDM_IGNORE_SAVED_PYTHON=1", "PDM_PYTHON="+interp, "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_CACHE_DIR="+cache)
	// The tools venv's bin holds uv (a native binary that runs from anywhere); the Python
	// tools run through that venv's python.
	toolsDir := filepath.Join(filepath.Dir(filepath.Dir(py)), "..", "sluice-deps-tools")
	return &fixture{index: idx, env: env, now: fixtureNow, py: py,
		tools: &Tools{Dir: toolsDir, Env: env, NoPath: true}}
}

func (f *fixture) publishNew(t *testing.T) {
	t.Helper()
	for _, w := range newReleases(f.now) {
		testenv.WriteWheel(t, f.index.Packages, w)
	}
}

func (f *fixture) indexURL() string { return f.index.URL + "/simple" }

func (f *fixture) run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir, cmd.Env = dir, f.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// projectFiles are the four kinds of project, each depending on alpha, beta and delta at
// runtime and gamma for development.
func projectFiles(tool Tool, index string) map[string]string {
	switch tool {
	case UV:
		return map[string]string{"pyproject.toml": `[project]
name = "app"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = ["alpha>=1", "beta", "delta"]

[dependency-groups]
dev = ["gamma"]

[[tool.uv.index]]
url = "` + index + `"
default = true
`}
	case Poetry:
		return map[string]string{"pyproject.toml": `[project]
name = "app"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = ["alpha>=1", "beta", "delta"]

[dependency-groups]
dev = ["gamma"]

[tool.poetry]
package-mode = false

[[tool.poetry.source]]
name = "local"
url = "` + index + `"
priority = "primary"
`}
	case PDM:
		return map[string]string{"pyproject.toml": `[project]
name = "app"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = ["alpha>=1", "beta", "delta"]

[dependency-groups]
dev = ["gamma"]

[tool.pdm]
distribution = false

[[tool.pdm.source]]
name = "pypi"
url = "` + index + `"
`}
	case PipTools:
		return map[string]string{"requirements.in": "--index-url " + index + "\nalpha>=1\nbeta\ndelta\ngamma\n"}
	case Requirements:
		return map[string]string{"requirements.txt": "alpha==1.0.0\nbeta==1.0.0  # keep the comment\ndelta==1.0.0\ngamma==0.1.0\n"}
	}
	return nil
}

// lockCommand makes the project's first lock.
func (f *fixture) lockCommand(tool Tool) []string {
	switch tool {
	case UV:
		return []string{f.py, "-m", "uv", "lock"}
	case Poetry:
		return []string{f.py, "-m", "poetry", "lock"}
	case PDM:
		return []string{f.py, "-m", "pdm", "lock", "-G", ":all"}
	case PipTools:
		return []string{f.py, "-m", "piptools", "compile", "--no-strip-extras", "--output-file=requirements.txt", "requirements.in"}
	}
	return nil
}

func (f *fixture) project(t *testing.T, tool Tool) Project {
	t.Helper()
	dir := t.TempDir()
	testenv.WriteFiles(t, dir, projectFiles(tool, f.indexURL()))
	if cmd := f.lockCommand(tool); cmd != nil {
		f.run(t, dir, cmd...)
	}
	p, err := Detect(dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) index_() *Index { return &Index{URL: f.indexURL()} }
