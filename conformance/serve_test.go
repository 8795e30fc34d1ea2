package conformance

// Every case runs twice: through `sluice run` (mode "run") and through one `sluice serve` with
// its embedded agent (mode "serve"), shared by all cases. In serve mode the scripts' `sluice`
// is a stand-in (sluiceShim) that turns `sluice run ...` into what a forge and a user would do
// with the server: register the case's repository, set its secrets, send a signed push or
// pull_request webhook (or dispatch a workflow), wait for the runs, and print their jobs and
// logs from the API in `sluice run`'s plain format, exiting 0 or 1 the same way. The scripts'
// own assertions then check the server's output. The stand-in also compares the runs with the
// `sluice run` of the same case (recorded in run mode, see recordLocal): the same jobs, names,
// results and outputs, or the case fails.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/sluice-ci/sluice/internal/client"
	"github.com/sluice-ci/sluice/internal/logs"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/workflow"
)

// Environment of the stand-in and of the scripts in serve mode.
const (
	modeEnv      = "SLUICE_CONFORMANCE_MODE" // "run" or "serve"
	caseEnv      = "SLUICE_CONFORMANCE_CASE"
	resultsEnv   = "SLUICE_CONFORMANCE_RESULTS" // where run mode records each case's runs
	serverEnv    = "SLUICE_CONFORMANCE_SERVER"  // base URL of the shared server
	tokenEnv     = "SLUICE_CONFORMANCE_TOKEN"   // its admin token
	hookSecret   = "conformance-hook-secret"
	serveTimeout = 10 * time.Minute // one `sluice run` through the server, on a loaded machine
)

// sharedServer is the `sluice serve` every serve-mode case uses.
type sharedServer struct {
	url, token string
	cmd        *exec.Cmd
	done       chan struct{}
	log        *bytes.Buffer
}

// startServer starts `sluice serve` with an embedded agent on a free port and a data
// directory of its own, and waits until it answers. Its jobs see the environment a case's
// `sluice run` sees: the same HOME-less clean environment, pyenv and the shared pip/uv
// caches.
func startServer(t *testing.T, binDir string) *sharedServer {
	t.Helper()
	dir := t.TempDir()
	token := "conformance-admin-token-0123456789"
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	// --sandbox off: under bubblewrap the embedded agent's kept Python environments are
	// read-only to jobs until they get writable environments of their own (issue 12), so
	// every pip install would fail; the sandbox has its own cases (sandbox.txtar, and
	// internal/executor/host).
	cmd := exec.Command(filepath.Join(binDir, "sluice"), "serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data"),
		"--agents", strconv.Itoa(serveAgents()), "--sandbox", "off")
	env := []string{"HOME=" + home, "SLUICE_STATE_DIR=" + filepath.Join(dir, "state"), "SLUICE_ADMIN_TOKEN=" + token,
		"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8", "TERM=dumb", "NO_COLOR=1", "TMPDIR=" + os.TempDir(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=Conformance", "GIT_AUTHOR_EMAIL=conformance@example.com",
		"GIT_COMMITTER_NAME=Conformance", "GIT_COMMITTER_EMAIL=conformance@example.com"}
	for _, k := range []string{"PYENV_ROOT", "SSL_CERT_FILE", "SSL_CERT_DIR", "DOCKER_HOST", "http_proxy", "https_proxy",
		"no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"} {
		if v := os.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	if root := os.Getenv("PYENV_ROOT"); root == "" {
		if h, err := os.UserHomeDir(); err == nil {
			if fi, err := os.Stat(filepath.Join(h, ".pyenv", "versions")); err == nil && fi.IsDir() {
				env = append(env, "PYENV_ROOT="+filepath.Join(h, ".pyenv"))
			}
		}
	}
	if shared := os.Getenv(pyCacheEnv); shared != "" {
		for _, tool := range []string{"pip", "uv"} {
			env = append(env, strings.ToUpper(tool)+"_CACHE_DIR="+filepath.Join(shared, tool))
		}
	}
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd.Stderr = &lockedWriter{w: &log}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting sluice serve: %v", err)
	}
	s := &sharedServer{token: token, cmd: cmd, done: make(chan struct{}), log: &log}
	go func() { _ = cmd.Wait(); close(s.done) }()
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "sluice serving on "); ok {
				u, _, _ := strings.Cut(rest, " ")
				urls <- u
			}
		}
	}()
	select {
	case s.url = <-urls:
	case <-s.done:
		t.Fatalf("sluice serve exited:\n%s", log.String())
	case <-time.After(60 * time.Second):
		s.stop()
		t.Fatalf("sluice serve did not start in 60s:\n%s", log.String())
	}
	c := client.New(s.url, token)
	deadline := time.Now().Add(30 * time.Second)
	for {
		agents, err := c.ListAgents(context.Background())
		if err == nil && len(agents) > 0 {
			break
		}
		if time.Now().After(deadline) {
			s.stop()
			t.Fatalf("the server's embedded agent did not register: %v\n%s", err, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

// serveAgents is how many jobs the embedded agent runs at once: as many as the cases
// running at once can start, since some of them block on each other (cancel cases).
func serveAgents() int { return 6 }

func (s *sharedServer) stop() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// recordLocal keeps, when a run-mode case ends, the summaries of the `sluice run`s it made
// (in order), for its serve-mode twin to compare with.
func recordLocal(env *testscript.Env, results, name string) {
	env.Defer(func() {
		runs, _ := filepath.Glob(filepath.Join(env.WorkDir, ".state", "runs", "*", "summary.json"))
		// In the order they ran: run directories are named by the second they
		// started, which several runs of a case share.
		mtime := func(p string) time.Time {
			fi, err := os.Stat(filepath.Dir(p))
			if err != nil {
				return time.Time{}
			}
			return fi.ModTime()
		}
		sort.Slice(runs, func(a, b int) bool { return mtime(runs[a]).Before(mtime(runs[b])) })
		dir := filepath.Join(results, name)
		_ = os.MkdirAll(dir, 0o755)
		for i, p := range runs {
			if b, err := os.ReadFile(p); err == nil {
				_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("%03d.json", i+1)), b, 0o644)
			}
		}
	})
}

// sluiceShim is `sluice` in serve mode: `sluice run ...` goes through the server, anything
// else is the real binary.
func sluiceShim() {
	real := filepath.Join(os.Getenv(binDirEnv), "sluice")
	if len(os.Args) < 2 || os.Args[1] != "run" {
		execReal(real, os.Args[1:])
		return
	}
	code, err := serveRun(os.Args[2:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance (serve mode):", err)
		os.Exit(3)
	}
	os.Exit(code)
}

func execReal(path string, args []string) {
	cmd := exec.Command(path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			os.Exit(ee.ExitCode())
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(0)
}

// runArgs is what `sluice run` was asked, in the part the server can do.
type runArgs struct {
	event     string
	eventPath string
	secrets   map[string]string
	vars      map[string]string
	inputs    map[string]string
	verbose   bool
}

// parseRunArgs reads `sluice run`'s flags; one the server has no equivalent of is an
// error that tells the case to skip serve mode.
func parseRunArgs(args []string) (runArgs, error) {
	a := runArgs{event: "push", secrets: map[string]string{}, vars: map[string]string{}, inputs: map[string]string{}}
	value := func(i *int, flag string) (string, error) {
		if v, ok := strings.CutPrefix(args[*i], flag+"="); ok {
			return v, nil
		}
		if *i+1 >= len(args) {
			return "", fmt.Errorf("%s needs a value", flag)
		}
		*i++
		return args[*i], nil
	}
	// pair reads flag's NAME=VALUE into m.
	pair := func(i *int, flag string, m map[string]string) error {
		kv, err := value(i, flag)
		if err != nil {
			return err
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("%q: want NAME=VALUE", kv)
		}
		m[k] = v
		return nil
	}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		name, _, _ := strings.Cut(arg, "=")
		switch name {
		case "-e", "--eventpath", "--event-path":
			v, err := value(&i, name)
			if err != nil {
				return a, err
			}
			a.eventPath = v
		case "-s", "--secret":
			if err := pair(&i, name, a.secrets); err != nil {
				return a, err
			}
		case "--var":
			// The server's equivalent: the repository's variables.
			if err := pair(&i, name, a.vars); err != nil {
				return a, err
			}
		case "--input":
			if err := pair(&i, name, a.inputs); err != nil {
				return a, err
			}
		case "--jobs":
			// The server's agent has its own slots.
			if _, err := value(&i, name); err != nil {
				return a, err
			}
		case "-v", "--verbose":
			a.verbose = true
		default:
			if strings.HasPrefix(arg, "-") {
				return a, fmt.Errorf("`sluice run %s` has no server equivalent: mark the case `[serve] skip '<why>'`", arg)
			}
			a.event = arg
		}
	}
	return a, nil
}

// serveRun does one `sluice run` through the shared server and returns its exit code.
func serveRun(args []string) (int, error) {
	a, err := parseRunArgs(args)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), serveTimeout)
	defer cancel()
	wd, err := os.Getwd()
	if err != nil {
		return 0, err
	}
	c := client.New(os.Getenv(serverEnv), os.Getenv(tokenEnv))
	repoName, err := ensureRepo(ctx, c, wd)
	if err != nil {
		return 0, err
	}
	for k, v := range a.secrets {
		if _, err := c.SetSecret(ctx, repoName, k, v); err != nil {
			return 0, fmt.Errorf("setting secret %s: %w", k, err)
		}
	}
	if err := setRepoVars(ctx, c, repoName, a.vars); err != nil {
		return 0, err
	}
	head, err := gitOut(wd, "rev-parse", "HEAD")
	if err != nil {
		return 0, err
	}
	var runIDs []int64
	switch a.event {
	case "push":
		runIDs, err = sendPush(ctx, c, repoName, wd, head, a.eventPath)
	case "pull_request", "pull_request_target":
		// GitHub sends one pull_request delivery; the server starts both events' runs.
		runIDs, err = sendPullRequest(ctx, c, repoName, wd, head, a.eventPath)
	case "workflow_dispatch":
		runIDs, err = dispatchAll(ctx, c, repoName, wd, a.inputs)
	default:
		return 0, fmt.Errorf("event %s: the stand-in sends push, pull_request (and pull_request_target) and workflow_dispatch only", a.event)
	}
	if err != nil {
		return 0, err
	}
	if len(runIDs) == 0 {
		fmt.Printf("No workflow is triggered by the %s event on refs/heads/main.\n", a.event)
		return 0, nil
	}
	var details []*server.RunDetail
	for _, id := range runIDs {
		d, err := waitRun(ctx, c, id)
		if err != nil {
			return 0, err
		}
		if d.Run.Event != a.event {
			continue // the delivery's runs of the other pull request event
		}
		details = append(details, d)
	}
	if len(details) == 0 {
		fmt.Printf("No workflow is triggered by the %s event on refs/heads/main.\n", a.event)
		return 0, nil
	}
	code := 0
	var got []jobResult
	for _, d := range details {
		if err := printRun(ctx, c, os.Stdout, d, a.verbose); err != nil {
			return 0, err
		}
		if d.Run.Conclusion != store.ConclusionSuccess {
			code = 1
		}
		for _, j := range d.Jobs {
			got = append(got, jobResult{Name: j.Name, Result: j.Conclusion, Outputs: j.Outputs})
		}
	}
	if err := compareLocal(got); err != nil {
		return 0, err
	}
	return code, nil
}

// setRepoVars makes the repository's variables exactly vars, as `sluice run --var` gives them
// to that one run.
func setRepoVars(ctx context.Context, c *client.Client, repo string, vars map[string]string) error {
	have, err := c.ListEnvValues(ctx, repo, "", "var")
	if err != nil {
		return fmt.Errorf("listing the repository's variables: %w", err)
	}
	for _, v := range have {
		if _, keep := vars[v.Name]; !keep {
			if err := c.DeleteEnvValue(ctx, repo, "", "var", v.Name); err != nil {
				return fmt.Errorf("deleting variable %s: %w", v.Name, err)
			}
		}
	}
	for k, v := range vars {
		if _, err := c.SetEnvValue(ctx, repo, "", "var", k, v); err != nil {
			return fmt.Errorf("setting variable %s: %w", k, err)
		}
	}
	return nil
}

// ensureRepo registers the case's repository once, by a URL that gives it the identity
// `sluice run` gives it (local/<directory>, as a repository without an origin).
func ensureRepo(ctx context.Context, c *client.Client, wd string) (string, error) {
	name := filepath.Base(wd)
	if _, err := c.GetRepo(ctx, name); err == nil {
		return name, nil
	}
	// The server names a repository's github.repository by the URL's last two parts.
	link := filepath.Join(filepath.Dir(wd), ".serve", "local", filepath.Base(wd))
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return "", err
	}
	if err := os.Symlink(wd, link); err != nil && !os.IsExist(err) {
		return "", err
	}
	if _, err := c.AddRepo(ctx, server.RepoInput{Name: name, URL: link, WebhookSecret: hookSecret, DefaultBranch: "main"}); err != nil {
		return "", fmt.Errorf("registering the case's repository: %w", err)
	}
	return name, nil
}

func gitOut(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// sendPush sends the push of HEAD to main as GitHub signs it; the commit before is HEAD's
// parent, so path filters see what `sluice run` sees (the last commit's files).
func sendPush(ctx context.Context, c *client.Client, repo, wd, head, eventPath string) ([]int64, error) {
	before, err := gitOut(wd, "rev-parse", "--verify", "-q", "HEAD^")
	if err != nil {
		before = strings.Repeat("0", 40)
	}
	changed, _ := gitOut(wd, "diff-tree", "--no-commit-id", "--name-only", "-r", "--root", "HEAD")
	files := []any{}
	for _, f := range strings.Fields(changed) {
		files = append(files, f)
	}
	msg, _ := gitOut(wd, "log", "-1", "--format=%s")
	payload := map[string]any{
		"ref": "refs/heads/main", "before": before, "after": head,
		"repository":  repoPayload("local/" + repo),
		"sender":      map[string]any{"login": "Conformance"},
		"pusher":      map[string]any{"name": "Conformance"},
		"head_commit": map[string]any{"id": head, "message": msg},
		"commits":     []any{map[string]any{"id": head, "message": msg, "added": files, "modified": []any{}, "removed": []any{}}},
	}
	// -e FILE: the forge sends those fields too (sluice run fills in the rest the same way).
	if eventPath != "" {
		b, err := os.ReadFile(filepath.Join(wd, eventPath))
		if err != nil {
			return nil, err
		}
		var extra map[string]any
		if err := json.Unmarshal(b, &extra); err != nil {
			return nil, fmt.Errorf("%s: %w", eventPath, err)
		}
		for k, v := range extra {
			if _, ours := payload[k]; !ours || k == "head_commit" {
				payload[k] = v
			}
		}
	}
	return sendHook(ctx, c, repo, "push", payload)
}

func repoPayload(repo string) map[string]any {
	owner, name, _ := strings.Cut(repo, "/")
	return map[string]any{"full_name": repo, "name": name, "owner": map[string]any{"login": owner}, "default_branch": "main"}
}

// sendPullRequest sends the pull request the case's event file describes (or a fresh one),
// from a branch of the repository itself, with its head at HEAD.
func sendPullRequest(ctx context.Context, c *client.Client, repo, wd, head, eventPath string) ([]int64, error) {
	payload := map[string]any{}
	if eventPath != "" {
		b, err := os.ReadFile(filepath.Join(wd, eventPath))
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &payload); err != nil {
			return nil, fmt.Errorf("%s: %w", eventPath, err)
		}
	}
	if _, ok := payload["action"]; !ok {
		payload["action"] = "opened"
	}
	pr, _ := payload["pull_request"].(map[string]any)
	if pr == nil {
		pr = map[string]any{}
	}
	n, _ := payload["number"].(float64)
	if n == 0 {
		n, _ = pr["number"].(float64)
	}
	if n == 0 {
		n = 1
	}
	payload["number"], pr["number"] = n, n
	h, _ := pr["head"].(map[string]any)
	if h == nil {
		h = map[string]any{"ref": "main"}
	}
	h["sha"], h["repo"] = head, map[string]any{"full_name": "local/" + repo}
	b, _ := pr["base"].(map[string]any)
	if b == nil {
		b = map[string]any{"ref": "main"}
	}
	b["repo"] = map[string]any{"full_name": "local/" + repo}
	pr["head"], pr["base"] = h, b
	payload["pull_request"] = pr
	payload["repository"] = repoPayload("local/" + repo)
	payload["sender"] = map[string]any{"login": "Conformance"}
	// The server fetches the pull request's head as a forge keeps it.
	if _, err := gitOut(wd, "update-ref", fmt.Sprintf("refs/pull/%d/head", int(n)), head); err != nil {
		return nil, err
	}
	return sendHook(ctx, c, repo, "pull_request", payload)
}

// sendHook posts a webhook signed as GitHub signs it and returns the runs it made.
func sendHook(ctx context.Context, c *client.Client, repo, event string, payload map[string]any) ([]int64, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write(body)
	req, err := http.NewRequestWithContext(ctx, "POST", c.BaseURL+"/hooks/github?repo="+repo, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("conformance-%d", time.Now().UnixNano()))
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Runs  []int64 `json:"runs"`
		Error string  `json:"error"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return nil, fmt.Errorf("webhook %s answered %d: %s", event, resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("webhook answer %q: %w", raw, err)
	}
	return out.Runs, nil
}

// dispatchAll dispatches every workflow of the repository that workflow_dispatch
// triggers, as `sluice run workflow_dispatch` runs them all.
func dispatchAll(ctx context.Context, c *client.Client, repo, wd string, inputs map[string]string) ([]int64, error) {
	wfs, _, err := workflow.LoadAll(ctx, wd, filepath.Join(wd, ".github", "workflows"))
	if err != nil {
		return nil, err
	}
	var ids []int64
	for _, wf := range wfs {
		if ok, _ := wf.Triggered(workflow.Event{Name: "workflow_dispatch", Ref: "refs/heads/main"}); !ok {
			continue
		}
		runs, err := c.Dispatch(ctx, repo, filepath.Base(wf.Path), "main", inputs)
		if err != nil {
			var ae *client.Error
			if errors.As(err, &ae) {
				// A refused dispatch (a missing required input) is what `sluice run`
				// refuses with exit 2.
				fmt.Fprintln(os.Stderr, "sluice:", err)
				os.Exit(2)
			}
			return nil, err
		}
		for _, r := range runs {
			ids = append(ids, r.ID)
		}
	}
	return ids, nil
}

// waitRun polls the run until it is completed.
func waitRun(ctx context.Context, c *client.Client, id int64) (*server.RunDetail, error) {
	for {
		d, err := c.GetRun(ctx, id)
		if err != nil {
			return nil, err
		}
		if d.Run.Status == store.StatusCompleted {
			return d, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("run %d did not complete in %s (status %s):\n%s", id, serveTimeout, d.Run.Status, jobStates(c, d))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// jobStates describes the jobs of a run that did not finish, with the last lines of the
// unfinished ones, to say where it stopped.
func jobStates(c *client.Client, d *server.RunDetail) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b strings.Builder
	for _, j := range d.Jobs {
		fmt.Fprintf(&b, "  %s: %s %s %s\n", j.Name, j.Status, j.Conclusion, j.PendingReason)
		if j.Status == store.StatusCompleted {
			continue
		}
		lines, err := allLogs(ctx, c, j.ID)
		if err != nil {
			continue
		}
		for _, l := range lines[max(0, len(lines)-15):] {
			fmt.Fprintf(&b, "    %s\n", l.Text)
		}
	}
	return b.String()
}

// printRun prints a finished run's jobs as `sluice run` prints them without a terminal:
// "[job] job started", "[job] step started: NAME", "[job/step] line", the step and job ends,
// then "Run N: RESULT in D". The agent logged the same engine events; this puts the job
// names and step names back in front of them.
func printRun(ctx context.Context, c *client.Client, w io.Writer, d *server.RunDetail, verbose bool) error {
	var annotations []logs.Annotation
	for _, j := range d.Jobs {
		lines, err := allLogs(ctx, c, j.ID)
		if err != nil {
			return err
		}
		steps := map[int]string{}
		for _, s := range j.Steps {
			steps[s.Number] = s.Name
		}
		name := j.Name
		if len(lines) == 0 {
			// Decided without running: skipped, failed to plan, cancelled before it
			// started.
			text := fmt.Sprintf("job %s (0ms)", j.Conclusion)
			if j.Reason != "" {
				text += " - " + j.Reason
			}
			fmt.Fprintf(w, "[%s] %s\n", name, text)
			continue
		}
		fmt.Fprintf(w, "[%s] job started\n", name)
		for _, l := range lines {
			line, a, ok := plainLine(name, steps, l, verbose)
			if ok {
				fmt.Fprintln(w, line)
			}
			if a != nil {
				annotations = append(annotations, *a)
			}
		}
	}
	sum := logs.RunSummary{RunID: strconv.FormatInt(d.Run.ID, 10), Result: logs.Result(d.Run.Conclusion)}
	if d.Run.StartedAt != nil && d.Run.FinishedAt != nil {
		sum.Duration = d.Run.FinishedAt.Sub(*d.Run.StartedAt)
	}
	for _, j := range d.Jobs {
		js := logs.JobSummary{Job: j.Name, Result: logs.Result(j.Conclusion), Reason: j.Reason,
			ContinueOnError: j.Tolerated && j.Conclusion == store.ConclusionFailure}
		if j.StartedAt != nil && j.FinishedAt != nil {
			js.Duration = j.FinishedAt.Sub(*j.StartedAt)
		}
		if js.Result == logs.Success || js.ContinueOnError {
			js.Reason = ""
		}
		sum.Jobs = append(sum.Jobs, js)
	}
	sum.Annotations = annotations
	logs.WriteSummary(w, sum, false)
	return nil
}

var locatedAnnotation = regexp.MustCompile(`^[^\s:]+:\d+(:\d+)?: `)

// plainLine is one agent log line as the plain sink prints its event; an annotation is
// also returned for the summary.
func plainLine(job string, steps map[int]string, l store.LogLine, verbose bool) (string, *logs.Annotation, bool) {
	// The only lines outside a step are the job's set-up lines and sluice's own notes.
	step := steps[l.Step]
	pre := "[" + job + "/" + step + "] "
	if step == "" {
		pre = "[" + job + "/Set up job] "
		if l.Kind != "" && l.Kind != "line" {
			pre = "[" + job + "] "
		}
	}
	switch l.Kind {
	case "", "line":
		return pre + l.Text, nil, true
	case "step":
		if strings.HasPrefix(l.Text, "step started: ") {
			return "[" + job + "] " + l.Text, nil, true
		}
		return pre + l.Text, nil, true
	case "group":
		return pre + "> " + l.Text, nil, true
	case "endgroup":
		return "", nil, false
	case "debug":
		return pre + "debug: " + l.Text, nil, verbose
	case "sluice":
		return pre + "sluice: " + l.Text, nil, true
	case "job":
		return "[" + job + "] " + l.Text, nil, true
	default: // an annotation: its level is the kind, its text "FILE:LINE:COL: TITLE: MESSAGE"
		a := &logs.Annotation{Level: l.Kind, Job: job, Step: step, Message: l.Text}
		if locatedAnnotation.MatchString(l.Text) {
			return pre + l.Kind + " " + l.Text, a, true
		}
		return pre + l.Kind + ": " + l.Text, a, true
	}
}

func allLogs(ctx context.Context, c *client.Client, jobID int64) ([]store.LogLine, error) {
	var out []store.LogLine
	var after int64
	for {
		batch, err := c.Logs(ctx, jobID, after, 5000)
		if err != nil {
			return nil, err
		}
		if len(batch) == 0 {
			return out, nil
		}
		out = append(out, batch...)
		after = batch[len(batch)-1].Seq
	}
}

// jobResult is a job as both paths must agree on it.
type jobResult struct {
	Name    string
	Result  string
	Outputs map[string]string
}

// compareLocal checks the server's jobs against the case's n-th `sluice run` (n counts this
// case's serve-mode runs), when run mode recorded it.
func compareLocal(got []jobResult) error {
	dir := filepath.Join(os.Getenv(resultsEnv), os.Getenv(caseEnv))
	counter := filepath.Join(".state", "serve-runs")
	n := 1
	if b, err := os.ReadFile(counter); err == nil {
		n, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		n++
	}
	_ = os.MkdirAll(".state", 0o755)
	if err := os.WriteFile(counter, []byte(strconv.Itoa(n)), 0o644); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%03d.json", n)))
	if err != nil {
		return nil // run mode did not run this case (a -run filter): nothing to compare
	}
	var sum logs.RunSummary
	if err := json.Unmarshal(b, &sum); err != nil {
		return fmt.Errorf("reading the recorded local run: %w", err)
	}
	var want []jobResult
	for _, j := range sum.Jobs {
		want = append(want, jobResult{Name: j.Job, Result: string(j.Result), Outputs: j.Outputs})
	}
	norm := func(js []jobResult) []string {
		var out []string
		for _, j := range js {
			keys := make([]string, 0, len(j.Outputs))
			for k := range j.Outputs {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var outs []string
			for _, k := range keys {
				v := j.Outputs[k]
				// An artifact's id is numbered by the store that keeps it: a local run's
				// own store starts at 1, the shared server's counts every case's uploads.
				if strings.HasSuffix(strings.ToLower(k), "id") && v != "" && strings.Trim(v, "0123456789") == "" {
					v = "<number>"
				}
				outs = append(outs, k+"="+v)
			}
			out = append(out, fmt.Sprintf("%s: %s %s", j.Name, j.Result, strings.Join(outs, " ")))
		}
		sort.Strings(out)
		return out
	}
	w, g := norm(want), norm(got)
	if strings.Join(w, "\n") != strings.Join(g, "\n") {
		return fmt.Errorf("the server and `sluice run` disagree on run %d of this case:\n--- sluice run\n%s\n--- sluice serve\n%s",
			n, strings.Join(w, "\n"), strings.Join(g, "\n"))
	}
	return nil
}
