// Command ui measures how fast a failed run's page shows its first error in
// headless Chromium, against the page as it was before (a baseline commit
// built from this repository), side by side in one run. Each server gets the
// same run, written into its database: 20 jobs, one of which failed with a
// 100,000-line log whose first error is near its end. It writes
// bench/results-ui.md. Run it with `make bench-ui`.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/sluice-ci/sluice/bench/machine"
	"github.com/sluice-ci/sluice/internal/secrets"
	_ "modernc.org/sqlite"
)

// baselineRef is the commit before the failure-first run page (issue 16):
// the page "as it is today" the new one is measured against.
const baselineRef = "4b3f921"

type config struct {
	bin, baseline, out, work string
	lines, jobs, n           int
	keep                     bool
}

func main() {
	var cfg config
	flag.StringVar(&cfg.bin, "sluice", "bin/sluice", "the sluice binary to measure")
	flag.StringVar(&cfg.baseline, "baseline", baselineRef, "git commit whose run page is measured beside it")
	flag.StringVar(&cfg.out, "out", "bench/results-ui.md", "where to write the results")
	flag.StringVar(&cfg.work, "work", "", "scratch directory (default: a new temporary one, removed after)")
	flag.IntVar(&cfg.lines, "lines", 100_000, "lines of the failing job's log")
	flag.IntVar(&cfg.jobs, "jobs", 20, "jobs of the run")
	flag.IntVar(&cfg.n, "n", 5, "page loads measured per page")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the scratch directory")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench-ui:", err)
		os.Exit(1)
	}
}

type server struct {
	name, url, data string
	token           string // the admin token (SLUICE_ADMIN_TOKEN); it only ever reaches 127.0.0.1
	cmd             *exec.Cmd
	runID, jobID    int64
	errorSeq        int64
}

func run(ctx context.Context, cfg config) error {
	bin, err := filepath.Abs(cfg.bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("the sluice binary: %w (run make build)", err)
	}
	work := cfg.work
	if work == "" {
		if work, err = os.MkdirTemp("", "sluice-bench-ui-"); err != nil {
			return err
		}
		if !cfg.keep {
			defer os.RemoveAll(work)
		}
	}
	fmt.Printf("building the baseline (%s)…\n", cfg.baseline)
	old, err := buildBaseline(ctx, cfg.baseline, work)
	if err != nil {
		return err
	}
	var servers []*server
	for _, s := range []struct{ name, bin string }{{"new", bin}, {"baseline", old}} {
		srv, err := startServer(ctx, s.name, s.bin, filepath.Join(work, s.name))
		if err != nil {
			return err
		}
		defer srv.stop()
		if err := seed(ctx, srv, cfg); err != nil {
			return fmt.Errorf("seeding the %s server: %w", s.name, err)
		}
		servers = append(servers, srv)
	}
	chromium, err := findChromium()
	if err != nil {
		return err
	}
	newSrv, oldSrv := servers[0], servers[1]
	type result struct {
		what string
		ms   []float64
	}
	var results []result
	measure := func(what string, s *server, path, cond string) error {
		var ms []float64
		for i := 0; i < cfg.n+1; i++ { // the first load warms Chromium and the server's caches
			d, err := pageLoad(ctx, chromium, work, s, path, cond)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if i > 0 {
				ms = append(ms, float64(d.Microseconds())/1000)
			}
		}
		fmt.Printf("%-70s median %7.0f ms\n", what, median(ms))
		results = append(results, result{what, ms})
		return nil
	}
	errorOnScreen := func(s *server) string {
		return fmt.Sprintf(`(a => { if (!a || a.dataset.seq !== '%d') return false; const r = a.getBoundingClientRect();
			return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight; })(document.querySelector('.log-anchored'))`, s.errorSeq)
	}
	// The old page has no data-seq; its anchored line shows the number. It
	// scrolls its log to the line but not the page to its log, which a
	// 20-job graph pushes below the window: this counts the line drawn in
	// the log, where the reader still has to scroll down to see it.
	oldLineOnScreen := fmt.Sprintf(`(a => !!a && a.querySelector('.log-num').textContent === '%d')(document.querySelector('.log-anchored'))`,
		oldSrv.errorSeq)
	allLoaded := fmt.Sprintf(`(s => !!s && s.textContent.startsWith('%d lines') && s.textContent.includes('job finished'))(document.querySelector('.log-status'))`, cfg.lines)
	steps := []struct {
		what      string
		s         *server
		path      string
		cond      string
		isPrimary bool
	}{
		{"new: open the failed run, first error on screen", newSrv, fmt.Sprintf("/runs/%d", newSrv.runID), errorOnScreen(newSrv), true},
		{"new: … and the whole log loaded behind it", newSrv, fmt.Sprintf("/runs/%d", newSrv.runID), allLoaded, false},
		{"baseline: open the failed run, whole log loaded (opens at line 1)", oldSrv, fmt.Sprintf("/runs/%d", oldSrv.runID), allLoaded, false},
		{"baseline: a link to the error line (#job-N-L…), line drawn in the log", oldSrv,
			fmt.Sprintf("/runs/%d#job-%d-L%d", oldSrv.runID, oldSrv.jobID, oldSrv.errorSeq), oldLineOnScreen, false},
	}
	for _, st := range steps {
		if err := measure(st.what, st.s, st.path, st.cond); err != nil {
			return err
		}
	}
	var b strings.Builder
	m := machine.Describe(ctx, "")
	fmt.Fprintf(&b, "# The failed run page (`make bench-ui`)\n\nOne run, %s, on %d CPUs (%s), Linux %s, sluice at %s; load average at the start %s.\n\n",
		m.When, m.CPUs, m.CPU, m.Kernel, m.Commit, m.Load)
	fmt.Fprintf(&b, "A run of %d jobs, one failed with a %d-line log whose first error is line %d, opened in headless\n"+
		"Chromium (1400×1000) from a fresh tab; time from navigation until the condition holds, polled every 10 ms;\n"+
		"median of %d loads after one warm-up, min–max beside it. \"baseline\" is the same server built from commit\n"+
		"`%s` (before issue 16), on the same data: it opens a failed run at line 1 of the failing job and cannot\n"+
		"find the error itself, so its best case is a link to the line.\n\n", cfg.jobs, cfg.lines, newSrv.errorSeq, cfg.n, cfg.baseline)
	b.WriteString("| page | median | min – max |\n| --- | ---: | ---: |\n")
	for _, r := range results {
		lo, hi := minmax(r.ms)
		fmt.Fprintf(&b, "| %s | %.2f s | %.2f – %.2f s |\n", r.what, median(r.ms)/1000, lo/1000, hi/1000)
	}
	fmt.Fprintf(&b, "\nTarget: first error on screen in ≤ 1.5 s. Reproduce: `make bench-ui` (or `go run ./bench/ui -sluice bin/sluice -n %d`).\n", cfg.n)
	if err := os.WriteFile(cfg.out, []byte(b.String()), 0o644); err != nil {
		return err
	}
	fmt.Println("wrote", cfg.out)
	return nil
}

// buildBaseline builds the sluice binary of commit ref (from this
// repository) into work.
func buildBaseline(ctx context.Context, ref, work string) (string, error) {
	src := filepath.Join(work, "baseline-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	archive := exec.CommandContext(ctx, "sh", "-c", fmt.Sprintf("git archive %s | tar -x -C %q", ref, src))
	if out, err := archive.CombinedOutput(); err != nil {
		return "", fmt.Errorf("extracting %s: %v\n%s", ref, err, out)
	}
	bin := filepath.Join(work, "sluice-baseline")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/sluice")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %v\n%s", ref, err, out)
	}
	return bin, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func startServer(ctx context.Context, name, bin, data string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(data, "..", name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--data", data, "--addr", addr, "--agents", "0")
	token, _, err := secrets.NewToken()
	if err != nil {
		return nil, err
	}
	cmd.Env = append(os.Environ(), "SLUICE_ADMIN_TOKEN="+token, "SLUICE_STATE_DIR="+filepath.Join(data, "state"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the %s server: %w", name, err)
	}
	s := &server{name: name, url: "http://" + addr, data: data, cmd: cmd, token: token}
	deadline := time.Now().Add(time.Minute)
	for {
		res, err := http.Get(s.url + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("the %s server did not answer on %s (log: %s)", name, s.url, logf.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
		}
	}
}

// seed writes the run into the server's database directly, in the tables
// both versions share (runs, jobs, steps, log_lines), as agents would have
// left them.
func seed(ctx context.Context, s *server, cfg config) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/api/v1/repos",
		strings.NewReader(`{"name": "app", "url": "https://git.example/acme/app.git", "default_branch": "main"}`))
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK {
		return fmt.Errorf("creating the repository: %s", res.Status)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.data, "sluice.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := time.Now().Add(-time.Hour).UnixNano()
	var repoID int64
	if err := tx.QueryRowContext(ctx, `SELECT id FROM repos WHERE name = 'app'`).Scan(&repoID); err != nil {
		return err
	}
	if err := tx.QueryRowContext(ctx, `INSERT INTO runs (repo_id, number, workflow, workflow_name, event, ref, sha, title, run_trigger,
		actor, status, conclusion, queued_at, started_at, finished_at) VALUES (?, 1, '.github/workflows/ci.yml', 'CI', 'push',
		'refs/heads/main', ?, 'Fix the frobnicator', 'webhook', 'alice', 'completed', 'failure', ?, ?, ?) RETURNING id`,
		repoID, strings.Repeat("a", 40), now, now, now+int64(5*time.Minute)).Scan(&s.runID); err != nil {
		return err
	}
	failing := cfg.jobs / 2
	for i := 0; i < cfg.jobs; i++ {
		key := fmt.Sprintf("test (%d)", i)
		conclusion := "success"
		if i == failing {
			conclusion = "failure"
		}
		var id int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO jobs (run_id, job_key, name, needs, status, conclusion, created_at, started_at, finished_at)
			VALUES (?, ?, ?, '[]', 'completed', ?, ?, ?, ?) RETURNING id`, s.runID, key, key, conclusion, now, now, now+int64(4*time.Minute)).Scan(&id); err != nil {
			return err
		}
		lines := 200
		if i == failing {
			s.jobID, lines = id, cfg.lines
		}
		for n, name := range []string{"Set up job", "Install", "Run pytest"} {
			c := "success"
			if i == failing && n == 2 {
				c = "failure"
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO steps (job_id, number, name, status, conclusion, started_at, finished_at)
				VALUES (?, ?, ?, 'completed', ?, ?, ?)`, id, n+1, name, c, now, now+int64(time.Minute)); err != nil {
				return err
			}
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO log_lines (job_id, seq, time, step, kind, text) VALUES (?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		errorSeq := int64(lines - 40)
		if i == failing {
			s.errorSeq = errorSeq
		}
		for seq := int64(1); seq <= int64(lines); seq++ {
			step, kind, text := 2, "", fmt.Sprintf("Collecting package-%d (from -r requirements.txt)", seq)
			switch {
			case seq > errorSeq-20:
				step, text = 3, "tests/test_calc.py::test_add PASSED"
				if i == failing && seq == errorSeq {
					kind, text = "error", "tests/test_calc.py:12: AssertionError in test_sub"
				}
			}
			if _, err := ins.ExecContext(ctx, id, seq, now+seq*int64(time.Millisecond), step, kind, text); err != nil {
				ins.Close()
				return err
			}
		}
		ins.Close()
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET log_acked = ? WHERE id = ?`, lines, id); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func findChromium() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium on PATH: install it with scripts/install-chromium.sh")
}

// pageLoad signs a fresh browser in, opens path and returns how long the
// condition (a JavaScript expression) took to hold after navigation began.
func pageLoad(ctx context.Context, chromium, work string, s *server, path, cond string) (time.Duration, error) {
	profile, err := os.MkdirTemp(work, "chromium-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(profile)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium), chromedp.UserDataDir(profile), chromedp.WindowSize(1400, 1000),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true))
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Run(bctx,
		chromedp.Navigate(s.url+"/signin"),
		chromedp.SendKeys(`input[name="token"]`, s.token, chromedp.ByQuery),
		chromedp.Click(`button[type="submit"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`nav`, chromedp.ByQuery),
		chromedp.Navigate("about:blank"),
	); err != nil {
		return 0, fmt.Errorf("signing in: %w", err)
	}
	start := time.Now()
	if err := chromedp.Run(bctx, chromedp.ActionFunc(func(ctx context.Context) error {
		// Navigate without waiting for the load event: the clock runs from
		// the request, whatever the page does after.
		_, _, _, _, err := page.Navigate(s.url + path).Do(ctx)
		return err
	})); err != nil {
		return 0, err
	}
	var ok bool
	for {
		err := chromedp.Run(bctx, chromedp.Evaluate(cond, &ok))
		if err == nil && ok {
			return time.Since(start), nil
		}
		if bctx.Err() != nil {
			return 0, fmt.Errorf("%s on %s never held: %w", cond, path, bctx.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func minmax(v []float64) (float64, float64) {
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}
