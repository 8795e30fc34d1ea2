package server

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/store"
)

// A reviewer opens the environments page in a real browser, approves the
// promotion waiting for production, and the approval is in the store; then
// the starter's own approval is refused on the page and records nothing.
func TestUIBrowserApprovePromotion(t *testing.T) {
	e := uiCDNewEnv(t)
	w := e.seedCD()
	bob := e.apiToken("bob", store.ScopeWrite)
	carol := e.apiToken("carol", store.ScopeWrite)
	ctx := uiBrowser(t, e)
	id := w.prodWaiting.ID
	form := fmt.Sprintf("#decide-%d", id)

	if err := chromedp.Run(ctx,
		chromedp.Navigate(e.http.URL+"/repos/widgets/environments"),
		chromedp.WaitVisible(form, chromedp.ByQuery),
		chromedp.SendKeys(form+` input[name="comment"]`, "ship it", chromedp.ByQuery),
		chromedp.SendKeys(form+` input[name="token"]`, bob, chromedp.ByQuery),
		chromedp.Click(form+` button[value="approve"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`.flash`, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "the page back with the approval", fmt.Sprintf(
		`(f => !!f && f.textContent === %s)(document.querySelector('.flash'))`,
		uiJSString(fmt.Sprintf("bob approved promotion #%d of %s into production.", id, uiShortRelease(w.newRel.ID)))))
	p, err := e.db.GetPromotion(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	want := []cd.Approval{{By: "bob", Approve: true, Comment: "ship it"}}
	if diff := cmp.Diff(want, p.Approvals, cmpopts.IgnoreFields(cd.Approval{}, "At")); diff != "" {
		t.Fatalf("approvals in the store (-want +got):\n%s", diff)
	}
	// The page shows it among the promotion's approvals, still waiting for a second one.
	uiWaitFor(t, ctx, "bob's approval on the page", fmt.Sprintf(
		`(r => !!r && r.querySelector('.approval.yes') && r.querySelector('.approval.yes').textContent.includes('bob approved'))(document.getElementById('promotion-%d'))`, id))

	// A fresh load without a flash, so that waiting for one waits for the answer.
	if err := chromedp.Run(ctx,
		chromedp.Navigate(e.http.URL+"/repos/widgets/environments"),
		chromedp.WaitVisible(form, chromedp.ByQuery),
		chromedp.SendKeys(form+` input[name="token"]`, carol, chromedp.ByQuery),
		chromedp.Click(form+` button[value="approve"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`.flash`, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, ctx, "the self-approval refusal", `(f => !!f && f.textContent.startsWith('Refused: carol started promotion'))(document.querySelector('.flash'))`)
	if p, err = e.db.GetPromotion(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, p.Approvals, cmpopts.IgnoreFields(cd.Approval{}, "At")); diff != "" || p.State != cd.StateWaiting {
		t.Errorf("after the refused self-approval: state %s, approvals (-want +got):\n%s", p.State, diff)
	}

	// Pictures of the environments page and the release page, for people
	// checking how they read.
	if path := os.Getenv("SLUICE_UI_CD_SCREENSHOT"); path != "" {
		var env, rel []byte
		if err := chromedp.Run(ctx,
			chromedp.FullScreenshot(&env, 100),
			chromedp.Navigate(e.http.URL+uiReleasePath("widgets", w.newRel.ID)),
			chromedp.WaitVisible(`details.raw-statement`, chromedp.ByQuery),
			chromedp.Click(`details.raw-statement summary`, chromedp.ByQuery),
			chromedp.FullScreenshot(&rel, 100),
		); err != nil {
			t.Fatal(err)
		}
		for p, png := range map[string][]byte{path: env, path + ".release.png": rel} {
			if err := os.WriteFile(p, png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
