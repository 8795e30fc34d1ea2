package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/provenance"
	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/store"
)

// uiCDDeployer decides promotions on the real store as the scheduler's
// Deployer does: the promotion must still await review, cd.CheckApproval
// refuses self-approval and non-reviewers, store.AddApproval records the
// decision, and the state moves on (a rejection fails the promotion; enough
// approvals start it).
type uiCDDeployer struct{ db *store.DB }

// Promote records a queued promotion of the release, refusing a rejected
// release or an unknown environment as the scheduler does.
func (d *uiCDDeployer) Promote(ctx context.Context, repo *store.Repo, req PromoteRequest) (*cd.Promotion, error) {
	rel, err := d.db.FindRelease(ctx, repo.ID, req.Release)
	if err != nil {
		return nil, err
	}
	if rel.Rejected {
		return nil, fmt.Errorf("promoting %s: %w", rel.ID, cd.ErrReleaseRejected)
	}
	envs, err := d.db.ListEnvironments(ctx, repo.ID)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(envs, func(e cd.Environment) bool { return e.Name == req.Env }) {
		return nil, fmt.Errorf("environment %s: %w", req.Env, store.ErrNotFound)
	}
	return d.db.CreatePromotion(ctx, repo.ID, cd.Promotion{Env: req.Env, ReleaseID: rel.ID, Kind: cd.KindForward, StartedBy: req.By})
}

// Rollback promotes the environment's previous release (cd.RollbackTarget).
func (d *uiCDDeployer) Rollback(ctx context.Context, repo *store.Repo, env string, to int64, by string) (*cd.Promotion, error) {
	hist, err := d.db.ListPromotions(ctx, repo.ID, env, 500)
	if err != nil {
		return nil, err
	}
	target, err := cd.RollbackTarget(hist, to)
	if err != nil {
		return nil, err
	}
	return d.db.CreatePromotion(ctx, repo.ID, cd.Promotion{Env: env, ReleaseID: target.ReleaseID, Kind: cd.KindRollback, StartedBy: by})
}

func (d *uiCDDeployer) Decide(ctx context.Context, id int64, by string, approve bool, comment string) (*cd.Promotion, error) {
	p, err := d.db.GetPromotion(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.State != cd.StateWaiting && p.State != cd.StateQueued {
		return nil, fmt.Errorf("promotion %d is %s: %w", id, p.State, store.ErrConflict)
	}
	envs, err := d.db.ListEnvironments(ctx, p.RepoID)
	if err != nil {
		return nil, err
	}
	var env *cd.Environment
	for i := range envs {
		if envs[i].Name == p.Env {
			env = &envs[i]
		}
	}
	if env == nil {
		return nil, fmt.Errorf("environment %s: %w", p.Env, store.ErrNotFound)
	}
	a := cd.Approval{By: by, Approve: approve, Comment: comment}
	if err := cd.CheckApproval(*env, *p, a); err != nil {
		return nil, err
	}
	if p, err = d.db.AddApproval(ctx, id, a); err != nil {
		return nil, err
	}
	if !approve {
		return d.db.SetPromotionState(ctx, id, cd.StateFailure)
	}
	approvals := 0
	for _, a := range p.Approvals {
		if a.Approve {
			approvals++
		}
	}
	if approvals >= max(env.RequiredApprovals, 1) {
		return d.db.SetPromotionState(ctx, id, cd.StateInProgress)
	}
	return p, nil
}

// uiCDWorld is a repository with two releases, two environments and their
// promotions: staging runs the new release, production the old one while the
// new one waits there for two approvals, having been started by carol.
type uiCDWorld struct {
	repo           *store.Repo
	run            *store.Run
	oldRel, newRel *cd.Release
	stagingOld     *cd.Promotion // superseded: inactive
	stagingNew     *cd.Promotion // deployed in staging
	prodOld        *cd.Promotion // deployed in production
	prodWaiting    *cd.Promotion // new release into production, waiting, started by carol
}

// uiCDNewEnv is uiNewEnv whose server has a Deployer deciding on its store.
func uiCDNewEnv(t *testing.T) *uiEnv {
	t.Helper()
	e := uiNewEnv(t)
	srv, err := New(Config{DB: e.db, Keys: e.keys, Scheduler: e.sched, Deployer: &uiCDDeployer{db: e.db}, Artifacts: e.arts,
		DataDir: e.dataDir, BaseURL: "http://ci.example", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.http = httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		e.http.CloseClientConnections()
		e.http.Close()
	})
	return e
}

func uiDigest(content string) string {
	sum := sha256.Sum256([]byte(content))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func (e *uiEnv) seedCD() *uiCDWorld {
	e.t.Helper()
	t := e.t
	ctx := context.Background()
	s := e.seedRun("widgets", []store.Job{{Key: "build", Name: "build"}})
	w := &uiCDWorld{repo: s.repo, run: s.run}
	release := func(version, content string, withProvenance bool) *cd.Release {
		wheel := cd.Artifact{Name: "widgets-" + version + "-py3-none-any.whl", Digest: uiDigest(content + " wheel"), Size: 1536,
			MediaType: "application/zip"}
		sdist := cd.Artifact{Name: "widgets-" + version + ".tar.gz", Digest: uiDigest(content + " sdist"), Size: 900}
		if withProvenance {
			stmt, err := provenance.Statement([]provenance.Subject{{Name: wheel.Name, Digest: wheel.Digest}}, provenance.BuildInfo{
				Repo: "https://git.example/widgets.git", Commit: s.run.SHA, Ref: "refs/heads/main", Workflow: ".github/workflows/ci.yml",
				RunID: fmt.Sprint(s.run.ID), JobID: "build", LockHash: uiDigest("uv.lock"),
				Tools: map[string]string{"python": "3.11.9", "uv": "0.4.0"}, Builder: "https://ci.example/agents/builder-1",
			})
			if err != nil {
				t.Fatalf("provenance.Statement: %v", err)
			}
			if err := e.db.PutArtifact(ctx, wheel, stmt); err != nil {
				t.Fatalf("PutArtifact: %v", err)
			}
		}
		rel, err := cd.NewRelease(cd.ReleaseSource{Repo: "widgets", Commit: s.run.SHA, Ref: "refs/heads/main", Version: version,
			LockHash: uiDigest("uv.lock"), RunID: s.run.ID}, []cd.Artifact{wheel, sdist}, time.Time{})
		if err != nil {
			t.Fatalf("NewRelease: %v", err)
		}
		out, _, err := e.db.CreateRelease(ctx, s.repo.ID, rel)
		if err != nil {
			t.Fatalf("CreateRelease: %v", err)
		}
		return out
	}
	w.oldRel = release("1.3.0", "old", false)
	w.newRel = release("1.4.0", "new", true)

	for _, env := range []cd.Environment{
		{Name: "staging", Tier: cd.TierStaging, URL: "https://staging.widgets.example", Branches: []string{"main"}, Automatic: true},
		{Name: "production", Tier: cd.TierProduction, Upstream: []string{"staging"}, Reviewers: []string{"alice", "bob", "carol"},
			RequiredApprovals: 2, WaitTimer: 10 * time.Minute, Tags: []string{"v*"}, Branches: []string{"main"},
			Windows:      []cd.Window{{Days: []time.Weekday{time.Monday, time.Friday}, Start: 9 * 60, End: 17*60 + 30, Timezone: "Europe/Paris"}},
			Verify:       &cd.Verify{HTTP: &cd.HTTPCheck{URL: "https://widgets.example/health", Status: 200, Contains: "ok", Retries: 3}},
			AutoRollback: true},
	} {
		if err := e.db.PutEnvironment(ctx, s.repo.ID, env); err != nil {
			t.Fatalf("PutEnvironment: %v", err)
		}
	}
	promote := func(env string, rel *cd.Release, by string, auto bool, states ...cd.State) *cd.Promotion {
		p, err := e.db.CreatePromotion(ctx, s.repo.ID, cd.Promotion{Env: env, ReleaseID: rel.ID, Kind: cd.KindForward, StartedBy: by,
			Auto: auto, URL: map[string]string{"staging": "https://staging.widgets.example/app"}[env]})
		if err != nil {
			t.Fatalf("CreatePromotion: %v", err)
		}
		for _, st := range states {
			if p, err = e.db.SetPromotionState(ctx, p.ID, st); err != nil {
				t.Fatalf("SetPromotionState %s: %v", st, err)
			}
		}
		return p
	}
	w.stagingOld = promote("staging", w.oldRel, "sluice", true, cd.StateInProgress, cd.StateSuccess)
	w.prodOld = promote("production", w.oldRel, "dave", false, cd.StateInProgress, cd.StateSuccess)
	w.stagingNew = promote("staging", w.newRel, "sluice", true, cd.StateInProgress, cd.StateSuccess)
	w.prodWaiting = promote("production", w.newRel, "carol", false, cd.StateWaiting)
	var err error
	if w.prodWaiting, err = e.db.UpdatePromotion(ctx, w.prodWaiting.ID, store.PromotionUpdate{Gates: []string{"approvals 0/2"}}); err != nil {
		t.Fatalf("UpdatePromotion: %v", err)
	}
	return w
}

// uiSection is the part of body from the first occurrence of start up to the
// first occurrence of end after it (or the rest).
func uiSection(t *testing.T, body, start, end string) string {
	t.Helper()
	i := strings.Index(body, start)
	if i < 0 {
		t.Fatalf("page lacks %q", start)
	}
	rest := body[i:]
	if j := strings.Index(rest[len(start):], end); j >= 0 {
		return rest[:len(start)+j]
	}
	return rest
}

var uiFlashRE = regexp.MustCompile(`<p class="flash"[^>]*>([^<]*)</p>`)

// uiFlashOf is the flash message a page shows, unescaped, or "".
func uiFlashOf(body string) string {
	m := uiFlashRE.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

func TestUIEnvironmentsPage(t *testing.T) {
	e := uiCDNewEnv(t)
	w := e.seedCD()
	c := e.signIn(store.ScopeWrite)
	res, body := e.get("/repos/widgets/environments", c)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET environments = %d", res.StatusCode)
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "style=") {
		t.Error("the page has an inline script or style, which the CSP blocks")
	}
	staging := uiSection(t, body, `id="env-staging"`, `id="env-production"`)
	prod := uiSection(t, body, `id="env-production"`, "</section>")
	newHex, oldHex := uiReleaseHex(w.newRel.ID), uiReleaseHex(w.oldRel.ID)
	for _, tc := range []struct {
		name, section string
		want          []string
		not           []string
	}{
		{"staging", staging, []string{
			`<span class="tier">staging</span>`, "promoted automatically", "from branches main",
			// Deployed: the new release, since its promotion succeeded, with the URL the job reported.
			`<p class="env-current">` + "\n" + `    <a class="mono" href="/repos/widgets/releases/` + newHex + `">` + newHex[:12] + `</a> <strong>1.4.0</strong>`,
			"by sluice (automatic)", `href="https://staging.widgets.example/app"`,
			// History, newest first: the old release's promotion became inactive.
			`<span class="pill inactive">inactive</span>`,
			fmt.Sprintf("#%d", w.stagingOld.ID),
		}, []string{"Pending", `class="decide"`}},
		{"production", prod, []string{
			`<span class="tier">production</span>`, "after staging",
			"2 of reviewers alice, bob, carol must approve (not the starter)", "from branches main; tags v*",
			"wait timer 10m", "window Mon,Fri 09:00–17:30 Europe/Paris",
			"verify GET https://widgets.example/health → 200 containing &#34;ok&#34;, 3 retries",
			"rolls back by itself when a promotion fails",
			`<a class="mono" href="/repos/widgets/releases/` + oldHex + `">` + oldHex[:12] + `</a> <strong>1.3.0</strong>`,
			"by dave",
			// The waiting promotion, its gates and the decision form.
			fmt.Sprintf(`<tr id="promotion-%d">`, w.prodWaiting.ID), `<span class="pill waiting">waiting</span>`,
			`<div class="gate">approvals 0/2</div>`, "none yet",
			fmt.Sprintf(`action="/ui/promotions/%d/decide"`, w.prodWaiting.ID), `name="csrf" value="` + uiCSRF(c) + `"`,
			`value="approve"`, `value="reject"`,
		}, nil},
	} {
		for _, s := range tc.want {
			if !strings.Contains(tc.section, s) {
				t.Errorf("%s lacks %q", tc.name, s)
			}
		}
		for _, s := range tc.not {
			if strings.Contains(tc.section, s) {
				t.Errorf("%s has %q", tc.name, s)
			}
		}
	}
	// History rows are newest first.
	if i, j := strings.Index(staging, fmt.Sprintf("<td>#%d", w.stagingNew.ID)), strings.Index(staging, fmt.Sprintf("<td>#%d", w.stagingOld.ID)); i < 0 || j < 0 || i > j {
		t.Errorf("staging history: promotion %d at %d, %d at %d; want the newer first", w.stagingNew.ID, i, w.stagingOld.ID, j)
	}

	// A read-only session sees the waiting promotion but no buttons.
	_, body = e.get("/repos/widgets/environments", e.signIn(store.ScopeRead))
	if !strings.Contains(body, fmt.Sprintf(`<tr id="promotion-%d">`, w.prodWaiting.ID)) || strings.Contains(body, `class="decide"`) {
		t.Error("a read-only session should see the pending promotion without the decision form")
	}
	// The repository page links here.
	if _, body := e.get("/repos/widgets", c); !strings.Contains(body, `href="/repos/widgets/environments"`) {
		t.Error("the repository page does not link to its environments")
	}
	for _, path := range []string{"/repos/nope/environments", "/repos/nope/releases"} {
		if res, _ := e.get(path, c); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, res.StatusCode)
		}
	}
}

func TestUIEnvironmentsEmpty(t *testing.T) {
	e := uiCDNewEnv(t)
	e.seedRun("gadgets", []store.Job{{Key: "a"}})
	c := e.signIn(store.ScopeRead)
	for path, want := range map[string]string{
		"/repos/gadgets/environments": "No environments: declare them in .sluice/environments.yml.",
		"/repos/gadgets/releases":     "No releases yet",
	} {
		res, body := e.get(path, c)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET %s = %d without %q", path, res.StatusCode, want)
		}
	}
}

// decide posts a decision on promotion id with the session c and the API
// token tok, follows the redirect and returns the flash the page shows.
func (e *uiEnv) decide(c *http.Cookie, id int64, decision, tok, comment string) string {
	e.t.Helper()
	res := e.post(fmt.Sprintf("/ui/promotions/%d/decide", id), c, url.Values{"csrf": {uiCSRF(c)}, "decision": {decision},
		"token": {tok}, "comment": {comment}})
	if res.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("deciding = %d, want 303", res.StatusCode)
	}
	loc := res.Header.Get("Location")
	if !strings.HasPrefix(loc, "/repos/widgets/environments?") {
		e.t.Fatalf("deciding redirects to %q, want the environments page", loc)
	}
	_, body := e.get(loc, c)
	return uiFlashOf(body)
}

func TestUIDecidePromotion(t *testing.T) {
	e := uiCDNewEnv(t)
	w := e.seedCD()
	ctx := context.Background()
	c := e.signIn(store.ScopeWrite)
	toks := map[string]string{}
	for _, n := range []string{"alice", "bob", "carol", "mallory"} {
		toks[n] = e.apiToken(n, store.ScopeWrite)
	}
	toks["reader"] = e.apiToken("reader", store.ScopeRead)
	id := w.prodWaiting.ID
	short := uiShortRelease(w.newRel.ID)
	ignoreAt := cmpopts.IgnoreFields(cd.Approval{}, "At")
	unknownTok, _, err := secrets.NewToken() // well formed, never stored
	if err != nil {
		t.Fatal(err)
	}

	// Each step runs on the state the previous ones left: refusals record
	// nothing, then alice and bob approve and the promotion starts.
	for _, tc := range []struct {
		name, who, decision, tok, comment string
		flash                             string
		approvals                         []cd.Approval
		state                             cd.State
	}{
		{name: "self-approval", who: "carol", decision: "approve",
			flash: fmt.Sprintf("Refused: carol started promotion #%d, and whoever starts a promotion cannot approve it. Nothing was recorded.", id),
			state: cd.StateWaiting},
		{name: "not a reviewer", who: "mallory", decision: "approve",
			flash: "Refused: mallory is not a reviewer of this environment. Nothing was recorded.", state: cd.StateWaiting},
		{name: "read-only token", who: "reader", decision: "approve",
			flash: "The token reader has scope read; deciding a promotion needs write.", state: cd.StateWaiting},
		{name: "unknown token", decision: "approve", tok: unknownTok,
			flash: "That API token is not valid: decisions are recorded under the name of your own API token.", state: cd.StateWaiting},
		// With no token the decision is the signed-in session's: t-write.
		{name: "no token", decision: "approve", flash: "Refused: t-write is not a reviewer of this environment. Nothing was recorded.", state: cd.StateWaiting},
		{name: "no decision", who: "alice", decision: "maybe", flash: "Choose Approve or Reject.", state: cd.StateWaiting},
		{name: "first approval", who: "alice", decision: "approve", comment: " looks good ",
			flash:     fmt.Sprintf("alice approved promotion #%d of %s into production.", id, short),
			approvals: []cd.Approval{{By: "alice", Approve: true, Comment: "looks good"}}, state: cd.StateWaiting},
		{name: "second decision by the same reviewer", who: "alice", decision: "reject",
			flash:     fmt.Sprintf("Could not record the decision on promotion #%d: alice already reviewed promotion %d", id, id),
			approvals: []cd.Approval{{By: "alice", Approve: true, Comment: "looks good"}}, state: cd.StateWaiting},
		{name: "second approval starts it", who: "bob", decision: "approve",
			flash:     fmt.Sprintf("bob approved promotion #%d of %s into production.", id, short),
			approvals: []cd.Approval{{By: "alice", Approve: true, Comment: "looks good"}, {By: "bob", Approve: true}}, state: cd.StateInProgress},
		{name: "no longer waiting", who: "carol", decision: "reject",
			flash:     fmt.Sprintf("Promotion #%d is not waiting for that decision: promotion %d is in_progress: already exists", id, id),
			approvals: []cd.Approval{{By: "alice", Approve: true, Comment: "looks good"}, {By: "bob", Approve: true}}, state: cd.StateInProgress},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.tok
			if tc.who != "" {
				tok = toks[tc.who]
			}
			if got := e.decide(c, id, tc.decision, tok, tc.comment); got != tc.flash {
				t.Errorf("flash %q\nwant  %q", got, tc.flash)
			}
			p, err := e.db.GetPromotion(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.approvals, p.Approvals, ignoreAt, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("approvals (-want +got):\n%s", diff)
			}
			if p.State != tc.state {
				t.Errorf("state %s, want %s", p.State, tc.state)
			}
		})
	}
}

// TestUIDecideAsSignedInReviewer: a reviewer signed in with their own token
// decides without giving it again, and the API sees the session as them.
func TestUIDecideAsSignedInReviewer(t *testing.T) {
	e := uiCDNewEnv(t)
	w := e.seedCD()
	id := w.prodWaiting.ID
	res := e.post("/signin", nil, url.Values{"token": {e.apiToken("alice", store.ScopeWrite)}, "next": {"/"}})
	var c *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == SessionCookie {
			c = ck
		}
	}
	if c == nil {
		t.Fatalf("sign-in answered %d without a session cookie", res.StatusCode)
	}
	want := fmt.Sprintf("alice approved promotion #%d of %s into production.", id, uiShortRelease(w.newRel.ID))
	if got := e.decide(c, id, "approve", "", ""); got != want {
		t.Errorf("flash %q\nwant  %q", got, want)
	}
	p, err := e.db.GetPromotion(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Approvals) != 1 || p.Approvals[0].By != "alice" {
		t.Errorf("approvals %+v, want alice's", p.Approvals)
	}
}

func TestUIDecideRejectAndGuards(t *testing.T) {
	e := uiCDNewEnv(t)
	w := e.seedCD()
	ctx := context.Background()
	c := e.signIn(store.ScopeWrite)
	id := w.prodWaiting.ID
	path := fmt.Sprintf("/ui/promotions/%d/decide", id)
	bob := e.apiToken("bob", store.ScopeWrite)

	// Without the CSRF field, or from a read-only session, nothing happens.
	if res := e.post(path, c, url.Values{"decision": {"reject"}, "token": {bob}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("POST without CSRF = %d, want 403", res.StatusCode)
	}
	ro := e.signIn(store.ScopeRead)
	if res := e.post(path, ro, url.Values{"csrf": {uiCSRF(ro)}, "decision": {"reject"}, "token": {bob}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("POST from a read-only session = %d, want 403", res.StatusCode)
	}
	if res := e.post("/ui/promotions/999/decide", c, url.Values{"csrf": {uiCSRF(c)}, "decision": {"reject"}, "token": {bob}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("POST for a missing promotion = %d, want 404", res.StatusCode)
	}
	if p, _ := e.db.GetPromotion(ctx, id); len(p.Approvals) != 0 || p.State != cd.StateWaiting {
		t.Fatalf("refused posts changed the promotion: %+v", p)
	}

	// The starter may withdraw (reject) their own promotion.
	got := e.decide(c, id, "reject", e.apiToken("carol", store.ScopeWrite), "wrong build")
	if want := fmt.Sprintf("carol rejected promotion #%d of %s into production.", id, uiShortRelease(w.newRel.ID)); got != want {
		t.Errorf("flash %q, want %q", got, want)
	}
	p, err := e.db.GetPromotion(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]cd.Approval{{By: "carol", Comment: "wrong build"}}, p.Approvals, cmpopts.IgnoreFields(cd.Approval{}, "At")); diff != "" || p.State != cd.StateFailure {
		t.Errorf("after rejecting: state %s, approvals (-want +got):\n%s", p.State, diff)
	}
	// The history shows the rejection; nothing is pending any more.
	_, body := e.get("/repos/widgets/environments", c)
	prod := uiSection(t, body, `id="env-production"`, "</section>")
	if !strings.Contains(prod, `<span class="approval no">carol ✗</span>`) || strings.Contains(prod, "Pending") {
		t.Errorf("production after the rejection:\n%s", prod)
	}
}

func TestUIDecideWithoutDeployer(t *testing.T) {
	e := uiNewEnv(t) // no Deployer configured
	w := e.seedCD()
	c := e.signIn(store.ScopeWrite)
	if got, want := e.decide(c, w.prodWaiting.ID, "approve", e.apiToken("bob", store.ScopeWrite), ""),
		"This server has no deployer, so promotions cannot be decided."; got != want {
		t.Errorf("flash %q, want %q", got, want)
	}
	if p, _ := e.db.GetPromotion(context.Background(), w.prodWaiting.ID); len(p.Approvals) != 0 {
		t.Errorf("approvals recorded without a deployer: %+v", p.Approvals)
	}
}

func TestUIReleasePages(t *testing.T) {
	e := uiCDNewEnv(t)
	w := e.seedCD()
	ctx := context.Background()
	if _, err := e.db.RejectRelease(ctx, w.oldRel.ID); err != nil {
		t.Fatal(err)
	}
	c := e.signIn(store.ScopeRead)
	newHex, oldHex := uiReleaseHex(w.newRel.ID), uiReleaseHex(w.oldRel.ID)
	canonical := "/repos/widgets/releases/" + newHex
	if _, err := e.db.AddReproCheck(ctx, store.ReproCheck{ReleaseID: w.newRel.ID, Differ: []string{"widgets-2.0.tar.gz"}, By: "bob"}); err != nil {
		t.Fatal(err)
	}

	res, body := e.get(canonical, c)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", canonical, res.StatusCode)
	}
	var wheel, sdist cd.Artifact
	for _, a := range w.newRel.Artifacts {
		if strings.HasSuffix(a.Name, ".whl") {
			wheel = a
		} else {
			sdist = a
		}
	}
	head := uiSection(t, body, "<h1>", `<h2>Artifacts</h2>`)
	arts := uiSection(t, body, `<h2>Artifacts</h2>`, `<h2>Provenance</h2>`)
	provs := uiSection(t, body, `<h2>Provenance</h2>`, `<h2>Where it went</h2>`)
	went := uiSection(t, body, `<h2>Where it went</h2>`, `<h2>Reproducibility</h2>`)
	repro := uiSection(t, body, `<h2>Reproducibility</h2>`, "</main>")
	for _, want := range []string{"differs", "widgets-2.0.tar.gz", "bob"} {
		if !strings.Contains(repro, want) {
			t.Errorf("reproducibility section lacks %q:\n%s", want, repro)
		}
	}
	wheelProv := uiSection(t, provs, `<h3 class="mono">`+wheel.Name, `<div class="card prov">`)
	sdistProv := uiSection(t, provs, `<h3 class="mono">`+sdist.Name, "</main>")
	for _, tc := range []struct {
		name, section string
		want          []string
		not           []string
	}{
		{"header", head, []string{"Release <span class=\"mono\">" + newHex[:12] + "</span> · 1.4.0", w.newRel.ID, w.run.SHA,
			"refs/heads/main", fmt.Sprintf(`<a href="/runs/%d">#%d CI</a>`, w.run.ID, w.run.Number), uiDigest("uv.lock"),
			"<dt>Rejected</dt><dd>no</dd>"}, []string{`id="rejected"`}},
		{"artifacts", arts, []string{wheel.Name, wheel.Digest, "1.5 KiB", "application/zip", sdist.Name, sdist.Digest, "900 B"}, nil},
		{"wheel provenance", wheelProv, []string{"https://ci.example/agents/builder-1", provenance.BuildType,
			fmt.Sprintf("%d/build", w.run.ID), "https://git.example/widgets.git", ".github/workflows/ci.yml", w.run.SHA,
			"python 3.11.9, uv 0.4.0", "Raw in-toto statement", "https://slsa.dev/provenance/v1", "&#34;predicateType&#34;"}, nil},
		{"sdist provenance", sdistProv, []string{"No provenance recorded."}, []string{"Raw in-toto statement"}},
		{"where it went", went, []string{fmt.Sprintf("#%d", w.stagingNew.ID), fmt.Sprintf("#%d", w.prodWaiting.ID),
			`href="/repos/widgets/environments#env-staging"`, `<span class="pill success">success</span>`,
			`<span class="pill waiting">waiting</span>`, "carol"}, []string{fmt.Sprintf("#%d<", w.prodOld.ID)}},
	} {
		for _, s := range tc.want {
			if !strings.Contains(tc.section, s) {
				t.Errorf("%s lacks %q", tc.name, s)
			}
		}
		for _, s := range tc.not {
			if strings.Contains(tc.section, s) {
				t.Errorf("%s has %q", tc.name, s)
			}
		}
	}
	if i, j := strings.Index(went, "staging"), strings.Index(went, "production"); i < 0 || j < 0 || i > j {
		t.Error("where it went is not oldest first")
	}

	// The old release is rejected.
	_, body = e.get("/repos/widgets/releases/"+oldHex[:6], c)
	if !strings.Contains(body, `<span class="pill big failure" id="rejected">rejected</span>`) || !strings.Contains(body, "yes: no promotion may use it") {
		t.Error("the rejected release does not say so")
	}
	// The list links every release, newest first.
	_, body = e.get("/repos/widgets/releases", c)
	i, j := strings.Index(body, `href="/repos/widgets/releases/`+newHex+`"`), strings.Index(body, `href="/repos/widgets/releases/`+oldHex+`"`)
	if i < 0 || j < 0 || i > j || !strings.Contains(body, `<span class="pill failure">rejected</span>`) {
		t.Errorf("release list: new at %d, old at %d; want both, newest first, the old one rejected", i, j)
	}

	for _, tc := range []struct {
		path     string
		status   int
		location string
	}{
		{"/repos/widgets/releases/" + newHex[:8], http.StatusOK, ""},
		{"/repos/widgets/releases/" + strings.ToUpper(newHex[:8]), http.StatusOK, ""},
		{"/repos/widgets/releases/" + url.PathEscape(w.newRel.ID), http.StatusOK, ""},
		{"/releases/" + newHex[:10], http.StatusSeeOther, canonical},
		{"/releases/" + w.newRel.ID, http.StatusSeeOther, canonical},
		{"/releases/" + oldHex, http.StatusSeeOther, "/repos/widgets/releases/" + oldHex},
		{"/releases/abc", http.StatusNotFound, ""}, // under 6 hex digits
		{"/releases/" + strings.Repeat("0", 12), http.StatusNotFound, ""},
		{"/repos/widgets/releases/zzzzzzzz", http.StatusNotFound, ""},
		{"/repos/nope/releases/" + newHex, http.StatusNotFound, ""},
	} {
		res, _ := e.get(tc.path, c)
		if res.StatusCode != tc.status || res.Header.Get("Location") != tc.location {
			t.Errorf("GET %s = %d %q, want %d %q", tc.path, res.StatusCode, res.Header.Get("Location"), tc.status, tc.location)
		}
	}
	// Signed out, the pages send the browser to sign in.
	if res, _ := e.get(canonical, nil); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/signin?next=") {
		t.Errorf("signed-out GET = %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestUIEnvRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  cd.Environment
		want []string
	}{
		{"nothing", cd.Environment{Name: "dev"}, []string{"from any ref"}},
		{"reviewers without a count need one", cd.Environment{Reviewers: []string{"alice"}, PullRequests: true, Hotfix: []string{"hotfix/*"},
			WaitTimer: 90 * time.Minute, Verify: &cd.Verify{Command: &cd.CommandCheck{Run: "curl -f localhost"}}},
			[]string{"1 of reviewers alice must approve (not the starter)", "from pull requests", "hotfixes from hotfix/*",
				"wait timer 1h30m", "verify by running curl -f localhost"}},
		{"window past midnight, every day, default status", cd.Environment{Windows: []cd.Window{{Start: 22 * 60, End: 2 * 60}},
			Verify: &cd.Verify{HTTP: &cd.HTTPCheck{URL: "http://x/health"}}},
			[]string{"from any ref", "window every day 22:00–02:00 UTC", "verify GET http://x/health → 200"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, uiEnvRules(tc.env)); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
		})
	}
}
