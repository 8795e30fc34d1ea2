package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/store"
)

// uiDeployRun makes the run of w carry w's waiting production promotion
// (as a deployment job of the run does), with its deploy job waiting.
func (e *uiEnv) uiDeployRun(w *uiCDWorld) *store.Job {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.db.UpdatePromotion(ctx, w.prodWaiting.ID, store.PromotionUpdate{RunID: &w.run.ID}); err != nil {
		e.t.Fatal(err)
	}
	jobs, err := e.db.AddJobs(ctx, w.run.ID, []store.Job{{Key: "deploy", Name: "deploy", Needs: []string{"build"}}})
	if err != nil {
		e.t.Fatal(err)
	}
	return &jobs[0]
}

// A deployment waiting for approval is announced on its run and on its
// repository's page, naming who may approve; a reviewer approves from the
// banner; a rejection shows as rejected (not failed) on the run and in the
// environment's history.
func TestUIBrowserApprovalBanner(t *testing.T) {
	e := uiCDNewEnv(t)
	w := e.seedCD()
	deploy := e.uiDeployRun(w)
	id := w.prodWaiting.ID
	ctx := uiBrowserAs(t, e, "alice")
	runPage := fmt.Sprintf("%s/runs/%d", e.http.URL, w.run.ID)
	banner := fmt.Sprintf("#deploy-%d", id)
	if err := chromedp.Run(ctx, chromedp.Navigate(runPage), chromedp.WaitVisible(banner, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	text := uiEval[string](t, ctx, fmt.Sprintf(`document.querySelector('%s').innerText`, banner))
	for _, want := range []string{"Deployment to production is waiting for approval", "started by carol", "Needs 2 more approvals from alice, bob."} {
		if !strings.Contains(text, want) {
			t.Errorf("banner lacks %q:\n%s", want, text)
		}
	}
	uiShot(t, ctx, "run-banner")
	if err := chromedp.Run(ctx,
		chromedp.SendKeys(banner+` input[name="comment"]`, "ship it", chromedp.ByQuery),
		chromedp.Click(banner+` button[value="approve"]`, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "the run page back with the approval", `(f => !!f && f.textContent.startsWith('alice approved promotion'))(document.querySelector('.flash'))`)
	if !strings.HasPrefix(uiEval[string](t, ctx, `location.pathname`), fmt.Sprintf("/runs/%d", w.run.ID)) {
		t.Errorf("deciding from the run page went to %s", uiEval[string](t, ctx, `location.href`))
	}
	p, err := e.db.GetPromotion(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]cd.Approval{{By: "alice", Approve: true, Comment: "ship it"}}, p.Approvals, cmpopts.IgnoreFields(cd.Approval{}, "At")); diff != "" {
		t.Errorf("approvals (-want +got):\n%s", diff)
	}
	// Still waiting for one more, from bob; alice is told why she has no button now.
	text = uiEval[string](t, ctx, fmt.Sprintf(`document.querySelector('%s').innerText`, banner))
	if !strings.Contains(text, "Needs 1 more approval from bob; alice approved.") || !strings.Contains(text, "You have already reviewed it.") {
		t.Errorf("banner after alice's approval:\n%s", text)
	}
	if uiEval[bool](t, ctx, fmt.Sprintf(`!!document.querySelector('%s button[value="approve"]')`, banner)) {
		t.Error("alice is offered Approve a second time")
	}

	// The repository's page shows the same banner.
	if err := chromedp.Run(ctx, chromedp.Navigate(e.http.URL+"/repos/widgets"), chromedp.WaitVisible(banner, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	uiShot(t, ctx, "repo-banner")

	// bob rejects (through the same form, with his own session): the
	// deployment job fails without running, and the run reads "rejected".
	bob := e.signInAs("bob")
	if flash := e.decideAs(bob, id, "reject", fmt.Sprintf("/runs/%d", w.run.ID)); !strings.HasPrefix(flash, "bob rejected promotion") {
		t.Fatalf("bob's rejection: %q", flash)
	}
	e.setJob(deploy.ID, store.StatusCompleted, store.ConclusionFailure)
	if _, err := e.db.SetRunStatus(context.Background(), w.run.ID, store.StatusCompleted, store.ConclusionFailure); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Run(ctx, chromedp.Navigate(runPage)); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "the run to read rejected", `document.getElementById('run-state').textContent === 'rejected'`)
	if uiEval[bool](t, ctx, `!!document.querySelector('.deploy-banner')`) {
		t.Error("a rejected deployment still has its banner")
	}
	if got := uiEval[string](t, ctx, fmt.Sprintf(`document.getElementById('box-%d').querySelector('.job-state').textContent`, deploy.ID)); got != "rejected" {
		t.Errorf("deploy job reads %q, want rejected", got)
	}
	uiShot(t, ctx, "run-rejected")
	if err := chromedp.Run(ctx, chromedp.Navigate(e.http.URL+"/repos/widgets/environments")); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "the rejected promotion in the history", fmt.Sprintf(
		`Array.from(document.querySelectorAll('table.history tr')).some(r => r.textContent.includes('#%d') && !!r.querySelector('.pill.rejected'))`, id))
	// And in the repository's list of runs.
	if err := chromedp.Run(ctx, chromedp.Navigate(e.http.URL+"/repos/widgets")); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "the run listed as rejected", fmt.Sprintf(
		`Array.from(document.querySelectorAll('table.runs tbody tr')).some(r => !!r.querySelector('a[href="/runs/%d"]') && r.querySelector('.pill').textContent === 'rejected')`, w.run.ID))
}

// signInAs signs a session in with a new write token named name.
func (e *uiEnv) signInAs(name string) *http.Cookie {
	e.t.Helper()
	res := e.post("/signin", nil, url.Values{"token": {e.apiToken(name, store.ScopeWrite)}, "next": {"/"}})
	for _, c := range res.Cookies() {
		if c.Name == SessionCookie {
			return c
		}
	}
	e.t.Fatalf("sign-in answered %d without a session cookie", res.StatusCode)
	return nil
}

// decideAs posts a decision from a page (back) and returns the flash shown.
func (e *uiEnv) decideAs(c *http.Cookie, id int64, decision, back string) string {
	e.t.Helper()
	res := e.post(fmt.Sprintf("/ui/promotions/%d/decide", id), c, url.Values{"csrf": {uiCSRF(c)}, "decision": {decision}, "back": {back}})
	loc := res.Header.Get("Location")
	if !strings.HasPrefix(loc, back+"?") {
		e.t.Fatalf("deciding redirects to %q, want %s", loc, back)
	}
	_, body := e.get(loc, c)
	return uiFlashOf(body)
}

// Promote from the release page and roll back from the environments page:
// the same Deployer as `sluice promote` and `sluice rollback`, recorded
// under the signed-in name.
func TestUIBrowserPromoteAndRollback(t *testing.T) {
	e := uiCDNewEnv(t)
	w := e.seedCD()
	ctx := uiBrowserAs(t, e, "dave")
	if err := chromedp.Run(ctx,
		chromedp.Navigate(e.http.URL+"/repos/widgets/environments"),
		chromedp.WaitVisible(`#rollback-production`, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	uiShot(t, ctx, "environments")
	uiEval[bool](t, ctx, `(window.confirm = () => true, true)`)
	if err := chromedp.Run(ctx, chromedp.Click(`#rollback-staging button`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "the rollback's flash", `(f => !!f && f.textContent.startsWith('Started rollback #'))(document.querySelector('.flash'))`)
	hist, err := e.db.ListPromotions(context.Background(), w.repo.ID, "staging", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := hist[0]; got.Kind != cd.KindRollback || got.ReleaseID != w.oldRel.ID || got.StartedBy != "dave" {
		t.Errorf("newest staging promotion %+v, want dave's rollback to the old release", got)
	}

	if err := chromedp.Run(ctx,
		chromedp.Navigate(e.http.URL+uiReleasePath("widgets", w.newRel.ID)),
		chromedp.WaitVisible(`#promote-release`, chromedp.ByQuery),
		chromedp.SetValue(`#promote-release select[name="env"]`, "production", chromedp.ByQuery),
		chromedp.Click(`#promote-release button`, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "the promotion's flash", `(f => !!f && f.textContent.startsWith('Started promotion #'))(document.querySelector('.flash'))`)
	prod, err := e.db.ListPromotions(context.Background(), w.repo.ID, "production", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := prod[0]; got.Kind != cd.KindForward || got.ReleaseID != w.newRel.ID || got.StartedBy != "dave" {
		t.Errorf("newest production promotion %+v, want dave's promotion of the new release", got)
	}
	uiShot(t, ctx, "release-promoted")
}

// Runs filtered by branch, workflow, event, status and actor, with the
// filters in the URL (a link shares them) and kept when paging.
func TestUIBrowserRunFilters(t *testing.T) {
	e := uiNewEnv(t)
	ctx0 := context.Background()
	repo, err := e.db.CreateRepo(ctx0, store.Repo{Name: "acme/app", URL: "https://git.example/acme/app.git"})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(workflow, ref, event, actor, conclusion string) {
		r, _, err := e.db.CreateRun(ctx0, store.Run{RepoID: repo.ID, Workflow: ".github/workflows/" + workflow, Event: event, Ref: ref,
			SHA: strings.Repeat("a", 40), Actor: actor}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if conclusion != "" {
			if _, err := e.db.SetRunStatus(ctx0, r.ID, store.StatusCompleted, conclusion); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 0; i < 3; i++ {
		mk("ci.yml", "refs/heads/main", "push", "alice", store.ConclusionSuccess)
		mk("ci.yml", "refs/heads/feature", "pull_request", "bob", store.ConclusionFailure)
		mk("release.yml", "refs/tags/v1.0", "push", "alice", store.ConclusionSuccess)
	}
	mk("ci.yml", "refs/heads/feature", "pull_request", "bob", store.ConclusionSuccess)
	ctx := uiBrowser(t, e)
	if err := chromedp.Run(ctx,
		chromedp.Navigate(e.http.URL+"/repos/acme/app"),
		chromedp.WaitVisible(`form.run-filters`, chromedp.ByQuery),
		chromedp.SetValue(`form.run-filters select[name="branch"]`, "feature", chromedp.ByQuery),
		chromedp.SetValue(`form.run-filters select[name="status"]`, "failure", chromedp.ByQuery),
		chromedp.Click(`form.run-filters button`, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "the filtered list", `location.search.includes('branch=feature')`)
	q := uiEval[string](t, ctx, `location.search`)
	if !strings.Contains(q, "status=failure") {
		t.Errorf("the URL %q does not hold the status filter", q)
	}
	rows := uiEval[[]string](t, ctx, `Array.from(document.querySelectorAll('table.runs tbody tr')).map(r => r.innerText.replace(/\s+/g, ' ').trim())`)
	if len(rows) != 3 {
		t.Errorf("%d runs, want the 3 failed feature runs: %q", len(rows), rows)
	}
	for _, r := range rows {
		if !strings.Contains(r, "failure") || !strings.Contains(r, "feature") {
			t.Errorf("a filtered row is not a failed feature run: %q", r)
		}
	}
	uiShot(t, ctx, "filtered")
	// A shared link opens with the same filters chosen.
	if err := chromedp.Run(ctx, chromedp.Navigate(e.http.URL+"/repos/acme/app?workflow=release.yml&actor=alice&event=push")); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "the filters from the link", `document.querySelector('select[name="workflow"]').value === 'release.yml' && document.querySelector('select[name="actor"]').value === 'alice'`)
	if n := uiEval[int](t, ctx, `document.querySelectorAll('table.runs tbody tr').length`); n != 3 {
		t.Errorf("%d release runs by alice, want 3", n)
	}
}
