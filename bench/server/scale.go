package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// The scale benchmark (make bench-scale): several replicas of `sluice serve` on one Postgres
// database against one server on SQLite, with real `sluice agent` processes, and a replica
// killed every 10 s. Everything runs on this machine, over 127.0.0.1 and a unix socket.

// scaleOpts is one throughput run.
type scaleOpts struct {
	Name      string
	Postgres  bool
	Replicas  int
	Agents    int
	Jobs      int
	KillEvery time.Duration // kill -9 (and restart) a replica this often; 0: never
}

type scaleResult struct {
	scaleOpts
	Total       time.Duration // first webhook sent → last job finished
	JobsRan     int
	Completions int // job.completed events of the jobs that ran
	Attempts    int // job rows (a lost agent's retry is a second row)
	RunsMade    int
	Deliveries  int
	Kills       int
	Acked       int // webhooks answered 202 at the first try (others were retried)
	Problems    []string
}

func (r *scaleResult) rate() float64 { return float64(r.JobsRan) / r.Total.Seconds() }

// postgresAdmin is the Postgres server the benchmark makes its databases on: the one
// scripts/postgres-setup.sh runs, or $SLUICE_TEST_POSTGRES.
func postgresAdmin() (string, error) {
	if dsn := os.Getenv("SLUICE_TEST_POSTGRES"); dsn != "" {
		return dsn, nil
	}
	if _, err := os.Stat("/run/sluice-postgres/.s.PGSQL.5432"); err == nil {
		return "postgres://postgres@/postgres?host=/run/sluice-postgres&port=5432&sslmode=disable", nil
	}
	return "", fmt.Errorf("no PostgreSQL server: run scripts/postgres-setup.sh (make deps) or set SLUICE_TEST_POSTGRES")
}

// newDatabase creates an empty database and returns its DSN and a function that drops it.
func newDatabase(ctx context.Context) (string, func(), error) {
	admin, err := postgresAdmin()
	if err != nil {
		return "", nil, err
	}
	var b [5]byte
	rand.Read(b[:])
	name := "bench_scale_" + hex.EncodeToString(b[:])
	exec := func(stmt string) error {
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		_, err = conn.Exec(ctx, stmt)
		return err
	}
	if err := exec("CREATE DATABASE " + name); err != nil {
		return "", nil, fmt.Errorf("creating database %s: %w", name, err)
	}
	cfg, err := pgx.ParseConfig(admin)
	if err != nil {
		return "", nil, err
	}
	dsn := fmt.Sprintf("postgres://%s@/%s?host=%s&port=%d&sslmode=disable", cfg.User, name, cfg.Host, cfg.Port)
	return dsn, func() { _ = exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") }, nil
}

// cluster is the replicas of one run and the balancer in front of them.
type cluster struct {
	cfg      config
	dir      string
	replicas []*replica
	lb       *client // through the balancer
	lbURL    string
	stopLB   func()
}

type replica struct {
	mu   sync.Mutex
	opts serverOpts
	p    *proc
	c    *client
}

func (r *replica) alive() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.p != nil && !r.p.exited()
}

func (r *replica) url() string { return r.c.base }

// startCluster starts n servers sharing db (a DSN; "" is one server on SQLite) and a blob
// directory, behind a round-robin balancer that skips dead replicas.
func startCluster(ctx context.Context, cfg config, dir, dsn string, n int) (*cluster, error) {
	cl := &cluster{cfg: cfg, dir: dir}
	keyFile := filepath.Join(dir, "secret.key")
	if err := os.WriteFile(keyFile, []byte("c2x1aWNlIHNsdWljZSBzbHVpY2Ugc2x1aWNlIHNsdWk=\n"), 0o600); err != nil {
		return nil, err
	}
	lbAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cl.lbURL = "http://" + lbAddr
	for i := range n {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		o := serverOpts{bin: cfg.bin, dir: dir, token: cfg.token, name: fmt.Sprintf("replica-%d", i+1), addr: addr,
			extra: []string{"--secret-key-file", keyFile, "--blob", filepath.Join(dir, "blobs")}}
		if dsn != "" {
			o.extra = append(o.extra, "--db", dsn, "--base-url", cl.lbURL, "--replica", o.name)
		} else {
			o.extra = append(o.extra, "--base-url", cl.lbURL)
		}
		r := &replica{opts: o}
		if err := r.start(ctx); err != nil {
			cl.stop()
			return nil, err
		}
		cl.replicas = append(cl.replicas, r)
	}
	var next atomic.Uint64
	proxy := &httputil.ReverseProxy{
		FlushInterval: -1,
		Rewrite: func(pr *httputil.ProxyRequest) {
			for range len(cl.replicas) {
				r := cl.replicas[int(next.Add(1))%len(cl.replicas)]
				if r.alive() {
					u, _ := url.Parse(r.url())
					pr.SetURL(u)
					return
				}
			}
			u, _ := url.Parse(cl.replicas[0].url())
			pr.SetURL(u)
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "no replica answered: "+err.Error(), http.StatusBadGateway)
		},
	}
	hs := &http.Server{Addr: lbAddr, Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	go hs.ListenAndServe()
	cl.stopLB = func() { hs.Close() }
	cl.lb = &client{base: cl.lbURL, token: cfg.token, http: &http.Client{Timeout: 2 * time.Minute}}
	return cl, waitHealthyURL(ctx, cl.lbURL)
}

func (r *replica) start(ctx context.Context) error {
	p, c, err := startServer(ctx, r.opts)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.p, r.c = p, c
	r.mu.Unlock()
	return nil
}

func (cl *cluster) stop() {
	if cl.stopLB != nil {
		cl.stopLB()
	}
	for _, r := range cl.replicas {
		if r.p != nil {
			r.p.stop(10 * time.Second)
		}
	}
}

func waitHealthyURL(ctx context.Context, base string) error {
	for i := 0; i < 300; i++ {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("%s did not answer /healthz", base)
}

// scaleThroughput pushes o.Jobs no-op jobs (runs of 250 legs, all webhooks at once, spread
// over the replicas) through o.Agents `sluice agent` processes that reach the replicas
// through the balancer, and checks that every job ran and completed exactly once.
func scaleThroughput(ctx context.Context, cfg config, dir string, o scaleOpts) (*scaleResult, error) {
	const legs = 250
	if o.Jobs%legs != 0 {
		return nil, fmt.Errorf("%d jobs are not runs of %d legs", o.Jobs, legs)
	}
	runs := o.Jobs / legs
	res := &scaleResult{scaleOpts: o}
	dsn := ""
	if o.Postgres {
		var drop func()
		var err error
		if dsn, drop, err = newDatabase(ctx); err != nil {
			return nil, err
		}
		defer drop()
	}
	src, err := newSource(ctx, dir)
	if err != nil {
		return nil, err
	}
	b0, a0, err := src.commit(ctx, map[string]string{"README": "scale\n"})
	if err != nil {
		return nil, err
	}
	type push struct {
		before, after string
		n             int
	}
	var pushes []push
	for i := range runs {
		files := map[string]string{"README": fmt.Sprintln("scale run", i)}
		if i == 0 {
			files[".github/workflows/scale.yml"] = throughputWorkflow(legs)
		}
		before, after, err := src.commit(ctx, files)
		if err != nil {
			return nil, err
		}
		pushes = append(pushes, push{before, after, src.n})
	}
	cl, err := startCluster(ctx, cfg, dir, dsn, o.Replicas)
	if err != nil {
		return nil, err
	}
	defer cl.stop()
	if err := addRepo(ctx, cfg.bin, cl.lb, "scale", src.bare, cfg.secret); err != nil {
		return nil, err
	}
	agents, err := startAgents(ctx, cfg.bin, dir, cl.lb, o.Agents, 1)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, a := range agents {
			a.stop(10 * time.Second)
		}
	}()
	body, err := pushPayload(b0, a0, 1, []string{"README"})
	if err != nil {
		return nil, err
	}
	if _, _, _, err := cl.lb.hookRuns(ctx, "scale", cfg.secret, "scale-mirror", body, 0); err != nil {
		return nil, err
	}
	// Every replica makes its mirror before the load (as after its first webhook).
	for _, r := range cl.replicas {
		if _, _, _, err := r.c.hookRuns(ctx, "scale", cfg.secret, "scale-mirror-"+r.opts.name, body, 0); err != nil {
			return nil, err
		}
	}

	chaosCtx, stopChaos := context.WithCancel(ctx)
	defer stopChaos()
	var chaos sync.WaitGroup
	if o.KillEvery > 0 {
		chaos.Go(func() {
			for i := 0; ; i++ {
				if sleepCtx(chaosCtx, o.KillEvery) != nil {
					return
				}
				r := cl.replicas[i%len(cl.replicas)]
				r.mu.Lock()
				p := r.p
				r.mu.Unlock()
				_ = p.cmd.Process.Kill() // -9
				<-p.done
				p.log.Close()
				res.Kills++
				if err := r.start(context.WithoutCancel(chaosCtx)); err != nil {
					fmt.Fprintln(os.Stderr, "bench-scale: restarting a replica:", err)
					return
				}
			}
		})
	}

	// All webhooks at once, round robin over the replicas; a forge retries a delivery that
	// got no answer (the replica died), with the same delivery id, through the balancer.
	var t0 time.Time
	var mu sync.Mutex
	var runIDs []int64
	var wg sync.WaitGroup
	for i, p := range pushes {
		wg.Go(func() {
			body, err := pushPayload(p.before, p.after, p.n, []string{"README"})
			if err != nil {
				return
			}
			first := cl.replicas[i%len(cl.replicas)].c
			reply, sent, _, err := first.hook(ctx, "scale", cfg.secret, fmt.Sprint("scale-", i), body)
			mu.Lock()
			if t0.IsZero() || sent.Before(t0) {
				t0 = sent
			}
			if err == nil {
				res.Acked++
			}
			mu.Unlock()
			for try := 0; err != nil && try < 20 && ctx.Err() == nil; try++ {
				sleepCtx(ctx, 500*time.Millisecond)
				reply, _, _, err = cl.lb.hook(ctx, "scale", cfg.secret, fmt.Sprint("scale-", i), body)
			}
			mu.Lock()
			runIDs = append(runIDs, reply.Runs...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := waitRunsTolerant(ctx, cl.lb, runs, cfg.limit); err != nil {
		return nil, err
	}
	stopChaos()
	chaos.Wait()
	return res, res.check(ctx, cl.lb, t0, runs, legs)
}

// waitRunsTolerant waits until want runs of the repository are completed, riding out a
// replica's death (a failed request is asked again).
func waitRunsTolerant(ctx context.Context, c *client, want int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var out struct {
			Runs []apiRun `json:"runs"`
		}
		done := 0
		if err := c.get(ctx, fmt.Sprintf("/api/v1/runs?repo=scale&limit=%d", want+10), &out); err == nil {
			for _, r := range out.Runs {
				if r.Status == "completed" {
					done++
				}
			}
			if done >= want {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d runs completed after %s", done, want, limit)
		}
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
}

// check reads back every run and job: one run per delivery, every leg ran once and completed
// once, the run succeeded.
func (res *scaleResult) check(ctx context.Context, c *client, t0 time.Time, runs, legs int) error {
	var out struct {
		Runs []apiRun `json:"runs"`
	}
	if err := c.get(ctx, fmt.Sprintf("/api/v1/runs?repo=scale&limit=%d", runs+10), &out); err != nil {
		return err
	}
	res.RunsMade = len(out.Runs)
	if res.RunsMade != runs {
		res.Problems = append(res.Problems, fmt.Sprintf("%d runs for %d webhooks", res.RunsMade, runs))
	}
	var last time.Time
	for _, r := range out.Runs {
		d, err := c.run(ctx, r.ID)
		if err != nil {
			return err
		}
		if d.Run.Conclusion != "success" {
			// Name the jobs that did not succeed, so a failed run says why.
			var why []string
			for _, j := range d.Jobs {
				if j.Conclusion != "success" && len(why) < 3 {
					why = append(why, fmt.Sprintf("%s: %s %s %s", j.Key, j.Status, j.Conclusion, j.Reason))
				}
			}
			res.Problems = append(res.Problems, fmt.Sprintf("run %d concluded %q (%s)", r.ID, d.Run.Conclusion, strings.Join(why, "; ")))
		}
		keys := map[string]int{}
		for _, j := range d.Jobs {
			if j.AgentID == nil {
				continue // the matrix's parent row runs nowhere
			}
			res.JobsRan++
			keys[j.Key]++
			if j.FinishedAt != nil && j.FinishedAt.After(last) {
				last = *j.FinishedAt
			}
		}
		if len(keys) != legs {
			res.Problems = append(res.Problems, fmt.Sprintf("run %d ran %d of its %d legs", r.ID, len(keys), legs))
		}
		completions, attempts, err := completionEvents(ctx, c, r.ID)
		if err != nil {
			return err
		}
		res.Completions += completions
		res.Attempts += attempts
	}
	res.Deliveries = runs
	res.Total = last.Sub(t0)
	if res.Completions != res.Attempts {
		res.Problems = append(res.Problems, fmt.Sprintf("%d job.completed events for %d job rows", res.Completions, res.Attempts))
	}
	return nil
}

// completionEvents counts a run's job.completed events and the distinct jobs they are of;
// each job row must complete once.
func completionEvents(ctx context.Context, c *client, runID int64) (events, jobs int, err error) {
	seen := map[int64]int{}
	after := int64(0)
	for {
		var out struct {
			Events []struct {
				ID    int64  `json:"id"`
				Kind  string `json:"kind"`
				JobID *int64 `json:"job_id"`
			} `json:"events"`
		}
		if err := c.get(ctx, fmt.Sprintf("/api/v1/runs/%d/events?after=%d&limit=10000", runID, after), &out); err != nil {
			return 0, 0, err
		}
		if len(out.Events) == 0 {
			break
		}
		for _, e := range out.Events {
			after = e.ID
			if e.Kind == "job.completed" && e.JobID != nil {
				seen[*e.JobID]++
				events++
			}
		}
	}
	return events, len(seen), nil
}

// curvePoint is the claim rate with n agents that do nothing but claim and complete.
type curvePoint struct {
	Agents int
	Jobs   int
	Took   time.Duration
}

// claimCurve measures how fast the queue hands out jobs as claimers grow: n synthetic agents
// (HTTP clients speaking the agent protocol, claiming and at once completing, running
// nothing) against two replicas on Postgres through the balancer.
func claimCurve(ctx context.Context, cfg config, dir string, n, jobs int) (*curvePoint, error) {
	const legs = 250
	dsn, drop, err := newDatabase(ctx)
	if err != nil {
		return nil, err
	}
	defer drop()
	src, err := newSource(ctx, dir)
	if err != nil {
		return nil, err
	}
	runs := jobs / legs
	var pushes [][3]any
	for i := range runs {
		files := map[string]string{"README": fmt.Sprintln("curve", i)}
		if i == 0 {
			files[".github/workflows/curve.yml"] = throughputWorkflow(legs)
		}
		before, after, err := src.commit(ctx, files)
		if err != nil {
			return nil, err
		}
		pushes = append(pushes, [3]any{before, after, src.n})
	}
	cl, err := startCluster(ctx, cfg, dir, dsn, 2)
	if err != nil {
		return nil, err
	}
	defer cl.stop()
	if err := addRepo(ctx, cfg.bin, cl.lb, "scale", src.bare, cfg.secret); err != nil {
		return nil, err
	}
	// Claimers register as agents do: with a registration token, not the admin's.
	var regTok struct {
		Token string `json:"token"`
	}
	if err := cl.lb.post(ctx, "/api/v1/tokens", []byte(`{"name":"claimers","scope":"register"}`), &regTok); err != nil {
		return nil, fmt.Errorf("making a registration token for the claimers: %w", err)
	}
	regc := *cl.lb
	regc.token = regTok.Token
	tokens := make([]string, n)
	for i := range n {
		var reg struct {
			Token string `json:"token"`
		}
		body, _ := json.Marshal(map[string]any{"name": fmt.Sprint("claimer-", i), "labels": []string{"default"}, "parallel": 1})
		if err := regc.post(ctx, "/api/v1/agent/register", body, &reg); err != nil {
			return nil, err
		}
		tokens[i] = reg.Token
	}
	for i, p := range pushes {
		body, err := pushPayload(p[0].(string), p[1].(string), p[2].(int), []string{"README"})
		if err != nil {
			return nil, err
		}
		if _, _, _, err := cl.lb.hookRuns(ctx, "scale", cfg.secret, fmt.Sprint("curve-", i), body, 1); err != nil {
			return nil, err
		}
	}
	var done atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for _, tok := range tokens {
		agentClient := &client{base: cl.lbURL, token: tok, http: &http.Client{Timeout: time.Minute}}
		wg.Go(func() {
			for done.Load() < int64(jobs) && ctx.Err() == nil {
				var claim struct {
					Job *struct {
						ID int64 `json:"id"`
					} `json:"job"`
				}
				if err := agentClient.post(ctx, "/api/v1/agent/claim?wait=1", nil, &claim); err != nil || claim.Job == nil {
					continue
				}
				body := []byte(`{"conclusion":"success"}`)
				if err := agentClient.post(ctx, fmt.Sprintf("/api/v1/agent/jobs/%d/complete", claim.Job.ID), body, nil); err == nil {
					done.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return &curvePoint{Agents: n, Jobs: int(done.Load()), Took: time.Since(start)}, nil
}

// post sends body (JSON, or nothing) and decodes a 200 answer into out; 204 leaves out alone.
func (c *client) post(ctx context.Context, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	switch {
	case resp.StatusCode == http.StatusNoContent:
		return nil
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	case out == nil:
		return nil
	}
	return json.Unmarshal(b, out)
}

// runScale runs every section and writes the report.
func runScale(ctx context.Context, cfg config) error {
	var err error
	if cfg.token, err = adminToken(); err != nil {
		return err
	}
	cfg.secret = "bench-webhook-secret"
	if cfg.work == "" {
		if cfg.work, err = os.MkdirTemp("", "sluice-bench-scale-"); err != nil {
			return err
		}
	}
	if !cfg.keep {
		defer os.RemoveAll(cfg.work)
	}
	env, err := describeMachine(ctx, cfg.bin)
	if err != nil {
		return err
	}
	if cfg.bin, err = copyBinary(cfg.bin, cfg.work); err != nil {
		return err
	}
	if _, err := postgresAdmin(); err != nil {
		return err
	}
	var results []*scaleResult
	section := func(o scaleOpts) error {
		fmt.Fprintf(os.Stderr, "==> %s: %d no-op jobs, %d agents, %d replica(s) on %s%s\n", o.Name, o.Jobs, o.Agents, o.Replicas,
			map[bool]string{true: "Postgres", false: "SQLite"}[o.Postgres],
			map[bool]string{true: fmt.Sprintf(", one replica killed every %s", o.KillEvery), false: ""}[o.KillEvery > 0])
		dir, err := mkdir(cfg.work, strings.ReplaceAll(o.Name, " ", "-"))
		if err != nil {
			return err
		}
		r, err := scaleThroughput(ctx, cfg, dir, o)
		if err != nil {
			return fmt.Errorf("%s: %w", o.Name, err)
		}
		fmt.Fprintf(os.Stderr, "    %d jobs in %s (%.1f jobs/s), problems: %v\n", r.JobsRan, r.Total.Round(time.Millisecond), r.rate(), r.Problems)
		results = append(results, r)
		return nil
	}
	runs := []scaleOpts{
		{Name: "postgres 2 replicas", Postgres: true, Replicas: 2, Agents: cfg.scaleAgents, Jobs: cfg.scaleJobs},
		{Name: "sqlite 1 server", Replicas: 1, Agents: cfg.scaleAgents, Jobs: cfg.scaleJobs},
		{Name: "postgres 2 replicas, kill every 10s", Postgres: true, Replicas: 2, Agents: cfg.scaleAgents, Jobs: cfg.chaosJobs, KillEvery: 10 * time.Second},
	}
	if cfg.scaleOnly == "latency" {
		// webhook → first step on Postgres alone, each mark printed: where the time goes.
		lat, err := scaleLatency(ctx, cfg)
		if err != nil {
			return err
		}
		fmt.Print(latencyMarks(lat))
		return nil
	}
	if cfg.scaleOnly != "" && !slices.ContainsFunc(runs, func(o scaleOpts) bool { return o.Name == cfg.scaleOnly }) {
		names := []string{`"latency"`}
		for _, o := range runs {
			names = append(names, fmt.Sprintf("%q", o.Name))
		}
		return fmt.Errorf("-scale-only %q: no such run; use one of %s", cfg.scaleOnly, strings.Join(names, ", "))
	}
	for _, o := range runs {
		if cfg.scaleOnly != "" && o.Name != cfg.scaleOnly {
			continue
		}
		if err := section(o); err != nil {
			return err
		}
	}
	if cfg.scaleOnly != "" {
		return nil // a partial run (profiling, trying a change): no results file
	}
	lat, err := scaleLatency(ctx, cfg)
	if err != nil {
		return err
	}
	var curve []*curvePoint
	for _, n := range []int{1, 5, 20} {
		fmt.Fprintf(os.Stderr, "==> claim rate with %d claimer(s), %d jobs\n", n, cfg.curveJobs)
		dir, err := mkdir(cfg.work, fmt.Sprint("curve-", n))
		if err != nil {
			return err
		}
		pt, err := claimCurve(ctx, cfg, dir, n, cfg.curveJobs)
		if err != nil {
			return fmt.Errorf("claim rate with %d: %w", n, err)
		}
		fmt.Fprintf(os.Stderr, "    %d jobs in %s (%.1f jobs/s)\n", pt.Jobs, pt.Took.Round(time.Millisecond), float64(pt.Jobs)/pt.Took.Seconds())
		curve = append(curve, pt)
	}
	rep := renderScale(env, results, lat, curve)
	if err := writeReport(cfg.out, rep); err != nil {
		return err
	}
	fmt.Print(rep.summary)
	return nil
}

// scaleLatency measures webhook → first step on one replica on Postgres with its embedded agent.
func scaleLatency(ctx context.Context, cfg config) (*latencyResult, error) {
	fmt.Fprintln(os.Stderr, "==> webhook → first step on Postgres (one replica, embedded agent)")
	latDir, err := mkdir(cfg.work, "latency-postgres")
	if err != nil {
		return nil, err
	}
	dsn, drop, err := newDatabase(ctx)
	if err != nil {
		return nil, err
	}
	defer drop()
	cfg.serverExtra = []string{"--db", dsn}
	lat, err := benchLatency(ctx, cfg, latDir)
	if err != nil {
		return nil, fmt.Errorf("latency on Postgres: %w", err)
	}
	return lat, nil
}

const (
	targetScale     = 60 * time.Second
	targetFirstStPG = 150 * time.Millisecond
)

func renderScale(m machine, rs []*scaleResult, lat *latencyResult, curve []*curvePoint) report {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# sluice serve at scale: replicas on Postgres, a replica killed every 10 s, the claim rate\n\n")
	p("One run of `make bench-scale` (bench/server -scale), %s, on %d CPUs (%s), Linux %s, sluice at %s; load average at the start %s.\n",
		m.When, m.CPUs, m.CPU, m.Kernel, m.Commit, m.Load)
	p("All traffic is to 127.0.0.1 (a balancer in the benchmark spreads agents and API calls over the replicas) and to the\n")
	p("PostgreSQL server of scripts/postgres-setup.sh on a unix socket (it runs with fsync off: a test server). Agents are\n")
	p("real `sluice agent` processes (--parallel 1) running real no-op jobs (checkout of the commit, one `run: \"true\"` step).\n\n")
	var first []time.Duration
	for _, s := range lat.Samples {
		first = append(first, s.FirstStep)
	}
	fst := summarize(first)
	p("## Against the targets (shared/DESIGN.md §7)\n\n| measure | target | measured | |\n| --- | ---: | ---: | --- |\n")
	for _, r := range rs {
		ok := len(r.Problems) == 0
		target := "—"
		if r.Postgres && r.Replicas > 1 && r.KillEvery == 0 {
			target = "≤ 60 s"
			ok = ok && r.Total <= targetScale
		}
		if r.KillEvery > 0 {
			target = "nothing lost or duplicated"
		}
		p("| %d no-op jobs, %d agents, %s | %s | %.1f s (%.1f jobs/s)%s | %s |\n", r.Jobs, r.Agents, r.Name, target,
			r.Total.Seconds(), r.rate(), killNote(r), verdict(ok))
	}
	p("| webhook → first step started, p95, Postgres | ≤ 150 ms | %.1f ms (p50 %.1f, max %.1f) | %s |\n\n",
		ms(fst.P95), ms(fst.P50), ms(fst.Max), verdict(fst.P95 <= targetFirstStPG))
	p("## Throughput runs\n\n| run | jobs ran | runs / webhooks | job rows | completions | webhooks acknowledged first time | kills | problems |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, r := range rs {
		probs := "none"
		if len(r.Problems) > 0 {
			probs = strings.Join(r.Problems, "; ")
		}
		p("| %s | %d | %d / %d | %d | %d | %d | %d | %s |\n", r.Name, r.JobsRan, r.RunsMade, r.Deliveries, r.Attempts, r.Completions, r.Acked, r.Kills, probs)
	}
	p("\nEach throughput run: %d-leg matrix runs, one webhook each, all sent at once (spread over the replicas); the\n", 250)
	p("time is from the first webhook sent to the last job's `finished_at`. \"Completions\" counts `job.completed` events:\n")
	p("equal to the job rows means every job ended exactly once; runs equal to webhooks means no delivery made a run twice.\n\n")
	p("## Claim rate as claimers grow\n\nSynthetic agents (the agent HTTP protocol: claim, then complete at once, no job run) against two replicas on\n")
	p("Postgres through the balancer; each point is its own database with %d queued jobs.\n\n| claimers | jobs | time | jobs/s |\n| ---: | ---: | ---: | ---: |\n", curveJobs(curve))
	for _, pt := range curve {
		p("| %d | %d | %.1f s | %.1f |\n", pt.Agents, pt.Jobs, pt.Took.Seconds(), float64(pt.Jobs)/pt.Took.Seconds())
	}
	var sum bytes.Buffer
	for _, r := range rs {
		fmt.Fprintf(&sum, "%s: %d jobs in %.1f s (%.1f jobs/s)%s\n", r.Name, r.JobsRan, r.Total.Seconds(), r.rate(), killNote(r))
	}
	fmt.Fprintf(&sum, "webhook → first step on Postgres: p95 %.1f ms\n", ms(fst.P95))
	p("\n")
	return report{body: b.String(), summary: sum.String()}
}

func killNote(r *scaleResult) string {
	if r.KillEvery == 0 {
		return ""
	}
	return fmt.Sprintf(", %d kills", r.Kills)
}

func curveJobs(curve []*curvePoint) int {
	if len(curve) == 0 {
		return 0
	}
	js := make([]int, len(curve))
	for i, c := range curve {
		js[i] = c.Jobs
	}
	sort.Ints(js)
	return js[len(js)-1]
}
