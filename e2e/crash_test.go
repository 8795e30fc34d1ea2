package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

// TestServerKilledMidRun kills -9 the server while a remote agent runs a
// job and another delivery is queued, restarts it on the same data
// directory and port, and checks nothing acknowledged was lost.
func TestServerKilledMidRun(t *testing.T) {
	t.Parallel()
	s := startServer(t, 0)
	agent := s.startAgent(t, "one", "default", "--sandbox", "off")
	ids := s.waitAgentsOnline(t, "one")
	marker := filepath.Join(t.TempDir(), "marker")
	g, first := newGitRepo(t, map[string]string{"README.md": "x\n"})
	hookSecret := "hook-" + randomHex(t, 8)
	s.addRepo(t, "demo", g, hookSecret)
	sha1 := g.commit(t, map[string]string{".github/workflows/wait.yml": markerWorkflow(marker)}, "add wait")
	run1 := s.pushHook(t, forge.GitHub, "demo", g, first, sha1, hookSecret, "crash-1")[0]

	job1 := s.waitJob(t, run1, "wait", "running its step", runTimeout, func(j server.JobView) bool {
		return j.Status == store.StatusInProgress && strings.Contains(s.jobLog(t, j.ID), "before line 3")
	})
	acked, err := s.client().Logs(context.Background(), job1.ID, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	// A second push, acknowledged while the only agent is busy.
	sha2 := g.commit(t, map[string]string{"file.txt": "2"}, "second")
	run2 := s.pushHook(t, forge.GitHub, "demo", g, sha1, sha2, hookSecret, "crash-2")[0]

	// The step ends while the server is down: its last line and the job's
	// completion wait in the agent for the server to come back.
	s.proc.kill()
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the step to finish while the server is down", runTimeout, func() (string, bool, error) {
		_, err := os.Stat(marker + ".seen")
		return marker + ".seen", err == nil, err
	})
	s.start(t)

	d1 := s.waitRunDone(t, run1, runTimeout)
	j1 := jobByKey(t, d1, "wait")
	switch {
	case d1.Run.Conclusion == store.ConclusionSuccess:
		if j1.ID != job1.ID {
			t.Logf("run %d succeeded in a new attempt (job %d): %s", run1, j1.ID, describeJobs(d1))
		}
		if log := s.jobLog(t, j1.ID); !strings.Contains(log, "marker seen") {
			t.Errorf("the log of job %d lacks the line printed while the server was down:\n%s", j1.ID, log)
		}
	case d1.Run.Conclusion == store.ConclusionFailure && j1.Reason != "":
		t.Logf("run %d failed with cause %q", run1, j1.Reason)
	default:
		t.Errorf("run %d ended %s (job %s %q), want success or failure with a cause:%s", run1, d1.Run.Conclusion,
			j1.Conclusion, j1.Reason, describeJobs(d1))
	}
	after, err := s.client().Logs(context.Background(), job1.ID, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) < len(acked) {
		t.Fatalf("job %d had %d log lines before the kill, %d after", job1.ID, len(acked), len(after))
	}
	type line struct {
		Seq  int64
		Text string
	}
	var want, got []line
	for i := range acked {
		want = append(want, line{acked[i].Seq, acked[i].Text})
		got = append(got, line{after[i].Seq, after[i].Text})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log lines acknowledged before the kill changed (-before +after):\n%s", diff)
	}

	// The delivery acknowledged before the kill still has its run, and the
	// agent, never restarted, came back by itself and ran it.
	d2 := s.waitRunDone(t, run2, runTimeout)
	j2 := jobByKey(t, d2, "wait")
	if d2.Run.SHA != sha2 || d2.Run.Conclusion != store.ConclusionSuccess {
		t.Errorf("run %d of the second delivery: %s at %s, want success at %s:%s", run2, d2.Run.Conclusion, d2.Run.SHA, sha2, describeJobs(d2))
	}
	if j2.AgentID == nil || *j2.AgentID != ids["one"] {
		t.Errorf("the second run's job ran on agent %v, want one (%d)", j2.AgentID, ids["one"])
	}
	if agent.exited() {
		t.Errorf("the agent exited while the server was down:\n%s", agent.output())
	}
	s.waitAgentsOnline(t, "one")
}
