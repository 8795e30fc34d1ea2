package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/store"
)

// payloadWorkflow prints the github.event fields actions read, through expressions and through
// the event file ($GITHUB_EVENT_PATH, which JavaScript actions read).
const payloadWorkflow = `on: [push, workflow_dispatch]
jobs:
  show:
    runs-on: ubuntu-latest
    steps:
      - name: fields
        run: |
          echo "ev default_branch=${{ github.event.repository.default_branch }}"
          echo "ev owner_set=${{ github.event.repository.owner.login != '' }}"
          echo "ev full_name_set=${{ github.event.repository.full_name != '' }}"
          echo "ev urls_set=${{ github.event.repository.html_url != '' && github.event.repository.clone_url != '' }}"
          echo "ev sender_set=${{ github.event.sender.login != '' }}"
          echo "ev after=${{ github.event.after }}"
          echo "ev head_commit=${{ github.event.head_commit.id }}"
          echo "ev head_message=${{ github.event.head_commit.message }}"
          echo "ev last_commit=${{ github.event.commits[0].id }}"
          echo "ev before_set=${{ github.event.before != '' }}"
      - name: file
        run: |
          python3 -c 'import json, os
          e = json.load(open(os.environ["GITHUB_EVENT_PATH"]))
          print("ev file_default_branch=" + e["repository"]["default_branch"])
          print("ev file_modified=" + ",".join(e.get("head_commit", {}).get("modified", [])))'
`

var evLine = regexp.MustCompile(`(?m)(?:^|\] )ev (\w+)=(.*)$`)

// eventFields picks the "ev NAME=VALUE" lines out of a log.
func eventFields(log string) map[string]string {
	out := map[string]string{}
	for _, m := range evLine.FindAllStringSubmatch(log, -1) {
		out[m[1]] = strings.TrimSpace(m[2])
	}
	return out
}

// TestEventPayloadBothPaths: the same push gives the same github.event fields through `sluice
// run` and through the server (a GitLab delivery, which lacks GitHub's repository fields and
// head commit, and a dispatch, which carries no payload at all).
func TestEventPayloadBothPaths(t *testing.T) {
	t.Parallel()
	g, _ := newGitRepo(t, map[string]string{".github/workflows/payload.yml": payloadWorkflow, "app.py": "print(1)\n"})
	before := strings.TrimSpace(runGit(t, g.work, "rev-parse", "HEAD"))
	sha := g.commit(t, map[string]string{"app.py": "print(2)\n"}, "change the app")

	want := map[string]string{
		"default_branch": "main", "owner_set": "true", "full_name_set": "true", "urls_set": "true", "sender_set": "true",
		"after": sha, "head_commit": sha, "head_message": "change the app", "last_commit": sha, "before_set": "true",
		"file_default_branch": "main", "file_modified": "app.py",
	}

	// sluice run, in the pushed work tree.
	cmd := exec.Command(sluiceBin(t), "run")
	cmd.Dir = g.work
	cmd.Env = append(os.Environ(), "SLUICE_STATE_DIR="+t.TempDir(), "SLUICE_GITHUB_URL=http://127.0.0.1:1", "TERM=dumb")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sluice run: %v\n%s", err, out)
	}
	if diff := cmp.Diff(want, eventFields(string(out))); diff != "" {
		t.Errorf("sluice run: github.event (-want +got):\n%s\n%s", diff, out)
	}

	// The server, from a GitLab push delivery.
	s := startServer(t, 1)
	secret := "hook-" + randomHex(t, 8)
	s.addRepo(t, "payload", g, secret)
	h, body := pushDelivery(t, forge.GitLab, g, before, sha, "gl-1")
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	delete(m["project"].(map[string]any), "default_branch")
	m["commits"].([]any)[0].(map[string]any)["modified"] = []string{"app.py"}
	m["commits"].([]any)[0].(map[string]any)["message"] = "change the app"
	body, _ = json.Marshal(m)
	name, value := forge.Sign(forge.GitLab, body, []byte(secret))
	h.Set(name, value)
	a := s.postHook(t, forge.GitLab, "payload", h, body)
	if a.Status != http.StatusAccepted || len(a.Runs) != 1 {
		t.Fatalf("GitLab push: %d %s", a.Status, a.raw)
	}
	d := s.waitRunDone(t, a.Runs[0], runTimeout)
	if d.Run.Conclusion != store.ConclusionSuccess {
		t.Fatalf("server run concluded %q:%s", d.Run.Conclusion, describeJobs(d))
	}
	if diff := cmp.Diff(want, eventFields(s.jobLog(t, jobByKey(t, d, "show").ID))); diff != "" {
		t.Errorf("server (GitLab push): github.event (-want +got):\n%s", diff)
	}

	// A dispatch carries no payload of its own: the repository and sender are filled in.
	run := s.dispatch(t, "payload", ".github/workflows/payload.yml", "--ref", "main")
	d = s.waitRunDone(t, run.ID, runTimeout)
	got := eventFields(s.jobLog(t, jobByKey(t, d, "show").ID))
	for _, k := range []string{"default_branch", "owner_set", "full_name_set", "urls_set", "file_default_branch"} {
		if got[k] != want[k] {
			t.Errorf("server (dispatch): %s=%q, want %q", k, got[k], want[k])
		}
	}
}

// TestInvalidWorkflowFailsOnlyItself: a push with one workflow GitHub would refuse and one it
// runs despite lint advice gives a failed run for the first, naming file:line:col, and a
// successful run of the second, as on GitHub.
func TestInvalidWorkflowFailsOnlyItself(t *testing.T) {
	t.Parallel()
	g, first := newGitRepo(t, map[string]string{
		".github/workflows/bad.yml":   "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: nope\n    steps:\n      - run: echo bad\n",
		".github/workflows/warns.yml": "on: push\njobs:\n  w:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v3\n      - if: steps.nope.outputs.x != 'true'\n        run: echo warned-ran\n",
	})
	s := startServer(t, 1)
	secret := "hook-" + randomHex(t, 8)
	s.addRepo(t, "invalid", g, secret)
	sha := g.commit(t, map[string]string{"x.txt": "1"}, "push")
	runs := s.pushHook(t, forge.GitHub, "invalid", g, first, sha, secret, "invalid-1")
	if len(runs) != 2 {
		t.Fatalf("the push started %d runs, want 2 (one per workflow file)", len(runs))
	}
	got := map[string]string{}
	for _, id := range runs {
		d := s.waitRunDone(t, id, runTimeout)
		got[d.Run.Workflow] = d.Run.Conclusion
		switch d.Run.Workflow {
		case ".github/workflows/bad.yml":
			if reason := jobByKey(t, d, "lint").Reason; !strings.Contains(reason, ".github/workflows/bad.yml:3:3: job \"a\" needs job \"nope\"") {
				t.Errorf("the invalid run's reason %q does not locate the problem", reason)
			}
		case ".github/workflows/warns.yml":
			if log := s.jobLog(t, jobByKey(t, d, "w").ID); !strings.Contains(log, "warned-ran") {
				t.Errorf("the warned workflow's job did not run its step:\n%s", log)
			}
		}
	}
	if diff := cmp.Diff(map[string]string{".github/workflows/bad.yml": store.ConclusionFailure, ".github/workflows/warns.yml": store.ConclusionSuccess}, got); diff != "" {
		t.Errorf("runs (-want +got):\n%s", diff)
	}
}
