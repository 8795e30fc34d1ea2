package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

// TestAgentDrain drains the only agent while it runs a job: that job ends, the next one waits
// with a reason and shows in the per-label queue an autoscaler reads, and undraining runs it.
func TestAgentDrain(t *testing.T) {
	t.Parallel()
	s := startServer(t, 0)
	s.startAgent(t, "one", "default", "--sandbox", "off") // its job waits for a file of the test
	s.waitAgentsOnline(t, "one")
	g, first := newGitRepo(t, map[string]string{"README.md": "x\n"})
	secret := "hook-" + randomHex(t, 8)
	s.addRepo(t, "demo", g, secret)
	marker := filepath.Join(t.TempDir(), "marker")
	wf := fmt.Sprintf(`name: two
on: push
jobs:
  slow:
    runs-on: ubuntu-latest
    steps:
      - run: while [ ! -f %q ]; do sleep 0.2; done
  later:
    needs: slow
    runs-on: ubuntu-latest
    steps:
      - run: echo later ran
`, marker)
	sha := g.commit(t, map[string]string{".github/workflows/two.yml": wf}, "two jobs")
	run := s.pushHook(t, forge.GitHub, "demo", g, first, sha, secret, "drain-1")[0]
	s.waitJob(t, run, "slow", "running", runTimeout, func(j server.JobView) bool { return j.Status == store.StatusInProgress })

	out := s.mustCLI(t, "agent", "drain", "one")
	if !strings.Contains(out, "agent one draining: 1 job(s) still running") {
		t.Errorf("sluice agent drain printed %q", out)
	}
	if out := s.mustCLI(t, "agents"); !strings.Contains(out, "online,draining") {
		t.Errorf("sluice agents does not show the drain:\n%s", out)
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out = s.mustCLI(t, "agent", "drain", "one", "--wait", "60s")
	if !strings.Contains(out, "agent one drained: no job running") {
		t.Errorf("sluice agent drain --wait printed %q", out)
	}
	later := s.waitJob(t, run, "later", "queued", runTimeout, func(j server.JobView) bool { return j.Status == store.StatusQueued })
	time.Sleep(time.Second) // a claim would come at once; none may
	if reason, _ := s.pendingReason(t, later.ID); !strings.Contains(reason, "one draining") {
		t.Errorf("the queued job's reason is %q, want it to name the draining agent", reason)
	}
	var queue []store.LabelQueue
	if err := json.Unmarshal([]byte(s.mustCLI(t, "queue", "--json")), &queue); err != nil {
		t.Fatal(err)
	}
	if len(queue) != 1 || queue[0].Queued != 1 || queue[0].AgentsOnline != 0 || queue[0].FreeSlots != 0 {
		t.Errorf("sluice queue --json = %+v, want one queued job and no agent to take it", queue)
	}
	s.mustCLI(t, "agent", "drain", "one", "--undo")
	if d := s.waitRunDone(t, run, runTimeout); d.Run.Conclusion != store.ConclusionSuccess {
		t.Errorf("run %d: %s%s", run, d.Run.Conclusion, describeJobs(d))
	}
	if _, err := s.cli(t, "", "agent", "drain", "nobody"); err == nil || !strings.Contains(err.Error(), `no agent named "nobody"`) {
		t.Errorf("draining an unknown agent: %v", err)
	}
}
