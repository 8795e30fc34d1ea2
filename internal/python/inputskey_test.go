package python

import (
	"testing"
)

func TestInputsKeyOK(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"requirements-dev.txt":        "-r requirements.txt\n-c constraints/c.txt\npytest==8.3.3 --hash=sha256:abc\nruff==0.6.9 ; python_version >= '3.8'\n",
		"requirements.txt":            "# runtime\nrequests==2.32.3 \\\n    --hash=sha256:def\n",
		"constraints/c.txt":           "-r nested.txt\nurllib3<3\n",
		"constraints/nested.txt":      "idna==3.10\n",
		"unpinned.txt":                "requests\n",
		"url.txt":                     "foo @ https://example.com/foo.tar.gz\n",
		"pyproject.toml":              "[project]\nname = \"x\"\n",
		"uv.lock":                     "version = 1\n",
		"sub/pyproject.toml":          "[project]\nname = \"sub\"\n",
		"dist/x-1.0-py3-none-any.whl": "wheel bytes",
	})
	interp := Interpreter{Path: "/py/bin/python3", Version: "3.11.7", Impl: "cpython"}
	tests := []struct {
		cmd string
		ok  bool
	}{
		{"pip install -r requirements-dev.txt", true},
		{"python -m pip install --requirement=requirements.txt", true},
		{"python3.11 -m pip install -q -r requirements.txt pytest==8.3.3", true},
		{"uv pip install -r requirements.txt", true},
		{"pip install -e .", true},
		{"pip install -e '.[dev]'", true},
		// A non-editable local project is copied into the environment:
		// its source is an input no key covers.
		{"pip install .", false},
		{"pip install ./sub", false},
		{"pip install dist/x-1.0-py3-none-any.whl", true},
		{"pip install \\\n  -r requirements.txt", true},
		{"pip install -U -r requirements.txt", true},
		{"uv sync --locked", true},
		{"uv sync", true},
		{"poetry install", false}, // no poetry.lock
		{"pip install -U -e .", false},
		{"uv sync --upgrade", false},
		{"pip install requests", false},
		{"pip install 'requests>=2'", false},
		{"pip install -r unpinned.txt", false},
		{"pip install -r url.txt", false},
		{"pip install git+https://github.com/x/y", false},
		{"pip install -r requirements.txt && pytest", false},
		{"pip install -r requirements.txt; echo", false},
		{"pip install -r requirements.txt | tee log", false},
		{"pip install -r $REQS", false},
		{"pip install -r \"$(echo requirements.txt)\"", false},
		{"pytest -q", false},
		{"pip list", false},
	}
	for _, tt := range tests {
		key, ok, err := InputsKey(dir, interp, tt.cmd)
		if err != nil {
			t.Errorf("InputsKey(%q): %v", tt.cmd, err)
			continue
		}
		if ok != tt.ok || (ok && len(key) != 64) || (!ok && key != "") {
			t.Errorf("InputsKey(%q) = %q, %v; want ok=%v", tt.cmd, key, ok, tt.ok)
		}
	}
	if _, _, err := InputsKey(dir, interp, "pip install -r missing.txt"); err == nil {
		t.Error("InputsKey with a missing requirements file gave no error")
	}
}

func TestInputsKeyChanges(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"requirements-dev.txt":  "-r base/requirements.txt\npytest==8.3.3\n",
		"base/requirements.txt": "-c constraints.txt\nrequests==2.32.3\n",
		"base/constraints.txt":  "urllib3==2.2.3\n",
		"pyproject.toml":        "[project]\nname = \"x\"\n",
		"uv.lock":               "version = 1\n",
	})
	interp := Interpreter{Path: "/py/bin/python3", Version: "3.11.7", Impl: "cpython"}
	key := func(cmd string, in Interpreter) string {
		t.Helper()
		k, ok, err := InputsKey(dir, in, cmd)
		if err != nil || !ok {
			t.Fatalf("InputsKey(%q) = %v, %v", cmd, ok, err)
		}
		return k
	}
	const cmd = "pip install -r requirements-dev.txt"
	base := key(cmd, interp)
	if again := key(cmd, interp); again != base {
		t.Error("InputsKey is not stable")
	}
	other := interp
	other.Version = "3.11.8"
	if key(cmd, other) == base {
		t.Error("key ignores the interpreter version")
	}
	other = interp
	other.Path = "/other/python3"
	if key(cmd, other) == base {
		t.Error("key ignores the interpreter path")
	}
	if key("pip install -q -r requirements-dev.txt", interp) == base {
		t.Error("key ignores the command")
	}
	// A change two includes deep must change the key.
	writeFiles(t, dir, map[string]string{"base/constraints.txt": "urllib3==2.2.2\n"})
	changed := key(cmd, interp)
	if changed == base {
		t.Error("key unchanged after editing a nested constraints file")
	}
	writeFiles(t, dir, map[string]string{"base/requirements.txt": "-c constraints.txt\nrequests==2.32.2\n"})
	if key(cmd, interp) == changed {
		t.Error("key unchanged after editing an included requirements file")
	}
	sync := key("uv sync --locked", interp)
	writeFiles(t, dir, map[string]string{"uv.lock": "version = 1\nrevision = 2\n"})
	if key("uv sync --locked", interp) == sync {
		t.Error("uv sync key unchanged after editing uv.lock")
	}
	edit := key("pip install -e .", interp)
	writeFiles(t, dir, map[string]string{"pyproject.toml": "[project]\nname = \"x\"\ndependencies = [\"six==1.16.0\"]\n"})
	if key("pip install -e .", interp) == edit {
		t.Error("editable key unchanged after editing pyproject.toml")
	}
}
