package python

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreateVenv(t *testing.T) {
	py := pyenvPython(t, "3.11.7")
	interp := Interpreter{Path: py, Version: "3.11.7", Impl: "cpython"}
	ctx := context.Background()
	for _, way := range []string{"venv", "uv"} {
		t.Run(way, func(t *testing.T) {
			uv := ""
			if way == "uv" {
				uv = filepath.Join(toolsVenv(t), "uv")
			}
			dir := filepath.Join(t.TempDir(), "env")
			binDir, python, err := CreateVenv(ctx, interp, dir, uv, "")
			if err != nil {
				t.Fatal(err)
			}
			if binDir != filepath.Join(dir, "bin") || python != filepath.Join(binDir, "python") {
				t.Errorf("CreateVenv = %s, %s", binDir, python)
			}
			ver := run(t, ctx, "", python, "-c", "import sys; print(sys.prefix != sys.base_prefix, '%d.%d.%d' % sys.version_info[:3])")
			if strings.TrimSpace(ver) != "True 3.11.7" {
				t.Errorf("venv python reports %q", ver)
			}
			frozen, err := Freeze(ctx, python)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(frozen, "pip==") {
				t.Errorf("pip missing from the new environment: %q", frozen)
			}
			// Recreating over an existing environment replaces it (uv only: ensurepip is slow).
			if way != "uv" {
				return
			}
			if _, _, err := CreateVenv(ctx, interp, dir, uv, ""); err != nil {
				t.Errorf("recreating: %v", err)
			}
		})
	}
	// A directory that is not a virtual environment is never removed.
	keep := t.TempDir()
	writeFiles(t, keep, map[string]string{"important.txt": "x"})
	if _, _, err := CreateVenv(ctx, interp, keep, "", ""); err == nil {
		t.Error("CreateVenv over a non-venv directory succeeded")
	}
	if _, err := os.Stat(filepath.Join(keep, "important.txt")); err != nil {
		t.Errorf("non-venv directory was touched: %v", err)
	}
}

func TestFreezeSorted(t *testing.T) {
	py := pyenvPython(t, "3.11.7")
	ctx := context.Background()
	_, python, err := CreateVenv(ctx, Interpreter{Path: py, Version: "3.11.7"}, filepath.Join(t.TempDir(), "e"), filepath.Join(toolsVenv(t), "uv"), "")
	if err != nil {
		t.Fatal(err)
	}
	wheelDir := t.TempDir()
	// Two tiny local projects installed out of order must come out sorted.
	for _, name := range []string{"zzz-pkg", "aaa-pkg"} {
		d := filepath.Join(wheelDir, name)
		writeFiles(t, d, map[string]string{"pyproject.toml": "[project]\nname = \"" + name + "\"\nversion = \"1.0\"\n[build-system]\nrequires = []\nbuild-backend = \"x\"\nbackend-path = [\".\"]\n",
			"x.py": minimalBackend})
		run(t, ctx, "", python, "-m", "pip", "install", "-q", "--no-index", "--no-build-isolation", d)
	}
	frozen, err := Freeze(ctx, python)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(frozen, "\n")
	ai, zi := -1, -1
	for i, l := range lines {
		if strings.HasPrefix(l, "aaa-pkg") || strings.HasPrefix(l, "aaa_pkg") {
			ai = i
		}
		if strings.HasPrefix(l, "zzz-pkg") || strings.HasPrefix(l, "zzz_pkg") {
			zi = i
		}
	}
	if ai < 0 || zi < 0 || ai > zi {
		t.Errorf("freeze not sorted or missing packages:\n%s", frozen)
	}
}

// minimalBackend is a PEP 517 backend that builds a wheel holding only metadata, so the test
// needs no setuptools download.
const minimalBackend = `
import base64, hashlib, os, zipfile, tomllib
def _meta():
    with open("pyproject.toml", "rb") as f:
        p = tomllib.load(f)["project"]
    return p["name"].replace("-", "_"), p["version"]
def get_requires_for_build_wheel(config_settings=None):
    return []
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name, version = _meta()
    fn = f"{name}-{version}-py3-none-any.whl"
    di = f"{name}-{version}.dist-info"
    files = {
        f"{di}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{di}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, fn), "w") as z:
        for path, text in files.items():
            data = text.encode()
            z.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")
        record.append(f"{di}/RECORD,,")
        z.writestr(f"{di}/RECORD", "\n".join(record) + "\n")
    return fn
`
