package server

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/sluice-ci/sluice/internal/store"
)

// uiBrowserTimeout bounds each browser test; it is a safety net, not a speed
// requirement.
const uiBrowserTimeout = 3 * time.Minute

// uiBrowser starts a headless Chromium (Debian's chromium) for one test and
// signs it in to e. Without chromium the test is skipped, unless
// SLUICE_REQUIRE_BROWSER=1 (CI), where it fails.
func uiBrowser(t *testing.T, e *uiEnv) context.Context {
	t.Helper()
	return uiBrowserAs(t, e, "browser")
}

// uiBrowserAs is uiBrowser signed in with a write token named name.
func uiBrowserAs(t *testing.T, e *uiEnv, name string) context.Context {
	t.Helper()
	var bin string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		msg := "no chromium on PATH: install it with scripts/install-chromium.sh to run the browser tests"
		if os.Getenv("SLUICE_REQUIRE_BROWSER") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	// Chromium's helpers may still write to their profile for a moment after
	// the browser is cancelled; t.TempDir's cleanup would then fail the test,
	// so the profile is removed with retries instead.
	profile, err := os.MkdirTemp("", "sluice-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), uiBrowserTimeout)
	// The machine has no network: without these flags Chromium stalls on
	// background fetches and first-run work.
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1400, 1100),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
		for i := 0; i < 50 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	tok := e.apiToken(name, store.ScopeWrite)
	err = chromedp.Run(bctx,
		chromedp.Navigate(e.http.URL+"/signin"),
		chromedp.SendKeys(`input[name="token"]`, tok, chromedp.ByQuery),
		chromedp.Click(`button[type="submit"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`nav`, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("signing in with the browser: %v", err)
	}
	return bctx
}

// uiWaitFor polls a JavaScript expression until it is truthy.
func uiWaitFor(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	var ok bool
	var err error
	for range 20 {
		err = chromedp.Run(ctx, chromedp.Poll(expr, &ok, chromedp.WithPollingInterval(50*time.Millisecond),
			chromedp.WithPollingTimeout(90*time.Second)))
		// A navigation under way (a form posting, a redirect) ends the poll's
		// page; poll again on the new one.
		if err == nil || !strings.Contains(err.Error(), "navigated or closed") && !strings.Contains(err.Error(), "context was destroyed") &&
			!strings.Contains(err.Error(), "Cannot find context with specified id") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		var page string
		chromedp.Run(ctx, chromedp.Evaluate(`document.body ? document.body.innerText.slice(0, 2000) : ""`, &page))
		t.Fatalf("waiting for %s: %v\npage text:\n%s", what, err, page)
	}
}

func uiEval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	var v T
	if err := chromedp.Run(ctx, chromedp.Evaluate(expr, &v)); err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

func uiJSString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// uiHasLine is a JS expression: a rendered log line has exactly this text.
func uiHasLine(text string) string {
	return `Array.from(document.querySelectorAll('.log-line .log-text')).some(e => e.textContent === ` + uiJSString(text) + `)`
}

func TestUIBrowserLiveLogs(t *testing.T) {
	e := uiNewEnv(t)
	s := e.seedRun("acme/widgets", []store.Job{{Key: "test", Name: "test"}})
	job := s.jobs["test"].ID
	e.setJob(job, store.StatusInProgress, "")
	e.appendLogs(job, 1, "\x1b[1mcollecting\x1b[0m tests", "::first stored line")
	ctx := uiBrowser(t, e)

	if err := chromedp.Run(ctx, chromedp.Navigate(fmt.Sprintf("%s/runs/%d", e.http.URL, s.run.ID))); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "the stored lines", uiHasLine("collecting tests"))
	uiWaitFor(t, ctx, "the log to follow the stream", `document.querySelector('.log-status').textContent.includes('live')`)
	// Marks this page load: a reload would lose it.
	uiEval[bool](t, ctx, `window.sluiceTestMark = true`)

	for i := 3; i <= 5; i++ {
		e.appendLogs(job, int64(i), fmt.Sprintf("\x1b[32mPASSED\x1b[0m tests/test_%d.py", i))
		uiWaitFor(t, ctx, fmt.Sprintf("live line %d", i), uiHasLine(fmt.Sprintf("PASSED tests/test_%d.py", i)))
	}
	if !uiEval[bool](t, ctx, `window.sluiceTestMark === true`) {
		t.Fatal("the page reloaded to show new lines")
	}
	// ANSI colours became spans; the escape codes are gone from the text.
	if n := uiEval[int](t, ctx, `document.querySelectorAll('.log-text .ansi-fg-2').length`); n != 3 {
		t.Errorf("%d green spans, want 3", n)
	}
	// The job ends: the viewer says so and the job box turns green without a reload.
	e.setJob(job, store.StatusCompleted, store.ConclusionSuccess)
	uiWaitFor(t, ctx, "the end of the log", `document.querySelector('.log-status').textContent.includes('job finished')`)
	uiWaitFor(t, ctx, "the job box to show success", fmt.Sprintf(`document.getElementById('box-%d').classList.contains('success')`, job))
}

func TestUIBrowserCancel(t *testing.T) {
	e := uiNewEnv(t)
	s := e.seedRun("acme/widgets", []store.Job{{Key: "test", Name: "test", Status: store.StatusQueued}})
	ctx := uiBrowser(t, e)
	err := chromedp.Run(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/runs/%d", e.http.URL, s.run.ID)),
		chromedp.WaitVisible(`#cancel-btn`, chromedp.ByQuery),
		chromedp.Click(`#cancel-btn`, chromedp.ByQuery),
		chromedp.WaitVisible(`.flash`, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "the page back after cancelling", `!!document.querySelector('.flash') && document.querySelector('.flash').textContent.includes('Cancel requested')`)
	if got := e.sched.cancelled(); len(got) != 1 || got[0] != s.run.ID {
		t.Fatalf("scheduler cancels %v, want [%d]", got, s.run.ID)
	}
	if st := uiEval[string](t, ctx, `document.getElementById('run-state').textContent`); st != "queued" {
		t.Errorf("run shows %q before the store changed, want queued", st)
	}
	if _, err := e.db.CancelRun(context.Background(), s.run.ID, "cancelled from the UI"); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "the run to show cancelled", `document.getElementById('run-state').textContent === 'cancelled'`)
	uiWaitFor(t, ctx, "the cancel button to go", `document.getElementById('cancel-form').hidden && !document.getElementById('rerun-form').hidden`)
}

func TestUIBrowserHugeLog(t *testing.T) {
	const total = 100_000
	const needle = 99_990
	e := uiNewEnv(t)
	s := e.seedRun("acme/widgets", []store.Job{{Key: "test", Name: "test"}})
	job := s.jobs["test"].ID
	e.setJob(job, store.StatusInProgress, "")
	batch := make([]store.LogLine, 0, uiLogPage)
	for i := 1; i <= total; i++ {
		l := store.LogLine{Seq: int64(i), Step: 1, Text: fmt.Sprintf("\x1b[36mtests/test_mod.py\x1b[0m::test_case_%d PASSED", i)}
		switch i {
		case needle - 10:
			l.Kind, l.Text = "group", "Slow tests"
		case needle:
			l.Text = "the needle-in-the-haystack line"
		case needle + 5:
			l.Kind, l.Text = "endgroup", ""
		case total:
			l.Text = "the very last line"
		}
		batch = append(batch, l)
		if len(batch) == cap(batch) || i == total {
			if _, err := e.db.AppendLogs(context.Background(), job, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	e.setJob(job, store.StatusCompleted, store.ConclusionSuccess)
	ctx := uiBrowser(t, e)

	if err := chromedp.Run(ctx, chromedp.Navigate(fmt.Sprintf("%s/runs/%d#job-%d", e.http.URL, s.run.ID, job))); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "every line to load", fmt.Sprintf(`document.querySelector('.log-status').textContent === '%d lines · job finished'`, total))
	uiWaitFor(t, ctx, "the first line", uiHasLine("tests/test_mod.py::test_case_1 PASSED"))
	lineNodes := `document.querySelectorAll('.log-line').length`
	if n := uiEval[int](t, ctx, lineNodes); n == 0 || n > 1000 {
		t.Fatalf("%d line nodes in the DOM for a %d-line log; want a window of them", n, total)
	}

	uiEval[bool](t, ctx, `(v => { v.scrollTop = v.scrollHeight; return true })(document.querySelector('.log-viewport'))`)
	uiWaitFor(t, ctx, "the last line after scrolling to the end", uiHasLine("the very last line"))
	if uiEval[bool](t, ctx, uiHasLine("the needle-in-the-haystack line")) {
		t.Error("a line inside a folded group is shown")
	}

	if err := chromedp.Run(ctx, chromedp.SendKeys(`.log-search`, "NEEDLE-in-the\r", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "search to reach the needle", `(c => c && c.textContent.includes('needle-in-the-haystack'))(document.querySelector('.log-current'))`)
	if got := uiEval[string](t, ctx, `document.querySelector('.log-count').textContent`); got != "1 / 1" {
		t.Errorf("match count %q, want 1 / 1", got)
	}
	if got := uiEval[string](t, ctx, `document.querySelector('.log-current mark').textContent`); got != "needle-in-the" {
		t.Errorf("highlighted %q, want the matched text", got)
	}
	if n := uiEval[int](t, ctx, lineNodes); n > 1000 {
		t.Errorf("%d line nodes after searching", n)
	}
	// Line links: opening #job-N-L123 scrolls there and marks the line.
	if err := chromedp.Run(ctx, chromedp.Navigate(fmt.Sprintf("%s/runs/%d#job-%d-L%d", e.http.URL, s.run.ID, job, 500))); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "the linked line", `(a => a && a.querySelector('.log-num').textContent === '500')(document.querySelector('.log-anchored'))`)

	if path := os.Getenv("SLUICE_UI_SCREENSHOT"); path != "" {
		uiScreenshot(t, e, ctx, path)
	}
}

// uiScreenshot saves a picture of a run page with a job graph, groups,
// colours and annotations, for people checking how the page reads.
func uiScreenshot(t *testing.T, e *uiEnv, ctx context.Context, path string) {
	s := e.seedRun("acme/widgets", []store.Job{
		{Key: "lint", Name: "lint"},
		{Key: "test (3.11)", Name: "test (3.11)", Needs: []string{"lint"}},
		{Key: "test (3.12)", Name: "test (3.12)", Needs: []string{"lint"}},
		{Key: "build", Name: "build", Needs: []string{"test"}},
		{Key: "publish", Name: "publish", Needs: []string{"build"}},
	})
	e.setJob(s.jobs["lint"].ID, store.StatusInProgress, "")
	e.setJob(s.jobs["lint"].ID, store.StatusCompleted, store.ConclusionSuccess)
	e.setJob(s.jobs["test (3.11)"].ID, store.StatusInProgress, "")
	e.setJob(s.jobs["test (3.11)"].ID, store.StatusCompleted, store.ConclusionFailure)
	job := s.jobs["test (3.12)"].ID
	e.setJob(job, store.StatusInProgress, "")
	lines := []store.LogLine{
		{Kind: "group", Text: "Run actions/checkout@v4"},
		{Text: "Syncing repository: acme/widgets"},
		{Kind: "endgroup"},
		{Kind: "command", Text: "python -m pytest -q"},
		{Text: "\x1b[1m============================= test session starts ==============================\x1b[0m"},
		{Text: "platform linux -- Python 3.12.3, pytest-8.2.0"},
		{Text: "collected 42 items"},
		{Text: "tests/test_api.py \x1b[32m.........\x1b[0m\x1b[32m                                          [ 21%]\x1b[0m"},
		{Text: "tests/test_frob.py \x1b[32m....\x1b[0m\x1b[31mF\x1b[0m\x1b[32m....\x1b[0m                                      [ 42%]"},
		{Kind: "warning", Text: "DeprecationWarning: frobnicate(x) is deprecated, use frob(x)"},
		{Kind: "error", Text: "tests/test_frob.py:31: AssertionError: assert 3 == 4"},
		{Text: "\x1b[31m\x1b[1m=========================== 1 failed, 41 passed in 2.31s ========================\x1b[0m"},
	}
	for i := range lines {
		lines[i].Seq, lines[i].Step = int64(i+1), 2
	}
	if _, err := e.db.AppendLogs(context.Background(), job, lines); err != nil {
		t.Fatal(err)
	}
	var png []byte
	err := chromedp.Run(ctx, chromedp.Navigate(fmt.Sprintf("%s/runs/%d#job-%d", e.http.URL, s.run.ID, job)))
	if err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "the log", uiHasLine("collected 42 items"))
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of %s saved to %s", (&url.URL{Path: fmt.Sprintf("/runs/%d", s.run.ID)}).String(), path)
}
