package python

import (
	"path"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDependencyFile(t *testing.T) {
	yes := []string{"requirements.txt", "requirements-dev.txt", "sub/requirements.in", "requirements/test.txt",
		"constraints.txt", "uv.lock", "poetry.lock", "pdm.lock", "Pipfile", "Pipfile.lock", "pyproject.toml",
		"pkg/pyproject.toml", "pylock.toml", "pylock.dev.toml", "dev-requirements.txt", "test_requirements.in",
		"constraints/ci.txt"}
	no := []string{"README.md", "src/app.py", "requirements.md", "setup.py", "dev.txt", "lock", "tests/uv.lock.py"}
	for _, p := range yes {
		if !DependencyFile(p) {
			t.Errorf("DependencyFile(%q) = false, want true", p)
		}
	}
	for _, p := range no {
		if DependencyFile(p) {
			t.Errorf("DependencyFile(%q) = true, want false", p)
		}
	}
	// The pathspecs git narrows a history with must let every dependency file through.
	for _, p := range yes {
		covered := false
		for _, spec := range DependencyPathspecs() {
			if ok, _ := path.Match(strings.TrimPrefix(spec, ":(glob)**/"), path.Base(p)); ok {
				covered = true
			}
		}
		if !covered {
			t.Errorf("no pathspec of %q matches %q", DependencyPathspecs(), p)
		}
	}
}

func TestOnlyDependencyTablesDiffer(t *testing.T) {
	base := `[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "app"
version = "1.0"
dependencies = ["requests>=2"]

[project.optional-dependencies]
dev = ["pytest"]

[tool.ruff]
line-length = 100
`
	tests := []struct {
		name, new string
		want      bool
	}{
		{"identical", base, false},
		{"dependency bumped", strings.Replace(base, `"requests>=2"`, `"requests>=2,<3"`, 1), true},
		{"extra added", strings.Replace(base, `dev = ["pytest"]`, `dev = ["pytest", "mypy"]`, 1), true},
		{"build requirement", strings.Replace(base, `["hatchling"]`, `["hatchling<1.27"]`, 1), true},
		{"dependency groups added", base + "\n[dependency-groups]\nlint = [\"ruff\"]\n", true},
		{"version bumped", strings.Replace(base, `version = "1.0"`, `version = "1.1"`, 1), false},
		{"tool setting", strings.Replace(base, "line-length = 100", "line-length = 120", 1), false},
		{"both", strings.Replace(strings.Replace(base, "line-length = 100", "line-length = 120", 1), `"requests>=2"`, `"requests"`, 1), false},
		{"broken toml", base + "[[[", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := OnlyDependencyTablesDiffer([]byte(base), []byte(tt.new)); got != tt.want {
				t.Errorf("OnlyDependencyTablesDiffer = %v, want %v", got, tt.want)
			}
		})
	}
	poetry := "[tool.poetry]\nname = \"x\"\n[tool.poetry.dependencies]\npython = \"^3.11\"\nrequests = \"^2\"\n[tool.poetry.group.dev.dependencies]\npytest = \"^8\"\n"
	if !OnlyDependencyTablesDiffer([]byte(poetry), []byte(strings.Replace(poetry, `pytest = "^8"`, `pytest = "8.1.0"`, 1))) {
		t.Error("a poetry group's dependency change is a dependency-only change")
	}
}

func TestPinChanges(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		old, new string
		want     []PinChange
	}{
		{"exact pin added to an unpinned requirement", "requirements.txt", "requests>=2\nflask\n", "requests==2.31.0\nflask\n",
			[]PinChange{{File: "requirements.txt", Package: "requests", Kind: PinExact, From: ">=2", To: "==2.31.0"}}},
		{"upper bound added", "requirements.in", "urllib3\n", "urllib3<2 ; python_version < '3.12'\n",
			[]PinChange{{File: "requirements.in", Package: "urllib3", Kind: PinUpperBound, To: "<2"}}},
		{"compatible release is a cap", "requirements.txt", "django>=4\n", "django~=4.2\n",
			[]PinChange{{File: "requirements.txt", Package: "django", Kind: PinUpperBound, From: ">=4", To: "~=4.2"}}},
		{"cap lowered", "requirements.txt", "numpy<3\n", "numpy<2.1\n",
			[]PinChange{{File: "requirements.txt", Package: "numpy", Kind: PinUpperBound, From: "<3", To: "<2.1"}}},
		{"cap raised is not a pin", "requirements.txt", "numpy<2\n", "numpy<3\n", nil},
		{"exact downgrade", "constraints.txt", "idna==3.7\n", "idna==3.6\n",
			[]PinChange{{File: "constraints.txt", Package: "idna", Kind: PinDowngrade, From: "==3.7", To: "==3.6"}}},
		{"exact upgrade is not a pin", "constraints.txt", "idna==3.6\n", "idna==3.7\n", nil},
		{"unpinning is not a pin", "requirements.txt", "idna==3.6\n", "idna\n", nil},
		{"new package pinned", "requirements.txt", "flask\n", "flask\nsix==1.16.0 --hash=sha256:abc\n",
			[]PinChange{{File: "requirements.txt", Package: "six", Kind: PinExact, To: "==1.16.0"}}},
		{"new file, every requirement pinned: a lock, not pins", "requirements.txt", "", "# locked\nsix==1.16.0 --hash=sha256:abc\nidna==3.7\n", nil},
		{"package added to a fully pinned file is not a pin", "requirements.txt", "idna==3.7\n", "idna==3.7\nsix==1.16.0\n", nil},
		{"fully pinned file: a range narrowed to one version is", "requirements.txt", "requests>=2\nidna==3.7\n", "requests==2.31.0\nidna==3.7\nsix==1.0\n",
			[]PinChange{{File: "requirements.txt", Package: "requests", Kind: PinExact, From: ">=2", To: "==2.31.0"}}},
		{"lower bound raised under the same cap is not a pin", "requirements.in", "beta>=1,<2\n", "beta>=1.1,<2\n", nil},
		{"wildcard pin is a cap", "requirements.in", "beta\n", "beta==1.2.*\n",
			[]PinChange{{File: "requirements.in", Package: "beta", Kind: PinUpperBound, To: "==1.2.*"}}},
		{"options and urls skipped", "requirements.txt", "", "-r base.txt\n-e .\npkg @ https://x/y.whl\n--index-url https://i\n", nil},
		{"compiled requirements: only downgrades", "requirements.txt",
			"# This file is autogenerated by pip-compile with Python 3.12\n# by the following command:\n#\n#    pip-compile\n#\nattrs==23.2.0\n    # via x\nidna==3.7\n",
			"# This file is autogenerated by pip-compile with Python 3.12\n# by the following command:\n#\n#    pip-compile\n#\nattrs==24.1.0\nidna==3.6\nnew==1.0\n",
			[]PinChange{{File: "requirements.txt", Package: "idna", Kind: PinDowngrade, From: "3.7", To: "3.6"}}},
		{"uv.lock downgrade", "uv.lock",
			"version = 1\n[[package]]\nname = \"Requests\"\nversion = \"2.32.3\"\n[[package]]\nname = \"idna\"\nversion = \"3.7\"\n",
			"version = 1\n[[package]]\nname = \"requests\"\nversion = \"2.31.0\"\n[[package]]\nname = \"idna\"\nversion = \"3.8\"\n",
			[]PinChange{{File: "uv.lock", Package: "requests", Kind: PinDowngrade, From: "2.32.3", To: "2.31.0"}}},
		{"Pipfile.lock downgrade", "Pipfile.lock",
			`{"_meta": {"sources": [{"url": "x"}]}, "default": {"flask": {"version": "==3.0.3"}}, "develop": {}}`,
			`{"_meta": {"sources": [{"url": "x"}]}, "default": {"flask": {"version": "==3.0.0"}}, "develop": {}}`,
			[]PinChange{{File: "Pipfile.lock", Package: "flask", Kind: PinDowngrade, From: "3.0.3", To: "3.0.0"}}},
		{"pyproject dependency pinned", "pyproject.toml",
			"[project]\nname = \"a\"\ndependencies = [\"httpx>=0.27\"]\n[dependency-groups]\ndev = [\"pytest\"]\n",
			"[project]\nname = \"a\"\ndependencies = [\"httpx>=0.27,<0.28\"]\n[dependency-groups]\ndev = [\"pytest==8.3.2\"]\n",
			[]PinChange{{File: "pyproject.toml", Package: "httpx", Kind: PinUpperBound, From: ">=0.27", To: ">=0.27,<0.28"},
				{File: "pyproject.toml", Package: "pytest", Kind: PinExact, To: "==8.3.2"}}},
		{"poetry bare version is a pin, caret is not", "pyproject.toml",
			"[tool.poetry.dependencies]\npython = \"^3.11\"\nrequests = \"^2.31\"\nrich = \"*\"\n",
			"[tool.poetry.dependencies]\npython = \"3.11.9\"\nrequests = \"2.31.0\"\nrich = \"^13\"\n",
			[]PinChange{{File: "pyproject.toml", Package: "requests", Kind: PinExact, To: "==2.31.0"}}},
		{"Pipfile cap", "Pipfile", "[packages]\nflask = \"*\"\n", "[packages]\nflask = \"<3\"\n",
			[]PinChange{{File: "Pipfile", Package: "flask", Kind: PinUpperBound, To: "<3"}}},
		{"not a dependency file", "app.py", "", "x==1\n", nil},
		{"broken lock", "uv.lock", "[[package]\n", "[[package]]\nname=1\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PinChanges(tt.file, []byte(tt.old), []byte(tt.new))
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("PinChanges (-want +got):\n%s", d)
			}
		})
	}
}

// A huge file from a push is not read: no time or memory goes into it.
func TestPinChangesBoundsInput(t *testing.T) {
	big := []byte(strings.Repeat("pkg==1.0\n", maxDepFile/9+1))
	if got := PinChanges("requirements.txt", nil, big); got != nil {
		t.Errorf("PinChanges of a %d-byte file = %v, want nothing read", len(big), got)
	}
	if OnlyDependencyTablesDiffer(nil, big) {
		t.Error("OnlyDependencyTablesDiffer read a file over the bound")
	}
}

func FuzzPinChanges(f *testing.F) {
	f.Add("requirements.txt", "a==1\nb>=2\n", "a==0.9\nb<3\n")
	f.Add("uv.lock", "[[package]]\nname='a'\nversion='1'\n", "[[package]]\nname='a'\nversion='0.1'\n")
	f.Add("pyproject.toml", "[project]\ndependencies=['x']\n", "[project]\ndependencies=['x~=1.2']\n")
	f.Add("Pipfile.lock", `{"default":{"a":{"version":"==2"}}}`, `{"default":{"a":{"version":"==1"}}}`)
	f.Add("Pipfile", "[packages]\na={version='==1'}\n", "[packages]\na='==0.1.*'\n")
	f.Fuzz(func(t *testing.T, file, old, new string) {
		for _, c := range PinChanges(file, []byte(old), []byte(new)) {
			if c.Package == "" || c.To == "" && c.Kind != PinDowngrade {
				t.Fatalf("PinChanges(%q) gave an empty change %+v", file, c)
			}
		}
		OnlyDependencyTablesDiffer([]byte(old), []byte(new))
	})
}

func TestDependencyState(t *testing.T) {
	type state struct{ Declared, Locked map[string]string }
	tests := []struct {
		name, file, data string
		want             state
	}{
		{"requirements declare", "requirements.in", "alpha\nbeta>=1,<1.3\n-r other.txt\n",
			state{map[string]string{"alpha": "", "beta": ">=1,<1.3"}, map[string]string{}}},
		{"compiled requirements lock", "requirements.txt", "# This file is autogenerated by pip-compile with Python 3.12\n# by the following command:\n#\n#    pip-compile\n#\nIdna==3.7\n",
			state{map[string]string{}, map[string]string{"idna": "3.7"}}},
		{"uv.lock locks", "uv.lock", "version = 1\n[[package]]\nname = \"Delta\"\nversion = \"1.0.0\"\n",
			state{map[string]string{}, map[string]string{"delta": "1.0.0"}}},
		{"pyproject constraint dependencies", "pyproject.toml", "[project]\nname = \"a\"\ndependencies = [\"delta\"]\n[tool.uv]\nconstraint-dependencies = [\"delta==1.0.0\"]\n",
			state{map[string]string{"delta": "==1.0.0"}, map[string]string{}}},
		{"not a dependency file", "setup.py", "x==1\n", state{map[string]string{}, map[string]string{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got state
			got.Declared, got.Locked = DependencyState(tt.file, []byte(tt.data))
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("DependencyState (-want +got):\n%s", d)
			}
		})
	}
}
