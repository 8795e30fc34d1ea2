// Package conformance runs workflow cases through the real sluice binary, in
// real git repositories with real shells, and checks the output lines and exit
// codes that GitHub Actions semantics call for.
package conformance

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/sluice-ci/sluice/internal/executor/container"
)

// binDirEnv carries the directory of the freshly built binary from TestMain
// to the tests; an environment variable avoids package-level state.
const binDirEnv = "SLUICE_CONFORMANCE_BIN_DIR"

// pyCacheEnv names the pip/uv cache directory shared by every case of one
// test run, so each wheel comes from PyPI once per run.
const pyCacheEnv = "SLUICE_CONFORMANCE_PY_CACHE"

func TestMain(m *testing.M) {
	testscript.Main(buildingM{m}, map[string]func(){
		"runexit":     runExit,
		"sluice-shim": sluiceShim,
	})
}

// buildingM builds the binary once, only in the process that runs the tests
// (testscript re-executes the test binary for its helper commands).
type buildingM struct{ m *testing.M }

func (b buildingM) Run() int {
	dir, err := os.MkdirTemp("", "sluice-conformance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Setenv(pyCacheEnv, filepath.Join(dir, "pycache")); err != nil {
		fmt.Fprintln(os.Stderr, "setting", pyCacheEnv, err)
		return 1
	}
	if err := buildBinary(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.Setenv(binDirEnv, dir); err != nil {
		fmt.Fprintln(os.Stderr, "setting", binDirEnv, err)
		return 1
	}
	// Cases mostly wait (on processes, the network, the server's queue): more of them at
	// once than there are CPUs keeps the suite's wall time down. An explicit -parallel wins.
	if f := flag.Lookup("test.parallel"); f != nil && f.Value.String() == strconv.Itoa(runtime.GOMAXPROCS(0)) {
		_ = f.Value.Set(strconv.Itoa(max(4, runtime.GOMAXPROCS(0))))
	}
	return b.m.Run()
}

func buildBinary(dir string) error {
	root, err := filepath.Abs("..")
	if err != nil {
		return fmt.Errorf("finding module root: %w", err)
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "sluice"), "./cmd/sluice")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("building sluice: %w\n%s", err, out)
	}
	return nil
}

// TestConformance runs every case through `sluice run`, then through `sluice serve` with its
// embedded agent (see serve_test.go): the same script, the same assertions, and the same jobs,
// results and outputs in both, or the case fails. A case marks what the server has no
// equivalent for with `[serve] skip 'why'` (or `[!serve]` on one line). Each case runs its
// two halves in turn (TestConformance/CASE/run, then .../serve), the cases in parallel.
func TestConformance(t *testing.T) {
	binDir := os.Getenv(binDirEnv)
	if binDir == "" {
		t.Fatal("binary not built: TestMain did not run")
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases in testdata: %v", err)
	}
	results := t.TempDir()
	var srv *sharedServer
	if os.Getenv("SLUICE_CONFORMANCE_SKIP_SERVE") != "1" {
		srv = startServer(t, binDir)
		t.Cleanup(func() {
			srv.stop()
			if t.Failed() {
				t.Logf("server log (last 20000 bytes):\n%s", tail(srv.log.String(), 20000))
			}
		})
	}
	c := newConditions()
	t.Run("case", func(t *testing.T) {
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".txtar")
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				t.Run("run", func(t *testing.T) { runCase(t, f, binDir, "run", results, nil, c) })
				if srv == nil {
					return
				}
				t.Run("serve", func(t *testing.T) { runCase(t, f, binDir, "serve", results, srv, c) })
			})
		}
	})
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// conditions answer the scripts' [pypi] and [containers], once per test run.
type conditions struct{ pypi, containers func() bool }

func newConditions() conditions {
	return conditions{pypi: reachability("pypi.org:443"), containers: engineAnswers()}
}

// runCase runs one case's script in one mode.
func runCase(t *testing.T, file, binDir, mode, results string, srv *sharedServer, c conditions) {
	testscript.Run(t, testscript.Params{
		Files:               []string{file},
		RequireUniqueNames:  true,
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			if err := setupEnv(env, binDir); err != nil {
				return err
			}
			name := strings.TrimPrefix(filepath.Base(env.WorkDir), "script-")
			env.Setenv(modeEnv, mode)
			env.Setenv(caseEnv, name)
			env.Setenv(resultsEnv, results)
			if mode == "run" {
				recordLocal(env, results, name)
				return nil
			}
			env.Setenv(binDirEnv, binDir)
			env.Setenv(serverEnv, srv.url)
			env.Setenv(tokenEnv, srv.token)
			return installShim(env)
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "pypi":
				return c.pypi(), nil
			case "containers":
				return c.containers(), nil
			case "serve":
				return mode == "serve", nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"gitrepo":    cmdGitRepo,
			"gitcommit":  cmdGitCommit,
			"status":     cmdStatus,
			"waitfile":   cmdWaitFile,
			"pypiserver": cmdPypiserver,
			"toolvenv":   cmdToolVenv,
		},
	})
}

// installShim puts the serve-mode `sluice` first on the case's PATH.
func installShim(env *testscript.Env) error {
	dir := filepath.Join(env.WorkDir, ".bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	shim := "#!/bin/sh\nexec sluice-shim \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "sluice"), []byte(shim), 0o755); err != nil {
		return err
	}
	env.Setenv("PATH", dir+string(os.PathListSeparator)+env.Getenv("PATH"))
	return nil
}

// engineAnswers reports, once, whether a container engine (Podman's
// Docker API, as scripts/podman-setup.sh starts it) answers. CI requires
// one: SLUICE_REQUIRE_CONTAINERS=1 turns "no engine" into a failure.
func engineAnswers() func() bool {
	var once sync.Once
	var ok bool
	return func() bool {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			e, err := container.Connect(ctx, "")
			if err == nil {
				e.Close()
				ok = true
			} else if os.Getenv("SLUICE_REQUIRE_CONTAINERS") == "1" {
				panic("SLUICE_REQUIRE_CONTAINERS=1 but no container engine answers: " + err.Error())
			}
		})
		return ok
	}
}

func setupEnv(env *testscript.Env, binDir string) error {
	home := filepath.Join(env.WorkDir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return fmt.Errorf("creating home: %w", err)
	}
	env.Setenv("HOME", home)
	env.Setenv("SLUICE_STATE_DIR", filepath.Join(env.WorkDir, ".state"))
	env.Setenv("XDG_STATE_HOME", filepath.Join(env.WorkDir, ".xdgstate"))
	env.Setenv("PATH", binDir+string(os.PathListSeparator)+env.Getenv("PATH"))
	env.Setenv("GIT_AUTHOR_NAME", "Conformance")
	env.Setenv("GIT_AUTHOR_EMAIL", "conformance@example.com")
	env.Setenv("GIT_COMMITTER_NAME", "Conformance")
	env.Setenv("GIT_COMMITTER_EMAIL", "conformance@example.com")
	env.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	env.Setenv("LANG", "C.UTF-8")
	// The tests check the plain (non-terminal) output format.
	env.Setenv("TERM", "dumb")
	env.Setenv("NO_COLOR", "1")
	return setupPython(env)
}

// cmdGitRepo turns $WORK into a repository on branch main with everything
// committed as "initial"; the harness's own directories are excluded.
func cmdGitRepo(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: gitrepo")
	}
	git(ts, "init", "-q", "-b", "main")
	exclude := "/.tmp/\n/.state/\n/.xdgstate/\n/home/\n/.bin/\n"
	ts.Check(os.WriteFile(ts.MkAbs(".git/info/exclude"), []byte(exclude), 0o644))
	git(ts, "config", "user.name", "Conformance")
	git(ts, "config", "user.email", "conformance@example.com")
	git(ts, "add", "-A")
	git(ts, "commit", "-q", "--allow-empty", "-m", "initial")
}

// cmdGitCommit commits every change in the repository with the message given.
func cmdGitCommit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: gitcommit MESSAGE")
	}
	git(ts, "add", "-A")
	git(ts, "commit", "-q", "--allow-empty", "-m", args[0])
}

func git(ts *testscript.TestScript, args ...string) {
	if err := ts.Exec("git", args...); err != nil {
		ts.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
}

// cmdStatus runs a program and requires its exact exit code:
// status CODE program args... (stdout and stderr are kept for matching).
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: status CODE program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("status: bad exit code %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			ts.Fatalf("running %s: %v", args[1], err)
		}
		got = exitErr.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

// cmdWaitFile waits (up to 20 s) until a file exists; used to send a signal
// only once a step is known to be running.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfile PATH")
	}
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("timed out waiting for %s", path)
}

// runExit is a helper program: runexit CODEFILE program args... runs the
// program, forwards SIGINT/SIGTERM to it, writes its exit code to CODEFILE
// and exits with that code. testscript cannot show a background command's
// exit code, so cancellation cases read it from the file.
func runExit() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: runexit CODEFILE program [args...]")
		os.Exit(2)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	cmd := exec.Command(os.Args[2], os.Args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "starting:", err)
		os.Exit(2)
	}
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	code := 0
	if err := cmd.Wait(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			fmt.Fprintln(os.Stderr, "waiting:", err)
			os.Exit(2)
		}
		code = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	}
	if err := os.WriteFile(os.Args[1], []byte(strconv.Itoa(code)+"\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "writing exit code:", err)
		os.Exit(2)
	}
	os.Exit(code)
}
