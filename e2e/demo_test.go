package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo runs the bundled example as `make demo` does, from a copy in a
// fresh git repository: the README's first command must work.
func TestDemo(t *testing.T) {
	t.Parallel()
	src, err := filepath.Abs("../examples/demo")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cp := exec.Command("cp", "-R", src+"/.", dir)
	if out, err := cp.CombinedOutput(); err != nil {
		t.Fatalf("copying the demo: %v\n%s", err, out)
	}
	home := t.TempDir()
	env := append(os.Environ(), "HOME="+home, "SLUICE_STATE_DIR="+filepath.Join(home, "state"), "TMPDIR="+t.TempDir(),
		"GIT_AUTHOR_NAME=demo", "GIT_AUTHOR_EMAIL=demo@example.com", "GIT_COMMITTER_NAME=demo", "GIT_COMMITTER_EMAIL=demo@example.com")
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "demo"}} {
		c := exec.Command("git", args...)
		c.Dir, c.Env = dir, env
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	run := exec.Command(sluiceBin(t), "run")
	run.Dir, run.Env = dir, env
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("sluice run on the demo: %v\n%s", err, out)
	}
	for _, want := range []string{"[report/Run echo \"built ${{ needs.build.outputs.wheel }}\"] built textstats-0.1.0-py3-none-any.whl",
		"Tests (test (word_count)):", "Artifacts:", ": success in "} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, out)
		}
	}
}
