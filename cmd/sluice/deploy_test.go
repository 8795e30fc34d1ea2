package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/spf13/cobra"
)

// cliDeployer is a server.Deployer on the real store: promotions into an
// environment with reviewers wait for them, others stay queued (the test
// moves them along); approvals follow cd.CheckApproval and finish the
// promotion; rollbacks follow cd.RollbackTarget and succeed at once.
type cliDeployer struct{ db *store.DB }

func (d cliDeployer) env(ctx context.Context, repoID int64, name string) (cd.Environment, error) {
	envs, err := d.db.ListEnvironments(ctx, repoID)
	if err != nil {
		return cd.Environment{}, err
	}
	for _, e := range envs {
		if e.Name == name {
			return e, nil
		}
	}
	return cd.Environment{}, fmt.Errorf("environment %s: %w", name, store.ErrNotFound)
}

func (d cliDeployer) Promote(ctx context.Context, repo *store.Repo, req server.PromoteRequest) (*cd.Promotion, error) {
	rel, err := d.db.FindRelease(ctx, repo.ID, req.Release)
	if err != nil {
		return nil, err
	}
	if rel.Rejected {
		return nil, fmt.Errorf("promoting %s: %w", rel.ID, cd.ErrReleaseRejected)
	}
	env, err := d.env(ctx, repo.ID, req.Env)
	if err != nil {
		return nil, err
	}
	p := cd.Promotion{Env: env.Name, ReleaseID: rel.ID, Kind: cd.KindForward, StartedBy: req.By}
	if req.Kind != "" {
		p.Kind = req.Kind
	}
	if len(env.Reviewers) > 0 {
		p.State, p.Reason = cd.StateWaiting, "needs 1 approval"
	}
	return d.db.CreatePromotion(ctx, repo.ID, p)
}

func (d cliDeployer) Rollback(ctx context.Context, repo *store.Repo, env string, to int64, by string) (*cd.Promotion, error) {
	hist, err := d.db.ListPromotions(ctx, repo.ID, env, 500)
	if err != nil {
		return nil, err
	}
	target, err := cd.RollbackTarget(hist, to)
	if err != nil {
		return nil, err
	}
	p, err := d.db.CreatePromotion(ctx, repo.ID, cd.Promotion{Env: env, ReleaseID: target.ReleaseID, Kind: cd.KindRollback, StartedBy: by})
	if err != nil {
		return nil, err
	}
	return d.db.SetPromotionState(ctx, p.ID, cd.StateSuccess)
}

func (d cliDeployer) Decide(ctx context.Context, id int64, by string, approve bool, comment string) (*cd.Promotion, error) {
	p, err := d.db.GetPromotion(ctx, id)
	if err != nil {
		return nil, err
	}
	env, err := d.env(ctx, p.RepoID, p.Env)
	if err != nil {
		return nil, err
	}
	a := cd.Approval{By: by, Approve: approve, Comment: comment}
	if err := cd.CheckApproval(env, *p, a); err != nil {
		if errors.Is(err, cd.ErrSelfApproval) || errors.Is(err, cd.ErrNotReviewer) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", err, store.ErrConflict)
	}
	if _, err := d.db.AddApproval(ctx, id, a); err != nil {
		return nil, err
	}
	if _, err := d.db.UpdatePromotion(ctx, id, store.PromotionUpdate{Reason: new(string)}); err != nil {
		return nil, err
	}
	if !approve {
		return d.db.SetPromotionState(ctx, id, cd.StateFailure)
	}
	return d.db.SetPromotionState(ctx, id, cd.StateSuccess)
}

// cdScript moves promotions along as the CLI polls them: before each GET of
// promotion N the next of its scripted states is applied, so that --wait
// sees every step whatever its polling interval.
type cdScript struct {
	db     *store.DB
	next   http.Handler
	mu     sync.Mutex
	states map[int64][]cd.State
}

func (s *cdScript) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if id, ok := strings.CutPrefix(r.URL.Path, "/api/v1/promotions/"); ok && r.Method == "GET" {
		n, _ := strconv.ParseInt(id, 10, 64)
		s.mu.Lock()
		var st cd.State
		if q := s.states[n]; len(q) > 0 {
			st, s.states[n] = q[0], q[1:]
		}
		s.mu.Unlock()
		if st != "" {
			if _, err := s.db.SetPromotionState(r.Context(), n, st); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
	}
	s.next.ServeHTTP(w, r)
}

func (s *cdScript) set(id int64, states ...cd.State) {
	s.mu.Lock()
	s.states[id] = states
	s.mu.Unlock()
}

func cdDigest(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}

func cdToken(t *testing.T, db *store.DB, name, scope string) string {
	t.Helper()
	tok, hash, err := secrets.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateToken(context.Background(), store.Token{Name: name, Hash: hash, Scope: scope}); err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestDeployCommands(t *testing.T) {
	ctx := context.Background()
	db, srv, _ := newTestServer(t, func(db *store.DB) server.Deployer { return cliDeployer{db} })
	script := &cdScript{db: db, next: srv.Handler(), states: map[int64][]cd.State{}}
	hs := httptest.NewServer(script)
	defer hs.Close()
	alice := cdToken(t, db, "alice", store.ScopeWrite)
	bob := cdToken(t, db, "bob", store.ScopeWrite)
	reader := cdToken(t, db, "reader", store.ScopeRead)

	repo, err := db.CreateRepo(ctx, store.Repo{Name: "demo", URL: "file:///srv/demo.git"})
	if err != nil {
		t.Fatal(err)
	}
	run, _, err := db.CreateRun(ctx, store.Run{RepoID: repo.ID, Workflow: ".github/workflows/ci.yml", Event: "push",
		Ref: "refs/heads/main", SHA: strings.Repeat("c", 40), Trigger: store.TriggerWebhook}, []store.Job{{Key: "build", Status: store.StatusQueued}})
	if err != nil {
		t.Fatal(err)
	}
	mkRelease := func(version string, arts ...cd.Artifact) *cd.Release {
		t.Helper()
		rel, err := cd.NewRelease(cd.ReleaseSource{Commit: strings.Repeat("c", 40), Ref: "refs/heads/main", Version: version,
			RunID: run.ID}, arts, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := db.CreateRelease(ctx, repo.ID, rel)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	v1 := mkRelease("1.0.0", cd.Artifact{Name: "app-1.0.0-py3-none-any.whl", Digest: cdDigest("v1"), Size: 1234})
	v2 := mkRelease("1.1.0", cd.Artifact{Name: "app-1.1.0-py3-none-any.whl", Digest: cdDigest("v2"), Size: 2345},
		cd.Artifact{Name: "app-1.1.0.tar.gz", Digest: cdDigest("v2 sdist"), Size: 3456})
	for _, e := range []cd.Environment{
		{Name: "staging", Tier: cd.TierStaging},
		{Name: "production", Tier: cd.TierProduction, Reviewers: []string{"bob"}},
	} {
		if err := db.PutEnvironment(ctx, repo.ID, e); err != nil {
			t.Fatal(err)
		}
	}
	s1, s2 := strings.TrimPrefix(v1.ID, "sha256:")[:12], strings.TrimPrefix(v2.ID, "sha256:")[:12]

	as := func(tok string) []string { return []string{"--server", hs.URL, "--token", tok} }
	cli := func(cmd *cobra.Command, tok string, args ...string) (string, error) {
		t.Helper()
		return runCLI(t, cmd, "", append(args, as(tok)...)...)
	}
	must := func(cmd *cobra.Command, tok string, args ...string) string {
		t.Helper()
		out, err := cli(cmd, tok, args...)
		if err != nil {
			t.Fatalf("%s %v: %v", cmd.Name(), args, err)
		}
		return out
	}
	diff := func(what, want, got string) {
		t.Helper()
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", what, d)
		}
	}
	wantErr := func(what string, err error, parts ...string) {
		t.Helper()
		if err == nil {
			t.Errorf("%s succeeded, want an error", what)
			return
		}
		for _, p := range parts {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("%s: error %q does not say %q", what, err, p)
			}
		}
	}
	stored := func(id int64) *cd.Promotion {
		t.Helper()
		p, err := db.GetPromotion(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	// releases: the table and --json.
	diff("releases", fmt.Sprintf(""+
		"ID            VERSION  REF   COMMIT   RUN  CREATED           REJECTED\n"+
		"%s  1.1.0    main  ccccccc  %d    %s  no\n"+
		"%s  1.0.0    main  ccccccc  %d    %s  no\n",
		s2, run.ID, shortTime(v2.Created), s1, run.ID, shortTime(v1.Created)), must(releasesCmd(), reader))
	var gotRels []cd.Release
	if err := json.Unmarshal([]byte(must(releasesCmd(), reader, "--repo", "demo", "--json")), &gotRels); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]cd.Release{*v2, *v1}, gotRels); d != "" {
		t.Errorf("releases --json (-want +got):\n%s", d)
	}

	// promote --wait follows the promotion to its end, one line per state; the repository
	// comes from the release.
	script.set(1, cd.StateInProgress, cd.StateSuccess)
	diff("promote --wait", fmt.Sprintf(""+
		"promotion 1: forward %[1]s to staging: queued\n"+
		"promotion 1: forward %[1]s to staging: in_progress\n"+
		"promotion 1: forward %[1]s to staging: success\n", s1),
		must(promoteCmd(), alice, s1[:8], "--to", "staging", "--wait", "--interval", "5ms"))

	// A failure ends --wait with exit code 1; --json prints the final promotion.
	script.set(2, cd.StateInProgress, cd.StateFailure)
	out, err := cli(promoteCmd(), alice, v2.ID, "--to", "staging", "--repo", "demo", "--wait", "--interval", "5ms", "--json")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Errorf("promote --wait of a failing promotion: %v, want exit code 1", err)
	}
	var final cd.Promotion
	if err := json.Unmarshal([]byte(out), &final); err != nil {
		t.Fatalf("promote --wait --json printed %q: %v", out, err)
	}
	if d := cmp.Diff(*stored(2), final); d != "" || final.State != cd.StateFailure {
		t.Errorf("promote --wait --json: state %s (-want +got):\n%s", final.State, d)
	}

	// rollback restores v1, the release staging ran before the failed v2.
	diff("rollback", fmt.Sprintf("promotion 3: rollback %s to staging: success\n", s1), must(rollbackCmd(), alice, "staging"))
	wantErr("rollback --to the current release", func() error {
		_, err := cli(rollbackCmd(), alice, "staging", "--to", "3")
		return err
	}(), "redeploy it instead")
	wantErr("rollback --to x", func() error { _, err := cli(rollbackCmd(), alice, "staging", "--to", "x"); return err }(), `--to: promotion "x"`)

	// production needs bob's approval; alice started it and cannot give it.
	diff("promote to production", fmt.Sprintf("promotion 4: forward %s to production: waiting (needs 1 approval)\n", s2),
		must(promoteCmd(), alice, s2, "--to", "production"))
	wantErr("read token promotes", func() error { _, err := cli(promoteCmd(), reader, s2, "--to", "production"); return err }(), "needs a token with scope write")
	wantErr("self-approval", func() error { _, err := cli(decideCmd(true), alice, "4"); return err }(), "cannot approve")
	diff("approve", fmt.Sprintf("approved; promotion 4: forward %s to production: success\n", s2),
		must(decideCmd(true), bob, "4", "--comment", "checked"))
	wantErr("reject after the approval", func() error { _, err := cli(decideCmd(false), bob, "4"); return err }(), "no longer awaiting review")
	wantErr("approve a bad ID", func() error { _, err := cli(decideCmd(true), bob, "four"); return err }(), `promotion "four"`)
	if got := stored(4).Approvals; len(got) != 1 || got[0].By != "bob" || got[0].Comment != "checked" {
		t.Errorf("approvals of promotion 4: %+v", got)
	}

	// deployments: the history, newest first.
	p1, p2, p3 := stored(1), stored(2), stored(3)
	diff("deployments", fmt.Sprintf(""+
		"ID  RELEASE       KIND      STATE     BY     APPROVALS  CREATED           URL\n"+
		"3   %s  rollback  success   alice  -          %s  -\n"+
		"2   %s  forward   failure   alice  -          %s  -\n"+
		"1   %s  forward   inactive  alice  -          %s  -\n",
		s1, shortTime(p3.Created), s2, shortTime(p2.Created), s1, shortTime(p1.Created)), must(deploymentsCmd(), reader, "staging"))
	var gotHist []cd.Promotion
	if err := json.Unmarshal([]byte(must(deploymentsCmd(), reader, "production", "--json")), &gotHist); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]cd.Promotion{*stored(4)}, gotHist); d != "" {
		t.Errorf("deployments --json (-want +got):\n%s", d)
	}
	if out := must(deploymentsCmd(), reader, "production"); !strings.Contains(out, "bob ") {
		t.Errorf("deployments production does not show bob's approval:\n%s", out)
	}
	wantErr("deployments of an unknown environment", func() error { _, err := cli(deploymentsCmd(), reader, "qa"); return err }(),
		"environment qa of demo not found")

	// environments: what runs where.
	p4 := stored(4)
	diff("environments", fmt.Sprintf(""+
		"ENV         TIER        CURRENT       SINCE             PENDING\n"+
		"staging     staging     %s  %s  0\n"+
		"production  production  %s  %s  0\n", s1, shortTime(p3.Updated), s2, shortTime(p4.Updated)),
		must(environmentsCmd(), reader))
	must(promoteCmd(), alice, s1, "--to", "production")
	var envs []server.EnvironmentView
	if err := json.Unmarshal([]byte(must(environmentsCmd(), reader, "--json")), &envs); err != nil {
		t.Fatal(err)
	}
	if len(envs) != 2 || envs[1].Current == nil || envs[1].Current.ID != 4 || len(envs[1].Pending) != 1 || envs[1].Pending[0].ID != 5 {
		t.Errorf("environments --json: %+v, want production at promotion 4 with 5 pending", envs)
	}

	// release show: artifacts with digests, and where it went.
	diff("release show", fmt.Sprintf(""+
		"release   %s\n"+
		"repo      demo\n"+
		"version   1.1.0\n"+
		"ref       refs/heads/main\n"+
		"commit    %s\n"+
		"run       %d\n"+
		"created   %s\n"+
		"rejected  no\n"+
		"\n"+
		"ARTIFACT                    SIZE  DIGEST\n"+
		"app-1.1.0-py3-none-any.whl  2345  %s\n"+
		"app-1.1.0.tar.gz            3456  %s\n"+
		"\n"+
		"PROMOTION  ENV         KIND     STATE    BY     CREATED\n"+
		"2          staging     forward  failure  alice  %s\n"+
		"4          production  forward  success  alice  %s\n",
		v2.ID, strings.Repeat("c", 40), run.ID, shortTime(v2.Created), cdDigest("v2"), cdDigest("v2 sdist"),
		shortTime(p2.Created), shortTime(p4.Created)), must(releaseCmd(), reader, "show", s2[:6]))
	var detail server.ReleaseDetail
	if err := json.Unmarshal([]byte(must(releaseCmd(), reader, "show", v2.ID, "--json")), &detail); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(server.ReleaseDetail{Release: *v2, Promotions: []cd.Promotion{*p2, *stored(4)}, Repro: []store.ReproCheck{}}, detail,
		cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Artifacts" }, cmp.Ignore())); d != "" {
		t.Errorf("release show --json (-want +got):\n%s", d)
	}
	if len(detail.Artifacts) != 2 || detail.Artifacts[0].Digest != v2.Artifacts[0].Digest {
		t.Errorf("release show --json artifacts: %+v", detail.Artifacts)
	}
	wantErr("release show of an unknown release", func() error { _, err := cli(releaseCmd(), reader, "show", "abcdef"); return err }(), "release abcdef: not found")

	// release reject: no promotion may use it any more.
	diff("release reject", fmt.Sprintf("release %s (1.1.0) of demo rejected\n", s2), must(releaseCmd(), alice, "reject", s2))
	wantErr("promote a rejected release", func() error { _, err := cli(promoteCmd(), alice, s2, "--to", "staging"); return err }(),
		"release is marked rejected")
	wantErr("promote --kind rollback", func() error {
		_, err := cli(promoteCmd(), alice, s1, "--to", "staging", "--kind", "rollback")
		return err
	}(), "sluice rollback")

	// With a second repository, --repo must say which.
	if _, err := db.CreateRepo(ctx, store.Repo{Name: "other", URL: "file:///srv/other.git"}); err != nil {
		t.Fatal(err)
	}
	wantErr("releases with two repositories", func() error { _, err := cli(releasesCmd(), reader); return err }(), "pass --repo", "demo, other")
	if out := must(environmentsCmd(), reader, "--repo", "other"); out != "ENV  TIER  CURRENT  SINCE  PENDING\n" {
		t.Errorf("environments of a repository without any: %q", out)
	}
}
