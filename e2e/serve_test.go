package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

// runTimeout bounds how long a short run may take on a slow CI machine.
const runTimeout = 90 * time.Second

// ciWorkflow has needs, a two-leg matrix, job outputs passed through needs,
// and a step that uses a secret.
const ciWorkflow = `name: ci
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      greeting: ${{ steps.g.outputs.greeting }}
    steps:
      - id: g
        run: echo "greeting=hello-from-build" >> "$GITHUB_OUTPUT"
  test:
    needs: build
    runs-on: ubuntu-latest
    strategy:
      matrix:
        leg: [one, two]
    steps:
      - run: echo "leg ${{ matrix.leg }} got ${{ needs.build.outputs.greeting }}"
      - env:
          TOK: ${{ secrets.DEPLOY_TOKEN }}
        run: |
          echo "secret is $TOK"
          printf '%s' "$TOK" | sha256sum
`

// echoWorkflow is the smallest workflow that proves a push ran.
const echoWorkflow = `name: echo
on: push
jobs:
  hello:
    runs-on: ubuntu-latest
    steps:
      - run: echo "hello from ${{ github.sha }}"
`

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestGitHubPushRunsWorkflowWithSecret covers a signed GitHub push through
// to a successful run with needs, a matrix, job outputs and a masked secret
// that no API answer contains.
func TestGitHubPushRunsWorkflowWithSecret(t *testing.T) {
	t.Parallel()
	s := startServer(t, 2)
	g, first := newGitRepo(t, map[string]string{"README.md": "demo\n"})
	hookSecret := "hook-" + randomHex(t, 8)
	s.addRepo(t, "demo", g, hookSecret)
	secret := "sv-" + randomHex(t, 16)
	if _, err := s.cli(t, secret+"\n", "secret", "set", "DEPLOY_TOKEN", "--repo", "demo"); err != nil {
		t.Fatal(err)
	}
	sha := g.commit(t, map[string]string{".github/workflows/ci.yml": ciWorkflow}, "add ci")

	runs := s.pushHook(t, forge.GitHub, "demo", g, first, sha, hookSecret, "gh-1")
	if len(runs) != 1 {
		t.Fatalf("push started runs %v, want one", runs)
	}
	id := runs[0]
	view := s.waitRunsCLIDone(t, "demo", id, runTimeout)
	d := s.waitRunDone(t, id, 10*time.Second)
	if view.Conclusion != store.ConclusionSuccess || d.Run.Conclusion != store.ConclusionSuccess {
		t.Fatalf("run %d: sluice runs says %s, API says %s; want success:%s\n%s", id, view.Conclusion,
			d.Run.Conclusion, describeJobs(d), s.mustCLI(t, "logs", fmt.Sprint(id)))
	}
	if d.Run.SHA != sha || d.Run.Event != "push" || d.Run.Ref != "refs/heads/main" {
		t.Errorf("run %d: sha %s event %s ref %s, want %s push refs/heads/main", id, d.Run.SHA, d.Run.Event, d.Run.Ref, sha)
	}

	// build, then one job per leg of the matrix, each successful.
	var keys []string
	legs := map[string]server.JobView{}
	for _, j := range d.Jobs {
		keys = append(keys, j.Key)
		if j.Conclusion != store.ConclusionSuccess {
			t.Errorf("job %s: %s/%s, want success", j.Key, j.Status, j.Conclusion)
		}
		if strings.HasPrefix(j.Key, "test (") {
			legs[j.Key] = j
		}
	}
	// The matrix job is its legs: no job of its own is listed (as on GitHub).
	sort.Strings(keys)
	if diff := cmp.Diff([]string{"build", "test (one)", "test (two)"}, keys); diff != "" {
		t.Fatalf("run %d jobs (-want +got):\n%s", id, diff)
	}
	build := jobByKey(t, d, "build")
	if diff := cmp.Diff(map[string]string{"greeting": "hello-from-build"}, build.Outputs); diff != "" {
		t.Errorf("build outputs (-want +got):\n%s", diff)
	}

	sum := sha256.Sum256([]byte(secret))
	sumHex := hex.EncodeToString(sum[:])
	var legNames []string
	for _, j := range legs {
		log := s.jobLog(t, j.ID)
		leg := ""
		for _, l := range []string{"one", "two"} {
			if strings.Contains(log, "leg "+l+" got hello-from-build") {
				leg = l
			}
		}
		legNames = append(legNames, leg)
		if !strings.Contains(log, "secret is ***") {
			t.Errorf("job %s log lacks the masked secret line:\n%s", j.Key, log)
		}
		// The step saw the real value: its digest is printed.
		if !strings.Contains(log, sumHex) {
			t.Errorf("job %s log lacks the secret's sha256 %s (the step did not get the secret):\n%s", j.Key, sumHex, log)
		}
	}
	sort.Strings(legNames)
	if diff := cmp.Diff([]string{"one", "two"}, legNames); diff != "" {
		t.Errorf("matrix legs with needs output in their logs (-want +got):\n%s", diff)
	}

	cliLogs := s.mustCLI(t, "logs", fmt.Sprint(id))
	for _, want := range []string{"leg one got hello-from-build", "leg two got hello-from-build", "secret is ***"} {
		if !strings.Contains(cliLogs, want) {
			t.Errorf("sluice logs %d lacks %q:\n%s", id, want, cliLogs)
		}
	}

	// The secret is in no API answer and not in the CLI's output.
	answers := map[string]string{"sluice logs": cliLogs}
	for _, p := range []string{"/api/v1/runs", "/api/v1/runs?repo=demo", fmt.Sprintf("/api/v1/runs/%d", id),
		fmt.Sprintf("/api/v1/runs/%d/events", id), "/api/v1/secrets", "/api/v1/repos/demo/secrets",
		"/api/v1/repos", "/api/v1/repos/demo", "/api/v1/queue", "/api/v1/agents", "/api/v1/tokens"} {
		answers[p] = s.getRaw(t, p)
	}
	for _, j := range d.Jobs {
		for _, p := range []string{fmt.Sprintf("/api/v1/jobs/%d/logs", j.ID), fmt.Sprintf("/api/v1/jobs/%d/logs/stream", j.ID)} {
			answers[p] = s.getRaw(t, p)
		}
	}
	for p, body := range answers {
		if strings.Contains(body, secret) {
			t.Errorf("%s contains the secret's value:\n%s", p, body)
		}
	}
	if !strings.Contains(answers["/api/v1/repos/demo/secrets"], "DEPLOY_TOKEN") {
		t.Errorf("the secrets list does not name DEPLOY_TOKEN: %s", answers["/api/v1/repos/demo/secrets"])
	}
}

// TestGiteaAndGitLabPushesStartRuns delivers a push in each of the other
// two forge formats; each starts a run of its commit that succeeds.
func TestGiteaAndGitLabPushesStartRuns(t *testing.T) {
	t.Parallel()
	s := startServer(t, 2)
	g, first := newGitRepo(t, map[string]string{".github/workflows/echo.yml": echoWorkflow})
	hookSecret := "hook-" + randomHex(t, 8)
	s.addRepo(t, "demo", g, hookSecret)

	before := first
	for _, kind := range []forge.Kind{forge.Gitea, forge.GitLab} {
		sha := g.commit(t, map[string]string{"file.txt": string(kind)}, "push for "+string(kind))
		runs := s.pushHook(t, kind, "demo", g, before, sha, hookSecret, string(kind)+"-1")
		before = sha
		if len(runs) != 1 {
			t.Fatalf("%s push started runs %v, want one", kind, runs)
		}
		d := s.waitRunDone(t, runs[0], runTimeout)
		if d.Run.Conclusion != store.ConclusionSuccess || d.Run.SHA != sha {
			t.Fatalf("%s push: run %d at %s concluded %q, want success at %s:%s", kind, d.Run.ID, d.Run.SHA,
				d.Run.Conclusion, sha, describeJobs(d))
		}
		if log := s.jobLog(t, jobByKey(t, d, "hello").ID); !strings.Contains(log, "hello from "+sha) {
			t.Errorf("%s push: the job's log lacks %q:\n%s", kind, "hello from "+sha, log)
		}
	}
	if n := len(s.runsCLI(t, "demo")); n != 2 {
		t.Errorf("sluice runs lists %d runs, want 2", n)
	}
}

// TestBadSignatureRejected sends deliveries with wrong or missing
// signatures: each gets 401 and starts nothing.
func TestBadSignatureRejected(t *testing.T) {
	t.Parallel()
	s := startServer(t, 0)
	g, first := newGitRepo(t, map[string]string{".github/workflows/echo.yml": echoWorkflow})
	hookSecret := "hook-" + randomHex(t, 8)
	s.addRepo(t, "demo", g, hookSecret)
	sha := g.commit(t, map[string]string{"file.txt": "x"}, "change")

	cases := []struct {
		name string
		kind forge.Kind
		sign func(h http.Header, body []byte) []byte // returns the body to send
	}{
		{"github wrong secret", forge.GitHub, func(h http.Header, body []byte) []byte {
			n, v := forge.Sign(forge.GitHub, body, []byte("not-the-secret"))
			h.Set(n, v)
			return body
		}},
		{"github missing signature", forge.GitHub, func(h http.Header, body []byte) []byte { return body }},
		{"github body changed after signing", forge.GitHub, func(h http.Header, body []byte) []byte {
			n, v := forge.Sign(forge.GitHub, body, []byte(hookSecret))
			h.Set(n, v)
			return []byte(strings.Replace(string(body), "refs/heads/main", "refs/heads/evil", 1))
		}},
		{"gitea wrong secret", forge.Gitea, func(h http.Header, body []byte) []byte {
			n, v := forge.Sign(forge.Gitea, body, []byte("not-the-secret"))
			h.Set(n, v)
			return body
		}},
		{"gitlab missing token", forge.GitLab, func(h http.Header, body []byte) []byte { return body }},
	}
	for _, c := range cases {
		h, body := pushDelivery(t, c.kind, g, first, sha, "bad-"+c.name)
		body = c.sign(h, body)
		a := s.postHook(t, c.kind, "demo", h, body)
		if a.Status != http.StatusUnauthorized {
			t.Errorf("%s: got %d %s, want 401", c.name, a.Status, a.raw)
		}
		if len(a.Runs) != 0 {
			t.Errorf("%s: the answer lists runs %v", c.name, a.Runs)
		}
	}
	if runs := s.runsCLI(t, "demo"); len(runs) != 0 {
		t.Fatalf("sluice runs lists %d runs after rejected deliveries, want none: %+v", len(runs), runs)
	}

	// A correctly signed delivery after them is the only run: the rejected
	// ones were not merely slow to appear.
	runs := s.pushHook(t, forge.GitHub, "demo", g, first, sha, hookSecret, "good-1")
	listed := s.runsCLI(t, "demo")
	if len(listed) != 1 || len(runs) != 1 || listed[0].ID != runs[0] {
		t.Fatalf("after one good delivery (runs %v) sluice runs lists %+v, want exactly that run", runs, listed)
	}
}
