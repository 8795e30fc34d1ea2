package python

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluice-ci/sluice/internal/workflow"
)

func TestInfer(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		want    []PlanStep
		version string
	}{
		{
			name: "requirements and tests dir",
			files: map[string]string{
				"requirements.txt":     "requests==2.32.3\n",
				"requirements-dev.txt": "pytest==8.3.3\nruff==0.6.9\n",
				"tests/test_x.py":      "def test_x(): pass\n",
				".python-version":      "3.12\n",
			},
			want: []PlanStep{
				{"Install dependencies", "python -m pip install -r requirements.txt -r requirements-dev.txt"},
				{"Lint", "ruff check ."},
				{"Test", "pytest"},
			},
			version: "3.12",
		},
		{
			name: "package with extras, ruff and mypy config",
			files: map[string]string{
				"pyproject.toml": `[project]
name = "pkg"
version = "1.0"
requires-python = ">=3.10"
[project.optional-dependencies]
dev = ["pytest"]
docs = ["sphinx"]
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
[tool.ruff]
line-length = 100
[tool.mypy]
strict = true
`,
				"tests/test_pkg.py": "",
			},
			want: []PlanStep{
				{"Install dependencies", `python -m pip install -e ".[dev]" ruff mypy`},
				{"Lint", "ruff check ."},
				{"Type check", "mypy ."},
				{"Test", "pytest"},
				{"Build", "python -m pip install build && python -m build"},
			},
			version: ">=3.10",
		},
		{
			name: "uv project",
			files: map[string]string{
				"pyproject.toml":    "[project]\nname = \"app\"\nversion = \"0.1\"\ndependencies = []\n[dependency-groups]\ndev = [\"pytest>=8\", \"ruff\"]\n",
				"uv.lock":           "version = 1\n",
				"tests/test_app.py": "",
			},
			want: []PlanStep{
				{"Install uv", "python -m pip install uv"},
				{"Install dependencies", "uv sync --locked --all-extras --all-groups"},
				{"Lint", "uv run ruff check ."},
				{"Test", "uv run pytest"},
			},
			version: "3.x",
		},
		{
			// Tools declared only in dependency groups (PEP 735), no lock:
			// pip installs the groups, so pytest and ruff run from the job's
			// environment.
			name: "dependency groups without a lock",
			files: map[string]string{
				"pyproject.toml": `[project]
name = "app"
version = "0.1"
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
[dependency-groups]
test = ["pytest>=8"]
lint = ["ruff"]
docs = ["sphinx"]
[tool.ruff]
line-length = 100
`,
				"tests/test_app.py": "",
			},
			want: []PlanStep{
				{"Install dependencies", "python -m pip install -e . --group lint --group test"},
				{"Lint", "ruff check ."},
				{"Test", "pytest"},
				{"Build", "python -m pip install build && python -m build"},
			},
			version: "3.x",
		},
		{
			// A tool the project does not declare but pins for pre-commit
			// is installed at that version, not the latest.
			name: "tool pinned by pre-commit",
			files: map[string]string{
				"requirements.txt": "requests==2.32.3\n",
				"ruff.toml":        "line-length = 100\n",
				".pre-commit-config.yaml": `repos:
  - repo: https://github.com/pre-commit/pre-commit-hooks
    rev: v4.6.0
    hooks:
      - id: trailing-whitespace
  - repo: https://github.com/astral-sh/ruff-pre-commit
    rev: v0.6.9
    hooks:
      - id: ruff
`,
				"constraints.txt": "pytest==8.3.3\n",
				"tests/test_x.py": "",
			},
			want: []PlanStep{
				{"Install dependencies", "python -m pip install -r requirements.txt ruff==0.6.9 pytest==8.3.3"},
				{"Lint", "ruff check ."},
				{"Test", "pytest"},
			},
			version: "3.x",
		},
		{
			name: "poetry with tox and flake8",
			files: map[string]string{
				"pyproject.toml": "[tool.poetry]\nname = \"p\"\nversion = \"1\"\n[tool.poetry.dependencies]\npython = \"^3.9\"\n[build-system]\nrequires = [\"poetry-core\"]\nbuild-backend = \"poetry.core.masonry.api\"\n",
				"poetry.lock":    "[metadata]\n",
				"tox.ini":        "[tox]\nenv_list = py311\n[testenv]\ncommands = pytest\n[flake8]\nmax-line-length = 100\n",
			},
			want: []PlanStep{
				{"Install Poetry", "python -m pip install poetry"},
				{"Install dependencies", "poetry install --all-extras"},
				{"Install tools", "python -m pip install flake8 tox"},
				{"Lint", "flake8 ."},
				{"Test", "tox"},
				{"Build", "python -m pip install build && python -m build"},
			},
			version: ">=3.9,<4",
		},
		{
			name: "setup.py with nox",
			files: map[string]string{
				"setup.py":   "from setuptools import setup\nsetup(name='s')\n",
				"noxfile.py": "import nox\n",
			},
			want: []PlanStep{
				{"Install dependencies", "python -m pip install -e . nox"},
				{"Test", "nox"},
				{"Build", "python -m pip install build && python -m build"},
			},
			version: "3.x",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			plan, err := Infer(dir)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, plan.Steps); d != "" {
				t.Errorf("steps (-want +got):\n%s\nnotes: %q", d, plan.Notes)
			}
			if len(plan.Notes) == 0 {
				t.Error("no notes explain the plan")
			}
			for _, n := range plan.Notes {
				// A project without extras once read "with extras .".
				if strings.Contains(n, "extras .") || strings.HasSuffix(n, " ") {
					t.Errorf("note %q reads badly", n)
				}
			}
			version := PythonVersionFor(dir)
			if version != tt.version {
				t.Errorf("PythonVersionFor = %q, want %q", version, tt.version)
			}
			// The rendered workflow must load and lint cleanly with sluice's own loader.
			wfPath := filepath.Join(dir, ".github", "workflows", "ci.yml")
			writeFiles(t, dir, map[string]string{".github/workflows/ci.yml": plan.Workflow(version)})
			if _, err := workflow.Load(context.Background(), dir, wfPath); err != nil {
				data, _ := os.ReadFile(wfPath)
				t.Errorf("workflow.Load: %v\n%s", err, data)
			}
		})
	}
	if _, err := Infer(t.TempDir()); err == nil {
		t.Error("Infer on an empty directory succeeded")
	}
}
