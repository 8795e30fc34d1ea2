package e2e

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/testenv"
)

// cluster is several `sluice serve` replicas on one Postgres database and one blob store,
// behind a load balancer the test runs (round robin over the replicas still alive), which is
// the base URL every replica advertises.
type cluster struct {
	replicas []*srv
	lb       string
	dsn      string
	blob     string
	token    string
}

// startCluster starts n replicas, each with agents embedded-agent slots (0: none).
func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	return startClusterOn(t, n, testenv.PostgresDB(t))
}

// startClusterOn is startCluster on the database dsn names (SQLite serves one replica only).
func startClusterOn(t *testing.T, n int, dsn string) *cluster {
	t.Helper()
	dir := t.TempDir()
	blob := filepath.Join(dir, "blobs") // a directory every replica shares, when no S3 server is here
	if testenv.FindS3() != nil || testenv.RequireS3() {
		_, blob = testenv.S3Bucket(t)
	}
	token, _, err := secrets.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{dsn: dsn, blob: blob, token: token}
	tokenFile := writeSecret(t, dir, "admin-token", token)
	keyFile := writeSecret(t, dir, "secret.key", "c2x1aWNlIHNsdWljZSBzbHVpY2Ugc2x1aWNlIHNsdWk=")
	var alive []func() bool
	for i := range n {
		name := fmt.Sprintf("replica-%c", 'a'+i)
		s := &srv{addr: freeAddr(t), data: filepath.Join(dir, name), token: token, dir: dir, name: name}
		s.url = "http://" + s.addr
		c.replicas = append(c.replicas, s)
		alive = append(alive, func() bool { return s.proc != nil && !s.proc.exited() })
	}
	c.lb = startBalancer(t, c.replicas, alive)
	for _, s := range c.replicas {
		s.extra = []string{"--db", dsn, "--blob", blob, "--base-url", c.lb, "--replica", s.name,
			"--admin-token-file", tokenFile, "--secret-key-file", keyFile}
		s.start(t)
	}
	return c
}

// startBalancer proxies to the replicas round robin, skipping dead ones, streaming responses
// as they come (server-sent events, long polls).
func startBalancer(t *testing.T, backends []*srv, alive []func() bool) string {
	t.Helper()
	var next atomic.Uint64
	proxy := &httputil.ReverseProxy{
		FlushInterval: -1,
		Rewrite: func(r *httputil.ProxyRequest) {
			for range len(backends) {
				i := int(next.Add(1)) % len(backends)
				if alive[i]() {
					u, _ := url.Parse(backends[i].url)
					r.SetURL(u)
					r.Out.Host = r.In.Host
					return
				}
			}
			u, _ := url.Parse(backends[0].url)
			r.SetURL(u)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "no replica answered: "+err.Error(), http.StatusBadGateway)
		},
	}
	addr := freeAddr(t)
	hs := &http.Server{Addr: addr, Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	go hs.ListenAndServe()
	t.Cleanup(func() { hs.Close() })
	return "http://" + addr
}

// startAgentAt starts a remote agent talking to url (a replica, or the balancer).
func (c *cluster) startAgentAt(t *testing.T, name, url string, parallel int) *proc {
	t.Helper()
	s := c.replicas[0]
	if s.regToken == "" {
		s.regToken = strings.TrimSpace(s.mustCLI(t, "token", "create", "e2e-agents", "--scope", "register"))
	}
	env := append(s.procEnv("agent-"+name), "SLUICE_SERVER="+url, "SLUICE_REGISTRATION_TOKEN="+s.regToken)
	// --sandbox off: the jobs of these tests wait for marker files in the test's directories.
	return startProc(t, "agent-"+name, env, "agent", "--server", url, "--sandbox", "off",
		"--name", name, "--labels", "default", "--parallel", fmt.Sprint(parallel))
}

// followLog reads a job's log stream from one replica until "event: end", sending each line's
// text to lines, and returns them all.
func followLog(ctx context.Context, base, token string, jobID int64, lines chan<- string) ([]store.LogLine, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v1/jobs/%d/logs/stream", base, jobID), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("log stream: %s", resp.Status)
	}
	var out []store.LogLine
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "event: end" {
			return out, nil
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var l store.LogLine
			if json.Unmarshal([]byte(data), &l) == nil && l.Seq > 0 {
				out = append(out, l)
				if lines != nil {
					lines <- l.Text
				}
			}
		}
	}
	return out, fmt.Errorf("the log stream ended without its end event: %v", sc.Err())
}

// uiGet signs in to a replica's web UI with the token and returns the page at path.
func uiGet(t *testing.T, base, token, path string) string {
	t.Helper()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.PostForm(base+"/signin", url.Values{"token": {token}, "next": {path}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == server.SessionCookie {
			session = c
		}
	}
	if session == nil {
		t.Fatalf("signing in to %s: %s, no session cookie", base, resp.Status)
	}
	req, _ := http.NewRequest("GET", base+path, nil)
	req.AddCookie(session)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s%s: %s", base, path, resp.Status)
	}
	return b.String()
}

// TestReplicas: the webhook goes to replica A, the agent works through replica B, the log is
// followed live from A while B receives it, the run page is read from B, and the finished log,
// moved to the shared blob store, reads the same from either.
func TestReplicas(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 2)
	a, b := c.replicas[0], c.replicas[1]
	c.startAgentAt(t, "on-b", b.url, 1)
	ids := b.waitAgentsOnline(t, "on-b")
	g, first := newGitRepo(t, map[string]string{"README.md": "x\n"})
	secret := "hook-" + randomHex(t, 8)
	a.addRepo(t, "demo", g, secret)
	marker := filepath.Join(t.TempDir(), "marker")
	wf := markerWorkflow(marker) + `      - run: echo built > report.txt
      - uses: actions/upload-artifact@v4
        with:
          name: report
          path: report.txt
`
	sha := g.commit(t, map[string]string{".github/workflows/wait.yml": wf}, "add wait")
	run := a.pushHook(t, forge.GitHub, "demo", g, first, sha, secret, "replicas-1")[0]

	job := b.waitJob(t, run, "wait", "started", runTimeout, func(j server.JobView) bool { return j.Status != store.StatusQueued })
	ctx, cancel := context.WithTimeout(context.Background(), 2*runTimeout)
	defer cancel()
	texts := make(chan string, 100)
	followed := make(chan []store.LogLine, 1)
	go func() {
		lines, err := followLog(ctx, a.url, c.token, job.ID, texts)
		if err != nil {
			t.Errorf("following the log from replica A: %v", err)
		}
		followed <- lines
	}()
	// The first lines reach A's follower while the step still waits: they were shipped to B.
	for seen := false; !seen; {
		select {
		case l := <-texts:
			seen = strings.Contains(l, "before line 3")
		case <-ctx.Done():
			t.Fatal("replica A's follower never saw the lines the agent shipped to replica B")
		}
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var live []store.LogLine
	select {
	case live = <-followed:
	case <-ctx.Done():
		t.Fatal("the followed log never ended")
	}
	if last := live[len(live)-1].Text; !strings.Contains(strings.Join(texts2(live), "\n"), "marker seen") {
		t.Errorf("followed log lacks the step's last line; ends with %q", last)
	}
	d := b.waitRunDone(t, run, runTimeout)
	if d.Run.Conclusion != store.ConclusionSuccess {
		t.Fatalf("run %d: %s%s", run, d.Run.Conclusion, describeJobs(d))
	}
	if j := jobByKey(t, d, "wait"); j.AgentID == nil || *j.AgentID != ids["on-b"] {
		t.Errorf("job ran on agent %v, want on-b", j.AgentID)
	}
	page := uiGet(t, b.url, c.token, fmt.Sprintf("/runs/%d", run))
	artifactLink := fmt.Sprintf(`/ui/runs/%d/artifacts/`, run)
	if !strings.Contains(page, "wait") || !strings.Contains(page, "success") || !strings.Contains(page, artifactLink) {
		t.Errorf("replica B's run page lacks the job, its result or its artifact:\n%.2000s", page)
	}
	// The artifact went up through B into the shared store: A lists it too.
	if page := uiGet(t, a.url, c.token, fmt.Sprintf("/runs/%d", run)); !strings.Contains(page, artifactLink) {
		t.Errorf("replica A's run page lacks the artifact uploaded through B:\n%.2000s", page)
	}
	// The log moves to the blob store a few seconds after the job; then both replicas read it
	// from there, line for line as followed live.
	waitFor(t, "the finished log to move to the blob store", runTimeout, func() (string, bool, error) {
		n, err := countLogLines(context.Background(), c.dsn, job.ID)
		return fmt.Sprint(n, " lines left in the database"), n == 0, err
	})
	for _, r := range []*srv{a, b} {
		got, err := r.client().Logs(context.Background(), job.ID, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(texts2(got), "\n") != strings.Join(texts2(live), "\n") {
			t.Errorf("%s reads the archived log differently:\n%s\nwant:\n%s", r.name, strings.Join(texts2(got), "\n"), strings.Join(texts2(live), "\n"))
		}
	}
}

func texts2(lines []store.LogLine) []string {
	var out []string
	for _, l := range lines {
		out = append(out, l.Text)
	}
	return out
}

// countLogLines counts a job's lines still in the database.
func countLogLines(ctx context.Context, dsn string, jobID int64) (int, error) {
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	return db.LiveLogLines(ctx, jobID)
}

// TestReplicaKilledMidRun kills -9 one of two replicas while agents (talking to both through
// the balancer) run a run's jobs and webhooks arrive: every job ends with exactly one
// conclusion, every acknowledged webhook has its runs, and no log line an agent shipped is lost.
func TestReplicaKilledMidRun(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 2)
	a, b := c.replicas[0], c.replicas[1]
	for i := range 2 {
		c.startAgentAt(t, fmt.Sprintf("agent-%d", i), c.lb, 2)
	}
	b.waitAgentsOnline(t, "agent-0", "agent-1")
	g, first := newGitRepo(t, map[string]string{"README.md": "x\n"})
	secret := "hook-" + randomHex(t, 8)
	a.addRepo(t, "demo", g, secret)
	const nJobs, nLines = 4, 40
	sha := g.commit(t, map[string]string{".github/workflows/many.yml": lineJobsWorkflow(nJobs, nLines, "")}, "many jobs")
	// Webhooks keep arriving at both replicas; the ones acknowledged (202) are counted.
	var mu sync.Mutex
	acked := map[int64]string{} // run → replica that acknowledged it
	prev := first
	push := func(s *srv, n int) {
		next := g.commit(t, map[string]string{"n.txt": fmt.Sprint(n)}, fmt.Sprint("push ", n))
		h, body := pushDelivery(t, forge.GitHub, g, prev, next, fmt.Sprint("kill-", n))
		prev = next
		name, value := forge.Sign(forge.GitHub, body, []byte(secret))
		h.Set(name, value)
		ans, err := postHookMaybe(s, "demo", h, body)
		if err == nil && ans.Status == http.StatusAccepted {
			mu.Lock()
			for _, r := range ans.Runs {
				acked[r] = s.name
			}
			mu.Unlock()
		}
	}
	run := a.pushHook(t, forge.GitHub, "demo", g, first, sha, secret, "kill-0")[0]
	prev = sha
	acked[run] = a.name
	b.waitJob(t, run, "j0", "running", runTimeout, func(j server.JobView) bool { return j.Status == store.StatusInProgress })
	push(b, 1)
	var wg sync.WaitGroup
	next := g.commit(t, map[string]string{"n.txt": "2"}, "push 2")
	h, body := pushDelivery(t, forge.GitHub, g, prev, next, "kill-2")
	prev = next
	hn, hv := forge.Sign(forge.GitHub, body, []byte(secret))
	h.Set(hn, hv)
	wg.Go(func() { // may be cut off by the kill: counted only if acknowledged
		if ans, err := postHookMaybe(a, "demo", h, body); err == nil && ans.Status == http.StatusAccepted {
			mu.Lock()
			for _, r := range ans.Runs {
				acked[r] = a.name
			}
			mu.Unlock()
		}
	})
	time.Sleep(50 * time.Millisecond)
	a.proc.kill() // -9, mid-run and maybe mid-webhook
	wg.Wait()
	push(b, 3)
	for runID, by := range acked {
		d := b.waitRunDone(t, runID, 2*runTimeout)
		for _, j := range d.Jobs {
			evs, err := b.client().RunEvents(context.Background(), runID, 0)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range evs {
				if e.Kind == store.EventJobCompleted && e.JobID != nil && *e.JobID == j.ID {
					n++
				}
			}
			if j.Status != store.StatusCompleted || n != 1 {
				t.Errorf("run %d (acknowledged by %s) job %s (id %d): %s with %d completion events, want completed once",
					runID, by, j.Key, j.ID, j.Status, n)
			}
		}
		if d.Run.Conclusion != store.ConclusionSuccess {
			t.Errorf("run %d: %s%s", runID, d.Run.Conclusion, describeJobs(d))
			continue
		}
		if runID != run {
			continue
		}
		for _, j := range d.Jobs {
			checkLinesStored(t, b, j, nLines)
		}
	}
	// Every delivery stored was turned into runs (replica A's unfinished ones by replica B).
	waitFor(t, "every stored delivery to be processed", runTimeout, func() (string, bool, error) {
		n, err := unprocessedDeliveries(context.Background(), c.dsn)
		return fmt.Sprint(n, " unprocessed"), n == 0, err
	})
}

func unprocessedDeliveries(ctx context.Context, dsn string) (int, error) {
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	ds, err := db.ListDeliveries(ctx, store.DeliveryFilter{Unprocessed: true})
	return len(ds), err
}

// postHookMaybe delivers a GitHub webhook and reports a failure to reach the replica as an
// error, not a test failure: the replica may be killed meanwhile.
func postHookMaybe(s *srv, repo string, h http.Header, body []byte) (hookAnswer, error) {
	u := fmt.Sprintf("%s/hooks/%s?repo=%s", s.url, forge.GitHub, url.QueryEscape(repo))
	req, err := http.NewRequest("POST", u, bytes.NewReader(body))
	if err != nil {
		return hookAnswer{}, err
	}
	req.Header = h.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return hookAnswer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return hookAnswer{}, err
	}
	a := hookAnswer{Status: resp.StatusCode, raw: string(b)}
	if err := json.Unmarshal(b, &a); err != nil {
		return a, err
	}
	return a, nil
}

// TestAgentLostAcrossReplicas: the agent running a job vanishes, and so does one replica (the
// one holding the lease reaper's duty, or not: either way the duty must run once somewhere).
// The job is recorded "agent lost" exactly once and retried on the other agent.
func TestAgentLostAcrossReplicas(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 2)
	a, b := c.replicas[0], c.replicas[1]
	agents := map[string]*proc{"one": c.startAgentAt(t, "one", c.lb, 1), "two": c.startAgentAt(t, "two", c.lb, 1)}
	ids := b.waitAgentsOnline(t, "one", "two")
	marker := filepath.Join(t.TempDir(), "marker")
	g, first := newGitRepo(t, map[string]string{"README.md": "x\n"})
	secret := "hook-" + randomHex(t, 8)
	a.addRepo(t, "demo", g, secret)
	sha := g.commit(t, map[string]string{".github/workflows/wait.yml": markerWorkflow(marker)}, "add wait")
	run := b.pushHook(t, forge.GitHub, "demo", g, first, sha, secret, "lost-1")[0]
	job := b.waitJob(t, run, "wait", "running its step", runTimeout, func(j server.JobView) bool {
		return j.Status == store.StatusInProgress && j.AgentID != nil && strings.Contains(b.jobLog(t, j.ID), "before line 3")
	})
	victim, survivor := "one", "two"
	if *job.AgentID == ids["two"] {
		victim, survivor = "two", "one"
	}
	agents[victim].kill()
	a.proc.kill()
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	d := b.waitRunDone(t, run, 3*runTimeout)
	retry := jobByKey(t, d, "wait")
	if d.Run.Conclusion != store.ConclusionSuccess || retry.ID == job.ID || retry.AgentID == nil || *retry.AgentID != ids[survivor] {
		t.Fatalf("run %d %s, job %d on agent %v; want success in a new attempt on %s:%s", run, d.Run.Conclusion, retry.ID,
			retry.AgentID, survivor, describeJobs(d))
	}
	evs, err := b.client().RunEvents(context.Background(), run, 0)
	if err != nil {
		t.Fatal(err)
	}
	lost := 0
	for _, e := range evs {
		if e.Kind == store.EventJobAgentLost && e.JobID != nil && *e.JobID == job.ID {
			lost++
		}
	}
	if lost != 1 {
		t.Errorf("%d agent-lost records of job %d, want 1", lost, job.ID)
	}
}

// TestKilledBetweenCompletionAndAdvance: a replica answers an agent's completion before it
// advances the run (the advance waits for the run's lock, held here by the test as another
// replica's pass would hold it), and is killed -9 before the advance. The job's end is not lost
// and the run is not left behind: started again, the replica advances it, the dependent job
// runs, and every job completes exactly once.
func TestKilledBetweenCompletionAndAdvance(t *testing.T) {
	t.Parallel()
	for _, other := range []bool{false, true} {
		name := "restarted"
		if other {
			name = "another replica's reconcile duty"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			killedBetweenCompletionAndAdvance(t, other)
		})
	}
}

// killedBetweenCompletionAndAdvance is TestKilledBetweenCompletionAndAdvance: with other, a
// second replica is running, the killed one is never started again, and the run must be moved
// on by the cluster's reconcile duty under `sluice serve` (taken over when the killed replica
// held it, else on its own schedule), a second agent on that replica running the dependent job.
func killedBetweenCompletionAndAdvance(t *testing.T, other bool) {
	n := 1
	if other {
		n = 2
	}
	c := startCluster(t, n)
	a := c.replicas[0]
	agent := c.startAgentAt(t, "one", a.url, 1)
	a.waitAgentsOnline(t, "one")
	g, first := newGitRepo(t, map[string]string{"README.md": "x\n"})
	secret := "hook-" + randomHex(t, 8)
	a.addRepo(t, "demo", g, secret)
	marker := filepath.Join(t.TempDir(), "marker")
	wf := markerWorkflow(marker) + `  after:
    needs: wait
    runs-on: ubuntu-latest
    steps:
      - run: echo after ran
`
	sha := g.commit(t, map[string]string{".github/workflows/wait.yml": wf}, "add wait")
	run := a.pushHook(t, forge.GitHub, "demo", g, first, sha, secret, "advance-kill-1")[0]
	a.waitJob(t, run, "wait", "running", runTimeout, func(j server.JobView) bool { return j.Status == store.StatusInProgress })

	// The run's lock, as the store takes it on Postgres (lockRun's namespace in the high bits).
	lockDB, err := sql.Open("pgx", c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer lockDB.Close()
	ctx := context.Background()
	conn, err := lockDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(1)<<48|run); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The agent was answered while the run's lock was held: the answer did not wait for it.
	waitFor(t, "the agent to be answered", runTimeout, func() (string, bool, error) {
		return "", strings.Contains(agent.output(), "job completed"), nil
	})
	a.proc.kill()
	db, err := store.Open(ctx, c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	states := func() map[string]string {
		jobs, err := db.ListLatestJobs(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, j := range jobs {
			out[j.Key] = j.Status + "/" + j.Conclusion
		}
		return out
	}
	if got, want := states(), map[string]string{"wait": "completed/success", "after": "waiting/"}; !cmp.Equal(got, want) {
		t.Fatalf("after the kill, jobs are %v, want %v (the job's end recorded, the run not advanced)", got, want)
	}
	// The lock goes with its session (closing the *sql.Conn would only pool it).
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, int64(1)<<48|run); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if other {
		b := c.replicas[1]
		c.startAgentAt(t, "two", b.url, 1)
		// Within the duty's 30 s interval and a takeover, with room for a loaded machine.
		d := b.waitRunDone(t, run, runTimeout)
		if d.Run.Conclusion != store.ConclusionSuccess {
			t.Fatalf("run %d: %s%s", run, d.Run.Conclusion, describeJobs(d))
		}
		checkCompletedOnce(t, b, run, d)
		return
	}
	a.start(t)
	d := a.waitRunDone(t, run, runTimeout)
	if d.Run.Conclusion != store.ConclusionSuccess {
		t.Fatalf("run %d: %s%s", run, d.Run.Conclusion, describeJobs(d))
	}
	checkCompletedOnce(t, a, run, d)
}

// TestSQLiteServerKilledMidRun kills -9 the one server on SQLite while an agent runs a run's jobs
// and ships their lines, and starts it again on the same database: every job ends with exactly
// one conclusion, the run succeeds, and no log line an agent shipped is lost. (On SQLite the
// run's lock lives in the server's process, so it dies with it.)
func TestSQLiteServerKilledMidRun(t *testing.T) {
	t.Parallel()
	c := startClusterOn(t, 1, "sqlite://"+filepath.Join(t.TempDir(), "sluice.db"))
	a := c.replicas[0]
	c.startAgentAt(t, "agent-0", a.url, 2)
	a.waitAgentsOnline(t, "agent-0")
	g, first := newGitRepo(t, map[string]string{"README.md": "x\n"})
	secret := "hook-" + randomHex(t, 8)
	a.addRepo(t, "demo", g, secret)
	const nJobs, nLines = 4, 30
	after := "  after:\n    needs: [j0, j1, j2, j3]\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo after ran\n"
	sha := g.commit(t, map[string]string{".github/workflows/many.yml": lineJobsWorkflow(nJobs, nLines, after)}, "many jobs")
	run := a.pushHook(t, forge.GitHub, "demo", g, first, sha, secret, "sqlite-kill-0")[0]
	a.waitJob(t, run, "j0", "running", runTimeout, func(j server.JobView) bool { return j.Status == store.StatusInProgress })
	time.Sleep(time.Second) // lines are being shipped
	a.proc.kill()
	time.Sleep(500 * time.Millisecond) // the agent meets a dead server
	a.start(t)
	d := a.waitRunDone(t, run, 2*runTimeout)
	if d.Run.Conclusion != store.ConclusionSuccess {
		t.Fatalf("run %d: %s%s", run, d.Run.Conclusion, describeJobs(d))
	}
	checkCompletedOnce(t, a, run, d)
	for _, j := range d.Jobs {
		if j.Key != "after" {
			checkLinesStored(t, a, j, nLines)
		}
	}
}

// checkLinesStored fails unless job j's log, read from s, has no gap in its sequence and holds
// all n lines "KEY line I" the job printed.
func checkLinesStored(t *testing.T, s *srv, j server.JobView, n int) {
	t.Helper()
	lines, err := s.client().Logs(context.Background(), j.ID, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, l := range lines {
		if l.Seq != int64(i+1) {
			t.Errorf("job %s: line %d has seq %d: a gap", j.Key, i+1, l.Seq)
			break
		}
		if strings.HasPrefix(l.Text, j.Key+" line ") {
			got = append(got, l.Text)
		}
	}
	if len(got) != n {
		t.Errorf("job %s: %d of its %d lines are stored:\n%s", j.Key, len(got), n, strings.Join(got, "\n"))
	}
}

// checkCompletedOnce fails unless every job of run (d, as read from s) is completed with
// exactly one completion event.
func checkCompletedOnce(t *testing.T, s *srv, run int64, d *server.RunDetail) {
	t.Helper()
	evs, err := s.client().RunEvents(context.Background(), run, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range d.Jobs {
		n := 0
		for _, e := range evs {
			if e.Kind == store.EventJobCompleted && e.JobID != nil && *e.JobID == j.ID {
				n++
			}
		}
		if j.Status != store.StatusCompleted || n != 1 {
			t.Errorf("job %s (id %d): %s with %d completion events, want completed once", j.Key, j.ID, j.Status, n)
		}
	}
}

// lineJobsWorkflow is a workflow of n jobs j0, j1, ... each printing lines numbered lines
// ("jN line K"), one every 0.1 s, then the jobs in more (YAML under jobs:).
func lineJobsWorkflow(n, lines int, more string) string {
	var b strings.Builder
	b.WriteString("name: many\non: push\njobs:\n")
	for i := range n {
		fmt.Fprintf(&b, "  j%d:\n    runs-on: ubuntu-latest\n    steps:\n      - run: for i in $(seq 1 %d); do echo \"j%d line $i\"; sleep 0.1; done\n", i, lines, i)
	}
	return b.String() + more
}
