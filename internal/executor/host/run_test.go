package host

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/lines"
)

// safetyNet bounds a Run that hangs; it is far above any expected duration
// and never decides a passing result.
const safetyNet = 2 * time.Minute

type runOutput struct {
	Res   Result
	Lines []string
}

// runBash runs script with bash and collects its lines. onLine, when set,
// sees each line as it arrives.
func runBash(t *testing.T, ctx context.Context, c Cmd, script string, onLine func(string)) runOutput {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	var lines []string
	c.Argv = []string{"bash", "-c", script}
	if c.Env == nil {
		c.Env = []string{"PATH=" + os.Getenv("PATH")}
	}
	c.Line = func(s string) {
		lines = append(lines, s)
		if onLine != nil {
			onLine(s)
		}
	}
	type done struct {
		res Result
		err error
	}
	ch := make(chan done, 1)
	go func() {
		res, err := Run(ctx, c)
		ch <- done{res, err}
	}()
	select {
	case d := <-ch:
		if d.err != nil {
			t.Fatalf("Run: %v", d.err)
		}
		// Run has returned, so the line callback is no longer called.
		return runOutput{Res: d.res, Lines: lines}
	case <-time.After(safetyNet):
		t.Fatalf("Run did not return within %v", safetyNet)
		return runOutput{}
	}
}

func TestRunOutputAndExitCodes(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   runOutput
	}{
		{name: "success", script: "echo hello",
			want: runOutput{Lines: []string{"hello"}}},
		{name: "exit code", script: "echo before; exit 3",
			want: runOutput{Res: Result{ExitCode: 3}, Lines: []string{"before"}}},
		{name: "killed by own signal", script: "kill -TERM $$",
			want: runOutput{Res: Result{ExitCode: 128 + int(syscall.SIGTERM)}}},
		{name: "stdout and stderr interleaved in order", script: "echo out1; echo err1 >&2; echo out2; echo err2 >&2",
			want: runOutput{Lines: []string{"out1", "err1", "out2", "err2"}}},
		{name: "last line without newline", script: `printf 'a\nb'`,
			want: runOutput{Lines: []string{"a", "b"}}},
		{name: "crlf", script: `printf 'a\r\nb\r\n'`,
			want: runOutput{Lines: []string{"a", "b"}}},
		{name: "lone carriage return kept inside a line", script: `printf 'a\rb\n'`,
			want: runOutput{Lines: []string{"a\rb"}}},
		{name: "empty lines kept", script: `printf 'a\n\n\nb\n'`,
			want: runOutput{Lines: []string{"a", "", "", "b"}}},
		{name: "no output", script: "true",
			want: runOutput{}},
		{name: "long line kept up to the limit, marked, and the lines after it kept", script: `head -c 200000 /dev/zero | tr '\0' x; echo; echo after`,
			want: runOutput{Lines: []string{strings.Repeat("x", lines.Max) + lines.Marker(200000-lines.Max), "after"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runBash(t, context.Background(), Cmd{}, tt.script, nil)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunEnvAndDir(t *testing.T) {
	dir := t.TempDir()
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLUICE_HOST_TEST_LEAK", "leaked")
	c := Cmd{Dir: dir, Env: []string{"PATH=" + os.Getenv("PATH"), "FOO=bar baz", "EMPTY="}}
	got := runBash(t, context.Background(), c, `echo "foo=$FOO"; echo "empty=${EMPTY-unset}"; echo "leak=${SLUICE_HOST_TEST_LEAK-unset}"; pwd -P`, nil)
	want := runOutput{Lines: []string{"foo=bar baz", "empty=", "leak=unset", real}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestRunStartErrors(t *testing.T) {
	tests := []struct {
		name string
		c    Cmd
		want string
	}{
		{name: "empty argv", c: Cmd{}, want: "empty command"},
		{name: "missing program", c: Cmd{Argv: []string{"/nonexistent/sluice-no-such-program"}}, want: "starting /nonexistent/sluice-no-such-program"},
		{name: "missing dir", c: Cmd{Argv: []string{"true"}, Dir: "/nonexistent/dir"}, want: "starting true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// A cancelled step gets SIGINT and may clean up within the grace period.
// The script waits with the wait builtin, which a trapped signal interrupts
// at once; a foreground sleep instead leaves a window (after fork, before
// exec) where the signal is lost in the child and bash waits for ever.
func TestRunCancelSendsSIGINT(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	script := `trap 'echo got-int; exit 7' INT
sleep 1000 &
echo ready
wait $!
echo not-reached`
	got := runBash(t, ctx, Cmd{Grace: time.Minute}, script, func(s string) {
		if s == "ready" {
			cancel()
		}
	})
	want := runOutput{Res: Result{ExitCode: 7, Interrupted: true}, Lines: []string{"ready", "got-int"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// SIGINT goes to the whole process group: a foreground child that handles
// it reacts. Were only bash signalled, bash would keep waiting for the child
// and the grace period would end in SIGKILL (exit 137).
func TestRunCancelReachesChildren(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	script := `python3 -c '
import os, signal, time
def h(*a):
    os.write(1, b"child-int\n")
    os._exit(5)
signal.signal(signal.SIGINT, h)
os.write(1, b"ready\n")
while True:
    time.sleep(1)
'
exit $?`
	got := runBash(t, ctx, Cmd{Grace: time.Minute}, script, func(s string) {
		if s == "ready" {
			cancel()
		}
	})
	want := runOutput{Res: Result{ExitCode: 5, Interrupted: true}, Lines: []string{"ready", "child-int"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestRunCancelKillsAfterGrace(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	script := `trap '' INT
echo ready
while :; do sleep 1; done`
	got := runBash(t, ctx, Cmd{Grace: 200 * time.Millisecond}, script, func(s string) {
		if s == "ready" {
			cancel()
		}
	})
	want := runOutput{Res: Result{ExitCode: 128 + int(syscall.SIGKILL), Interrupted: true}, Lines: []string{"ready"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestRunAlreadyCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := runBash(t, ctx, Cmd{Grace: 200 * time.Millisecond}, "sleep 1000", nil)
	if !got.Res.Interrupted || got.Res.ExitCode == 0 {
		t.Errorf("got %+v, want an interrupted, failed result", got.Res)
	}
}

// A background child holds the output pipe open; Run must return when the
// step's main process exits and take the child down with it.
func TestRunBackgroundChildDoesNotBlock(t *testing.T) {
	got := runBash(t, context.Background(), Cmd{}, `sleep 1000 & echo "pid=$!"`, nil)
	if got.Res != (Result{}) || len(got.Lines) != 1 || !strings.HasPrefix(got.Lines[0], "pid=") {
		t.Fatalf("got %+v, want exit 0 and one pid= line", got)
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(got.Lines[0], "pid="))
	if err != nil {
		t.Fatal(err)
	}
	// The kill is asynchronous; the process may stay a zombie when nothing
	// reaps orphans, which counts as ended.
	deadline := time.Now().Add(safetyNet)
	for {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		if f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:])); len(f) > 0 && (f[0] == "Z" || f[0] == "X") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("background child %d still running after Run returned: %s", pid, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
