package e2e

import (
	"context"
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

// routeWorkflow has a job for gpu agents, one for any default agent and one
// nobody can take.
const routeWorkflow = `name: route
on: push
jobs:
  gpu:
    runs-on: [self-hosted, gpu]
    steps:
      - run: echo "gpu job ran"
  any:
    runs-on: ubuntu-latest
    steps:
      - run: echo "any job ran"
  arm:
    runs-on: arm64
    steps:
      - run: echo "arm job ran"
`

// markerWorkflow's job prints lines, waits until the marker file exists
// (its agent runs with --sandbox off, so it sees the test's files), prints
// another and then creates marker+".seen".
func markerWorkflow(marker string) string {
	return fmt.Sprintf(`name: wait
on: push
jobs:
  wait:
    runs-on: ubuntu-latest
    steps:
      - run: |
          for i in 1 2 3; do echo "before line $i"; done
          while [ ! -f %q ]; do sleep 0.2; done
          echo "marker seen"
          touch %q
`, marker, marker+".seen")
}

// agentIDs maps agent names to IDs, as the API lists them.
func (s *srv) agentIDs(t *testing.T) map[string]int64 {
	t.Helper()
	agents, err := s.client().ListAgents(context.Background())
	if err != nil {
		t.Fatalf("listing agents: %v", err)
	}
	out := map[string]int64{}
	for _, a := range agents {
		out[a.Name] = a.ID
	}
	return out
}

// waitAgentsOnline waits until the named agents are registered and online.
func (s *srv) waitAgentsOnline(t *testing.T, names ...string) map[string]int64 {
	t.Helper()
	return waitFor(t, fmt.Sprintf("agents %q online", names), 30*time.Second, func() (map[string]int64, bool, error) {
		agents, err := s.client().ListAgents(context.Background())
		if err != nil {
			return nil, false, err
		}
		ids := map[string]int64{}
		for _, a := range agents {
			if a.Online {
				ids[a.Name] = a.ID
			}
		}
		for _, n := range names {
			if _, ok := ids[n]; !ok {
				return ids, false, nil
			}
		}
		return ids, true, nil
	})
}

// waitJob polls run id until the job with key satisfies ok.
func (s *srv) waitJob(t *testing.T, id int64, key, what string, timeout time.Duration, ok func(server.JobView) bool) server.JobView {
	t.Helper()
	c := s.client()
	return waitFor(t, fmt.Sprintf("job %s of run %d: %s", key, id, what), timeout, func() (server.JobView, bool, error) {
		d, err := c.GetRun(context.Background(), id)
		if err != nil {
			return server.JobView{}, false, err
		}
		for _, j := range d.Jobs {
			if j.Key == key {
				return j, ok(j), nil
			}
		}
		return server.JobView{}, false, fmt.Errorf("no job %s yet", key)
	})
}

func completed(j server.JobView) bool { return j.Status == store.StatusCompleted }

// pendingReason is the queue's reason for job jobID, "" when not pending.
func (s *srv) pendingReason(t *testing.T, jobID int64) (string, bool) {
	t.Helper()
	q, err := s.client().Queue(context.Background())
	if err != nil {
		t.Fatalf("reading the queue: %v", err)
	}
	for _, p := range q.Pending {
		if p.Job.ID == jobID {
			return p.Reason, true
		}
	}
	return "", false
}

// TestRemoteAgentsRouteByLabels runs a job needing gpu only on the gpu
// agent, a default job on a default agent, and leaves an arm64 job queued
// with a reason.
func TestRemoteAgentsRouteByLabels(t *testing.T) {
	t.Parallel()
	s := startServer(t, 0)
	s.startAgent(t, "plain", "default")
	s.waitAgentsOnline(t, "plain")
	g, first := newGitRepo(t, map[string]string{"README.md": "x\n"})
	hookSecret := "hook-" + randomHex(t, 8)
	s.addRepo(t, "demo", g, hookSecret)
	sha := g.commit(t, map[string]string{".github/workflows/route.yml": routeWorkflow}, "add route")
	runs := s.pushHook(t, forge.GitHub, "demo", g, first, sha, hookSecret, "route-1")
	id := runs[0]

	// Only the plain agent exists: it runs "any", and although the gpu job
	// is older and queued, it is not offered to it.
	anyJob := s.waitJob(t, id, "any", "completed", runTimeout, completed)
	ids := s.agentIDs(t)
	if anyJob.Conclusion != store.ConclusionSuccess || anyJob.AgentID == nil || *anyJob.AgentID != ids["plain"] {
		t.Fatalf("job any: %s on agent %v, want success on plain (%d)", anyJob.Conclusion, anyJob.AgentID, ids["plain"])
	}
	d, err := s.client().GetRun(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	gpu := jobByKey(t, d, "gpu")
	if gpu.Status != store.StatusQueued {
		t.Fatalf("job gpu is %s/%s with only a non-gpu agent, want queued:%s", gpu.Status, gpu.Conclusion, describeJobs(d))
	}
	if reason, ok := s.pendingReason(t, gpu.ID); !ok || !strings.Contains(reason, "gpu") {
		t.Errorf("queue reason for the gpu job: %q (pending %v), want one naming the gpu label", reason, ok)
	}

	s.startAgent(t, "gpubox", "default,gpu")
	gpu = s.waitJob(t, id, "gpu", "completed", runTimeout, completed)
	ids = s.waitAgentsOnline(t, "plain", "gpubox")
	if gpu.Conclusion != store.ConclusionSuccess || gpu.AgentID == nil || *gpu.AgentID != ids["gpubox"] {
		t.Fatalf("job gpu: %s on agent %v, want success on gpubox (%d)", gpu.Conclusion, gpu.AgentID, ids["gpubox"])
	}
	if log := s.jobLog(t, gpu.ID); !strings.Contains(log, "gpu job ran") {
		t.Errorf("gpu job log lacks its output:\n%s", log)
	}

	// Both agents are idle now and neither can take arm64.
	d, err = s.client().GetRun(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	arm := jobByKey(t, d, "arm")
	if arm.Status != store.StatusQueued || d.Run.Status == store.StatusCompleted {
		t.Fatalf("job arm is %s, run %s; want the job queued and the run not completed:%s", arm.Status, d.Run.Status, describeJobs(d))
	}
	reason, ok := s.pendingReason(t, arm.ID)
	if !ok || !strings.Contains(reason, "arm64") {
		t.Errorf("queue reason for the arm64 job: %q (pending %v), want one naming arm64", reason, ok)
	}

	out := s.mustCLI(t, "agents", "--json")
	var agents []server.AgentView
	if err := json.Unmarshal([]byte(out), &agents); err != nil {
		t.Fatalf("decoding sluice agents --json %q: %v", out, err)
	}
	labels := map[string]string{}
	for _, a := range agents {
		labels[a.Name] = strings.Join(a.Labels, ",")
	}
	if labels["plain"] != "default" || labels["gpubox"] != "default,gpu" {
		t.Errorf("sluice agents labels: %v, want plain=default gpubox=default,gpu", labels)
	}
}

// TestAgentKilledMidJobIsRetried kills the agent running a job; the job is
// recorded as agent lost and a second attempt runs on the other agent. It
// waits for the lease (30 s) to run out, so it is the slow one.
func TestAgentKilledMidJobIsRetried(t *testing.T) {
	t.Parallel()
	s := startServer(t, 0)
	agents := map[string]*proc{"one": s.startAgent(t, "one", "default", "--sandbox", "off"), "two": s.startAgent(t, "two", "default", "--sandbox", "off")}
	ids := s.waitAgentsOnline(t, "one", "two")
	marker := filepath.Join(t.TempDir(), "marker")
	g, first := newGitRepo(t, map[string]string{"README.md": "x\n"})
	hookSecret := "hook-" + randomHex(t, 8)
	s.addRepo(t, "demo", g, hookSecret)
	sha := g.commit(t, map[string]string{".github/workflows/wait.yml": markerWorkflow(marker)}, "add wait")
	id := s.pushHook(t, forge.GitHub, "demo", g, first, sha, hookSecret, "lost-1")[0]

	firstJob := s.waitJob(t, id, "wait", "running its step", runTimeout, func(j server.JobView) bool {
		return j.Status == store.StatusInProgress && j.AgentID != nil && strings.Contains(s.jobLog(t, j.ID), "before line 3")
	})
	victim, survivor := "one", "two"
	if *firstJob.AgentID == ids["two"] {
		victim, survivor = "two", "one"
	}
	agents[victim].kill()
	// The killed agent's step (its own process group) may linger; the
	// marker lets it end, and the retry pass straight through.
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	d := s.waitRunDone(t, id, 120*time.Second)
	retry := jobByKey(t, d, "wait")
	if d.Run.Conclusion != store.ConclusionSuccess || retry.ID == firstJob.ID || retry.Attempt != firstJob.Attempt+1 {
		t.Fatalf("run %d %s, job %d attempt %d; want success with a new attempt after job %d attempt %d:%s",
			id, d.Run.Conclusion, retry.ID, retry.Attempt, firstJob.ID, firstJob.Attempt, describeJobs(d))
	}
	if retry.AgentID == nil || *retry.AgentID != ids[survivor] {
		t.Errorf("the retry ran on agent %v, want %s (%d)", retry.AgentID, survivor, ids[survivor])
	}
	if log := s.jobLog(t, retry.ID); !strings.Contains(log, "marker seen") {
		t.Errorf("the retry's log lacks its output:\n%s", log)
	}

	evs, err := s.client().RunEvents(context.Background(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	var lost []string
	for _, e := range evs {
		if e.Kind == store.EventJobAgentLost && e.JobID != nil && *e.JobID == firstJob.ID {
			lost = append(lost, string(e.Data))
		}
	}
	if len(lost) != 1 || !strings.Contains(lost[0], "agent lost") || !strings.Contains(lost[0], `"retried":true`) {
		t.Errorf("agent-lost events of job %d: %q, want one saying agent lost and retried", firstJob.ID, lost)
	}
}
