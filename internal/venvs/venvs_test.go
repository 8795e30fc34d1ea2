package venvs

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/python"
)

// testInterp is the machine's CPython 3.11 as Discover reports it; the test
// is skipped where there is none.
func testInterp(t *testing.T) python.Interpreter {
	t.Helper()
	found, err := python.Discover(context.Background(), nil)
	if err != nil {
		t.Fatalf("discovering interpreters: %v", err)
	}
	spec, err := python.ParseSpec("3.11", false)
	if err != nil {
		t.Fatal(err)
	}
	interp, err := python.Select(found, spec)
	if err != nil {
		t.Skipf("no Python 3.11 on this machine: %v", err)
	}
	return interp
}

// testUV is uv when it is on PATH or in the tools environment the python
// package's tests keep; environments are then made in ~0.1 s instead of
// seconds. "" means `python -m venv`.
func testUV() string {
	if p, err := exec.LookPath("uv"); err == nil {
		return p
	}
	if cache, err := os.UserCacheDir(); err == nil {
		p := filepath.Join(cache, "sluice-test-tools", "venv", "bin", "uv")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// writeWheel writes a pure-Python wheel holding one module, name.py, whose
// VALUE is version, so installs need neither a build nor the network.
func writeWheel(t *testing.T, dir, name, version string) string {
	t.Helper()
	p := filepath.Join(dir, fmt.Sprintf("%s-%s-py3-none-any.whl", name, version))
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	info := fmt.Sprintf("%s-%s.dist-info", name, version)
	files := []struct{ name, body string }{
		{name + ".py", fmt.Sprintf("VALUE = %q\n", version)},
		{info + "/METADATA", fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\n", name, version)},
		{info + "/WHEEL", "Wheel-Version: 1.0\nGenerator: sluice-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	}
	var record strings.Builder
	for _, fl := range files {
		w, err := zw.Create(fl.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(fl.body)); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&record, "%s,,\n", fl.name)
	}
	fmt.Fprintf(&record, "%s/RECORD,,\n", info)
	w, err := zw.Create(info + "/RECORD")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(record.String())); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// fixture is a workspace with local wheels and a state directory shared by
// the runs of one test.
type fixture struct {
	t         *testing.T
	interp    python.Interpreter
	uv        string
	state     string
	workspace string
	wheels    string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, interp: testInterp(t), uv: testUV(), state: t.TempDir(), workspace: t.TempDir()}
	f.wheels = filepath.Join(f.workspace, "wheels")
	if err := os.MkdirAll(f.wheels, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"alpha", "beta", "gamma"} {
		writeWheel(t, f.wheels, n, "1.0")
	}
	return f
}

func (f *fixture) write(rel, body string) {
	f.t.Helper()
	p := filepath.Join(f.workspace, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) acquire(reuse bool) *Env {
	f.t.Helper()
	e, err := Acquire(context.Background(), f.interp, Options{
		StateDir: f.state, JobKey: "ci.yml/test", Workspace: f.workspace, UVPath: f.uv, Reuse: reuse,
	})
	if err != nil {
		f.t.Fatalf("Acquire: %v", err)
	}
	return e
}

// execIn is what the engine does with a step: bash in dir with the
// environment first on PATH. Installs are offline by construction.
func execIn(e *Env) Exec {
	return func(ctx context.Context, command, dir string) (int, error) {
		cmd := exec.CommandContext(ctx, "bash", "-e", "-c", command)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+e.Bin+string(os.PathListSeparator)+os.Getenv("PATH"),
			"VIRTUAL_ENV="+e.Dir, "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_INPUT=1", "PIP_NO_INDEX=1")
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), nil
		}
		if err != nil {
			return -1, fmt.Errorf("%s: %w\n%s", command, err, out)
		}
		return 0, nil
	}
}

// stepResult is what one `run:` step looked like to the environment.
type stepResult struct {
	Skip bool
	Exit int
}

// step runs script in the workspace as the engine does: BeforeRun, the
// script unless skipped, AfterRun.
func (f *fixture) step(e *Env, script string) (stepResult, string) {
	f.t.Helper()
	return f.stepIn(e, f.workspace, script, execIn(e))
}

func (f *fixture) stepIn(e *Env, dir, script string, run Exec) (stepResult, string) {
	f.t.Helper()
	ctx := context.Background()
	skip, note, err := e.BeforeRun(ctx, dir, script, run)
	if err != nil {
		f.t.Fatalf("BeforeRun(%q): %v", script, err)
	}
	if skip {
		return stepResult{Skip: true}, note
	}
	code, err := execIn(e)(ctx, script, dir)
	if err != nil {
		f.t.Fatal(err)
	}
	e.AfterRun(code == 0)
	return stepResult{Exit: code}, note
}

func release(t *testing.T, e *Env, ok bool) {
	t.Helper()
	if err := e.Release(ok); err != nil {
		t.Fatalf("Release(%t): %v", ok, err)
	}
}

// importable says which of the named modules the environment can import.
func importable(t *testing.T, e *Env, names ...string) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	for _, n := range names {
		err := exec.Command(e.Python, "-c", "import "+n).Run()
		got[n] = err == nil
	}
	return got
}

const installA = "pip install --no-index -r req-a.txt"

func TestReusedAfterCleanRun(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.write("req-a.txt", "wheels/alpha-1.0-py3-none-any.whl\n")

	first := f.acquire(true)
	if first.Reused {
		t.Error("first Acquire reports a reused environment")
	}
	if got, _ := f.step(first, installA); got != (stepResult{}) {
		t.Fatalf("first install: %+v, want run and exit 0", got)
	}
	if diff := cmp.Diff(map[string]bool{"alpha": true}, importable(t, first, "alpha")); diff != "" {
		t.Errorf("after install (-want +got):\n%s", diff)
	}
	release(t, first, true)

	for run := 2; run <= 3; run++ {
		e := f.acquire(true)
		if !e.Reused || e.Dir != first.Dir {
			t.Errorf("run %d: Reused=%t Dir=%s, want the kept %s", run, e.Reused, e.Dir, first.Dir)
		}
		got, note := f.step(e, installA)
		if diff := cmp.Diff(stepResult{Skip: true}, got); diff != "" {
			t.Errorf("run %d: same install (-want +got):\n%s", run, diff)
		}
		if !strings.Contains(note, "already applied") {
			t.Errorf("run %d: skip note %q does not say why", run, note)
		}
		if diff := cmp.Diff(map[string]bool{"alpha": true}, importable(t, e, "alpha")); diff != "" {
			t.Errorf("run %d: kept environment (-want +got):\n%s", run, diff)
		}
		release(t, e, true)
	}
}

func TestChangedInputsRebuildAndReplay(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.write("req-a.txt", "wheels/alpha-1.0-py3-none-any.whl\n")
	f.write("req-b.txt", "wheels/beta-1.0-py3-none-any.whl\n")
	const installB = "pip install --no-index -r req-b.txt"

	e := f.acquire(true)
	f.step(e, installA)
	f.step(e, installB)
	release(t, e, true)

	// The second install's inputs change: the first is still skipped, the
	// second finds the environment holding more than asked for so far.
	f.write("req-b.txt", "wheels/gamma-1.0-py3-none-any.whl\n")
	e = f.acquire(true)
	if !e.Reused {
		t.Fatal("second run did not reuse the clean environment")
	}
	got := map[string]stepResult{}
	got["a"], _ = f.step(e, installA)
	var note string
	got["b"], note = f.step(e, installB)
	want := map[string]stepResult{"a": {Skip: true}, "b": {}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps after req-b.txt changed (-want +got):\n%s", diff)
	}
	if !strings.Contains(note, "rebuilt") {
		t.Errorf("note %q does not say the environment was rebuilt", note)
	}
	// alpha came back by replay; beta went with the old environment.
	wantMods := map[string]bool{"alpha": true, "beta": false, "gamma": true}
	if diff := cmp.Diff(wantMods, importable(t, e, "alpha", "beta", "gamma")); diff != "" {
		t.Errorf("rebuilt environment (-want +got):\n%s", diff)
	}
	release(t, e, true)

	// The rebuilt environment is itself kept, with both installs recorded.
	e = f.acquire(true)
	if !e.Reused {
		t.Error("third run did not reuse the rebuilt environment")
	}
	got["a"], _ = f.step(e, installA)
	got["b"], _ = f.step(e, installB)
	want = map[string]stepResult{"a": {Skip: true}, "b": {Skip: true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("third run (-want +got):\n%s", diff)
	}
	release(t, e, true)
}

// TestReuseDecision runs a job, then a second one, and checks whether the
// second is given the first's environment and may skip its install.
func TestReuseDecision(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// firstRun runs the first job's steps after the shared install and
		// returns whether the job succeeded.
		firstRun func(f *fixture, e *Env) bool
		// between runs after the first job released its environment.
		between     func(f *fixture, e *Env)
		secondReuse bool
		want        stepResult // the second job's install
		wantReused  bool
	}{
		{
			name:        "step that leaves the environment alone",
			firstRun:    func(f *fixture, e *Env) bool { f.step(e, `python -c "import alpha"`); return true },
			secondReuse: true, want: stepResult{Skip: true}, wantReused: true,
		},
		{
			name: "step that pip-installs something",
			firstRun: func(f *fixture, e *Env) bool {
				f.step(e, "python -m pip install --no-index --find-links wheels beta")
				return true
			},
			secondReuse: true, want: stepResult{}, wantReused: false,
		},
		{
			name:        "failed job",
			firstRun:    func(f *fixture, e *Env) bool { return false },
			secondReuse: true, want: stepResult{}, wantReused: false,
		},
		{
			name: "failed install",
			firstRun: func(f *fixture, e *Env) bool {
				f.write("req-x.txt", "wheels/missing-1.0-py3-none-any.whl\n")
				if got, _ := f.step(e, "pip install --no-index -r req-x.txt"); got.Exit == 0 {
					f.t.Fatalf("install of a missing wheel: %+v, want a failure", got)
				}
				return true
			},
			secondReuse: true, want: stepResult{}, wantReused: false,
		},
		{
			name: "environment changed between runs",
			between: func(f *fixture, e *Env) {
				if out, err := exec.Command(e.Python, "-m", "pip", "uninstall", "-y", "-q", "alpha").CombinedOutput(); err != nil {
					f.t.Fatalf("pip uninstall: %v\n%s", err, out)
				}
			},
			secondReuse: true, want: stepResult{}, wantReused: false,
		},
		{
			name:        "reuse turned off",
			secondReuse: false, want: stepResult{}, wantReused: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.write("req-a.txt", "wheels/alpha-1.0-py3-none-any.whl\n")
			e := f.acquire(true)
			f.step(e, installA)
			ok := true
			if tt.firstRun != nil {
				ok = tt.firstRun(f, e)
			}
			release(t, e, ok)
			if tt.between != nil {
				tt.between(f, e)
			}

			e2 := f.acquire(tt.secondReuse)
			defer release(t, e2, true)
			if e2.Reused != tt.wantReused {
				t.Errorf("second Acquire: Reused=%t, want %t", e2.Reused, tt.wantReused)
			}
			got, _ := f.step(e2, installA)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("second run's install (-want +got):\n%s", diff)
			}
			// Whatever was decided, the install's package is there afterwards.
			if diff := cmp.Diff(map[string]bool{"alpha": true}, importable(t, e2, "alpha")); diff != "" {
				t.Errorf("after the second run's install (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConcurrentAcquireGetsTemporaryEnvironment(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.write("req-a.txt", "wheels/alpha-1.0-py3-none-any.whl\n")
	held := f.acquire(true)
	f.step(held, installA)

	other := f.acquire(true)
	if other.Dir == held.Dir || other.Reused {
		t.Fatalf("concurrent Acquire: Dir=%s Reused=%t, want a fresh environment apart from %s", other.Dir, other.Reused, held.Dir)
	}
	if _, err := os.Stat(other.Python); err != nil {
		t.Fatalf("temporary environment has no python: %v", err)
	}
	if got, _ := f.step(other, installA); got != (stepResult{}) {
		t.Errorf("install in the temporary environment: %+v, want run and exit 0", got)
	}
	release(t, other, true)
	if _, err := os.Stat(other.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary environment %s still there after Release: %v", other.Dir, err)
	}
	if diff := cmp.Diff(map[string]bool{"alpha": true}, importable(t, held, "alpha")); diff != "" {
		t.Errorf("held environment after the other's Release (-want +got):\n%s", diff)
	}
	release(t, held, true)

	// Once released, the kept environment is the job's again.
	e := f.acquire(true)
	defer release(t, e, true)
	if !e.Reused || e.Dir != held.Dir {
		t.Errorf("Acquire after both released: Reused=%t Dir=%s, want the kept %s", e.Reused, e.Dir, held.Dir)
	}
}

// TestReplayInWorkingDirectoryOutsideWorkspace: a step's working-directory
// may be absolute and outside the workspace; a rebuild must replay its
// install where it first ran.
func TestReplayInWorkingDirectoryOutsideWorkspace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	outside := t.TempDir()
	req := "wheels/alpha-1.0-py3-none-any.whl\n"
	if err := os.MkdirAll(filepath.Join(outside, "wheels"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeWheel(t, filepath.Join(outside, "wheels"), "alpha", "1.0")
	if err := os.WriteFile(filepath.Join(outside, "req-a.txt"), []byte(req), 0o644); err != nil {
		t.Fatal(err)
	}
	f.write("req-b.txt", "wheels/beta-1.0-py3-none-any.whl\n")
	const installB = "pip install --no-index -r req-b.txt"

	e := f.acquire(true)
	f.stepIn(e, outside, installA, execIn(e))
	f.step(e, installB)
	release(t, e, true)

	f.write("req-b.txt", "wheels/gamma-1.0-py3-none-any.whl\n")
	e = f.acquire(true)
	defer release(t, e, true)
	var replayedIn []string
	record := func(ctx context.Context, command, dir string) (int, error) {
		replayedIn = append(replayedIn, dir)
		return execIn(e)(ctx, command, dir)
	}
	f.stepIn(e, outside, installA, record)
	skip, _, err := e.BeforeRun(context.Background(), f.workspace, installB, record)
	if err != nil || skip {
		t.Fatalf("BeforeRun after req-b.txt changed: skip=%t err=%v, want a rebuild and no skip", skip, err)
	}
	if diff := cmp.Diff([]string{outside}, replayedIn); diff != "" {
		t.Errorf("replayed in (-want +got):\n%s", diff)
	}
}

// TestLocalProjectSourceChangeIsNotSkipped: `pip install ./proj` copies the
// project's modules into the environment, so a change to them must reinstall.
// Only the skip decision is exercised: building the project would need the
// wheel package, which is not available offline.
func TestLocalProjectSourceChangeIsNotSkipped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.write("proj/pyproject.toml", "[project]\nname = \"proj\"\nversion = \"1.0\"\n")
	f.write("proj/projmod.py", "VALUE = 1\n")
	const install = "pip install --no-index ./proj"

	e := f.acquire(true)
	skip, _, err := e.BeforeRun(context.Background(), f.workspace, install, execIn(e))
	if err != nil || skip {
		t.Fatalf("first BeforeRun: skip=%t err=%v", skip, err)
	}
	e.AfterRun(true) // as if the install had succeeded
	release(t, e, true)

	f.write("proj/projmod.py", "VALUE = 2\n")
	e = f.acquire(true)
	defer release(t, e, true)
	skip, note, err := e.BeforeRun(context.Background(), f.workspace, install, execIn(e))
	if err != nil {
		t.Fatal(err)
	}
	if skip {
		t.Errorf("install of ./proj skipped after proj/projmod.py changed (%s); the environment would keep the old code", note)
	}
}

// TestReleaseNeverWritesThroughALink: a job can write its environment, so a
// link it left where the record goes is replaced, and the file it pointed at
// is untouched.
func TestReleaseNeverWritesThroughALink(t *testing.T) {
	dir, outside := t.TempDir(), filepath.Join(t.TempDir(), "sluice.db")
	if err := os.WriteFile(outside, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, recordFile)); err != nil {
		t.Fatal(err)
	}
	e := &Env{Dir: dir, clean: true}
	if err := e.Release(true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(outside); string(b) != "precious" {
		t.Errorf("the linked file now holds %q", b)
	}
	if fi, err := os.Lstat(filepath.Join(dir, recordFile)); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("the record is %v, %v; want a regular file", fi, err)
	}
}
