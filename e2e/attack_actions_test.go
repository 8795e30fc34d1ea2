package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/testenv"
)

// TestActionPathsStayInTheirRepository: a remote action's path that climbs out of its
// repository (`owner/repo/../../x@ref`), or a symbolic link in the action's repository leading
// out, must not make the agent run an action.yml found elsewhere on the machine (another job's
// checkout, say). Through sluice serve's agent and through sluice run, each such step fails
// saying why, and the action it would have reached never runs; the action itself does.
func TestActionPathsStayInTheirRepository(t *testing.T) {
	t.Parallel()
	actionStore, host := t.TempDir(), t.TempDir()
	composite := func(say string) string {
		return "name: x\nruns:\n  using: composite\n  steps:\n    - run: echo " + say + "\n      shell: bash\n"
	}
	testenv.WriteFiles(t, actionStore, map[string]string{"acme/tools/action.yml": composite("ACTION-''RAN")})
	testenv.WriteFiles(t, host, map[string]string{"action.yml": composite("ESC''APED")})
	if err := os.Symlink(host, filepath.Join(actionStore, "acme", "tools", "out")); err != nil {
		t.Fatal(err)
	}
	up, err := filepath.Rel(filepath.Join(actionStore, "acme", "tools"), host)
	if err != nil {
		t.Fatal(err)
	}
	wf := fmt.Sprintf(`name: actions
on: push
jobs:
  ok:
    runs-on: ubuntu-latest
    steps:
      - uses: acme/tools@v1
  up:
    runs-on: ubuntu-latest
    steps:
      - uses: acme/tools/%s@v1
  link:
    runs-on: ubuntu-latest
    steps:
      - uses: acme/tools/out@v1
`, filepath.ToSlash(up))
	want := map[string]string{"up": "leaves the repository acme/tools", "link": "leads outside the action's repository"}

	s := startServer(t, 1, "--action-store", actionStore)
	g, first := newGitRepo(t, map[string]string{"README.md": "hello\n"})
	secret := "hook-" + randomHex(t, 8)
	s.addRepo(t, "actions", g, secret)
	sha := g.commit(t, map[string]string{".github/workflows/actions.yml": wf}, "actions")
	d := s.waitRunDone(t, s.pushHook(t, forge.GitHub, "actions", g, first, sha, secret, "actions-1")[0], runTimeout)
	if j := jobByKey(t, d, "ok"); j.Conclusion != store.ConclusionSuccess || !strings.Contains(s.jobLog(t, j.ID), "ACTION-RAN") {
		t.Errorf("server: the action in its repository: %s\n%s", j.Conclusion, s.jobLog(t, j.ID))
	}
	for key, msg := range want {
		j := jobByKey(t, d, key)
		log := s.jobLog(t, j.ID)
		if j.Conclusion != store.ConclusionFailure || !strings.Contains(log, msg) || strings.Contains(log, "ESCAPED") {
			t.Errorf("server job %s: %s, want a failure saying %q and nothing run:\n%s", key, j.Conclusion, msg, log)
		}
	}

	cmd := exec.Command(sluiceBin(t), "run", "--action-store", actionStore)
	cmd.Dir = g.work
	cmd.Env = append(os.Environ(), "SLUICE_STATE_DIR="+t.TempDir(), "TERM=dumb")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "ACTION-RAN") || strings.Contains(string(out), "ESCAPED") {
		t.Errorf("sluice run: %v, want the action to run, the run to fail and nothing outside to run:\n%s", err, out)
	}
	for key, msg := range want {
		if !hasJobLine(string(out), key, msg) {
			t.Errorf("sluice run: job %s does not fail saying %q:\n%s", key, msg, out)
		}
	}
}
