package python

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/testenv"
)

// uvProject is a uv project built by real uv (flit_core from a local
// find-links directory, no index) into its .venv, as `uv sync` in a job.
type uvProject struct {
	t        *testing.T
	ws, venv string
	uv       string
	env      []string
	dl       string
}

func newUVProject(t *testing.T, pyproject string) *uvProject {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a project with uv; skipped with -short")
	}
	uvPy := testenv.ToolsPython(t, "warmcold-uv", "uv==0.13.9")
	dl := testenv.Download(t, "warmcold", "flit_core==3.9.0")
	py := pyenvPython(t, "3.11.7")
	p := &uvProject{t: t, ws: filepath.Join(t.TempDir(), "ws"), uv: filepath.Join(filepath.Dir(uvPy), "uv"), dl: dl}
	p.venv = filepath.Join(p.ws, ".venv")
	p.env = []string{"UV_CACHE_DIR=" + filepath.Join(t.TempDir(), "uvcache"), "UV_PYTHON=" + py, "UV_NO_INDEX=1", "UV_FIND_LINKS=" + dl, "UV_PYTHON_DOWNLOADS=never", "VIRTUAL_ENV="}
	writeFiles(t, p.ws, map[string]string{"pyproject.toml": pyproject, "calc/__init__.py": "def add(a, b):\n    return a + b\n"})
	p.uvRun("lock")
	p.uvRun("sync", "--locked")
	return p
}

func (p *uvProject) uvRun(args ...string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.uv, args...)
	cmd.Dir = p.ws
	cmd.Env = append(os.Environ(), p.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		p.t.Fatalf("uv %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// checkout writes the project's files anew with the same bytes, as a
// checkout into a new workspace does: new ctimes, same contents.
func (p *uvProject) checkout() {
	p.t.Helper()
	for _, f := range []string{"pyproject.toml", "calc/__init__.py"} {
		b, err := os.ReadFile(filepath.Join(p.ws, f))
		if err != nil {
			p.t.Fatal(err)
		}
		os.Remove(filepath.Join(p.ws, f))
		if err := os.WriteFile(filepath.Join(p.ws, f), b, 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
}

// keyed is what the recognizer keys for `uv sync --locked` in the project.
func (p *uvProject) keyed() map[string]string {
	p.t.Helper()
	in, err := Recognize(Command{Script: "uv sync --locked", Dir: p.ws, Workspace: p.ws,
		Env: map[string]string{"PATH": "/usr/bin", "HOME": p.t.TempDir()}, Managed: func(string) bool { return true }})
	if err != nil {
		p.t.Fatal(err)
	}
	return in.Values
}

// rebuilds says whether `uv run` finds the installed project stale (and
// builds it again), from uv's own debug log.
func (p *uvProject) rebuilds() bool {
	p.t.Helper()
	out := p.uvRun("run", "--frozen", "-v", "python", "-c", "import calc")
	return strings.Contains(out, "not fresh: calc")
}

const uvStampPyproject = `[build-system]
requires = ["flit_core>=3.4"]
build-backend = "flit_core.buildapi"

[project]
name = "calc"
version = "0.1.0"
description = "adds"
requires-python = ">=3.11"
`

// TestRestampUVBuilds: after a checkout writes the project's files anew,
// real uv finds the kept build stale; restamped where the keyed inputs
// prove the files unchanged, uv takes it as it is; in every other case the
// stamp is left alone and uv rebuilds, as on a fresh machine.
func TestRestampUVBuilds(t *testing.T) {
	t.Parallel()
	t.Run("unchanged files: uv keeps the build", func(t *testing.T) {
		t.Parallel()
		p := newUVProject(t, uvStampPyproject)
		keyed := p.keyed()
		p.checkout()
		done, err := RestampUVBuilds([]string{p.venv}, p.ws, []map[string]string{keyed})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([]string{"."}, done); d != "" {
			t.Fatalf("restamped (-want +got):\n%s", d)
		}
		if p.rebuilds() {
			t.Fatal("uv rebuilds the project after the restamp: the stamp is not what uv computes")
		}
		// The distribution's RECORD still describes the stamp.
		stamps, _ := filepath.Glob(filepath.Join(p.venv, "lib", "*", "site-packages", "calc-*.dist-info", "uv_cache.json"))
		if len(stamps) != 1 {
			t.Fatalf("stamps: %v", stamps)
		}
		b, _ := os.ReadFile(stamps[0])
		sum := sha256.Sum256(b)
		want := fmt.Sprintf("%s/uv_cache.json,sha256=%s,%d\n", filepath.Base(filepath.Dir(stamps[0])), base64.RawURLEncoding.EncodeToString(sum[:]), len(b))
		if rec, _ := os.ReadFile(filepath.Join(filepath.Dir(stamps[0]), "RECORD")); !strings.Contains(string(rec), want) {
			t.Fatalf("RECORD does not describe the new stamp %q:\n%s", want, rec)
		}
	})
	t.Run("without the restamp uv rebuilds", func(t *testing.T) {
		t.Parallel()
		p := newUVProject(t, uvStampPyproject)
		p.checkout()
		if !p.rebuilds() {
			t.Fatal("uv keeps a build whose files were written anew: this test no longer shows the cost the restamp removes")
		}
	})
	t.Run("changed pyproject.toml: left for uv to rebuild", func(t *testing.T) {
		t.Parallel()
		p := newUVProject(t, uvStampPyproject)
		keyed := p.keyed()
		writeFiles(t, p.ws, map[string]string{"pyproject.toml": strings.Replace(uvStampPyproject, `"0.1.0"`, `"0.2.0"`, 1)})
		done, err := RestampUVBuilds([]string{p.venv}, p.ws, []map[string]string{keyed})
		if err != nil || len(done) != 0 {
			t.Fatalf("restamped %v (%v) although pyproject.toml changed since it was keyed", done, err)
		}
		p.uvRun("lock")
		if out := p.uvRun("run", "--frozen", "python", "-c", "import importlib.metadata as m; print(m.version('calc'))"); !strings.Contains(out, "0.2.0") {
			t.Fatalf("uv run did not rebuild the changed project: %s", out)
		}
	})
	t.Run("custom cache-keys: uv decides", func(t *testing.T) {
		t.Parallel()
		p := newUVProject(t, uvStampPyproject+"\n[tool.uv]\ncache-keys = [{ file = \"pyproject.toml\" }, { env = \"CALC_FLAVOUR\" }]\n")
		keyed := p.keyed()
		p.checkout()
		if done, err := RestampUVBuilds([]string{p.venv}, p.ws, []map[string]string{keyed}); err != nil || len(done) != 0 {
			t.Fatalf("restamped %v (%v) a project with its own cache-keys", done, err)
		}
	})
	t.Run("a project no step keyed", func(t *testing.T) {
		t.Parallel()
		p := newUVProject(t, uvStampPyproject)
		keyed := p.keyed()
		delete(keyed, "names .")
		delete(keyed, "tree .")
		p.checkout()
		if done, err := RestampUVBuilds([]string{p.venv}, p.ws, []map[string]string{keyed}); err != nil || len(done) != 0 {
			t.Fatalf("restamped %v (%v) a project whose files no step keyed", done, err)
		}
	})
	t.Run("hostile: the environment links out of itself", func(t *testing.T) {
		t.Parallel()
		p := newUVProject(t, uvStampPyproject)
		keyed := p.keyed()
		p.checkout()
		// The job makes its environment's lib a link to a tree elsewhere
		// (here: the real one moved out); sluice must not write there.
		outside := filepath.Join(t.TempDir(), "lib")
		if err := os.Rename(filepath.Join(p.venv, "lib"), outside); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(p.venv, "lib")); err != nil {
			t.Fatal(err)
		}
		stamps, _ := filepath.Glob(filepath.Join(outside, "*", "site-packages", "calc-*.dist-info", "uv_cache.json"))
		if len(stamps) != 1 {
			t.Fatalf("stamps: %v", stamps)
		}
		before, _ := os.ReadFile(stamps[0])
		if done, err := RestampUVBuilds([]string{p.venv}, p.ws, []map[string]string{keyed}); err != nil || len(done) != 0 {
			t.Fatalf("restamped %v (%v) through a link out of the environment", done, err)
		}
		if after, _ := os.ReadFile(stamps[0]); string(after) != string(before) {
			t.Fatal("the stamp outside the environment was rewritten")
		}
	})
	t.Run("hostile: direct_url points outside the workspace", func(t *testing.T) {
		t.Parallel()
		p := newUVProject(t, uvStampPyproject)
		keyed := p.keyed()
		p.checkout()
		dus, _ := filepath.Glob(filepath.Join(p.venv, "lib", "*", "site-packages", "calc-*.dist-info", "direct_url.json"))
		if len(dus) != 1 {
			t.Fatalf("direct_url.json: %v", dus)
		}
		writeFiles(t, filepath.Dir(dus[0]), map[string]string{"direct_url.json": `{"url":"file://` + filepath.Dir(p.ws) + `/../..","dir_info":{"editable":true}}`})
		if done, err := RestampUVBuilds([]string{p.venv}, p.ws, []map[string]string{keyed}); err != nil || len(done) != 0 {
			t.Fatalf("restamped %v (%v) a project outside the workspace", done, err)
		}
	})
}
