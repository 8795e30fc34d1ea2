package host

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestMain lets this test binary be the jail's helper, as sluice is.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == HelperArg {
		HelperMain()
	}
	os.Exit(m.Run())
}

func startJail(t *testing.T, spec Spec) *Jail {
	t.Helper()
	p := needPolicy(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	j, err := p.Start(spec, exe)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// TestJailRunsProcesses: a job's jail runs one process after another with
// the same filesystem (its /tmp keeps what a step wrote), each with its own
// environment, exit code and output, and kills what a process left behind.
func TestJailRunsProcesses(t *testing.T) {
	ws, tmp := t.TempDir(), t.TempDir()
	j := startJail(t, Spec{Writable: []string{ws}, Binds: []Bind{{Src: tmp, Dst: "/tmp"}}})
	env := []string{"PATH=/usr/bin:/bin", "WHO=first"}
	run := func(script string, env []string) runOutput {
		t.Helper()
		var lines []string
		res, err := j.Run(context.Background(), Cmd{Argv: []string{"bash", "-c", script}, Dir: ws, Env: env,
			Line: func(s string) { lines = append(lines, s) }})
		if err != nil {
			t.Fatalf("Run(%q): %v", script, err)
		}
		return runOutput{Res: res, Lines: lines}
	}
	got := run(`echo "hello $WHO"; echo oops >&2; echo kept > /tmp/state; (sleep 60 &); exit 3`, env)
	if diff := cmp.Diff(runOutput{Res: Result{ExitCode: 3}, Lines: []string{"hello first", "oops"}}, got); diff != "" {
		t.Errorf("first run (-want +got):\n%s", diff)
	}
	got = run(`cat /tmp/state; pwd; echo $WHO; ps -e -o comm= | grep -c sleep || true`, []string{"PATH=/usr/bin:/bin", "WHO=second"})
	if diff := cmp.Diff(runOutput{Lines: []string{"kept", ws, "second", "0"}}, got); diff != "" {
		t.Errorf("second run (-want +got):\n%s", diff)
	}
	if b, err := os.ReadFile(filepath.Join(tmp, "state")); err != nil || string(b) != "kept\n" {
		t.Errorf("the jail's /tmp on the host: %q, %v", b, err)
	}
	// A separate standard output, for callers that read a command's answer.
	var out strings.Builder
	var errLines []string
	res, err := j.Run(context.Background(), Cmd{Argv: []string{"sh", "-c", "echo answer; echo noise >&2"}, Dir: ws, Env: env,
		Stdout: &out, Line: func(s string) { errLines = append(errLines, s) }})
	if err != nil || res.ExitCode != 0 || out.String() != "answer\n" || cmp.Diff([]string{"noise"}, errLines) != "" {
		t.Errorf("Stdout run: %+v, %v, stdout %q, stderr %q", res, err, out.String(), errLines)
	}
	if _, err := j.Run(context.Background(), Cmd{Argv: []string{"no-such-program"}, Dir: ws, Env: env}); err == nil ||
		!strings.Contains(err.Error(), "not found") {
		t.Errorf("running a missing program: %v, want not found", err)
	}
}

// TestJailCancel: cancelling a run interrupts its process group (SIGINT,
// then SIGKILL after the grace period), as Run does outside a jail.
func TestJailCancel(t *testing.T) {
	ws := t.TempDir()
	j := startJail(t, Spec{Writable: []string{ws}})
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var once bool
	go func() {
		<-started
		cancel()
	}()
	res, err := j.Run(ctx, Cmd{Argv: []string{"bash", "-c", `trap 'echo got INT; exit 130' INT; echo ready; while :; do sleep 0.05; done`},
		Dir: ws, Env: []string{"PATH=/usr/bin:/bin"}, Grace: 5 * time.Second, Line: func(s string) {
			if s == "ready" && !once {
				once = true
				close(started)
			}
		}})
	if err != nil || !res.Interrupted || res.ExitCode != 130 {
		t.Errorf("cancelled run: %+v, %v; want interrupted, exit 130", res, err)
	}
	// The jail still serves after a cancelled run.
	res, err = j.Run(context.Background(), Cmd{Argv: []string{"true"}, Dir: ws, Env: []string{"PATH=/usr/bin:/bin"}})
	if err != nil || res.ExitCode != 0 {
		t.Errorf("run after a cancel: %+v, %v", res, err)
	}
}
