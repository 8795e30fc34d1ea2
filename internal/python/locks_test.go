package python

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func checkFiles(t *testing.T, dir string) []string {
	t.Helper()
	st, err := CheckLocks(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, s := range st {
		files = append(files, s.File+" → "+s.Fix)
	}
	return files
}

func TestCheckLocksNothingToCheck(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"pyproject.toml":   "[project]\nname = \"x\"\ndependencies = [\"six\"]\n",
		"requirements.txt": "six==1.16.0\n", // hand-written, not compiled
	})
	if got := checkFiles(t, dir); len(got) != 0 {
		t.Errorf("CheckLocks = %v, want nothing", got)
	}
	if checked, _, err := CheckLockFiles(context.Background(), dir); err != nil || len(checked) != 0 {
		t.Errorf("CheckLockFiles checked %v, %v; want no lock files", checked, err)
	}
}

func TestCheckLocksUV(t *testing.T) {
	uv := filepath.Join(toolsVenv(t), "uv")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	const base = `[project]
name = "Demo_Pkg"
version = "0.1.0"
requires-python = ">= 3.9, <4"
dependencies = ["six >= 1.16, <2", "idna ; python_version >= '3.8'", "IniConfig~=2.0"]
[project.optional-dependencies]
test = ["pluggy>=1"]
[dependency-groups]
dev = ["iniconfig", {include-group = "lint"}]
lint = ["six"]
`
	writeFiles(t, dir, map[string]string{"pyproject.toml": base})
	run(t, ctx, dir, uv, "lock", "-q")
	if got := checkFiles(t, dir); len(got) != 0 {
		t.Fatalf("fresh uv.lock reported stale: %v", got)
	}
	tests := []struct {
		name, pyproject string
		stale           bool
	}{
		{"description only", strings.Replace(base, "version = \"0.1.0\"", "version = \"0.1.0\"\ndescription = \"d\"", 1), false},
		{"reformatted", strings.Replace(base, "six >= 1.16, <2", "six<2,>=1.16", 1), false},
		{"specifier changed", strings.Replace(base, "six >= 1.16, <2", "six >= 1.17, <2", 1), true},
		{"dependency added", strings.Replace(base, "\"IniConfig~=2.0\"", "\"IniConfig~=2.0\", \"certifi\"", 1), true},
		{"dependency removed", strings.Replace(base, ", \"IniConfig~=2.0\"", "", 1), true},
		{"marker added", strings.Replace(base, "\"IniConfig~=2.0\"", "\"IniConfig~=2.0 ; sys_platform == 'linux'\"", 1), true},
		{"extra changed", strings.Replace(base, "pluggy>=1", "pluggy>=1.5", 1), true},
		{"group changed", strings.Replace(base, "lint = [\"six\"]", "lint = [\"six\", \"idna\"]", 1), true},
		{"requires-python", strings.Replace(base, ">= 3.9, <4", ">=3.10", 1), true},
		{"renamed", strings.Replace(base, "Demo_Pkg", "other", 1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writeFiles(t, dir, map[string]string{"pyproject.toml": tt.pyproject})
			got := checkFiles(t, dir)
			if (len(got) > 0) != tt.stale {
				st, _ := CheckLocks(ctx, dir)
				t.Errorf("stale = %v, want %v: %+v", len(got) > 0, tt.stale, st)
			}
			// uv itself is the oracle: --locked fails exactly when the lock is out of date.
			err := exec.CommandContext(ctx, uv, "lock", "--locked", "-q", "--directory", dir).Run()
			if (err != nil) != tt.stale {
				t.Errorf("uv lock --locked disagrees with the table: err=%v", err)
			}
			if tt.stale {
				if d := cmp.Diff([]string{"uv.lock → uv lock"}, got); d != "" {
					t.Errorf("(-want +got):\n%s", d)
				}
			}
		})
	}
}

// toolHash runs a script with the tools venv's Python in dir and returns what it prints.
func toolHash(t *testing.T, bin, dir, script string) string {
	t.Helper()
	out := run(t, context.Background(), dir, filepath.Join(bin, "python"), "-c", script)
	return strings.TrimSpace(out)
}

const poetryHashScript = `
import tomllib
from pathlib import Path
from poetry.packages.locker import Locker
print(Locker(Path("poetry.lock"), tomllib.loads(Path("pyproject.toml").read_text()))._get_content_hash())
`

const pdmHashScript = `
from pdm.project.project_file import PyProject
from pdm.termui import UI
print(PyProject("pyproject.toml", ui=UI()).content_hash())
`

var hashProjects = map[string]string{
	"project": `[project]
name = "demo"
version = "1.0"
requires-python = ">=3.9"
dependencies = ["six>=1.16", "caf\u00e9-lib ; python_version < '3.12'"]
[project.optional-dependencies]
test = ["pytest>=8"]
[tool.poetry]
package-mode = false
`,
	"groups": `[project]
name = "demo"
version = "1.0"
dependencies = []
[dependency-groups]
Dev_Tools = ["ruff", {include-group = "t"}]
t = ["pytest"]
[tool.pdm]
source = [{name = "pypi", url = "https://pypi.org/simple", verify_ssl = true}]
[tool.pdm.resolution]
allow-prereleases = false
respect-source-order = true
`,
	"legacy poetry": `[tool.poetry]
name = "demo"
version = "1.0"
description = ""
authors = []
[tool.poetry.dependencies]
python = "^3.9"
requests = {version = "^2.31", extras = ["socks"], optional = true}
[tool.poetry.extras]
socks = ["requests"]
[tool.poetry.group.dev.dependencies]
pytest = "^8.0"
[tool.pdm.dev-dependencies]
lint = ["ruff>=0.5"]
`,
}

func TestLockHashesMatchTools(t *testing.T) {
	bin := toolsVenv(t)
	for name, pyproject := range hashProjects {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"pyproject.toml": pyproject})
			doc, err := readPyproject(dir)
			if err != nil {
				t.Fatal(err)
			}
			gotPoetry, err := poetryContentHash(doc, true)
			if err != nil {
				t.Fatal(err)
			}
			if want := toolHash(t, bin, dir, poetryHashScript); gotPoetry != want {
				t.Errorf("poetry content-hash = %s, Poetry computes %s", gotPoetry, want)
			}
			if doc["project"] == nil {
				return // PDM converts Poetry metadata into [project] before hashing; not reproduced
			}
			gotPDM, err := pdmContentHash(doc, false)
			if err != nil {
				t.Fatal(err)
			}
			if want := toolHash(t, bin, dir, pdmHashScript); gotPDM != want {
				t.Errorf("pdm content_hash = %s, PDM computes %s", gotPDM, want)
			}
		})
	}
}

func TestCheckLocksPoetryAndPDM(t *testing.T) {
	bin := toolsVenv(t)
	dir := t.TempDir()
	pyproject := hashProjects["project"]
	writeFiles(t, dir, map[string]string{"pyproject.toml": pyproject})
	// The lock files carry the hashes the real tools compute for this pyproject.
	poetryHash := toolHash(t, bin, dir, poetryHashScript)
	pdmHash := toolHash(t, bin, dir, pdmHashScript)
	writeFiles(t, dir, map[string]string{
		"poetry.lock": "# This file is automatically @generated by Poetry 2.5.1 and should not be changed by hand.\n\npackage = []\n\n[metadata]\nlock-version = \"2.1\"\npython-versions = \">=3.9\"\ncontent-hash = \"" + poetryHash + "\"\n",
		"pdm.lock":    "# This file is @generated by PDM.\n# It is not intended for manual editing.\n\n[metadata]\ngroups = [\"default\"]\nstrategy = [\"inherit_metadata\"]\nlock_version = \"4.5.0\"\ncontent_hash = \"sha256:" + pdmHash + "\"\n",
	})
	if got := checkFiles(t, dir); len(got) != 0 {
		t.Fatalf("fresh locks reported stale: %v", got)
	}
	writeFiles(t, dir, map[string]string{"pyproject.toml": strings.Replace(pyproject, "version = \"1.0\"", "version = \"1.1\"", 1)})
	if got := checkFiles(t, dir); len(got) != 0 {
		t.Errorf("a version bump made locks stale: %v", got)
	}
	writeFiles(t, dir, map[string]string{"pyproject.toml": strings.Replace(pyproject, "six>=1.16", "six>=1.17", 1)})
	want := []string{"pdm.lock → pdm lock", "poetry.lock → poetry lock"}
	if d := cmp.Diff(want, checkFiles(t, dir)); d != "" {
		t.Errorf("after a dependency change (-want +got):\n%s", d)
	}
}

func TestCheckLocksPipTools(t *testing.T) {
	bin := toolsVenv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"requirements.in": "-r base.in\niniconfig~=2.0\n",
		"base.in":         "six>=1.16\n",
	})
	run(t, ctx, dir, filepath.Join(bin, "pip-compile"), "-q", "--strip-extras", "--no-header", "requirements.in")
	// --no-header drops the header on purpose above: such a file is not recognised as compiled.
	if got := checkFiles(t, dir); len(got) != 0 {
		t.Fatalf("headerless file checked: %v", got)
	}
	run(t, ctx, dir, filepath.Join(bin, "pip-compile"), "-q", "--strip-extras", "requirements.in")
	if got := checkFiles(t, dir); len(got) != 0 {
		st, _ := CheckLocks(ctx, dir)
		t.Fatalf("fresh pip-compile output reported stale: %+v", st)
	}
	if checked, _, err := CheckLockFiles(ctx, dir); err != nil || !cmp.Equal(checked, []string{"requirements.txt"}) {
		t.Errorf("CheckLockFiles checked %v, %v; want requirements.txt", checked, err)
	}
	fix := "pip-compile --strip-extras requirements.in"
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"comment added", map[string]string{"requirements.in": "# tools\n-r base.in\niniconfig~=2.0\n"}, nil},
		{"new requirement", map[string]string{"requirements.in": "-r base.in\niniconfig~=2.0\npluggy\n"}, []string{"requirements.txt → " + fix}},
		{"unsatisfied in include", map[string]string{"base.in": "six<1.16\n"}, []string{"requirements.txt → " + fix}},
		{"input deleted", map[string]string{"base.in": ""}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writeFiles(t, dir, map[string]string{"requirements.in": "-r base.in\niniconfig~=2.0\n", "base.in": "six>=1.16\n"})
			writeFiles(t, dir, tt.files)
			if d := cmp.Diff(tt.want, checkFiles(t, dir)); d != "" {
				st, _ := CheckLocks(ctx, dir)
				t.Errorf("(-want +got):\n%s\n%+v", d, st)
			}
		})
	}
}
