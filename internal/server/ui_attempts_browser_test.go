package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/store"
)

// TestUIBrowserRunAttempts: a re-run is the next attempt of the same run, and the run page
// lists its attempts; the latest is shown live, an earlier one as it ended (its own jobs and
// result, no cancel or re-run buttons), each a link away.
func TestUIBrowserRunAttempts(t *testing.T) {
	e := uiNewEnv(t)
	ctx := context.Background()
	s := e.seedRun("acme/app", []store.Job{{Key: "lint", Name: "lint"}, {Key: "test", Name: "test"}})
	e.setJob(s.jobs["lint"].ID, store.StatusCompleted, store.ConclusionSuccess)
	e.setJob(s.jobs["test"].ID, store.StatusCompleted, store.ConclusionFailure)
	if _, err := e.db.SetRunStatus(ctx, s.run.ID, store.StatusCompleted, store.ConclusionFailure); err != nil {
		t.Fatal(err)
	}
	keep := s.jobs["lint"].ID
	_, jobs, err := e.db.RerunRun(ctx, s.run.ID, store.TriggerRerun, "bob", []store.Job{
		{Key: "lint", Name: "lint", Status: store.StatusCompleted, Conclusion: store.ConclusionSuccess, KeptFrom: &keep},
		{Key: "test", Name: "test", Status: store.StatusQueued}})
	if err != nil {
		t.Fatal(err)
	}
	e.setJob(jobs[1].ID, store.StatusInProgress, "")

	// Attempts that do not exist are not found, whatever is asked.
	c := e.signIn("read")
	for _, q := range []string{"0", "3", "-1", "x", "1e9", "2%27%3E%3Cscript%3E"} {
		if res, _ := e.get(fmt.Sprintf("/runs/%d?attempt=%s", s.run.ID, q), c); res.StatusCode != http.StatusNotFound {
			t.Errorf("?attempt=%s = %d, want 404", q, res.StatusCode)
		}
	}

	b := uiBrowser(t, e)
	page := fmt.Sprintf("%s/runs/%d", e.http.URL, s.run.ID)
	if err := chromedp.Run(b, chromedp.Navigate(page), chromedp.WaitVisible("#attempts", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	list := func() []string {
		return uiEval[[]string](t, b, `[...document.querySelectorAll('#attempts li')].map(li => (li.getAttribute('aria-current') ? '> ' : '') + li.innerText.trim())`)
	}
	if d := cmp.Diff([]string{"failure Attempt 1 webhook by alice", "> queued Attempt 2 rerun by bob · latest"}, list()); d != "" {
		t.Errorf("attempts on the latest (-want +got):\n%s", d)
	}
	if !uiEval[bool](t, b, `!!document.querySelector('#cancel-form') && !document.querySelector('#attempts .note')`) {
		t.Error("the latest attempt should offer cancel and carry no 'earlier attempt' note")
	}
	uiShot(t, b, "latest-attempt")
	if err := chromedp.Run(b, chromedp.Click(`#attempts li:first-child a`, chromedp.ByQuery),
		chromedp.WaitVisible("#attempts .note", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if got := uiEval[string](t, b, `location.search`); got != "?attempt=1" {
		t.Errorf("the first attempt's link went to %q", got)
	}
	if d := cmp.Diff([]string{"> failure Attempt 1 webhook by alice", "queued Attempt 2 rerun by bob · latest"}, list()); d != "" {
		t.Errorf("attempts on attempt 1 (-want +got):\n%s", d)
	}
	state := uiEval[string](t, b, `document.querySelector('#run-state').textContent.trim()`)
	noForms := uiEval[bool](t, b, `!document.querySelector('#cancel-form') && !document.querySelector('#rerun-form')`)
	body := uiEval[string](t, b, `document.body.innerText`)
	if state != store.ConclusionFailure || !noForms || !strings.Contains(body, "attempt 1") {
		t.Errorf("attempt 1 page: state %q, no forms %v; body:\n%s", state, noForms, body)
	}
	// Attempt 1's test job is its failed row, not attempt 2's running one.
	if !uiEval[bool](t, b, fmt.Sprintf(`!!document.querySelector('[data-job="%d"], #job-%d')`, s.jobs["test"].ID, s.jobs["test"].ID)) {
		t.Errorf("attempt 1's page does not show its own test job %d:\n%s", s.jobs["test"].ID, body)
	}
	if uiEval[bool](t, b, fmt.Sprintf(`!!document.querySelector('#job-%d')`, jobs[1].ID)) {
		t.Errorf("attempt 1's page shows attempt 2's job %d", jobs[1].ID)
	}
	uiShot(t, b, "first-attempt")
}
