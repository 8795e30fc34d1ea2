package python

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

// Plan is an inferred pipeline for a Python repository.
type Plan struct {
	Steps []PlanStep `json:"steps"`
	Notes []string   `json:"notes"` // what was inferred and why, one line each
}

// PlanStep is one `run:` step.
type PlanStep struct {
	Name string `json:"name"`
	Run  string `json:"run"`
}

// repo is what Infer learned about a directory.
type repo struct {
	dir       string
	pyproject map[string]any
	declared  map[string]bool // every dependency name mentioned anywhere, normalised
	iniText   map[string]string
}

func (r *repo) exists(rel string) bool {
	_, err := os.Stat(filepath.Join(r.dir, rel))
	return err == nil
}

func (r *repo) isDir(rel string) bool {
	st, err := os.Stat(filepath.Join(r.dir, rel))
	return err == nil && st.IsDir()
}

// iniSection reports whether an ini-style file (setup.cfg, tox.ini) has the section.
func (r *repo) iniSection(file, section string) bool {
	text, ok := r.iniText[file]
	if !ok {
		data, _ := os.ReadFile(filepath.Join(r.dir, file))
		text = string(data)
		r.iniText[file] = text
	}
	re := regexp.MustCompile(`(?m)^\[` + regexp.QuoteMeta(section) + `(?:[:\]])`)
	return re.MatchString(text)
}

var reqFileNames = []string{"requirements.txt", "requirements-dev.txt", "requirements_dev.txt", "dev-requirements.txt",
	"requirements-test.txt", "requirements_test.txt", "test-requirements.txt", "requirements/dev.txt", "requirements/test.txt"}

// Infer looks at a Python repository and proposes its pipeline: install (from a lock or
// requirements files), ruff or flake8, mypy, tests (tox, nox or pytest) and a package build.
func Infer(dir string) (Plan, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return Plan{}, fmt.Errorf("reading repository %s: %w", dir, err)
	}
	if !st.IsDir() {
		return Plan{}, fmt.Errorf("reading repository %s: not a directory", dir)
	}
	r := &repo{dir: dir, declared: map[string]bool{}, iniText: map[string]string{}}
	r.pyproject, err = readPyproject(dir)
	if err != nil {
		return Plan{}, err
	}
	var reqFiles []string
	for _, f := range reqFileNames {
		if r.exists(f) {
			reqFiles = append(reqFiles, f)
			if err := r.declareFromRequirements(f); err != nil {
				return Plan{}, err
			}
		}
	}
	r.declareFromPyproject()

	isPackage := r.pyproject["build-system"] != nil || r.exists("setup.py") || r.exists("setup.cfg") ||
		(r.pyproject["project"] != nil && r.pyproject["build-system"] != nil)
	hasProject := r.pyproject["project"] != nil || r.exists("setup.py") || r.exists("setup.cfg") || dig(r.pyproject, "tool", "poetry") != nil
	if !hasProject && len(reqFiles) == 0 && !r.exists("tox.ini") && !r.exists("noxfile.py") {
		return Plan{}, errors.New("no Python project found: no pyproject.toml, setup.py, setup.cfg or requirements file")
	}

	var p Plan
	note := func(format string, args ...any) { p.Notes = append(p.Notes, fmt.Sprintf(format, args...)) }

	// Which tools the later steps need, and whether the environment manager runs them.
	lint := r.lintTool(note)
	mypy := r.hasMypy()
	if mypy {
		note("mypy: configured (mypy.ini, .mypy.ini, setup.cfg [mypy] or [tool.mypy])")
	}
	tests := r.testTool(note)
	tools := []string{lint, map[bool]string{true: "mypy"}[mypy], tests}

	runner := ""
	pins := r.toolPins(note)
	var extra []string // tools to install because the project does not declare them
	for _, t := range tools {
		if t != "" && !r.declared[t] {
			if v, ok := pins[t]; ok {
				extra = append(extra, t+"=="+v)
			} else {
				extra = append(extra, t)
			}
		}
	}
	groups := r.installGroups(tools)
	switch {
	case r.exists("uv.lock"):
		note("install: uv.lock found, so uv sync --locked installs exactly the locked set")
		p.Steps = append(p.Steps, PlanStep{"Install uv", "python -m pip install uv"},
			PlanStep{"Install dependencies", "uv sync --locked --all-extras --all-groups"})
		runner = "uv run "
	case r.exists("poetry.lock"):
		note("install: poetry.lock found, so poetry install installs the locked set")
		p.Steps = append(p.Steps, PlanStep{"Install Poetry", "python -m pip install poetry"},
			PlanStep{"Install dependencies", "poetry install --all-extras"})
		runner = "poetry run "
	case r.exists("pdm.lock"):
		note("install: pdm.lock found, so pdm install installs the locked set")
		p.Steps = append(p.Steps, PlanStep{"Install PDM", "python -m pip install pdm"},
			PlanStep{"Install dependencies", "pdm install"})
		runner = "pdm run "
	default:
		args := []string{"python -m pip install"}
		for _, f := range reqFiles {
			args = append(args, "-r "+f)
		}
		if hasProject && (isPackage || r.pyproject["project"] != nil) {
			target := "."
			ex := r.devExtras()
			if len(ex) > 0 {
				target = `".[` + strings.Join(ex, ",") + `]"`
			}
			args = append(args, "-e "+target)
			if len(ex) > 0 {
				note("install: the project itself, editable, with its extras %s", strings.Join(ex, ", "))
			} else {
				note("install: the project itself, editable")
			}
		}
		if len(reqFiles) > 0 {
			note("install: requirements files %s", strings.Join(reqFiles, ", "))
		}
		for _, g := range groups {
			args = append(args, "--group "+g)
		}
		if len(groups) > 0 {
			// pip reads [dependency-groups] since 25.1; job environments get a
			// current pip.
			note("install: dependency groups %s (PEP 735)", strings.Join(groups, ", "))
		}
		args = append(args, extra...)
		extra = nil
		p.Steps = append(p.Steps, PlanStep{"Install dependencies", strings.Join(args, " ")})
	}
	if len(extra) > 0 {
		note("tools not declared by the project, installed directly: %s", strings.Join(extra, ", "))
		p.Steps = append(p.Steps, PlanStep{"Install tools", "python -m pip install " + strings.Join(extra, " ")})
	}
	run := func(tool, cmd string) string {
		if runner != "" && r.declared[tool] {
			return runner + cmd
		}
		return cmd
	}
	switch lint {
	case "ruff":
		p.Steps = append(p.Steps, PlanStep{"Lint", run("ruff", "ruff check .")})
	case "flake8":
		p.Steps = append(p.Steps, PlanStep{"Lint", run("flake8", "flake8 .")})
	}
	if mypy {
		cmd := "mypy ."
		if dig(r.pyproject, "tool", "mypy", "files") != nil || r.exists("mypy.ini") || r.exists(".mypy.ini") {
			cmd = "mypy" // the config names what to check
		}
		p.Steps = append(p.Steps, PlanStep{"Type check", run("mypy", cmd)})
	}
	switch tests {
	case "tox":
		p.Steps = append(p.Steps, PlanStep{"Test", run("tox", "tox")})
	case "nox":
		p.Steps = append(p.Steps, PlanStep{"Test", run("nox", "nox")})
	case "pytest":
		p.Steps = append(p.Steps, PlanStep{"Test", run("pytest", "pytest")})
	}
	if isPackage {
		note("build: a build system (pyproject [build-system], setup.py or setup.cfg) makes it a package")
		p.Steps = append(p.Steps, PlanStep{"Build", "python -m pip install build && python -m build"})
	}
	return p, nil
}

// installGroups are the [dependency-groups] a pip install takes: those
// meant for development, and any other that declares a tool the plan runs.
func (r *repo) installGroups(tools []string) []string {
	groups, err := pyprojectGroups(r.pyproject)
	if err != nil || len(groups) == 0 {
		return nil
	}
	var out []string
	for g, deps := range groups {
		keep := false
		switch g {
		case "dev", "test", "tests", "testing", "lint", "typing":
			keep = true
		}
		for _, d := range deps {
			if req, err := parseRequirement(d); err == nil && contains(tools, req.Name) {
				keep = true
			}
		}
		if keep {
			out = append(out, g)
		}
	}
	sort.Strings(out)
	return out
}

// preCommitTools maps pre-commit hook repositories to the tool (PyPI
// distribution) they run at their rev.
var preCommitTools = map[string]string{
	"astral-sh/ruff-pre-commit": "ruff", "charliermarsh/ruff-pre-commit": "ruff",
	"psf/black": "black", "psf/black-pre-commit-mirror": "black",
	"pycqa/flake8": "flake8", "pre-commit/mirrors-mypy": "mypy", "pycqa/isort": "isort",
}

var (
	preCommitRepoRe = lazyre.New(`(?m)^\s*-\s*repo:\s*['"]?(\S+?)['"]?\s*$`)
	preCommitRevRe  = lazyre.New(`(?m)^\s*rev:\s*['"]?v?([0-9][^'"\s]*)['"]?\s*$`)
	lockPkgRe       = lazyre.New(`(?m)^name\s*=\s*"([^"]+)"\s*\n(?:version\s*=\s*"([^"]+)")`)
)

// toolPins are the versions a project pins for the tools the plan may
// install itself: .pre-commit-config.yaml hooks, a lock file's entries,
// a constraints file. The project's CI runs those versions, so the
// inferred pipeline does too.
func (r *repo) toolPins(note func(string, ...any)) map[string]string {
	pins := map[string]string{}
	if data, err := os.ReadFile(filepath.Join(r.dir, ".pre-commit-config.yaml")); err == nil {
		text := string(data)
		repos := preCommitRepoRe.FindAllStringSubmatchIndex(text, -1)
		for i, m := range repos {
			url := strings.TrimSuffix(strings.ToLower(text[m[2]:m[3]]), ".git")
			end := len(text)
			if i+1 < len(repos) {
				end = repos[i+1][0]
			}
			for key, tool := range preCommitTools {
				if strings.HasSuffix(url, "/"+key) {
					if rev := preCommitRevRe.FindStringSubmatch(text[m[1]:end]); rev != nil {
						pins[tool] = rev[1]
						note("%s: %s pinned by .pre-commit-config.yaml", tool, rev[1])
					}
				}
			}
		}
	}
	for _, lock := range []string{"uv.lock", "poetry.lock", "pdm.lock"} {
		data, err := os.ReadFile(filepath.Join(r.dir, lock))
		if err != nil {
			continue
		}
		for _, m := range lockPkgRe.FindAllStringSubmatch(string(data), -1) {
			if _, ok := pins[normName(m[1])]; !ok && m[2] != "" {
				pins[normName(m[1])] = m[2]
			}
		}
	}
	for _, f := range []string{"constraints.txt", "requirements/constraints.txt"} {
		data, err := os.ReadFile(filepath.Join(r.dir, f))
		if err != nil {
			continue
		}
		for _, line := range logicalLines(string(data)) {
			if req, err := parseRequirement(line); err == nil && req.pinned() {
				if _, ok := pins[req.Name]; !ok {
					pins[req.Name] = strings.TrimLeft(req.Specifier, "=")
				}
			}
		}
	}
	return pins
}

func (r *repo) lintTool(note func(string, ...any)) string {
	switch {
	case r.exists("ruff.toml") || r.exists(".ruff.toml") || dig(r.pyproject, "tool", "ruff") != nil:
		note("lint: ruff is configured")
		return "ruff"
	case r.declared["ruff"]:
		note("lint: ruff is a declared dependency")
		return "ruff"
	case r.exists(".flake8") || r.iniSection("setup.cfg", "flake8") || r.iniSection("tox.ini", "flake8"):
		note("lint: flake8 is configured")
		return "flake8"
	case r.declared["flake8"]:
		note("lint: flake8 is a declared dependency")
		return "flake8"
	}
	return ""
}

func (r *repo) hasMypy() bool {
	return r.exists("mypy.ini") || r.exists(".mypy.ini") || dig(r.pyproject, "tool", "mypy") != nil || r.iniSection("setup.cfg", "mypy")
}

func (r *repo) testTool(note func(string, ...any)) string {
	switch {
	case r.iniSection("tox.ini", "tox") || r.iniSection("tox.ini", "testenv") || dig(r.pyproject, "tool", "tox") != nil:
		note("tests: tox is configured, so tox runs them")
		return "tox"
	case r.exists("noxfile.py"):
		note("tests: noxfile.py found, so nox runs them")
		return "nox"
	case r.isDir("tests") || r.isDir("test") || r.exists("conftest.py") || r.exists("pytest.ini") ||
		dig(r.pyproject, "tool", "pytest") != nil || r.iniSection("setup.cfg", "tool:pytest") || r.declared["pytest"]:
		note("tests: a tests directory or pytest configuration, so pytest runs them")
		return "pytest"
	}
	note("tests: none found")
	return ""
}

// devExtras are the optional-dependency groups meant for development.
func (r *repo) devExtras() []string {
	var out []string
	for g := range asMap(dig(r.pyproject, "project", "optional-dependencies")) {
		switch normName(g) {
		case "dev", "test", "tests", "testing", "lint", "typing":
			out = append(out, g)
		}
	}
	sort.Strings(out)
	return out
}

func (r *repo) declareFromRequirements(rel string) error {
	data, err := os.ReadFile(filepath.Join(r.dir, rel))
	if err != nil {
		return fmt.Errorf("reading %s: %w", rel, err)
	}
	for _, line := range logicalLines(string(data)) {
		if strings.HasPrefix(line, "-") {
			continue
		}
		if req, err := parseRequirement(line); err == nil {
			r.declared[req.Name] = true
		}
	}
	return nil
}

func (r *repo) declareFromPyproject() {
	add := func(deps []string) {
		for _, d := range deps {
			if req, err := parseRequirement(d); err == nil {
				r.declared[req.Name] = true
			}
		}
	}
	add(asStrings(dig(r.pyproject, "project", "dependencies")))
	for _, v := range asMap(dig(r.pyproject, "project", "optional-dependencies")) {
		add(asStrings(v))
	}
	if groups, err := pyprojectGroups(r.pyproject); err == nil {
		for _, v := range groups {
			add(v)
		}
	}
	add(asStrings(dig(r.pyproject, "tool", "pdm", "dev-dependencies")))
	for _, tbl := range []any{dig(r.pyproject, "tool", "poetry", "dependencies"), dig(r.pyproject, "tool", "poetry", "dev-dependencies")} {
		for name := range asMap(tbl) {
			r.declared[normName(name)] = true
		}
	}
	for _, g := range asMap(dig(r.pyproject, "tool", "poetry", "group")) {
		for name := range asMap(dig(g, "dependencies")) {
			r.declared[normName(name)] = true
		}
	}
	for _, v := range asMap(dig(r.pyproject, "tool", "pdm", "dev-dependencies")) {
		add(asStrings(v))
	}
}

// PythonVersionFor picks the setup-python version for a repository: .python-version, then
// pyproject.toml's requires-python (or Poetry's python dependency), else "3.x".
func PythonVersionFor(dir string) string {
	for _, f := range []string{".python-version", "pyproject.toml"} {
		if vs, err := VersionFromFile(filepath.Join(dir, f)); err == nil && len(vs) > 0 {
			return vs[0]
		}
	}
	return "3.x"
}
