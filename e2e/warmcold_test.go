package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/testenv"
)

// The differential harness: a warm run (kept environments, a new
// workspace) must be indistinguishable from a cold run (a fresh state
// directory, as on a fresh machine). Every scenario runs each commit cold
// with `sluice run`, warm with `sluice run`, and warm through a server's
// embedded agent, and compares the job's result, `pip freeze --all` and
// where the project's modules are imported from. Packages come from a real
// pypiserver on loopback that the scenarios publish new releases to.

// warmcold is one test's world: a package index, tools on PATH, and the
// wheels scenarios publish.
type warmcold struct {
	t       *testing.T
	index   testenv.Pypiserver
	index2  testenv.Pypiserver
	path    string // PATH with uv first, then poetry and pdm
	toolbin string // the poetry and pdm wrappers
	tmp     string
	srv     *srv // the server whose agent runs the third variant
	hookSeq atomic.Int64
}

func newWarmCold(t *testing.T, server bool) *warmcold {
	t.Helper()
	if testing.Short() {
		t.Skip("runs Python installs cold and warm; skipped with -short")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3")
	}
	ctx := context.Background()
	tools := testenv.PypiTools(t)
	uvPy := testenv.ToolsPython(t, "warmcold-uv", "uv==0.13.9")
	dl := testenv.Download(t, "warmcold", "flit_core==3.9.0")
	w := &warmcold{t: t, tmp: t.TempDir()}
	w.index = testenv.StartPypiserver(t, ctx, tools, "u", "p")
	w.index2 = testenv.StartPypiserver(t, ctx, tools, "u", "p")
	// poetry and pdm run from the shared lock-tools environment through
	// wrappers (its scripts' shebangs point where it was built).
	lockPy := testenv.LockTools(t)
	w.toolbin = filepath.Join(w.tmp, "toolbin")
	for _, tool := range []string{"poetry", "pdm"} {
		testenv.WriteFiles(t, w.toolbin, map[string]string{tool: "#!/bin/sh\nexec " + lockPy + " -m " + tool + " \"$@\"\n"})
		if err := os.Chmod(filepath.Join(w.toolbin, tool), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w.path = filepath.Dir(uvPy) + string(os.PathListSeparator) + w.toolbin + string(os.PathListSeparator) + os.Getenv("PATH")
	backends := testenv.Download(t, "warmcold-backends", "pdm-backend==2.4.3", "poetry-core==2.1.3")
	for _, ix := range []testenv.Pypiserver{w.index, w.index2} {
		copyGlob(t, filepath.Join(dl, "*.whl"), ix.Packages)
		copyGlob(t, filepath.Join(backends, "*.whl"), ix.Packages)
		// The interpreter's bundled pip is the "current" pip this index offers.
		copyGlob(t, filepath.Join(pyenvPrefix(t, "3.11"), "lib", "python3.11", "ensurepip", "_bundled", "pip-*.whl"), ix.Packages)
	}
	for _, p := range []struct{ name, version string }{{"beta", "1.0"}, {"gamma", "1.0"}, {"tomlish", "1.0"}} {
		testenv.WriteWheel(t, w.index.Packages, testenv.WheelSpec{Name: p.name, Version: p.version})
	}
	testenv.WriteWheel(t, w.index.Packages, testenv.WheelSpec{Name: "alpha", Version: "1.0", Requires: []string{"beta"}})
	// The second index offers other versions of the same names.
	testenv.WriteWheel(t, w.index2.Packages, testenv.WheelSpec{Name: "alpha", Version: "2.0", Requires: []string{"beta"}})
	testenv.WriteWheel(t, w.index2.Packages, testenv.WheelSpec{Name: "beta", Version: "2.0"})
	testenv.WriteWheel(t, w.index2.Packages, testenv.WheelSpec{Name: "gamma", Version: "2.0"})
	if server {
		// The jobs run the test's tool environments by path: the sandbox may read them.
		w.srv = startServerEnv(t, 1, []string{"PATH=" + w.path}, "--sandbox-readonly", toolsRoot(uvPy)+string(os.PathListSeparator)+w.toolbin)
	}
	return w
}

func pyenvPrefix(t *testing.T, minor string) string {
	t.Helper()
	root := os.Getenv("PYENV_ROOT")
	if root == "" {
		home, _ := os.UserHomeDir()
		root = filepath.Join(home, ".pyenv")
	}
	ms, _ := filepath.Glob(filepath.Join(root, "versions", minor+".*"))
	if len(ms) == 0 {
		t.Skipf("no pyenv Python %s", minor)
	}
	sort.Strings(ms)
	return ms[len(ms)-1]
}

func copyGlob(t *testing.T, pattern, dir string) {
	t.Helper()
	ms, _ := filepath.Glob(pattern)
	if len(ms) == 0 {
		t.Fatalf("nothing matches %s", pattern)
	}
	for _, m := range ms {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(m)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// outcome is what a run of the scenario's job showed.
type outcome struct {
	Result  string
	Freeze  []string
	Imports []string
}

var (
	freezeLine = regexp.MustCompile(`FREEZE (.*)$`)
	importLine = regexp.MustCompile(`IMPORT (.*)$`)
)

func parseOutcome(result, log string) outcome {
	o := outcome{Result: result}
	for _, l := range strings.Split(log, "\n") {
		l = strings.TrimRight(l, "\r")
		if m := freezeLine.FindStringSubmatch(l); m != nil {
			line := strings.TrimSpace(m[1])
			switch {
			case strings.HasPrefix(line, "#"):
				continue // pip's comments on editable installs
			case strings.HasPrefix(line, "-e "):
				// Where the checkout's origin is (the user's repository, an
				// agent's mirror) differs by design; where the project is
				// imported from is compared below.
				line = "-e (editable)"
			}
			o.Freeze = append(o.Freeze, line)
		}
		if m := importLine.FindStringSubmatch(l); m != nil {
			o.Imports = append(o.Imports, strings.TrimSpace(m[1]))
		}
	}
	sort.Strings(o.Freeze)
	sort.Strings(o.Imports)
	return o
}

// wcRepo is one scenario's repository and the states it runs in.
type wcRepo struct {
	w      *warmcold
	name   string
	g      *gitRepo
	head   string
	warm   string // the state directory kept between warm runs
	tmp    string
	colds  int
	secret string
	// mayFail lets a cold run fail: the warm and server runs must then fail the same way.
	// The random edits reach states no index can satisfy; a warm run that passes there is
	// the fast wrong answer this test is for.
	mayFail bool
}

func (w *warmcold) repo(name string, files map[string]string) *wcRepo {
	r := &wcRepo{w: w, name: name, warm: filepath.Join(w.tmp, name, "state-warm"), tmp: filepath.Join(w.tmp, name, "tmp")}
	mkdirAll(r.tmp)
	r.g, r.head = newGitRepo(w.t, w.expand(files))
	if w.srv != nil {
		r.secret = "hook-" + randomHex(w.t, 6)
		w.srv.addRepo(w.t, name, r.g, r.secret)
	}
	return r
}

// expand fills the index URLs into files.
func (w *warmcold) expand(files map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range files {
		v = strings.ReplaceAll(v, "{INDEX}", w.index.URL+"/simple/")
		v = strings.ReplaceAll(v, "{INDEX2}", w.index2.URL+"/simple/")
		out[k] = v
	}
	return out
}

// commit writes files (an empty content removes the file) and pushes.
func (r *wcRepo) commit(files map[string]string, msg string) {
	r.w.t.Helper()
	keep := map[string]string{}
	for k, v := range r.w.expand(files) {
		if v == "" {
			if err := os.Remove(filepath.Join(r.g.work, k)); err != nil && !os.IsNotExist(err) {
				r.w.t.Fatal(err)
			}
			continue
		}
		keep[k] = v
	}
	r.head = r.g.commit(r.w.t, keep, msg)
}

// local runs the job with `sluice run` on a state directory.
func (r *wcRepo) local(state string) (outcome, string) {
	t := r.w.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sluiceBin(t), "run")
	cmd.Dir = r.g.work
	cmd.Env = append(os.Environ(), "SLUICE_STATE_DIR="+state, "TMPDIR="+r.tmp, "PATH="+r.w.path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	result := "success"
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("sluice run: %v\n%s", err, out.String())
		}
		result = "failure"
	}
	return parseOutcome(result, out.String()), out.String()
}

func (r *wcRepo) cold() (outcome, string) {
	r.colds++
	return r.local(filepath.Join(r.w.tmp, r.name, fmt.Sprintf("state-cold-%d", r.colds)))
}

// server pushes the head and runs the job on the server's agent.
func (r *wcRepo) server(before string) (outcome, string) {
	t := r.w.t
	t.Helper()
	s := r.w.srv
	id := fmt.Sprintf("wc-%s-%d", r.name, r.w.hookSeq.Add(1))
	runs := s.pushHook(t, forge.GitHub, r.name, r.g, before, r.head, r.secret, id)
	d := s.waitRunDone(t, runs[0], 5*time.Minute)
	var log strings.Builder
	for _, j := range d.Jobs {
		log.WriteString(s.jobLog(t, j.ID))
	}
	result := "failure"
	if d.Run.Conclusion == store.ConclusionSuccess {
		result = "success"
	}
	return parseOutcome(result, log.String()), log.String()
}

// check runs the head cold, warm (twice when twice) and on the server,
// and fails when any differs from cold. It returns the warm log.
func (r *wcRepo) check(step string, before string, twice, wantReuse bool) string {
	t := r.w.t
	t.Helper()
	t0 := time.Now()
	cold, coldLog := r.cold()
	t.Logf("%s %s: cold run %s", r.name, step, time.Since(t0).Round(time.Millisecond))
	if len(cold.Freeze) == 0 && !(r.mayFail && cold.Result == "failure") {
		t.Fatalf("%s %s: the cold run printed no pip freeze:\n%s", r.name, step, coldLog)
	}
	n := 1
	if twice {
		n = 2
	}
	var warmLog string
	for i := 0; i < n; i++ {
		t0 := time.Now()
		warm, log := r.local(r.warm)
		t.Logf("%s %s: warm run %d %s", r.name, step, i+1, time.Since(t0).Round(time.Millisecond))
		warmLog = log
		if d := cmp.Diff(cold, warm); d != "" {
			t.Errorf("%s %s: warm run %d differs from a cold run (-cold +warm):\n%s\nwarm log:\n%s", r.name, step, i+1, d, log)
		}
		if wantReuse && i > 0 && !strings.Contains(log, "environment restored") {
			t.Errorf("%s %s: warm run %d reused nothing:\n%s", r.name, step, i+1, log)
		}
	}
	if r.w.srv != nil {
		for i := 0; i < 1; i++ {
			got, log := r.server(before)
			before = r.head
			if d := cmp.Diff(cold, got); d != "" {
				t.Errorf("%s %s: server run %d differs from a cold run (-cold +server):\n%s\nserver log:\n%s", r.name, step, i+1, d, log)
			}
		}
	}
	return warmLog
}

// report prints what the harness compares: pip freeze --all of the
// environment the job installed into, and where each module imports from
// (relative to the workspace).
func report(python string, modules ...string) string {
	return fmt.Sprintf(`      - name: report
        if: always()
        run: |
          %[1]s -m pip freeze --all --disable-pip-version-check | sed 's/^/FREE''ZE /'
          for m in %[2]s; do
            %[1]s -c 'import importlib, os, sys; m = importlib.import_module(sys.argv[1]); print("IMP" "ORT", sys.argv[1], os.path.relpath(m.__file__, os.environ["GITHUB_WORKSPACE"]))' "$m" 2>/dev/null || echo "IMP""ORT $m missing"
          done
`, python, strings.Join(modules, " "))
}

const wcHead = `name: ci
on: push
env:
  PIP_INDEX_URL: {INDEX}
  PIP_DISABLE_PIP_VERSION_CHECK: "1"
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: { python-version: '3.11' }
`

// tallyPyproject is a project with static metadata; flit_core builds it
// (quickly: the harness makes many cold environments).
const tallyPyproject = `[build-system]
requires = ["flit_core>=3.4"]
build-backend = "flit_core.buildapi"

[project]
name = "tally"
version = "0.1.0"
description = "adds"
dependencies = ["alpha"]
`

// TestWarmEqualsCold runs the scenarios the issue lists, each cold, warm
// and through the server's agent.
func TestWarmEqualsCold(t *testing.T) {
	t.Parallel()
	w := newWarmCold(t, true)

	t.Run("editable", func(t *testing.T) {
		w.t = t
		r := w.repo("editable", map[string]string{
			".github/workflows/ci.yml": wcHead + `      - run: pip install -r requirements-dev.txt
` + report("python", "tally", "alpha") + `      - run: python -c "import tally; assert tally.add(2, 3) == 5"
`,
			"requirements-dev.txt":  "-e .\ngamma==1.0\n",
			"pyproject.toml":        tallyPyproject,
			"src/tally/__init__.py": "def add(a, b):\n    return a + b\n",
		})
		r.check("first commit", r.head, true, true)
		before := r.head
		r.commit(map[string]string{"src/tally/__init__.py": "def add(a, b):\n    return b + a\n"}, "code only")
		if log := r.check("code change", before, false, true); !strings.Contains(log, "environment restored") {
			t.Errorf("a code-only change to an editable project reinstalled:\n%s", log)
		}
		before = r.head
		r.commit(map[string]string{"src/tally/extra.py": "X = 1\n"}, "new module")
		r.check("new module", before, false, false)
	})

	t.Run("uv-sync", func(t *testing.T) {
		w.t = t
		files := uvProject(t, w, `      - uses: astral-sh/setup-uv@v5
      - run: uv sync
      - name: report
        if: always()
        run: |
          uv pip freeze --python .venv | sed 's/^/FREE''ZE /'
          .venv/bin/python -c 'import os, tally; print("IMP" "ORT tally", os.path.relpath(tally.__file__, os.environ["GITHUB_WORKSPACE"]))' || echo "IMP""ORT tally missing"
      - run: uv run --frozen -v python -c 'import importlib.metadata as m; print("IMP" "ORT version", m.version("tally"))'
`)
		r := w.repo("uvsync", files)
		// uv run checks the project's build stamp against its files, which
		// the checkout writes anew on every run: a warm run restores the
		// stamp brought up to date, so uv keeps the build (as the cold run's
		// uv run keeps the one uv sync just made) instead of rebuilding.
		notFresh := "not fresh: tally"
		if log := r.check("first commit", r.head, true, true); strings.Contains(log, notFresh) || !strings.Contains(log, "uv's build stamp of . brought up to date") {
			t.Errorf("the warm run's uv run rebuilt the restored project:\n%s", log)
		}
		before := r.head
		r.commit(map[string]string{"src/tally/__init__.py": "def add(a, b):\n    return b + a\n"}, "code only")
		if log := r.check("code change", before, false, true); strings.Contains(log, notFresh) || !strings.Contains(log, "environment restored") {
			t.Errorf("a code-only change rebuilt or reinstalled the uv project:\n%s", log)
		}
		// A new version and a new dependency in pyproject.toml (locked
		// again): the warm run installs them, as a fresh machine does.
		before = r.head
		py := strings.Replace(strings.Replace(files["pyproject.toml"], `version = "0.1.0"`, `version = "0.2.0"`, 1), `dependencies = ["alpha"]`, `dependencies = ["alpha", "gamma"]`, 1)
		r.commit(map[string]string{"pyproject.toml": py, "uv.lock": uvLock(t, w, py)}, "version and dependency")
		log := r.check("pyproject.toml changed", before, false, false)
		if !strings.Contains(log, "IMPORT version 0.2.0") || !strings.Contains(log, "FREEZE gamma==1.0") {
			t.Errorf("the warm run did not install the changed project:\n%s", log)
		}
	})

	// poetry install and pdm install from their locks into the job's
	// environment: warm equals cold, and a lock pinning another version is
	// installed on the warm run, not the kept one.
	for _, tool := range []string{"poetry", "pdm"} {
		t.Run(tool, func(t *testing.T) {
			w.t = t
			pyproject := func(gamma string) string {
				project := `
[project]
name = "svc"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["alpha", "gamma==` + gamma + `"]
`
				if tool == "poetry" {
					return `[build-system]
requires = ["poetry-core>=2.0"]
build-backend = "poetry.core.masonry.api"
` + project + `
[[tool.poetry.source]]
name = "local"
url = "{INDEX}"
priority = "primary"
`
				}
				return `[build-system]
requires = ["pdm-backend"]
build-backend = "pdm.backend"
` + project + `
[[tool.pdm.source]]
name = "pypi"
url = "{INDEX}"
`
			}
			lockName := tool + ".lock"
			// The project itself is installed too (editable), built by its
			// backend from the scenario's index.
			files := map[string]string{
				".github/workflows/ci.yml": wcHead + "      - run: " + tool + " install\n" + report("python", "alpha", "gamma", "svc") +
					"      - run: python -c 'import svc; assert svc.NAME == \"svc\"'\n",
				"pyproject.toml":  pyproject("1.0"),
				"svc/__init__.py": "NAME = \"svc\"\n",
			}
			files[lockName] = toolLock(t, w, tool, w.expand(files)["pyproject.toml"])
			r := w.repo(tool, files)
			r.check("first commit", r.head, true, true)
			// A new release pinned in pyproject.toml and locked: the warm
			// run installs it from the changed lock.
			testenv.WriteWheel(t, w.index.Packages, testenv.WheelSpec{Name: "gamma", Version: "1.1." + map[string]string{"poetry": "1", "pdm": "2"}[tool]})
			before := r.head
			changed := map[string]string{"pyproject.toml": pyproject("1.1." + map[string]string{"poetry": "1", "pdm": "2"}[tool])}
			changed[lockName] = toolLock(t, w, tool, w.expand(changed)["pyproject.toml"])
			r.commit(changed, "pin gamma 1.1")
			log := r.check("lock pins another version", before, false, false)
			if !strings.Contains(log, "FREEZE gamma==1.1.") {
				t.Errorf("the warm run did not install the version the changed lock pins:\n%s", log)
			}
		})
	}

	// Two repositories with the same workflow, the same requirement files
	// and the same file names, on one state directory and one server: each
	// keeps its own environments (the slot is per repository identity), so
	// the second never restores the first's, and each imports its own code.
	t.Run("repository-identity", func(t *testing.T) {
		w.t = t
		files := func(op string) map[string]string {
			return map[string]string{
				".github/workflows/ci.yml": wcHead + `      - run: pip install -r requirements-dev.txt
` + report("python", "tally", "alpha") + `      - run: python -c "import tally; print('IMP' 'ORT add', tally.add(2, 3))"
`,
				"requirements-dev.txt":  "-e .\ngamma==1.0\n",
				"pyproject.toml":        tallyPyproject,
				"src/tally/__init__.py": "def add(a, b):\n    return a " + op + " b\n",
			}
		}
		a, b := w.repo("ida", files("+")), w.repo("idb", files("*"))
		b.tmp = a.tmp // one user: the same TMPDIR, so the same work root and step environment
		shared := filepath.Join(w.tmp, "state-shared")
		const fresh, restored = "nothing kept for this job yet", "environment restored"
		want := map[*wcRepo]string{a: "IMPORT add 5", b: "IMPORT add 6"}
		for _, r := range []*wcRepo{a, b} {
			cold, _ := r.cold()
			got, log := r.local(shared)
			if d := cmp.Diff(cold, got); d != "" {
				t.Errorf("%s on the shared state directory differs from a cold run (-cold +shared):\n%s\n%s", r.name, d, log)
			}
			if !strings.Contains(log, fresh) || strings.Contains(log, restored) || !strings.Contains(log, want[r]) {
				t.Errorf("%s's first run on a state directory another repository used did not install afresh with its own code:\n%s", r.name, log)
			}
		}
		// A code change (the same file names): the kept environment holds.
		again := func(r *wcRepo, op string) {
			r.commit(map[string]string{"src/tally/__init__.py": "def add(a, b):\n    return a " + op + " b  # again\n"}, "again")
		}
		again(a, "+")
		if _, log := a.local(shared); !strings.Contains(log, restored) || !strings.Contains(log, want[a]) {
			t.Errorf("ida's own kept environment was not restored after idb ran:\n%s", log)
		}
		// The server: one agent, both repositories.
		for _, r := range []*wcRepo{b, a} {
			got, log := r.server(r.head)
			if !strings.Contains(log, fresh) || strings.Contains(log, restored) || !strings.Contains(log, want[r]) || got.Result != "success" {
				t.Errorf("%s's first server run did not install afresh with its own code:\n%s", r.name, log)
			}
		}
		before := b.head
		again(b, "*")
		if _, log := b.server(before); !strings.Contains(log, restored) || !strings.Contains(log, want[b]) {
			t.Errorf("idb's own kept environment was not restored on the server:\n%s", log)
		}
	})

	t.Run("uv-activate", func(t *testing.T) {
		w.t = t
		files := uvProject(t, w, `      - uses: astral-sh/setup-uv@v5
        with: { activate-environment: true }
      - run: uv sync
      - name: report
        if: always()
        run: |
          uv pip freeze | sed 's/^/FREE''ZE /'
          python -c 'import os, tally; print("IMP" "ORT tally", os.path.relpath(tally.__file__, os.environ["GITHUB_WORKSPACE"]))' || echo "IMP""ORT tally missing"
`)
		r := w.repo("uvactivate", files)
		r.check("first commit", r.head, true, true)
	})

	t.Run("removed-and-skipped-steps", func(t *testing.T) {
		w.t = t
		two := wcHead + `      - run: pip install -r req-a.txt
      - run: pip install -r req-b.txt
` + report("python", "tomlish", "gamma")
		r := w.repo("removed", map[string]string{".github/workflows/ci.yml": two, "req-a.txt": "gamma==1.0\n", "req-b.txt": "tomlish==1.0\n"})
		r.check("two installs", r.head, false, false)
		before := r.head
		r.commit(map[string]string{".github/workflows/ci.yml": wcHead + `      - run: pip install -r req-a.txt
` + report("python", "tomlish", "gamma")}, "remove the second install")
		r.check("removed", before, false, false)
		before = r.head
		r.commit(map[string]string{".github/workflows/ci.yml": wcHead + `      - run: pip install -r req-a.txt
      - if: github.ref == 'refs/heads/never'
        run: pip install -r req-b.txt
` + report("python", "tomlish", "gamma")}, "skip it")
		r.check("skipped by if", before, false, false)
	})

	t.Run("env-and-constraints", func(t *testing.T) {
		w.t = t
		viaEnv := func(c string) string {
			return strings.Replace(wcHead, "env:\n", "env:\n  PIP_CONSTRAINT: "+c+"\n", 1) + `      - run: pip install -r requirements.txt
` + report("python", "alpha", "beta")
		}
		r := w.repo("constraints", map[string]string{".github/workflows/ci.yml": viaEnv("c.txt"), "requirements.txt": "alpha\n", "c.txt": "beta==1.0\n"})
		r.check("constraint beta==1.0", r.head, true, true)
		// Both indexes serve the constrained version, so the run on the other index below
		// resolves, cold and warm, from that index's own files.
		testenv.WriteWheel(t, w.index.Packages, testenv.WheelSpec{Name: "beta", Version: "1.1"})
		testenv.WriteWheel(t, w.index2.Packages, testenv.WheelSpec{Name: "beta", Version: "1.1"})
		before := r.head
		r.commit(map[string]string{"c.txt": "beta==1.1\n"}, "constraint changed")
		r.check("changed constraint file", before, false, false)
		before = r.head
		r.commit(map[string]string{".github/workflows/ci.yml": wcHead + `      - run: echo "PIP_CONSTRAINT=c0.txt" >> "$GITHUB_ENV"
      - run: pip install -r requirements.txt
` + report("python", "alpha", "beta"), "c0.txt": "beta==1.0\n"}, "constraint through GITHUB_ENV")
		r.check("PIP_CONSTRAINT through GITHUB_ENV", before, false, false)
		before = r.head
		r.commit(map[string]string{".github/workflows/ci.yml": strings.Replace(viaEnv("c.txt"), "{INDEX}", "{INDEX2}", 1)}, "other index")
		r.check("PIP_INDEX_URL changed", before, false, false)
		before = r.head
		r.commit(map[string]string{".github/workflows/ci.yml": wcHead + `      - uses: astral-sh/setup-uv@v5
      - run: uv pip install -r requirements.txt
        env: { UV_INDEX_URL: "{INDEX2}", VIRTUAL_ENV: "${{ env.VIRTUAL_ENV }}" }
` + report("python", "alpha", "beta")}, "uv with UV_INDEX_URL")
		r.check("UV_INDEX_URL", before, false, false)
	})

	t.Run("new-release-on-the-index", func(t *testing.T) {
		w.t = t
		r := w.repo("release", map[string]string{".github/workflows/ci.yml": wcHead + `      - run: pip install -r requirements.txt
` + report("python", "alpha", "beta"), "requirements.txt": "alpha==1.0\n"})
		r.check("alpha==1.0 with beta unpinned", r.head, true, true)
		testenv.WriteWheel(t, w.index.Packages, testenv.WheelSpec{Name: "beta", Version: "1.5"})
		before := r.head
		r.commit(map[string]string{"README": "same inputs\n"}, "nothing the install reads")
		log := r.check("after beta 1.5 was published", before, false, false)
		if !strings.Contains(log, "index changed") {
			t.Errorf("the warm run did not say the index changed:\n%s", log)
		}
	})
}

// uvProject is the tally project locked with uv against the test index,
// with steps after setup-python.
func uvProject(t *testing.T, w *warmcold, steps string) map[string]string {
	t.Helper()
	files := map[string]string{
		"pyproject.toml": strings.Replace(tallyPyproject, `dependencies = ["alpha"]`, `dependencies = ["alpha"]
requires-python = ">=3.11"`, 1),
		"src/tally/__init__.py": "def add(a, b):\n    return a + b\n",
		".python-version":       "3.11\n",
	}
	files["uv.lock"] = uvLock(t, w, files["pyproject.toml"])
	files[".github/workflows/ci.yml"] = strings.Replace(wcHead, "env:\n", "env:\n  UV_INDEX_URL: {INDEX}\n  UV_PYTHON_DOWNLOADS: never\n", 1) + steps
	return files
}

// uvLock is the uv.lock of a project with this pyproject.toml, locked
// against the scenario's index.
func uvLock(t *testing.T, w *warmcold, pyproject string) string {
	t.Helper()
	dir := t.TempDir()
	testenv.WriteFiles(t, dir, map[string]string{"pyproject.toml": pyproject})
	uv := filepath.Join(filepath.Dir(strings.Split(w.path, string(os.PathListSeparator))[0]), "uv")
	if _, err := os.Stat(uv); err != nil {
		uv = filepath.Join(strings.Split(w.path, string(os.PathListSeparator))[0], "uv")
	}
	testenv.Run(t, context.Background(), dir, []string{"UV_INDEX_URL=" + w.index.URL + "/simple/", "UV_PYTHON_DOWNLOADS=never", "UV_CACHE_DIR=" + filepath.Join(w.tmp, "uv-lock-cache")}, uv, "lock", "--python", filepath.Join(pyenvPrefix(t, "3.11"), "bin", "python3.11"))
	lock, err := os.ReadFile(filepath.Join(dir, "uv.lock"))
	if err != nil {
		t.Fatal(err)
	}
	return string(lock)
}

// toolLock is the lock poetry or pdm writes for a project with this
// pyproject.toml (its index the scenario's).
func toolLock(t *testing.T, w *warmcold, tool, pyproject string) string {
	t.Helper()
	dir := t.TempDir()
	testenv.WriteFiles(t, dir, map[string]string{"pyproject.toml": pyproject})
	py := filepath.Join(pyenvPrefix(t, "3.11"), "bin", "python3.11")
	env := []string{"PATH=" + w.path, "HOME=" + dir, "POETRY_CACHE_DIR=" + filepath.Join(w.tmp, "poetry-cache"), "PDM_CACHE_DIR=" + filepath.Join(w.tmp, "pdm-cache"), "PDM_PYTHON=" + py, "PDM_CHECK_UPDATE=false", "VIRTUAL_ENV="}
	testenv.Run(t, context.Background(), dir, env, filepath.Join(w.toolbin, tool), "lock")
	lock, err := os.ReadFile(filepath.Join(dir, tool+".lock"))
	if err != nil {
		t.Fatal(err)
	}
	return string(lock)
}

// TestWarmEqualsColdRandomEdits applies seeded random sequences of the
// edits above (requirements, constraints by file, env or GITHUB_ENV,
// removed or skipped install steps, an editable project, new releases on
// the index, another index) and compares every warm run with a cold one.
// SLUICE_WARMCOLD_SEED picks the seed and SLUICE_WARMCOLD_BUDGET the time
// (default 60s; the edit under way finishes); the seed is logged so a
// failure can be replayed.
func TestWarmEqualsColdRandomEdits(t *testing.T) {
	t.Parallel()
	// Each state runs cold, warm and through the server's agent (its own kept state).
	w := newWarmCold(t, true)
	// The states the edits reach should install on a fresh machine: a constraint of beta==1.0
	// read against the second index needs that version there, and tomlish needs some version
	// (seeds that reached those states failed the cold run itself).
	testenv.WriteWheel(t, w.index2.Packages, testenv.WheelSpec{Name: "beta", Version: "1.0"})
	testenv.WriteWheel(t, w.index2.Packages, testenv.WheelSpec{Name: "tomlish", Version: "2.0"})
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SLUICE_WARMCOLD_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SLUICE_WARMCOLD_SEED: %v", err)
		}
		seed = v
	}
	budget := 60 * time.Second
	if s := os.Getenv("SLUICE_WARMCOLD_BUDGET"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("SLUICE_WARMCOLD_BUDGET: %v", err)
		}
		budget = d
	}
	t.Logf("seed %d (SLUICE_WARMCOLD_SEED=%d replays it), budget %s", seed, seed, budget)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	st := &randState{Reqs: map[string]bool{"alpha": true}, Constraint: "", Where: "none", Second: "present", Index: "{INDEX}"}
	r := w.repo("random", st.files())
	r.check("start "+st.String(), r.head, false, false)
	// States after the start may fail on a fresh machine too (the generator cannot know every
	// way pip can refuse); then warm must fail as cold did. The start state must pass, so a
	// broken setup still fails here.
	r.mayFail = true
	deadline := time.Now().Add(budget)
	betas := 1
	for i := 1; time.Now().Before(deadline); i++ {
		edit := st.mutate(rng)
		if edit == "publish" {
			betas++
			testenv.WriteWheel(t, w.index.Packages, testenv.WheelSpec{Name: "beta", Version: fmt.Sprintf("1.%d", betas)})
			testenv.WriteWheel(t, w.index2.Packages, testenv.WheelSpec{Name: "beta", Version: fmt.Sprintf("2.%d", betas)})
		}
		before := r.head
		r.commit(st.files(), edit)
		r.check(fmt.Sprintf("edit %d (%s) -> %s", i, edit, st), before, false, false)
		if t.Failed() {
			t.Fatalf("replay with SLUICE_WARMCOLD_SEED=%d", seed)
		}
	}
}

// randState is the random scenario's repository, as knobs.
type randState struct {
	Reqs       map[string]bool // alpha, gamma, tomlish, -e .
	Constraint string          // "", beta==1.0, beta==1.1
	Where      string          // none, file, env, github_env
	Second     string          // present, removed, skipped: a second install step of gamma
	Index      string          // {INDEX} or {INDEX2}
	Module     int             // how many extra modules the project has
}

func (s *randState) String() string {
	var reqs []string
	for k, v := range s.Reqs {
		if v {
			reqs = append(reqs, k)
		}
	}
	sort.Strings(reqs)
	return fmt.Sprintf("reqs=%v constraint=%q via %s second=%s index=%s modules=%d", reqs, s.Constraint, s.Where, s.Second, s.Index, s.Module)
}

func (s *randState) mutate(rng *rand.Rand) string {
	switch rng.IntN(7) {
	case 0:
		k := []string{"alpha", "gamma", "tomlish", "-e ."}[rng.IntN(4)]
		s.Reqs[k] = !s.Reqs[k]
		return "toggle " + k
	case 1:
		s.Constraint = []string{"", "beta==1.0", "beta==1.1"}[rng.IntN(3)]
		return "constraint " + s.Constraint
	case 2:
		s.Where = []string{"none", "file", "env", "github_env"}[rng.IntN(4)]
		return "constraint via " + s.Where
	case 3:
		s.Second = []string{"present", "removed", "skipped"}[rng.IntN(3)]
		return "second install " + s.Second
	case 4:
		if s.Index == "{INDEX}" {
			s.Index = "{INDEX2}"
		} else {
			s.Index = "{INDEX}"
		}
		return "index " + s.Index
	case 5:
		s.Module++
		return "new module"
	}
	return "publish"
}

func (s *randState) files() map[string]string {
	head := strings.Replace(wcHead, "PIP_INDEX_URL: {INDEX}", "PIP_INDEX_URL: "+s.Index, 1)
	var reqs []string
	for _, k := range []string{"alpha", "gamma", "tomlish", "-e ."} {
		if s.Reqs[k] {
			reqs = append(reqs, k)
		}
	}
	cons := s.Constraint
	if cons == "beta==1.1" {
		cons = "beta>=1.1"
	}
	steps := ""
	constraintFile := cons + "\n"
	switch s.Where {
	case "file":
		reqs = append([]string{"-c c.txt"}, reqs...)
	case "env":
		head = strings.Replace(head, "env:\n", "env:\n  PIP_CONSTRAINT: c.txt\n", 1)
	case "github_env":
		steps += `      - run: echo "PIP_CONSTRAINT=c.txt" >> "$GITHUB_ENV"` + "\n"
	}
	steps += "      - run: pip install -r requirements.txt\n"
	switch s.Second {
	case "present":
		steps += "      - run: pip install gamma\n"
	case "skipped":
		steps += "      - if: github.ref == 'refs/heads/never'\n        run: pip install gamma\n"
	}
	files := map[string]string{
		".github/workflows/ci.yml": head + steps + report("python", "alpha", "beta", "gamma", "tomlish", "tally"),
		"requirements.txt":         strings.Join(reqs, "\n") + "\n",
		"c.txt":                    constraintFile,
		"pyproject.toml":           tallyPyproject,
		"src/tally/__init__.py":    "def add(a, b):\n    return a + b\n",
	}
	for i := 1; i <= s.Module; i++ {
		files[fmt.Sprintf("src/tally/m%d.py", i)] = "X = 1\n"
	}
	return files
}

// toolsRoot is the directory of the test tools' environments (testenv.ToolsPython), given the
// python of one of them.
func toolsRoot(py string) string { return filepath.Dir(filepath.Dir(filepath.Dir(py))) }
