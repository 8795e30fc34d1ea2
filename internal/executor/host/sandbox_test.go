package host

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func needPolicy(t *testing.T, deny ...string) *Policy {
	t.Helper()
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("bwrap is not on PATH")
	}
	p, err := NewPolicy(context.Background(), deny)
	var se *SandboxError
	if errors.As(err, &se) {
		t.Skipf("bwrap cannot run here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSandboxAllowList: only what the spec and the system list name exists
// in the jail; the denied data directory is absent (not an empty
// directory), even though the workspace sits beside it; no process of the
// machine is visible; the job has no capabilities.
func TestSandboxAllowList(t *testing.T) {
	base := t.TempDir()
	data := filepath.Join(base, "data")
	ws := filepath.Join(base, "job", "work")
	home := filepath.Join(base, "job", "home")
	tmp := filepath.Join(base, "job", "tmp")
	tools := filepath.Join(base, "tools")
	for _, d := range []string{data, ws, home, tmp, tools} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(data, "secret.key"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tools, "tool"), []byte("t\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A symlink in the workspace to the data directory leads nowhere inside.
	if err := os.Symlink(data, filepath.Join(ws, "link")); err != nil {
		t.Fatal(err)
	}
	// The package directory is on the machine but not in the jail.
	outside, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	p := needPolicy(t, data)
	sb, err := p.Sandbox(Spec{
		Writable: []string{ws},
		ReadOnly: []string{tools, filepath.Join(base, "missing")},
		Binds:    []Bind{{Src: home, Dst: "/sandbox-home"}, {Src: tmp, Dst: "/tmp"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	script := `echo made > made.txt && echo ws-ok
touch /usr/sluice-sandbox-test 2>/dev/null && echo usr-writable || echo usr-ro
test -e "$DATA" && echo data-visible || echo data-absent
cat link/secret.key 2>/dev/null || echo link-dangles
test -e "$OUTSIDE" && echo outside-visible || echo outside-absent
cat "$TOOLS/tool"; (echo x > "$TOOLS/new") 2>/dev/null && echo tools-writable || echo tools-ro
echo h > /sandbox-home/h && echo home-ok
echo t > /tmp/t && echo tmp-ok
test -e /proc/$PARENT && echo parent-visible || echo parent-absent
cat /proc/$PARENT/environ 2>/dev/null | tr '\0' '\n' | grep -c SANDBOX_PROBE || true
ls /proc | grep -cE '^[0-9]+$' | awk '{ print ($1 < 10) ? "few-processes" : "many-processes: " $1 }'
grep CapEff /proc/self/status | awk '{ print $2 }'
test -e /run && echo run-visible || echo run-absent
pwd`
	c := Cmd{
		Dir:     ws,
		Env:     []string{"PATH=/usr/bin:/bin", "DATA=" + data, "OUTSIDE=" + outside, "TOOLS=" + tools, "PARENT=" + strconv.Itoa(os.Getpid())},
		Sandbox: sb,
	}
	t.Setenv("SANDBOX_PROBE", "1")
	got := runBash(t, context.Background(), c, script, nil)
	want := runOutput{Lines: []string{"ws-ok", "usr-ro", "data-absent", "link-dangles", "outside-absent",
		"t", "tools-ro", "home-ok", "tmp-ok", "parent-absent", "0", "few-processes", "0000000000000000", "run-absent", ws}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for path, want := range map[string]string{filepath.Join(ws, "made.txt"): "made\n", filepath.Join(home, "h"): "h\n", filepath.Join(tmp, "t"): "t\n"} {
		if b, err := os.ReadFile(path); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q written through the jail", path, b, err, want)
		}
	}
	if _, err := os.Stat("/usr/sluice-sandbox-test"); err == nil {
		os.Remove("/usr/sluice-sandbox-test")
		t.Errorf("the sandbox wrote into /usr")
	}
	if b, _ := os.ReadFile(filepath.Join(data, "secret.key")); string(b) != "s3cret\n" {
		t.Errorf("data directory's content changed on the host: %q", b)
	}
}

// TestSandboxDeniedInsideSystemDir: a denied path inside a system directory
// is left out while its siblings stay (the directory is mounted around it),
// and the machine's password hashes are covered.
func TestSandboxDeniedInsideSystemDir(t *testing.T) {
	for _, f := range []string{"/etc/hostname", "/etc/hosts"} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("%s is missing here", f)
		}
	}
	p := needPolicy(t, "/etc/hostname")
	sb, err := p.Sandbox(Spec{})
	if err != nil {
		t.Fatal(err)
	}
	got := runBash(t, context.Background(), Cmd{Dir: "/", Env: []string{"PATH=/usr/bin:/bin"}, Sandbox: sb},
		`test -e /etc/hostname && echo hostname-visible || echo hostname-absent
test -r /etc/hosts && echo hosts-ok
test -s /etc/shadow && echo shadow-readable || echo shadow-empty`, nil)
	want := runOutput{Lines: []string{"hostname-absent", "hosts-ok", "shadow-empty"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestSandboxRefusesRootsHoldingDenied: a writable root or bind that would
// bring a denied path into the jail is an error naming both.
func TestSandboxRefusesRootsHoldingDenied(t *testing.T) {
	base := t.TempDir()
	data := filepath.Join(base, "state", "server")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	p := needPolicy(t, data)
	for _, spec := range []Spec{
		{Writable: []string{filepath.Join(base, "state")}},
		{Writable: []string{filepath.Join(data, "repos")}},
		{Binds: []Bind{{Src: base, Dst: "/home/x"}}},
	} {
		_, err := p.Sandbox(spec)
		if err == nil || !strings.Contains(err.Error(), data) {
			t.Errorf("Sandbox(%+v) = %v; want an error naming %s", spec, err, data)
		}
	}
	// A read-only path holding it is no error: it is mounted around it.
	if _, err := p.Sandbox(Spec{ReadOnly: []string{base}}); err != nil {
		t.Errorf("read-only path holding the data directory: %v; want it mounted around it", err)
	}
}

// TestSandboxReadOnlyAroundDenied: a read-only path holding a denied one (a
// checkout's source repository with sluice's state inside it) is readable in
// the jail but for the denied path, which does not exist there, nor through
// a link to it.
func TestSandboxReadOnlyAroundDenied(t *testing.T) {
	repo := t.TempDir()
	state := filepath.Join(repo, ".state", "sluice")
	for _, d := range []string{state, filepath.Join(repo, ".git"), filepath.Join(repo, ".state", "other")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for f, body := range map[string]string{
		filepath.Join(repo, ".git", "HEAD"):          "ref: refs/heads/main\n",
		filepath.Join(state, "secret.key"):           "k",
		filepath.Join(repo, ".state", "other", "ok"): "ok",
	} {
		if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(state, filepath.Join(repo, "link")); err != nil {
		t.Fatal(err)
	}
	p := needPolicy(t, state)
	sb, err := p.Sandbox(Spec{ReadOnly: []string{repo}})
	if err != nil {
		t.Fatal(err)
	}
	got := runBash(t, context.Background(), Cmd{Dir: "/", Env: []string{"PATH=/usr/bin:/bin", "R=" + repo}, Sandbox: sb},
		`cat "$R/.git/HEAD"
cat "$R/.state/other/ok"; echo
test -e "$R/.state/sluice" && echo state-visible || echo state-absent
test -e "$R/link/secret.key" && echo link-reaches || echo link-absent`, nil)
	want := runOutput{Lines: []string{"ref: refs/heads/main", "ok", "state-absent", "link-absent"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSandboxWithoutBwrap(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := NewPolicy(context.Background(), nil)
	if err != ErrNoBubblewrap {
		t.Fatalf("NewPolicy error = %v, want ErrNoBubblewrap", err)
	}
	if !strings.Contains(err.Error(), "apt-get install bubblewrap") {
		t.Errorf("error %q does not say how to install bubblewrap", err)
	}
}
