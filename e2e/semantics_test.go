package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

// The workflows of TestServerEventsAndStatuses. ci.yml's test fails for a pull request and
// passes for a push; ci-extra.yml has the same name; after.yml follows CI's runs on main;
// target.yml runs for pull requests touching src/, in the base branch's context.
const (
	semCI = `name: CI
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: test "${{ github.event_name }}" = push
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: "true"
`
	semCIExtra = `name: CI
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: "true"
`
	semAfter = `name: After
on:
  workflow_run:
    workflows: [CI]
    types: [completed]
    branches: [main]
jobs:
  report:
    runs-on: ubuntu-latest
    if: github.event.workflow_run.conclusion == 'success'
    steps:
      - run: echo "wr name=${{ github.event.workflow_run.name }} conclusion=${{ github.event.workflow_run.conclusion }} event=${{ github.event.workflow_run.event }} branch=${{ github.event.workflow_run.head_branch }} ref=${{ github.ref }}"
`
	semTarget = `name: Target
on:
  pull_request_target:
    paths: ['src/**']
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - run: echo "tgt from=%s sha=${{ github.sha }} ref=${{ github.ref }} head=${{ github.event.pull_request.head.sha }} secret=${{ secrets.S1 != '' }}"
`
)

// statusesBySHA is the last state the fake forge got for each commit and context.
func (f *fakeForge) statusesBySHA() map[string]map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]map[string]string{}
	for _, c := range f.calls {
		i := strings.Index(c.Path, "/statuses/")
		if c.Method != http.MethodPost || i < 0 {
			continue
		}
		sha := c.Path[i+len("/statuses/"):]
		if out[sha] == nil {
			out[sha] = map[string]string{}
		}
		ctx, _ := c.Body["context"].(string)
		state, _ := c.Body["state"].(string)
		out[sha][ctx] = state
	}
	return out
}

// TestServerEventsAndStatuses drives one server and its embedded agent with signed webhooks
// the way a team's day goes: a push to main, a push to a feature branch and a pull request of
// that branch (two commits, the second changing the pull_request_target workflow). It checks
// that each job reports its own commit status per event (the pull request's failure is not
// hidden by the push's success on the same commit; two workflows called CI keep apart), that
// workflow_run follows CI on main only, with its conclusion, and that pull_request_target runs
// the base branch's workflow file at the base's tip, with secrets, filtered by the pull
// request's whole diff.
func TestServerEventsAndStatuses(t *testing.T) {
	t.Parallel()
	g, main := newGitRepo(t, map[string]string{
		".github/workflows/ci.yml":       semCI,
		".github/workflows/ci-extra.yml": semCIExtra,
		".github/workflows/after.yml":    semAfter,
		".github/workflows/target.yml":   fmt.Sprintf(semTarget, "base"),
		"src/app.py":                     "print(1)\n",
	})
	fake := newFakeForge(t)
	s := startServer(t, 2)
	secret := "hook-" + randomHex(t, 8)
	s.mustCLI(t, "repo", "add", "demo", "--url", g.url(), "--webhook-secret", secret, "--default-branch", "main",
		"--forge", "github", "--status-token", "ghp-e2e", "--api-url", fake.URL)
	if _, err := s.cli(t, "sv-"+randomHex(t, 8)+"\n", "secret", "set", "S1", "--repo", "demo"); err != nil {
		t.Fatal(err)
	}
	deliver := func(event, id string, payload map[string]any) []int64 {
		t.Helper()
		body, err := json.Marshal(payload)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{"Content-Type": {"application/json"}, "X-GitHub-Event": {event}, "X-GitHub-Delivery": {id}}
		name, value := forge.Sign(forge.GitHub, body, []byte(secret))
		h.Set(name, value)
		a := s.postHook(t, forge.GitHub, "demo", h, body)
		if a.Status != http.StatusAccepted {
			t.Fatalf("%s delivery: %d %s", event, a.Status, a.raw)
		}
		return a.Runs
	}
	repoJSON := map[string]any{"full_name": "e2e/demo", "clone_url": g.url(), "default_branch": "main"}
	push := func(ref, before, after, id string) []int64 {
		return deliver("push", id, map[string]any{"ref": ref, "before": before, "after": after, "repository": repoJSON,
			"sender": map[string]any{"login": "dev"}})
	}
	waitAll := func(ids []int64) map[int64]*server.RunDetail {
		t.Helper()
		out := map[int64]*server.RunDetail{}
		for _, id := range ids {
			out[id] = s.waitRunDone(t, id, runTimeout)
		}
		return out
	}
	runsOf := func(workflow string, want int) []server.RunView {
		t.Helper()
		return waitFor(t, fmt.Sprintf("%d completed runs of %s", want, workflow), runTimeout, func() ([]server.RunView, bool, error) {
			var out []server.RunView
			for _, r := range s.runsCLI(t, "demo") {
				if r.Workflow == workflow && r.Status == store.StatusCompleted {
					out = append(out, r)
				}
			}
			return out, len(out) == want, nil
		})
	}

	// 1. A push to main: both CI workflows, then After for each of them.
	waitAll(push("refs/heads/main", zeroSHA, main, "push-main"))
	after := runsOf(".github/workflows/after.yml", 2)
	for _, r := range after {
		if r.Event != "workflow_run" || r.SHA != main || r.Ref != "refs/heads/main" || r.Conclusion != store.ConclusionSuccess {
			t.Errorf("workflow_run run %d: event %s sha %s ref %s conclusion %s", r.ID, r.Event, r.SHA, r.Ref, r.Conclusion)
		}
		d := s.waitRunDone(t, r.ID, runTimeout)
		log := s.jobLog(t, jobByKey(t, d, "report").ID)
		if !strings.Contains(log, "wr name=CI conclusion=success event=push branch=main ref=refs/heads/main") {
			t.Errorf("workflow_run run %d log:\n%s", r.ID, log)
		}
	}

	// The same workflow_run through `sluice run`, given the event: the same line.
	evFile := filepath.Join(t.TempDir(), "event.json")
	for _, c := range []struct {
		branch, want string
	}{{"main", "wr name=CI conclusion=success event=push branch=main ref=refs/heads/main"}, {"feature", "No workflow is triggered"}} {
		ev, _ := json.Marshal(map[string]any{"action": "completed", "workflow_run": map[string]any{
			"name": "CI", "conclusion": "success", "event": "push", "head_branch": c.branch}})
		if err := os.WriteFile(evFile, ev, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(sluiceBin(t), "run", "workflow_run", "-e", evFile)
		cmd.Dir = g.work
		cmd.Env = append(os.Environ(), "SLUICE_STATE_DIR="+t.TempDir(), "SLUICE_GITHUB_URL=http://127.0.0.1:1", "TERM=dumb")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), c.want) {
			t.Errorf("sluice run workflow_run (branch %s): %v, want %q in:\n%s", c.branch, err, c.want, out)
		}
	}

	// 2. A feature branch of two commits: the first changes src/, the second only the
	// pull_request_target workflow (which must not be what runs) and the README.
	runGit(t, g.work, "checkout", "--quiet", "-b", "feature")
	g.writeCommit(t, map[string]string{"src/app.py": "print(2)\n"}, "change the app")
	head := g.writeCommit(t, map[string]string{".github/workflows/target.yml": fmt.Sprintf(semTarget, "head"), "README.md": "hi\n"}, "docs")
	runGit(t, g.work, "push", "--quiet", "origin", "feature", "HEAD:refs/pull/1/head")
	pushRuns := push("refs/heads/feature", main, head, "push-feature")
	prRuns := deliver("pull_request", "pr-1", map[string]any{
		"action": "opened", "number": 1,
		"pull_request": map[string]any{"number": 1, "title": "change the app",
			"head": map[string]any{"ref": "feature", "sha": head, "repo": map[string]any{"full_name": "e2e/demo"}},
			"base": map[string]any{"ref": "main", "sha": main, "repo": map[string]any{"full_name": "e2e/demo"}}},
		"repository": repoJSON, "sender": map[string]any{"login": "dev"},
	})
	done := waitAll(append(append([]int64{}, pushRuns...), prRuns...))
	var target *server.RunDetail
	events := map[string]string{}
	for _, id := range prRuns {
		d := done[id]
		events[filepath.Base(d.Run.Workflow)+" "+d.Run.Event] = d.Run.Conclusion
		if d.Run.Event == "pull_request_target" {
			target = d
		}
	}
	if d := cmp.Diff(map[string]string{"ci.yml pull_request": "failure", "target.yml pull_request_target": "success"}, events); d != "" {
		t.Fatalf("the pull request's runs (-want +got):\n%s", d)
	}
	if target.Run.SHA != main || target.Run.Ref != "refs/heads/main" {
		t.Errorf("pull_request_target run on %s %s, want the base branch's tip %s", target.Run.Ref, target.Run.SHA, main)
	}
	log := s.jobLog(t, jobByKey(t, target, "t").ID)
	if want := fmt.Sprintf("tgt from=base sha=%s ref=refs/heads/main head=%s secret=true", main, head); !strings.Contains(log, want) {
		t.Errorf("pull_request_target log lacks %q:\n%s", want, log)
	}
	// Neither the feature push's CI nor the pull request's reach After: it follows main only.
	if n := len(runsOf(".github/workflows/after.yml", 2)); n != 2 {
		t.Errorf("%d workflow_run runs, want 2", n)
	}

	// 3. Statuses: one per workflow, job and event; the same commit's push and pull request
	// results stand side by side.
	want := map[string]map[string]string{
		main: {
			"sluice/CI (ci.yml) (push)": "success", "CI (ci.yml) / test (push)": "success", "CI (ci.yml) / lint (push)": "success",
			"sluice/CI (ci-extra.yml) (push)": "success", "CI (ci-extra.yml) / test (push)": "success",
			"sluice/After (workflow_run)": "success", "After / report (workflow_run)": "success",
			"sluice/Target (pull_request_target)": "success", "Target / t (pull_request_target)": "success",
		},
		head: {
			"sluice/CI (ci.yml) (push)": "success", "CI (ci.yml) / test (push)": "success", "CI (ci.yml) / lint (push)": "success",
			"sluice/CI (ci-extra.yml) (push)": "success", "CI (ci-extra.yml) / test (push)": "success",
			"sluice/CI (ci.yml) (pull_request)": "failure", "CI (ci.yml) / test (pull_request)": "failure",
			"CI (ci.yml) / lint (pull_request)": "success",
		},
	}
	got := waitFor(t, "the forge to get every final status", runTimeout, func() (map[string]map[string]string, bool, error) {
		got := fake.statusesBySHA()
		return got, cmp.Equal(want, got), nil
	})
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("final commit statuses (-want +got):\n%s", d)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	for _, c := range fake.calls {
		if c.Auth != "Bearer ghp-e2e" || !strings.HasPrefix(c.Path, "/repos/e2e/demo/statuses/") {
			t.Errorf("forge call %s %s with %q", c.Method, c.Path, c.Auth)
		}
	}
}

// writeCommit commits files on the work tree's current branch without pushing.
func (g *gitRepo) writeCommit(t *testing.T, files map[string]string, msg string) string {
	t.Helper()
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := filepath.Join(g.work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(files[name]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	runGit(t, g.work, "add", "-A")
	runGit(t, g.work, "commit", "--quiet", "-m", msg)
	return strings.TrimSpace(runGit(t, g.work, "rev-parse", "HEAD"))
}

// jobGroupWorkflow deploys three matrix legs through one job-level concurrency group.
const jobGroupWorkflow = `name: Deploy
on: push
jobs:
  deploy:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        n: [1, 2, 3]
    concurrency:
      group: Production
    steps:
      - run: echo "deployed ${{ matrix.n }}"
`

// jobGroupCancelWorkflow is jobGroupWorkflow with cancel-in-progress; its first leg would
// take 30 s if nothing stopped it.
const jobGroupCancelWorkflow = `name: Stage
on: push
jobs:
  stage:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        n: [1, 2, 3]
    concurrency:
      group: staging
      cancel-in-progress: true
    steps:
      - run: |
          if [ ${{ matrix.n }} = 1 ]; then sleep 30; fi
          echo "staged ${{ matrix.n }}"
`

// TestJobConcurrencyBothPaths: three jobs entering one job-level concurrency group at once
// end alike through `sluice run` and through the server with its agent, as GitHub documents:
// the first runs, the second waits and is cancelled when the third takes its place, the third
// runs once the first is done. With cancel-in-progress the first is stopped too.
func TestJobConcurrencyBothPaths(t *testing.T) {
	t.Parallel()
	g, sha := newGitRepo(t, map[string]string{".github/workflows/deploy.yml": jobGroupWorkflow,
		".github/workflows/stage.yml": jobGroupCancelWorkflow})
	want := map[string]string{"deploy (1)": "success", "deploy (2)": "cancelled", "deploy (3)": "success",
		"stage (1)": "cancelled", "stage (2)": "cancelled", "stage (3)": "success"}

	cmd := exec.Command(sluiceBin(t), "run", "--jobs", "4")
	cmd.Dir = g.work
	cmd.Env = append(os.Environ(), "SLUICE_STATE_DIR="+t.TempDir(), "SLUICE_GITHUB_URL=http://127.0.0.1:1", "TERM=dumb")
	out, _ := cmd.CombinedOutput()
	// The summary table: JOB RESULT DURATION.
	local := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^((?:deploy|stage) \(\d\))\s+(\w+)\s`).FindAllStringSubmatch(string(out), -1) {
		local[m[1]] = m[2]
	}
	for _, line := range []string{"deployed 1", "deployed 3", "staged 3", `cancelled: deploy (3) took its place in concurrency group "Production"`} {
		if !strings.Contains(string(out), line) {
			t.Errorf("sluice run's output lacks %q", line)
		}
	}
	for _, line := range []string{"deployed 2", "staged 1", "staged 2"} {
		if strings.Contains(string(out), line) {
			t.Errorf("sluice run's output has %q: a cancelled job ran", line)
		}
	}
	if d := cmp.Diff(want, local); d != "" {
		t.Errorf("sluice run (-want +got):\n%s\n%s", d, out)
	}

	s := startServer(t, 3)
	secret := "hook-" + randomHex(t, 8)
	s.addRepo(t, "deploy", g, secret)
	ids := s.pushHook(t, forge.GitHub, "deploy", g, zeroSHA, sha, secret, "d-1")
	onServer := map[string]string{}
	var d *server.RunDetail
	for _, id := range ids {
		rd := s.waitRunDone(t, id, runTimeout)
		if rd.Run.WorkflowName == "Deploy" {
			d = rd
		}
		for _, j := range rd.Jobs {
			onServer[j.Name] = j.Conclusion
		}
	}
	if diff := cmp.Diff(want, onServer); diff != "" {
		t.Errorf("server (-want +got):\n%s", diff)
	}
	if !strings.Contains(s.jobLog(t, jobByKey(t, d, "deploy (3)").ID), "deployed 3") {
		t.Error("the server's third leg did not deploy")
	}
}
