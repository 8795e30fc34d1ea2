package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

// The attack suite: a real `sluice serve` (embedded agent, default
// sandbox) and a real remote `sluice agent`, and what an attacker would
// push or send. Each attack must fail.

// requireSandbox skips when bubblewrap cannot make a jail here: without one
// the server says so at start and these attacks are expected to succeed.
func requireSandbox(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("bubblewrap is not installed")
	}
	if err := exec.Command("bwrap", "--unshare-user", "--unshare-pid", "--ro-bind", "/", "/", "true").Run(); err != nil {
		t.Skipf("bubblewrap cannot make a sandbox here: %v", err)
	}
}

// attackWorkflow is pushed by the attacker: one job on the embedded agent,
// one on the remote agent, each trying every escape it can. Lines starting
// with VERDICT are what the test reads.
func attackWorkflow(targets []int, data, agentState, outside, outsideAction string) string {
	var pids []string
	for _, p := range targets {
		pids = append(pids, strconv.Itoa(p))
	}
	up := strings.Repeat("../", 30) + strings.TrimPrefix(data, "/")
	// One job per agent (the scheduler routes on runs-on as written, so
	// no matrix of labels): the same steps, on the embedded agent and on
	// the remote one.
	job := fmt.Sprintf(`  attack-WHERE:
    runs-on: WHERE
    env:
      TARGETS: %[1]q
      DATA: %[2]q
      AGENT_STATE: %[3]q
      OUTSIDE: %[4]q
    steps:
      - uses: actions/checkout@v4
      - name: processes
        run: |
          for pid in $TARGETS; do
            if cat /proc/$pid/environ >/dev/null 2>&1; then echo "VERDICT environ readable"; else echo "VERDICT environ denied"; fi
            if ls /proc/$pid/root/ >/dev/null 2>&1; then echo "VERDICT root readable"; else echo "VERDICT root denied"; fi
          done
          found=no
          for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do
            if grep -qa -e SLUICE_ADMIN_"TOKEN" -e SLUICE_REGISTRATION_"TOKEN" -e "sl""c_" "$f" 2>/dev/null; then found=yes; fi
          done
          echo "VERDICT credentials-in-proc $found"
          # (the pattern is split so that this script does not match itself)
          if grep -rqI "sl""c_" "$HOME" /tmp 2>/dev/null; then echo "VERDICT credentials-in-files yes"; else echo "VERDICT credentials-in-files no"; fi
      - name: data
        run: |
          if ls "$DATA" >/dev/null 2>&1; then echo "VERDICT data visible"; else echo "VERDICT data hidden"; fi
          if cat "$DATA/secret.key" >/dev/null 2>&1 || cat "$DATA/sluice.db" >/dev/null 2>&1; then echo "VERDICT data-read yes"; else echo "VERDICT data-read no"; fi
          if (echo pwned > "$DATA/pwned") 2>/dev/null || (echo pwned > "/proc/1/root$DATA/pwned") 2>/dev/null; then echo "VERDICT data-write yes"; else echo "VERDICT data-write no"; fi
          if cat "$AGENT_STATE"/credentials/* >/dev/null 2>&1; then echo "VERDICT agent-credential read"; else echo "VERDICT agent-credential denied"; fi
          ln -s "$DATA" data-link
          ln -s "$OUTSIDE" out-link
      - id: up-abs
        continue-on-error: true
        uses: actions/upload-artifact@v4
        with:
          name: abs-WHERE
          path: %[2]s/secret.key
      - id: up-dotdot
        continue-on-error: true
        uses: actions/upload-artifact@v4
        with:
          name: dotdot-WHERE
          path: %[5]s/secret.key
      - id: up-link
        continue-on-error: true
        uses: actions/upload-artifact@v4
        with:
          name: link-WHERE
          path: data-link
      - id: up-ok
        uses: actions/upload-artifact@v4
        with:
          name: ok-WHERE
          path: README.md
      - id: down-abs
        continue-on-error: true
        uses: actions/download-artifact@v4
        with:
          name: ok-WHERE
          path: %[4]s
      - id: down-link
        continue-on-error: true
        uses: actions/download-artifact@v4
        with:
          name: ok-WHERE
          path: out-link/sub
      - id: uses-dotdot
        continue-on-error: true
        uses: ./%[6]s
      - id: uses-link
        continue-on-error: true
        uses: ./evil-action
      - name: verdicts
        if: always()
        run: |
          for o in "up-abs ${{ steps.up-abs.outcome }}" "up-dotdot ${{ steps.up-dotdot.outcome }}" "up-link ${{ steps.up-link.outcome }}" \
                   "up-ok ${{ steps.up-ok.outcome }}" "down-abs ${{ steps.down-abs.outcome }}" "down-link ${{ steps.down-link.outcome }}" \
                   "uses-dotdot ${{ steps.uses-dotdot.outcome }}" "uses-link ${{ steps.uses-link.outcome }}"; do
            echo "VERDICT $o"
          done
`, strings.Join(pids, " "), data, agentState, outside, up, strings.Repeat("../", 30)+strings.TrimPrefix(outsideAction, "/"))
	return "name: attack\non: push\njobs:\n" + strings.ReplaceAll(job, "WHERE", "ubuntu-latest") + strings.ReplaceAll(job, "WHERE", "remote")
}

// verdicts reads a job log's VERDICT lines, counted (the probes run once
// per target process).
func verdicts(log string) map[string]int {
	out := map[string]int{}
	for _, l := range strings.Split(log, "\n") {
		if i := strings.Index(l, "VERDICT "); i >= 0 && !strings.Contains(l, "echo") {
			out[strings.TrimSpace(l[i+len("VERDICT "):])]++
		}
	}
	return out
}

// TestAttacksFromJobs pushes the attacker's workflow and checks that from
// neither agent it reached the server's or the agent's processes, the data
// directory, the agent's credential, or anything outside the job through
// artifacts and local actions.
func TestAttacksFromJobs(t *testing.T) {
	t.Parallel()
	requireSandbox(t)
	s := startServer(t, 2)
	waitFor(t, "the server to say it sandboxes jobs", 10*time.Second, func() (string, bool, error) {
		out := s.proc.output()
		return out, strings.Contains(out, "jobs run in a bubblewrap sandbox"), nil
	})
	agent := s.startAgent(t, "remote", "remote")
	agents := s.waitAgentsOnline(t, "remote", "embedded")
	// The agent's command line and environment hold no credential.
	for _, f := range []string{"cmdline", "environ"} {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/%s", agent.cmd.Process.Pid, f))
		if bytes.Contains(b, []byte("slc_")) || bytes.Contains(b, []byte(s.token)) {
			t.Errorf("the agent's /proc/%s holds a token", f)
		}
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", s.proc.cmd.Process.Pid))
	if bytes.Contains(b, []byte(s.token)) {
		t.Errorf("the server's environment still holds the admin token")
	}

	outside := t.TempDir()
	outsideAction := filepath.Join(t.TempDir(), "action")
	marker := filepath.Join(t.TempDir(), "action-ran")
	if err := os.MkdirAll(outsideAction, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outsideAction, "action.yml"), []byte(fmt.Sprintf(`name: evil
runs:
  using: composite
  steps:
    - run: touch %q; echo ESCAPED
      shell: bash
`, marker)), 0o644); err != nil {
		t.Fatal(err)
	}
	agentState := filepath.Join(s.dir, "state-agent-remote", "agent")
	before := dirFiles(t, s.data)

	g, first := newGitRepo(t, map[string]string{"README.md": "hello\n"})
	if err := os.Symlink(outsideAction, filepath.Join(g.work, "evil-action")); err != nil {
		t.Fatal(err)
	}
	hookSecret := "hook-" + randomHex(t, 8)
	s.addRepo(t, "victim", g, hookSecret)
	sha := g.commit(t, map[string]string{".github/workflows/attack.yml": attackWorkflow(
		[]int{s.proc.cmd.Process.Pid, agent.cmd.Process.Pid}, s.data, agentState, outside, outsideAction)}, "attack")
	id := s.pushHook(t, forge.GitHub, "victim", g, first, sha, hookSecret, "attack-1")[0]
	d := s.waitRunDone(t, id, 3*runTimeout)

	want := map[string]int{
		"environ denied": 2, "root denied": 2, "credentials-in-proc no": 1, "credentials-in-files no": 1,
		"data hidden": 1, "data-read no": 1, "data-write no": 1, "agent-credential denied": 1,
		"up-abs failure": 1, "up-dotdot failure": 1, "up-link failure": 1, "up-ok success": 1,
		"down-abs failure": 1, "down-link failure": 1, "uses-dotdot failure": 1, "uses-link failure": 1,
	}
	legs := 0
	for _, j := range d.Jobs {
		if !strings.HasPrefix(j.Key, "attack-") {
			continue
		}
		if wantAgent := map[string]string{"attack-remote": "remote", "attack-ubuntu-latest": "embedded"}[j.Key]; j.AgentID == nil || agents[wantAgent] != *j.AgentID {
			t.Errorf("job %s ran on agent %v, want %s (%v)", j.Key, j.AgentID, wantAgent, agents)
		}
		legs++
		log := s.jobLog(t, j.ID)
		if diff := cmp.Diff(want, verdicts(log)); diff != "" {
			t.Errorf("job %s (-want +got):\n%s\n%s", j.Key, diff, log)
		}
		for _, msg := range []string{"outside the job's directories", "outside the repository checked out"} {
			if !strings.Contains(log, msg) {
				t.Errorf("job %s: no error saying %q:\n%s", j.Key, msg, log)
			}
		}
		if strings.Contains(log, "ESCAPED") {
			t.Errorf("job %s ran an action from outside its repository", j.Key)
		}
	}
	if legs != 2 {
		t.Fatalf("run %d has %d attack legs, want 2:%s", id, legs, describeJobs(d))
	}

	// Nothing reached outside, nothing of the data directory left it.
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("download-artifact wrote outside the job: %v", entries)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the outside action ran")
	}
	if _, err := os.Stat(filepath.Join(s.data, "pwned")); err == nil {
		t.Error("a job wrote into the data directory")
	}
	key, err := os.ReadFile(filepath.Join(s.data, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(filepath.Join(s.data, "artifacts"), func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, key) {
				t.Errorf("the data directory's key is in the artifact store (%s)", p)
			}
		}
		return nil
	})
	var index []byte
	filepath.WalkDir(filepath.Join(s.data, "artifacts"), func(p string, e fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".json") {
			b, _ := os.ReadFile(p)
			index = append(index, b...)
		}
		return nil
	})
	if !bytes.Contains(index, []byte(`"ok-remote"`)) {
		t.Errorf("the artifact index does not list ok-remote: %s", index)
	}
	for _, name := range []string{"abs-", "dotdot-", "link-"} {
		if bytes.Contains(index, []byte(`"`+name)) {
			t.Errorf("artifact %s* was stored: %s", name, index)
		}
	}
	after := dirFiles(t, s.data)
	for f := range after {
		if !before[f] && strings.Contains(f, "pwned") {
			t.Errorf("new file %s in the data directory", f)
		}
	}
}

// dirFiles lists the files under dir.
func dirFiles(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil {
			out[p] = true
		}
		return nil
	})
	return out
}

// dirSize is the bytes of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// TestAttacksOnTheServer: git argument injection through each webhook field,
// a replayed delivery, an unsigned flood and a sign-in flood, against one
// real server.
func TestAttacksOnTheServer(t *testing.T) {
	t.Parallel()
	s := startServer(t, 1)
	g, first := newGitRepo(t, map[string]string{".github/workflows/echo.yml": echoWorkflow})
	hookSecret := "hook-" + randomHex(t, 8)
	s.addRepo(t, "victim", g, hookSecret)
	parent := t

	t.Run("git argument injection through webhook fields", func(t *testing.T) {
		dir := t.TempDir()
		sha := g.commit(t, map[string]string{"x.txt": "x"}, "x")
		for i, c := range []struct{ field, value string }{
			{"after", "--upload-pack=touch " + filepath.Join(dir, "after") + ";false"},
			{"before", "--output=" + filepath.Join(dir, "before")},
			{"ref", "--upload-pack=touch " + filepath.Join(dir, "ref") + ";false"},
			{"ref", "refs/heads/--output=" + filepath.Join(dir, "ref2")},
		} {
			h, body := pushDelivery(t, forge.GitHub, g, first, sha, fmt.Sprintf("inject-%d", i))
			body = bytes.Replace(body, []byte(`"`+map[string]string{"after": sha, "before": first, "ref": "refs/heads/main"}[c.field]+`"`),
				[]byte(strconv.Quote(c.value)), 1)
			name, value := forge.Sign(forge.GitHub, body, []byte(hookSecret))
			h.Set(name, value)
			a := s.postHook(t, forge.GitHub, "victim", h, body)
			if a.Status != http.StatusBadRequest || len(a.Runs) != 0 {
				t.Errorf("%s = %q: %d %s, want 400 and no run", c.field, c.value, a.Status, a.raw)
			}
		}
		// Restarting replays what was stored: nothing may run then either.
		s.proc.kill()
		s.start(parent)
		for _, f := range []string{"after", "before", "ref", "ref2"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				t.Errorf("the %s injection touched its file", f)
			}
		}
	})

	t.Run("delivery replay", func(t *testing.T) {
		sha := g.commit(t, map[string]string{"y.txt": "y"}, "y")
		runs := s.pushHook(t, forge.GitHub, "victim", g, first, sha, hookSecret, "replayed")
		h, body := pushDelivery(t, forge.GitHub, g, first, sha, "replayed")
		name, value := forge.Sign(forge.GitHub, body, []byte(hookSecret))
		h.Set(name, value)
		for i := 0; i < 3; i++ {
			a := s.postHook(t, forge.GitHub, "victim", h, body)
			if a.Status != http.StatusOK || !strings.Contains(a.raw, "already processed") {
				t.Errorf("replay %d: %d %s, want 200 already processed", i, a.Status, a.raw)
			}
		}
		n := 0
		for _, r := range s.runsCLI(t, "victim") {
			if r.SHA == sha {
				n++
			}
		}
		if n != len(runs) {
			t.Errorf("%d runs of the replayed commit, want %d", n, len(runs))
		}
	})

	t.Run("unsigned flood", func(t *testing.T) {
		pad := bytes.Repeat([]byte("x"), 1<<20)
		body := append(append([]byte(`{"repository":{"full_name":"e2e/demo"},"pad":"`), pad...), `"}`...)
		start := dirSize(s.data)
		for i := 0; i < 200; i++ {
			a := s.postHook(t, forge.GitHub, "victim", http.Header{"Content-Type": {"application/json"}, "X-GitHub-Event": {"push"}}, body)
			if a.Status != http.StatusUnauthorized {
				t.Fatalf("unsigned delivery %d: %d", i, a.Status)
			}
		}
		// 200 MiB were sent; what the data directory keeps of them is small.
		if grew := dirSize(s.data) - start; grew > 4<<20 {
			t.Errorf("the data directory grew by %d bytes for 200 unsigned deliveries", grew)
		}
	})

	t.Run("sign-in flood", func(t *testing.T) {
		if !strings.Contains(s.getRaw(t, "/signin"), "password") {
			t.Skip("no admin password configured")
		}
		var (
			mu     sync.Mutex
			codes  = map[int]int{}
			peak   int64
			wg     sync.WaitGroup
			stop   = make(chan struct{})
			pid    = s.proc.cmd.Process.Pid
			client = &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if r := rss(pid); r > 0 {
					mu.Lock()
					peak = max(peak, r)
					mu.Unlock()
				}
			}
		}()
		for i := 0; i < 64; i++ {
			wg.Go(func() {
				resp, err := client.PostForm(s.url+"/signin", url.Values{"password": {"wrong-" + strconv.Itoa(i)}})
				if err != nil {
					return
				}
				resp.Body.Close()
				mu.Lock()
				codes[resp.StatusCode]++
				mu.Unlock()
			})
		}
		wg.Wait()
		close(stop)
		if codes[http.StatusTooManyRequests] == 0 {
			t.Errorf("64 concurrent wrong passwords: answers %v, want some 429", codes)
		}
		// Two argon2id checks of 32 MiB at a time, not 64.
		if peak > 400<<20 {
			t.Errorf("the server's memory peaked at %d MiB during the flood", peak>>20)
		}
		t.Logf("answers %v, server peak RSS %d MiB", codes, peak>>20)
	})
}

// rss is a process's resident memory in bytes, 0 when unknown.
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

// TestOverlongLogLineKeepsLaterLines: a step printing a 70 MiB line does
// not cost the job its later lines and steps, on the embedded agent and on
// a remote one.
func TestOverlongLogLineKeepsLaterLines(t *testing.T) {
	t.Parallel()
	s := startServer(t, 1)
	s.startAgent(t, "remote", "remote")
	s.waitAgentsOnline(t, "remote")
	g, first := newGitRepo(t, map[string]string{"README.md": "x\n"})
	hookSecret := "hook-" + randomHex(t, 8)
	s.addRepo(t, "demo", g, hookSecret)
	long := `    steps:
      - run: |
          head -c 73400320 /dev/zero | tr '\0' x
          echo
          echo "line after the long one"
      - run: echo "second step ran"
`
	sha := g.commit(t, map[string]string{".github/workflows/long.yml": `name: long
on: push
jobs:
  long-embedded:
    runs-on: ubuntu-latest
` + long + `  long-remote:
    runs-on: remote
` + long}, "long line")
	id := s.pushHook(t, forge.GitHub, "demo", g, first, sha, hookSecret, "long-1")[0]
	d := s.waitRunDone(t, id, 3*runTimeout)
	if d.Run.Conclusion != store.ConclusionSuccess {
		t.Fatalf("run %d: %s:%s", id, d.Run.Conclusion, describeJobs(d))
	}
	var legs []string
	for _, j := range d.Jobs {
		if !strings.HasPrefix(j.Key, "long-") {
			continue
		}
		legs = append(legs, j.Key)
		log := s.jobLog(t, j.ID)
		for _, want := range []string{"line cut at 65536 bytes", "line after the long one", "second step ran"} {
			if !strings.Contains(log, want) {
				t.Errorf("job %s lacks %q", j.Key, want)
			}
		}
		if len(log) > 4<<20 {
			t.Errorf("job %s's log is %d bytes: the long line was not cut", j.Key, len(log))
		}
	}
	sort.Strings(legs)
	if diff := cmp.Diff([]string{"long-embedded", "long-remote"}, legs); diff != "" {
		t.Errorf("legs (-want +got):\n%s", diff)
	}
}

var _ = context.Background
var _ server.JobView

// seedWorkflow is the README's Python workflow: checkout, setup-python,
// pip install -r requirements-dev.txt (ruff and pytest), ruff and pytest.
const seedWorkflow = `name: seed
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: '3.11'
      - run: pip install -r requirements-dev.txt
      - run: ruff check . && pytest -q
`

// seedProject is the demo project with the seed workflow.
func seedProject(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{".github/workflows/seed.yml": seedWorkflow}
	for _, name := range []string{"requirements-dev.txt", "pyproject.toml", "textstats.py", "tests/test_textstats.py"} {
		b, err := os.ReadFile(filepath.Join("..", "examples", "demo", name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(b)
	}
	return files
}

// TestSeedPythonWorkflowInTheSandbox: the Python workflow jobs actually run
// succeeds in the sandbox, through `sluice serve` with its defaults and
// through `sluice run --sandbox`, cold and kept.
func TestSeedPythonWorkflowInTheSandbox(t *testing.T) {
	if testing.Short() {
		t.Skip("installs ruff and pytest from PyPI")
	}
	t.Parallel()
	requireSandbox(t)
	files := seedProject(t)

	t.Run("sluice run --sandbox", func(t *testing.T) {
		t.Parallel()
		g, _ := newGitRepo(t, files)
		home := t.TempDir()
		env := append(os.Environ(), "SLUICE_STATE_DIR="+filepath.Join(home, "state"), "TMPDIR="+t.TempDir())
		for i, want := range []string{"pytest -q", "already applied with the same inputs"} {
			cmd := exec.Command(sluiceBin(t), "run", "--sandbox")
			cmd.Dir, cmd.Env = g.work, env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("run %d: sluice run --sandbox: %v\n%s", i+1, err, out)
			}
			for _, w := range []string{want, "passed", "All checks passed!"} {
				if !strings.Contains(string(out), w) {
					t.Errorf("run %d lacks %q:\n%s", i+1, w, out)
				}
			}
		}
	})

	t.Run("sluice serve", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, 1)
		g, first := newGitRepo(t, map[string]string{"README.md": "seed\n"})
		hookSecret := "hook-" + randomHex(t, 8)
		s.addRepo(t, "seed", g, hookSecret)
		sha := g.commit(t, files, "seed")
		id := s.pushHook(t, forge.GitHub, "seed", g, first, sha, hookSecret, "seed-1")[0]
		d := s.waitRunDone(t, id, 5*time.Minute)
		log := s.jobLog(t, jobByKey(t, d, "test").ID)
		if d.Run.Conclusion != store.ConclusionSuccess {
			t.Fatalf("run %d: %s:%s\n%s", id, d.Run.Conclusion, describeJobs(d), log)
		}
		for _, w := range []string{"passed", "All checks passed!"} {
			if !strings.Contains(log, w) {
				t.Errorf("the job's log lacks %q:\n%s", w, log)
			}
		}
	})
}

// TestForkPullRequestWaitsForApproval: a pull request from a fork does not
// run until a maintainer approves it, and never gets the repository's
// secrets.
func TestForkPullRequestWaitsForApproval(t *testing.T) {
	t.Parallel()
	s := startServer(t, 1)
	// The base branch's pull_request_target workflow runs the base's own code for the fork's
	// pull request, at once and with secrets, as on GitHub; the fork's head is not checked out.
	g, first := newGitRepo(t, map[string]string{"README.md": "x\n", "marker.txt": "base\n", ".github/workflows/target.yml": `name: target
on: pull_request_target
jobs:
  label:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "target secret=${{ secrets.DEPLOY_TOKEN != '' }} marker=$(cat marker.txt)"
`})
	hookSecret := "hook-" + randomHex(t, 8)
	s.addRepo(t, "demo", g, hookSecret)
	if _, err := s.cli(t, "sv-"+randomHex(t, 8)+"\n", "secret", "set", "DEPLOY_TOKEN", "--repo", "demo"); err != nil {
		t.Fatal(err)
	}
	// The fork's commit is not on main: only on the pull request's head ref.
	head := g.writeCommit(t, map[string]string{".github/workflows/pr.yml": `name: pr
on: pull_request
jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - run: echo "secret=[${{ secrets.DEPLOY_TOKEN }}]"
`, "marker.txt": "fork\n"}, "the fork's change")
	runGit(t, g.work, "push", "--quiet", "origin", "HEAD:refs/pull/1/head")
	pr := map[string]any{
		"action": "opened", "number": 1,
		"pull_request": map[string]any{"number": 1,
			"head": map[string]any{"ref": "feature", "sha": head, "repo": map[string]any{"full_name": "attacker/demo"}},
			"base": map[string]any{"ref": "main", "sha": first, "repo": map[string]any{"full_name": "e2e/demo"}}},
		"repository": map[string]any{"full_name": "e2e/demo", "clone_url": g.url()},
		"sender":     map[string]any{"login": "attacker"},
	}
	body, err := json.Marshal(pr)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"Content-Type": {"application/json"}, "X-GitHub-Event": {"pull_request"}, "X-GitHub-Delivery": {"fork-1"}}
	name, value := forge.Sign(forge.GitHub, body, []byte(hookSecret))
	h.Set(name, value)
	a := s.postHook(t, forge.GitHub, "demo", h, body)
	if a.Status != http.StatusAccepted || len(a.Runs) != 2 {
		t.Fatalf("pull request delivery: %d %s, want the pull_request run and the pull_request_target run", a.Status, a.raw)
	}
	id, target := a.Runs[0], a.Runs[1]
	td := s.waitRunDone(t, target, runTimeout)
	if tlog := s.jobLog(t, jobByKey(t, td, "label").ID); td.Run.Event != "pull_request_target" || !strings.Contains(tlog, "target secret=true marker=base") {
		t.Errorf("pull_request_target run %d (%s, %s), log:\n%s\nwant the base's code with the secret%s", target, td.Run.Event, td.Run.Conclusion, tlog, describeJobs(td))
	}
	job := s.waitJob(t, id, "check", "queued", runTimeout, func(j server.JobView) bool { return j.Status == store.StatusQueued })
	reason := waitFor(t, "the queue to say the run waits for approval", runTimeout, func() (string, bool, error) {
		r, _ := s.pendingReason(t, job.ID)
		return r, strings.Contains(r, "approval"), nil
	})
	if d, _ := s.client().GetRun(context.Background(), id); d == nil || jobByKey(t, d, "check").Status != store.StatusQueued || d.Approval == nil {
		t.Fatalf("the fork's run started without approval (queue reason %q)", reason)
	}
	if out, err := s.cli(t, "", "approve-run", fmt.Sprint(id)); err != nil || !strings.Contains(out, "approved") {
		t.Fatalf("sluice approve-run: %q, %v", out, err)
	}
	d := s.waitRunDone(t, id, runTimeout)
	log := s.jobLog(t, jobByKey(t, d, "check").ID)
	if d.Run.Conclusion != store.ConclusionSuccess || !strings.Contains(log, "secret=[]") {
		t.Errorf("run %d: %s, log:\n%s\nwant success with an empty secret", id, d.Run.Conclusion, log)
	}
	if d.Approval == nil || d.Approval.DecidedBy == "" {
		t.Errorf("the run's approval does not say who approved it: %+v", d.Approval)
	}
}

// TestEnvironmentSecretsReachOnlyTheirDeployment: a secret and a variable
// of the production environment reach the job deploying to production, once
// a reviewer approved it, and neither the tests nor the staging deployment.
func TestEnvironmentSecretsReachOnlyTheirDeployment(t *testing.T) {
	t.Parallel()
	s := startServer(t, 2)
	// The base branch's pull_request_target workflow runs the base's own code for the fork's
	// pull request, at once and with secrets, as on GitHub; the fork's head is not checked out.
	g, first := newGitRepo(t, map[string]string{"README.md": "x\n", "marker.txt": "base\n", ".github/workflows/target.yml": `name: target
on: pull_request_target
jobs:
  label:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "target secret=${{ secrets.DEPLOY_TOKEN != '' }} marker=$(cat marker.txt)"
`})
	hookSecret := "hook-" + randomHex(t, 8)
	s.addRepo(t, "app", g, hookSecret)
	token := "pypi-" + randomHex(t, 12)
	s.mustCLI(t, "secret", "set", "PYPI_TOKEN", "--repo", "app", "--env", "production", "--value", token)
	s.mustCLI(t, "var", "set", "API_URL", "https://api.example/prod", "--repo", "app", "--env", "production")
	bob := s.tokenFor(t, "bob")
	show := `echo "%s sees [${{ secrets.PYPI_TOKEN }}] [${{ vars.API_URL }}] $(printf %%s "${{ secrets.PYPI_TOKEN }}" | sha256sum | cut -c1-16)"`
	sha := g.commit(t, map[string]string{
		".sluice/environments.yml": "environments:\n  staging: {}\n  production:\n    reviewers: [bob]\n    required-approvals: 1\n",
		".github/workflows/ci.yml": `name: ci
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: ` + fmt.Sprintf(show, "test") + `
  staging:
    needs: test
    runs-on: ubuntu-latest
    environment: staging
    steps:
      - run: ` + fmt.Sprintf(show, "staging") + `
  production:
    needs: staging
    runs-on: ubuntu-latest
    environment: production
    steps:
      - run: ` + fmt.Sprintf(show, "production") + `
`}, "deploy")
	id := s.pushHook(t, forge.GitHub, "app", g, first, sha, hookSecret, "env-1")[0]
	prod := s.waitJob(t, id, "production", "waiting for its approval", runTimeout, func(j server.JobView) bool {
		return strings.Contains(j.PendingReason, "approvals")
	})
	ps := s.deployments(t, "app", "production")
	if len(ps) != 1 {
		t.Fatalf("production deployments: %+v", ps)
	}
	if _, err := s.cliAs(t, bob, "approve", fmt.Sprint(ps[0].ID)); err != nil {
		t.Fatal(err)
	}
	d := s.waitRunDone(t, id, runTimeout)
	if d.Run.Conclusion != store.ConclusionSuccess {
		t.Fatalf("run %d: %s:%s", id, d.Run.Conclusion, describeJobs(d))
	}
	sum := sha256.Sum256([]byte(token))
	want := map[string]string{
		"test":       "test sees [] [] ",
		"staging":    "staging sees [] [] ",
		"production": "production sees [***] [https://api.example/prod] " + hex.EncodeToString(sum[:])[:16],
	}
	for key, line := range want {
		log := s.jobLog(t, jobByKey(t, d, key).ID)
		if !strings.Contains(log, line) {
			t.Errorf("job %s lacks %q:\n%s", key, line, log)
		}
		if strings.Contains(log, token) {
			t.Errorf("job %s's log holds the token in clear", key)
		}
	}
	_ = prod
}
