package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestRunLeavesNoJobDirectories: `sluice run` returns without waiting for its ended jobs'
// directories to be removed (the prompt comes back while the disk catches up), and still
// nothing of them is left a little later: a detached process finishes what the run's own
// removals, which end with it, had not.
func TestRunLeavesNoJobDirectories(t *testing.T) {
	t.Parallel()
	g, _ := newGitRepo(t, map[string]string{".github/workflows/ci.yml": `on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: mkdir -p deep/er && for i in $(seq 200); do echo $i > deep/er/f$i; done
  b:
    needs: a
    runs-on: ubuntu-latest
    steps:
      - run: for i in $(seq 200); do echo $i > "$RUNNER_TEMP/f$i"; done
`})
	tmp := t.TempDir()
	cmd := exec.Command(sluiceBin(t), "run")
	cmd.Dir = g.work
	cmd.Env = append(os.Environ(), "SLUICE_STATE_DIR="+t.TempDir(), "TMPDIR="+tmp, "TERM=dumb")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sluice run: %v\n%s", err, out)
	}
	work := filepath.Join(tmp, "sluice-work")
	left := func() []string {
		var names []string
		des, _ := os.ReadDir(work)
		for _, d := range des {
			if d.Name() != ".locks" && d.Name() != ".trash" {
				names = append(names, d.Name())
			}
		}
		trash, _ := os.ReadDir(filepath.Join(work, ".trash"))
		for _, d := range trash {
			names = append(names, ".trash/"+d.Name())
		}
		return names
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(left()) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if l := left(); len(l) > 0 {
		t.Errorf("the run's job directories were never removed: %v", l)
	}
}
