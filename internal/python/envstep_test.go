package python

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// envFixture is a workspace and a job environment (not necessarily on
// disk: a deferred one is not) with PATH and VIRTUAL_ENV pointing at it.
type envFixture struct {
	ws, root, venv string
	env            map[string]string
}

func newEnvFixture(t *testing.T, files map[string]string) *envFixture {
	t.Helper()
	base := t.TempDir()
	f := &envFixture{ws: filepath.Join(base, "work"), root: filepath.Join(base, "envs")}
	f.venv = filepath.Join(f.root, "python-3.11")
	writeFiles(t, f.ws, files)
	home := filepath.Join(base, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	f.env = map[string]string{
		"PATH":        filepath.Join(f.venv, "bin") + ":/usr/bin:/bin",
		"VIRTUAL_ENV": f.venv,
		"HOME":        home,
		"GITHUB_SHA":  "0123",
	}
	return f
}

func (f *envFixture) managed(p string) bool {
	for _, d := range []string{f.root, f.ws} {
		if rel, err := filepath.Rel(d, p); err == nil && (rel == "." || filepath.IsLocal(rel)) {
			return true
		}
	}
	return false
}

func (f *envFixture) recognize(script string, env map[string]string) (StepInputs, error) {
	e := map[string]string{}
	for k, v := range f.env {
		e[k] = v
	}
	for k, v := range env {
		e[k] = v
	}
	return Recognize(Command{Script: script, Dir: f.ws, Workspace: f.ws, Env: e, Managed: f.managed})
}

func TestRecognize(t *testing.T) {
	f := newEnvFixture(t, map[string]string{
		"requirements-dev.txt":        "-r requirements.txt\n-c constraints/c.txt\npytest==8.3.3 --hash=sha256:abc\nruff==0.6.9 ; python_version >= '3.8'\n",
		"requirements.txt":            "# runtime\nrequests==2.32.3 \\\n    --hash=sha256:def\n",
		"constraints/c.txt":           "-r nested.txt\nurllib3<3\n",
		"constraints/nested.txt":      "idna==3.10\n",
		"unpinned.txt":                "requests\n",
		"url.txt":                     "foo @ https://example.com/foo.tar.gz\n",
		"pyproject.toml":              "[project]\nname = \"x\"\nversion = \"1\"\n[dependency-groups]\ntest = [\"pytest>=8\"]\n",
		"uv.lock":                     "version = 1\n",
		"sub/pyproject.toml":          "[project]\nname = \"sub\"\n",
		"dist/x-1.0-py3-none-any.whl": "wheel bytes",
	})
	tests := []struct {
		script string
		want   string // "install", "query", "echo", or why it is not an install
	}{
		{"pip install -r requirements-dev.txt", "install"},
		{"python -m pip install --requirement=requirements.txt", "install"},
		{"python3.11 -m pip install -q -r requirements.txt pytest==8.3.3", "install"},
		{"pip install -e .", "install"},
		{"pip install -e '.[dev]'", "install"},
		{"pip install .", "install"},
		{"pip install ./sub", "install"},
		{"pip install dist/x-1.0-py3-none-any.whl", "install"},
		{"pip install \\\n  -r requirements.txt", "install"},
		{"pip install -U -r requirements.txt", "install"},
		{"pip install requests", "install"},
		{"pip install 'requests>=2'", "install"},
		{"pip install -r unpinned.txt", "install"},
		{"pip install --group test", "install"},
		{"python -m pip install --upgrade pip\npip install -r requirements.txt", "install"},
		{"python -m pip install --upgrade pip && pip install -e .", "install"},
		{"set -euxo pipefail\npip install -e .", "install"},
		{"PIP_NO_CACHE_DIR=1 pip install -e .", "install"},
		{"if [ -f requirements.txt ]; then pip install -r requirements.txt; fi", "install"},
		{"if [ -f missing.txt ]; then pip install -r missing.txt; fi\npip install -e .", "install"},
		{"if [ -f requirements.txt ]; then\n  pip install -r requirements.txt\nfi", "install"},
		{"uv pip install -r requirements.txt", "install"},
		{"uv sync --locked", "install"},
		{"uv sync", "install"},
		{"uv venv", "install"},
		{"python -m venv .venv", "install"},
		{"poetry install", "install"},
		{"pdm install", "install"},
		{"python --version", "query"},
		{"pip list\npip --version", "query"},
		{"echo hello", "echo"},
		{"pip install -r url.txt", "fetched from a URL"},
		{"pip install git+https://github.com/x/y", "fetched from a URL"},
		{"pip install --user black", "outside the job's environment"},
		{"pip install --target t black", "only the job's own environment"},
		{"uv pip install --system black", "outside the job's environment"},
		{"/usr/bin/pip3 install black", "installs outside the job's environment"},
		{"python -m venv /tmp/elsewhere", "outside the job's environment"},
		{"pip install -r requirements.txt && pytest", "pytest is not an install"},
		{"pip install -r requirements.txt; echo", "shell features"},
		{"pip install -r requirements.txt | tee log", "shell features"},
		{"pip install -r $REQS", "shell features"},
		{"pip install -r \"$(echo requirements.txt)\"", "shell features"},
		{"echo PIP_CONSTRAINT=c.txt >> $GITHUB_ENV", "shell features"},
		{"python -c 'import sys'", "runs Python code"},
		{"pytest -q", "pytest is not an install"},
		{"if [ -f a ]; then pip install x; else pip install y; fi", "shell features"},
	}
	for _, tt := range tests {
		in, err := f.recognize(tt.script, nil)
		got := "install"
		switch {
		case err != nil && NotInstall(err):
			got = err.Error()
		case err != nil:
			t.Errorf("Recognize(%q): %v", tt.script, err)
			continue
		case in.Echo:
			got = "echo"
		case in.Query:
			got = "query"
		}
		if !strings.Contains(got, tt.want) {
			t.Errorf("Recognize(%q) = %q; want %q", tt.script, got, tt.want)
		}
		if got == "install" && len(in.Key()) != 64 {
			t.Errorf("Recognize(%q): key %q", tt.script, in.Key())
		}
	}
	if _, err := f.recognize("pip install -r missing.txt", nil); err == nil || NotInstall(err) {
		t.Errorf("a missing requirements file: %v; want a read error", err)
	}
}

// TestRecognizeKeyFollowsInputs changes one thing at a time and checks
// whether the key changes: everything an install reads changes it, nothing
// else does.
func TestRecognizeKeyFollowsInputs(t *testing.T) {
	files := map[string]string{
		"requirements.txt":      "-e .\nalpha\n",
		"c.txt":                 "beta==1.0\n",
		"pyproject.toml":        "[project]\nname = \"tally\"\nversion = \"0.1\"\nreadme = \"README.md\"\n",
		"README.md":             "tally\n",
		"src/tally/__init__.py": "X = 1\n",
		"notes.txt":             "unrelated\n",
	}
	script := "pip install -r requirements.txt"
	key := func(t *testing.T, f *envFixture, env map[string]string) string {
		t.Helper()
		in, err := f.recognize(script, env)
		if err != nil {
			t.Fatalf("Recognize: %v", err)
		}
		return in.Key()
	}
	tests := []struct {
		name    string
		change  func(f *envFixture) map[string]string // returns env additions
		changes bool
	}{
		{"nothing", func(*envFixture) map[string]string { return nil }, false},
		{"an unrelated file", func(f *envFixture) map[string]string {
			writeFiles(t, f.ws, map[string]string{"notes.txt": "other\n"})
			return nil
		}, false},
		{"the commit", func(*envFixture) map[string]string { return map[string]string{"GITHUB_SHA": "4567"} }, false},
		{"code of an editable project with static metadata", func(f *envFixture) map[string]string {
			writeFiles(t, f.ws, map[string]string{"src/tally/__init__.py": "X = 2\n"})
			return nil
		}, false},
		{"a new module in it", func(f *envFixture) map[string]string {
			writeFiles(t, f.ws, map[string]string{"src/tally/more.py": "Y = 1\n"})
			return nil
		}, true},
		{"its readme", func(f *envFixture) map[string]string {
			writeFiles(t, f.ws, map[string]string{"README.md": "tally!\n"})
			return nil
		}, true},
		{"the requirements file", func(f *envFixture) map[string]string {
			writeFiles(t, f.ws, map[string]string{"requirements.txt": "-e .\nalpha\ngamma\n"})
			return nil
		}, true},
		{"PIP_CONSTRAINT set", func(*envFixture) map[string]string { return map[string]string{"PIP_CONSTRAINT": "c.txt"} }, true},
		{"PIP_INDEX_URL set", func(*envFixture) map[string]string {
			return map[string]string{"PIP_INDEX_URL": "http://127.0.0.1:1/simple/"}
		}, true},
		{"UV_INDEX_URL set", func(*envFixture) map[string]string {
			return map[string]string{"UV_INDEX_URL": "http://127.0.0.1:1/simple/"}
		}, true},
		{"a pip.conf appears", func(f *envFixture) map[string]string {
			writeFiles(t, f.env["HOME"], map[string]string{".config/pip/pip.conf": "[global]\nindex-url = http://127.0.0.1:2/simple/\n"})
			return nil
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newEnvFixture(t, files)
			before := key(t, f, nil)
			env := tt.change(f)
			after := key(t, f, env)
			if (before != after) != tt.changes {
				t.Errorf("key changed = %v; want %v", before != after, tt.changes)
			}
		})
	}

	// The constraint file's bytes are an input when PIP_CONSTRAINT names it.
	f := newEnvFixture(t, files)
	env := map[string]string{"PIP_CONSTRAINT": "c.txt"}
	before := key(t, f, env)
	writeFiles(t, f.ws, map[string]string{"c.txt": "beta==1.1\n"})
	if key(t, f, env) == before {
		t.Error("changing the file PIP_CONSTRAINT names kept the key")
	}
}

func TestRecognizeDynamicProjectKeysItsTree(t *testing.T) {
	files := map[string]string{
		"pyproject.toml":        "[project]\nname = \"tally\"\ndynamic = [\"version\"]\n",
		"src/tally/__init__.py": "__version__ = '1'\n",
	}
	f := newEnvFixture(t, files)
	in, err := f.recognize("pip install -e .", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := in.Values["tree ."]; !ok {
		t.Fatalf("a dynamic-version project is not keyed by its tree: %v", in.Values)
	}
	writeFiles(t, f.ws, map[string]string{"src/tally/__init__.py": "__version__ = '2'\n"})
	in2, err := f.recognize("pip install -e .", nil)
	if err != nil {
		t.Fatal(err)
	}
	if in.Key() == in2.Key() {
		t.Error("a code change of a dynamic-version project kept the key")
	}
	if diff := cmp.Diff([]string{"tree ."}, Changed(in.Values, in2.Values)); diff != "" {
		t.Errorf("Changed (-want +got):\n%s", diff)
	}
}

func TestRecognizeIndexAndPins(t *testing.T) {
	f := newEnvFixture(t, map[string]string{
		"r.txt":          "--extra-index-url http://127.0.0.1:3/simple/\nalpha==1.0\nbeta>=2\n-c c.txt\n",
		"c.txt":          "gamma==3\n",
		"uv.lock":        "version = 1\n[[package]]\nname = \"x\"\nsource = { registry = \"http://127.0.0.1:4/simple\" }\n",
		"pyproject.toml": "[project]\nname = \"x\"\nversion = \"1\"\n",
	})
	writeFiles(t, f.env["HOME"], map[string]string{".config/pip/pip.conf": "[global]\nindex-url = http://127.0.0.1:2/simple/\nfind-links =\n    /opt/wheels\n"})
	in, err := f.recognize("pip install -r r.txt", map[string]string{"PIP_EXTRA_INDEX_URL": "http://127.0.0.1:5/simple/"})
	if err != nil {
		t.Fatal(err)
	}
	want := IndexSpec{URLs: []string{"http://127.0.0.1:2/simple/", "http://127.0.0.1:5/simple/", "http://127.0.0.1:3/simple/"}, FindLinks: []string{"/opt/wheels"}}
	if diff := cmp.Diff(want, in.Index); diff != "" {
		t.Errorf("index (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]bool{"alpha": true, "gamma": true}, in.Pinned); diff != "" {
		t.Errorf("pinned (-want +got):\n%s", diff)
	}
	uv, err := f.recognize("uv sync", nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"http://127.0.0.1:4/simple"}, uv.Index.URLs); diff != "" {
		t.Errorf("uv sync index (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"uv.lock"}, uv.Locks); diff != "" {
		t.Errorf("uv sync locks (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{filepath.Join(f.ws, ".venv")}, uv.Targets); diff != "" {
		t.Errorf("uv sync targets (-want +got):\n%s", diff)
	}
}

func FuzzRecognize(f *testing.F) {
	for _, s := range []string{"pip install -r r.txt", "uv sync --locked", "if [ -f r ]; then pip install x; fi", "a=b pip install 'x[y]>=1' && echo", "pip install -e . \\\n -c c.txt"} {
		f.Add(s)
	}
	ws := f.TempDir()
	f.Fuzz(func(t *testing.T, script string) {
		if len(script) > 4096 {
			return
		}
		_, _ = Recognize(Command{Script: script, Dir: ws, Workspace: ws, Env: map[string]string{"PATH": "/usr/bin"},
			Managed: func(p string) bool { return strings.HasPrefix(p, ws) }})
	})
}

// TestEditableKeyFollowsTheBackend: an editable project with static
// metadata is keyed by its file names only where the backend points at the
// source; a backend that compiles in editable mode, or a build hook, reads
// the sources' bytes, so a changed source must change the key.
func TestEditableKeyFollowsTheBackend(t *testing.T) {
	const meta = "[project]\nname = \"ext\"\nversion = \"0.1\"\n"
	for _, tc := range []struct {
		name, pyproject string
		extra           map[string]string
		bytesKeyed      bool
	}{
		{"setuptools", "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n" + meta, nil, false},
		{"hatchling", "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n" + meta, nil, false},
		{"hatchling with a build hook", "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n" + meta +
			"[tool.hatch.build.targets.wheel.hooks.custom]\n", nil, true},
		{"pdm-backend with pdm_build.py", "[build-system]\nrequires = [\"pdm-backend\"]\nbuild-backend = \"pdm.backend\"\n" + meta,
			map[string]string{"pdm_build.py": "def pdm_build_initialize(context):\n    pass\n"}, true},
		{"scikit-build-core", "[build-system]\nrequires = [\"scikit-build-core\"]\nbuild-backend = \"scikit_build_core.build\"\n" + meta, nil, true},
		{"maturin", "[build-system]\nrequires = [\"maturin\"]\nbuild-backend = \"maturin\"\n" + meta, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"pyproject.toml": tc.pyproject, "src/ext.cpp": "int x = 1;\n", "src/ext/__init__.py": ""}
			for k, v := range tc.extra {
				files[k] = v
			}
			f := newEnvFixture(t, files)
			in, err := f.recognize("pip install -e .", nil)
			if err != nil {
				t.Fatal(err)
			}
			writeFiles(t, f.ws, map[string]string{"src/ext.cpp": "int x = 2;\n"})
			in2, err := f.recognize("pip install -e .", nil)
			if err != nil {
				t.Fatal(err)
			}
			if changed := in.Key() != in2.Key(); changed != tc.bytesKeyed {
				t.Errorf("a changed source changes the key: %v, want %v (%v)", changed, tc.bytesKeyed, Changed(in.Values, in2.Values))
			}
		})
	}
}
