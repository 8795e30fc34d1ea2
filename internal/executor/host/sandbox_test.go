package host

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func needBwrap(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("bwrap is not on PATH")
	}
	// bwrap can be installed yet unusable (no user namespaces in a container).
	if err := exec.Command("bwrap", "--ro-bind", "/", "/", "true").Run(); err != nil {
		t.Skipf("bwrap cannot run here: %v", err)
	}
}

func TestSandbox(t *testing.T) {
	needBwrap(t)
	ws := t.TempDir()
	hidden := t.TempDir()
	if err := os.WriteFile(filepath.Join(hidden, "secret.txt"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The package directory exists inside the sandbox (unlike anything
	// under /tmp, which is a fresh tmpfs there), so it shows the read-only root.
	outside, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	script := `echo made > made.txt && echo ws-ok
touch /usr/sluice-sandbox-test 2>/dev/null && echo usr-writable || echo usr-ro
cat "$HIDDEN/secret.txt" 2>/dev/null || echo hidden-unreadable
ls -A "$HIDDEN" | wc -l
touch "$OUTSIDE/.sluice-sandbox-probe" 2>/dev/null && echo outside-writable || echo outside-ro
pwd`
	c := Cmd{
		Dir:     ws,
		Env:     []string{"PATH=" + os.Getenv("PATH"), "HIDDEN=" + hidden, "OUTSIDE=" + outside},
		Sandbox: &Sandbox{Writable: []string{ws}, Hidden: []string{hidden}},
	}
	got := runBash(t, context.Background(), c, script, nil)
	want := runOutput{Lines: []string{"ws-ok", "usr-ro", "hidden-unreadable", "0", "outside-ro", ws}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if b, err := os.ReadFile(filepath.Join(ws, "made.txt")); err != nil || string(b) != "made\n" {
		t.Errorf("file written in the sandboxed workspace: %q, %v; want it on the host", b, err)
	}
	if _, err := os.Stat("/usr/sluice-sandbox-test"); err == nil {
		os.Remove("/usr/sluice-sandbox-test")
		t.Errorf("the sandbox wrote into /usr")
	}
	if _, err := os.Stat(filepath.Join(outside, ".sluice-sandbox-probe")); err == nil {
		os.Remove(filepath.Join(outside, ".sluice-sandbox-probe"))
		t.Errorf("the sandbox wrote outside its writable directories")
	}
	if b, _ := os.ReadFile(filepath.Join(hidden, "secret.txt")); string(b) != "s3cret\n" {
		t.Errorf("hidden directory's content changed on the host: %q", b)
	}
}

func TestSandboxWithoutBwrap(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Run(context.Background(), Cmd{Argv: []string{"/bin/true"}, Sandbox: &Sandbox{}})
	if err != ErrNoBubblewrap {
		t.Fatalf("Run error = %v, want ErrNoBubblewrap", err)
	}
	if !strings.Contains(err.Error(), "apt-get install bubblewrap") {
		t.Errorf("error %q does not say how to install bubblewrap", err)
	}
}
