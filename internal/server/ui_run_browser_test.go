package server

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/testreport"
)

// uiArtifacts is where a browser test keeps its screenshots:
// $SLUICE_TEST_ARTIFACTS/<test>, else <tmp>/sluice-test-artifacts/<test>.
// They outlive the test, so a person (or CI) can look at them.
func uiArtifacts(t *testing.T) string {
	t.Helper()
	root := os.Getenv("SLUICE_TEST_ARTIFACTS")
	if root == "" {
		root = filepath.Join(os.TempDir(), "sluice-test-artifacts")
	}
	dir := filepath.Join(root, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// uiShot saves a full-page screenshot as name.png in the test's artifacts.
func uiShot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(uiArtifacts(t), name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// uiFailedRun is a failed run as a Python project's CI leaves it: lint
// passes, a matrix of test legs (with the scheduler's parent row) where one
// leg fails deep in a long log, a build that never ran, and reports: a test
// report with a failure named by JUnit's dotted classname, annotations, and
// a step summary that tries to inject script.
type uiFailedRun struct {
	s        *uiSeed
	failing  int64 // the failing leg
	errorSeq int64 // its first error line
	lines    int
}

const uiHostileSummary = "## Coverage\n\n| file | cover |\n| --- | ---: |\n| calc.py | 93% |\n\n" +
	"<script>window.pwned = 1</script><img src=x onerror=\"window.pwned = 2\">\n\n" +
	"[docs](javascript:window.pwned=3) and `code`\n"

func (e *uiEnv) seedFailedRun(lines int) *uiFailedRun {
	t := e.t
	ctx := context.Background()
	jobs := []store.Job{{Key: "lint", Name: "lint"}, {Key: "test", Name: "Tests"}}
	for _, py := range []string{"3.10", "3.11", "3.12", "3.13"} {
		jobs = append(jobs, store.Job{Key: "test (" + py + ")", Name: "test (" + py + ")", Needs: []string{"lint"}})
	}
	jobs = append(jobs, store.Job{Key: "build", Name: "build", Needs: []string{"test"}})
	jobs[1].Needs = []string{"lint"}
	s := e.seedRun("acme/app", jobs)
	f := &uiFailedRun{s: s, failing: s.jobs["test (3.12)"].ID, lines: lines}
	done := func(key, conclusion string) {
		e.setJob(s.jobs[key].ID, store.StatusInProgress, "")
		e.setJob(s.jobs[key].ID, store.StatusCompleted, conclusion)
	}
	done("lint", store.ConclusionSuccess)
	for _, k := range []string{"test (3.10)", "test (3.11)", "test (3.13)"} {
		done(k, store.ConclusionSuccess)
	}
	done("test (3.12)", store.ConclusionFailure)
	done("test", store.ConclusionFailure)
	e.setJob(s.jobs["build"].ID, store.StatusCompleted, store.ConclusionSkipped)
	if _, err := e.db.SetRunStatus(ctx, s.run.ID, store.StatusCompleted, store.ConclusionFailure); err != nil {
		t.Fatal(err)
	}
	for i, st := range []store.Step{
		{Number: 1, Name: "Run actions/checkout@v4", Conclusion: store.ConclusionSuccess},
		{Number: 2, Name: "Install", Conclusion: store.ConclusionSuccess},
		{Number: 3, Name: "Run pytest", Conclusion: store.ConclusionFailure},
	} {
		st.JobID, st.Status = f.failing, store.StatusCompleted
		start := time.Now().Add(time.Duration(i-3) * time.Minute)
		end := start.Add(42 * time.Second)
		st.StartedAt, st.FinishedAt = &start, &end
		if _, err := e.db.SetStep(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	// The install step is long; pytest fails near the end.
	f.errorSeq = int64(lines - 40)
	batch := make([]store.LogLine, 0, uiLogPage)
	flush := func() {
		if _, err := e.db.AppendLogs(ctx, f.failing, batch); err != nil {
			t.Fatal(err)
		}
		batch = batch[:0]
	}
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i := 1; i <= lines; i++ {
		l := store.LogLine{Seq: int64(i), Step: 2, Time: base.Add(time.Duration(i) * time.Millisecond),
			Text: fmt.Sprintf("Collecting package-%d (from -r requirements.txt)", i)}
		switch {
		case i == 1:
			l.Kind, l.Text = "step", "step started: Install"
		case i == int(f.errorSeq)-20:
			l.Kind, l.Text, l.Step = "step", "step started: Run pytest", 3
		case i > int(f.errorSeq)-20:
			l.Step = 3
			l.Text = "tests/test_calc.py::test_add PASSED"
			switch {
			case i == int(f.errorSeq):
				l.Text = "E       assert calc.sub(2, 3) == 1"
			case i == int(f.errorSeq)+1:
				l.Text = "E        +  where -1 = sub(2, 3)"
			case i == int(f.errorSeq)+5:
				l.Kind, l.Text = "error", "tests/test_calc.py:12: AssertionError in test_sub"
			case i == lines:
				l.Kind, l.Text = "step", "step failure (3s) - exit code 1"
			}
		}
		batch = append(batch, l)
		if len(batch) == cap(batch) {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
	// The error annotation comes after the pytest lines: the page opens at
	// the first ::error line, so the annotation is where it lands.
	f.errorSeq += 5
	rep := testreport.Report{Passed: 11, Failed: 1, Cases: []testreport.Case{
		{Class: "tests.test_calc", Name: "test_sub", Status: "failed", Message: "assert -1 == 1", File: "src/calc.py", Line: 7},
		{Class: "tests.test_calc.TestDivide", Name: "test_by_zero[0]", Status: "failed", Message: "ZeroDivisionError"},
	}}
	b, _ := json.Marshal(rep)
	if err := e.srvSaveResults(f.failing, uiHostileSummary, b); err != nil {
		t.Fatal(err)
	}
	ok, _ := json.Marshal(testreport.Report{Passed: 12, Cases: []testreport.Case{{Class: "tests.test_calc", Name: "test_add", Status: "passed"}}})
	if err := e.srvSaveResults(s.jobs["test (3.11)"].ID, "", ok); err != nil {
		t.Fatal(err)
	}
	return f
}

// srvSaveResults stores a job's step summary and test report where the
// agent API puts them.
func (e *uiEnv) srvSaveResults(jobID int64, summary string, tests []byte) error {
	s := &Server{cfg: Config{DataDir: e.dataDir}}
	return s.saveJobResults(jobID, summary, tests)
}

// uiInViewport is a JS expression: the element is entirely on screen.
func uiInViewport(sel string) string {
	return `(e => { if (!e) return false; const r = e.getBoundingClientRect();
		return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight; })(document.querySelector(` + uiJSString(sel) + `))`
}

// A failed run opens on its first failing job, at its first error line,
// on screen, with the run's roll-up above: failed jobs, failing tests as
// pytest ids, annotations as file:line links, the step summary rendered
// (and defused). Matrix legs are the jobs, grouped under their job, with no
// empty parent box.
func TestUIBrowserFailedRunOpensAtError(t *testing.T) {
	e := uiNewEnv(t)
	f := e.seedFailedRun(6000)
	ctx := uiBrowser(t, e)
	if err := chromedp.Run(ctx, chromedp.Navigate(fmt.Sprintf("%s/runs/%d", e.http.URL, f.s.run.ID))); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "the error line, marked, on screen", fmt.Sprintf(
		`(a => !!a && a.dataset.seq === '%d')(document.querySelector('.log-anchored')) && %s`, f.errorSeq, uiInViewport(".log-anchored")))
	if got := uiEval[string](t, ctx, `document.querySelector('.log-anchored .log-text').textContent`); got != "tests/test_calc.py:12: AssertionError in test_sub" {
		t.Errorf("anchored line %q", got)
	}
	if sel := uiEval[string](t, ctx, `document.querySelector('.job-box.selected').dataset.job`); sel != fmt.Sprint(f.failing) {
		t.Errorf("selected job %s, want the failing leg %d", sel, f.failing)
	}
	uiShot(t, ctx, "failed-run")

	// Matrix: four legs in one group, no box for the parent row.
	if n := uiEval[int](t, ctx, `document.querySelectorAll('.job-group[data-key="test"] .job-box').length`); n != 4 {
		t.Errorf("%d legs in the test group, want 4", n)
	}
	if n := uiEval[int](t, ctx, `document.querySelectorAll('.job-box[data-key="test"]').length`); n != 0 {
		t.Error("the matrix's parent row is shown as a job")
	}
	if got := uiEval[string](t, ctx, `document.querySelector('.job-group[data-key="test"] .job-name').textContent`); got != "Tests" {
		t.Errorf("group named %q, want the job's name", got)
	}

	// The run panel.
	panel := uiEval[string](t, ctx, `document.getElementById('run-panel').innerText`)
	for _, want := range []string{"Failed jobs", "test (3.12) at Run pytest", "tests/test_calc.py::test_sub",
		"tests/test_calc.py::TestDivide::test_by_zero[0]", "pytest tests/test_calc.py::test_sub 'tests/test_calc.py::TestDivide::test_by_zero[0]'",
		"tests/test_calc.py:12", "Step summaries"} {
		if !strings.Contains(panel, want) {
			t.Errorf("run panel lacks %q:\n%s", want, panel)
		}
	}
	if strings.Contains(panel, "tests.test_calc::") {
		t.Errorf("run panel shows a dotted test id:\n%s", panel)
	}
	if href := uiEval[string](t, ctx, `document.querySelector('.annotations-all a.loc').getAttribute('href')`); href != fmt.Sprintf("#job-%d-L%d", f.failing, f.errorSeq) {
		t.Errorf("annotation link %q", href)
	}

	// The step summary: its table and code rendered, its script inert.
	if n := uiEval[int](t, ctx, `document.querySelectorAll('.markdown table td').length`); n != 2 {
		t.Errorf("%d summary table cells, want 2", n)
	}
	if n := uiEval[int](t, ctx, `document.querySelectorAll('.markdown script, .markdown img, .markdown [onerror], .markdown a[href^="javascript"]').length`); n != 0 {
		t.Errorf("%d hostile elements in the rendered summary", n)
	}
	if pwned := uiEval[bool](t, ctx, `window.pwned !== undefined`); pwned {
		t.Error("the step summary ran script")
	}

	// A passing leg's results: no red "0 failed" pill.
	if err := chromedp.Run(ctx, chromedp.Navigate(fmt.Sprintf("%s/runs/%d#job-%d", e.http.URL, f.s.run.ID, f.s.jobs["test (3.11)"].ID))); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "the passing leg's panel", fmt.Sprintf(`!document.getElementById('panel-%d').hidden`, f.s.jobs["test (3.11)"].ID))
	if got := uiEval[string](t, ctx, fmt.Sprintf(`document.querySelector('#panel-%d .test-counts').innerText`, f.s.jobs["test (3.11)"].ID)); got != "12 passed" {
		t.Errorf("passing job's test pills %q, want only \"12 passed\"", got)
	}
}

// The log from the keyboard: arrow keys move between jobs, Enter opens
// one, the log scrolls with keys, t shows each line's time, the raw log is
// a link; focus is always visible; text meets contrast.
func TestUIBrowserKeyboardAndLogTools(t *testing.T) {
	e := uiNewEnv(t)
	f := e.seedFailedRun(300)
	ctx := uiBrowser(t, e)
	if err := chromedp.Run(ctx, chromedp.Navigate(fmt.Sprintf("%s/runs/%d", e.http.URL, f.s.run.ID))); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "the error line", `!!document.querySelector('.log-anchored')`)

	// Keyboard: focus the first job, move down with the arrow key, open it with Enter.
	lint := f.s.jobs["lint"].ID
	first := fmt.Sprintf("#box-%d", lint)
	if err := chromedp.Run(ctx, chromedp.Focus(first, chromedp.ByQuery), chromedp.KeyEvent(kb.ArrowDown)); err != nil {
		t.Fatal(err)
	}
	next := uiEval[string](t, ctx, `document.activeElement.dataset.job`)
	if next == fmt.Sprint(lint) || next == "" {
		t.Fatalf("ArrowDown left focus on %q", next)
	}
	outline := uiEval[string](t, ctx, `getComputedStyle(document.activeElement).outlineStyle`)
	if outline == "none" {
		t.Error("the focused job box has no visible outline")
	}
	if err := chromedp.Run(ctx, chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "Enter to open the focused job", fmt.Sprintf(`!document.getElementById('panel-%s').hidden`, next))

	// Back on the failing job: timestamps with t, the raw log link.
	if err := chromedp.Run(ctx, chromedp.Navigate(fmt.Sprintf("%s/runs/%d#job-%d", e.http.URL, f.s.run.ID, f.failing))); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "the failing job's log", `document.querySelectorAll('.log-line').length > 0`)
	if err := chromedp.Run(ctx, chromedp.Focus(fmt.Sprintf("#panel-%d .log-viewport", f.failing), chromedp.ByQuery), chromedp.KeyEvent("t")); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "timestamps", `document.querySelectorAll('.log-time').length > 0`)
	if got := uiEval[string](t, ctx, `document.querySelector('.log-time').title`); !strings.HasPrefix(got, "2026-11-22T10:00:00.") {
		t.Errorf("first timestamp's title %q", got)
	}
	if got := uiEval[string](t, ctx, `document.querySelector('.log-raw').getAttribute('href')`); got != fmt.Sprintf("/ui/jobs/%d/logs.txt?timestamps=1", f.failing) {
		t.Errorf("raw log link %q", got)
	}
	// Step headers carry their state and duration.
	if got := uiEval[string](t, ctx, `Array.from(document.querySelectorAll('.log-step-head .log-step-dur')).map(e => e.textContent).join('|')`); !strings.Contains(got, "failure · 42s") {
		t.Errorf("step header durations %q", got)
	}
	// End from the keyboard, once the whole log is in.
	uiWaitFor(t, ctx, "the whole log", fmt.Sprintf(`document.querySelector('#panel-%d .log-status').textContent.includes('job finished')`, f.failing))
	if err := chromedp.Run(ctx, chromedp.KeyEvent(kb.End)); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "End to reach the last line", uiHasLine("step failure (3s) - exit code 1"))
	uiShot(t, ctx, "log-tools")

	// Contrast of the text people read, against what is behind it.
	worst := uiEval[string](t, ctx, uiContrastJS)
	if worst != "" {
		t.Errorf("text below 4.5:1 contrast: %s", worst)
	}
}

// uiContrastJS lists visible text elements whose colour against their
// (nearest opaque) background is below 4.5:1, WCAG's AA for body text.
const uiContrastJS = `(() => {
  const rgb = s => { const m = s.match(/rgba?\(([^)]+)\)/); if (!m) return null; const p = m[1].split(',').map(Number); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const bg = e => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c && c.a > 0.9) return c; } return {r: 255, g: 255, b: 255}; };
  const bad = [];
  const sel = '.pill, .dim, .job-sub, .job-state, .log-num, .log-time, .log-text, .log-status, a, h1, h2, h3, dt, dd, .reason, .flash, th, td';
  document.querySelectorAll(sel).forEach(e => {
    if (!e.offsetParent || !e.textContent.trim()) return;
    const fg = rgb(getComputedStyle(e).color); if (!fg) return;
    const b = bg(e); const l1 = lum(fg), l2 = lum(b);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    if (ratio < 4.5) bad.push(e.className + ' "' + e.textContent.trim().slice(0, 20) + '" ' + ratio.toFixed(2));
  });
  return bad.slice(0, 10).join('; ');
})()`

// The page at 400 px (a phone) and 1400 px: nothing wider than the window,
// the whole navigation on screen.
func TestUIBrowserNarrowAndWideLayouts(t *testing.T) {
	e := uiNewEnv(t)
	f := e.seedFailedRun(50)
	for i := 0; i < 30; i++ {
		s := e.seedRun("acme/app", []store.Job{{Key: "test", Name: "test"}})
		e.setJob(s.jobs["test"].ID, store.StatusCompleted, store.ConclusionSuccess)
	}
	ctx := uiBrowser(t, e)
	for _, width := range []int64{400, 1400} {
		if err := chromedp.Run(ctx, emulation.SetDeviceMetricsOverride(width, 900, 1, width < 700)); err != nil {
			t.Fatal(err)
		}
		for _, page := range []string{"/repos/acme/app", fmt.Sprintf("/runs/%d", f.s.run.ID), "/repos/acme/app/environments", "/notifications"} {
			if err := chromedp.Run(ctx, chromedp.Navigate(e.http.URL+page)); err != nil {
				t.Fatal(err)
			}
			uiWaitFor(t, ctx, "the page", `document.readyState === 'complete'`)
			if w := uiEval[int](t, ctx, `document.documentElement.scrollWidth`); w > int(width) {
				t.Errorf("%d px: %s is %d px wide", width, page, w)
			}
			cut := uiEval[string](t, ctx, `Array.from(document.querySelectorAll('header.top a, header.top button')).filter(e => { const r = e.getBoundingClientRect(); return r.right > window.innerWidth || r.left < 0; }).map(e => e.textContent).join(', ')`)
			if cut != "" {
				t.Errorf("%d px: %s cuts off the navigation: %s", width, page, cut)
			}
		}
		if err := chromedp.Run(ctx, chromedp.Navigate(e.http.URL+"/repos/acme/app")); err != nil {
			t.Fatal(err)
		}
		uiShot(t, ctx, fmt.Sprintf("runs-%dpx", width))
		if err := chromedp.Run(ctx, chromedp.Navigate(fmt.Sprintf("%s/runs/%d", e.http.URL, f.s.run.ID))); err != nil {
			t.Fatal(err)
		}
		uiWaitFor(t, ctx, "the error line", `!!document.querySelector('.log-anchored')`)
		uiShot(t, ctx, fmt.Sprintf("run-%dpx", width))
	}
}

// An error in the last lines of a long log: the view, at the bottom once it
// shows the error, must not take that for a reader following the log when
// the whole log arrives; the error stays marked and on screen.
func TestUIBrowserErrorNearTheEnd(t *testing.T) {
	e := uiNewEnv(t)
	s := e.seedRun("acme/app", []store.Job{{Key: "test", Name: "test"}})
	job := s.jobs["test"].ID
	e.setJob(job, store.StatusInProgress, "")
	var lines []store.LogLine
	for i := 1; i <= 800; i++ {
		lines = append(lines, store.LogLine{Seq: int64(i), Step: 1, Text: fmt.Sprintf("setup line %d", i)})
	}
	lines[796].Kind, lines[796].Text = "error", "tests/test_calc.py:3: boom"
	if _, err := e.db.AppendLogs(context.Background(), job, lines); err != nil {
		t.Fatal(err)
	}
	e.setJob(job, store.StatusCompleted, store.ConclusionFailure)
	ctx := uiBrowser(t, e)
	if err := chromedp.Run(ctx, chromedp.Navigate(fmt.Sprintf("%s/runs/%d", e.http.URL, s.run.ID))); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "the whole log", `(s => !!s && s.textContent.startsWith('800 lines'))(document.querySelector('.log-status'))`)
	uiWaitFor(t, ctx, "the error marked and on screen", `(a => !!a && a.dataset.seq === '797')(document.querySelector('.log-anchored')) && `+uiInViewport(".log-anchored"))
}
