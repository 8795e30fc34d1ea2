package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/store"
)

// apiTestDeployer is a Deployer on the real store with just enough of the
// scheduler's rules for the handlers' answers: rejected releases, reviewers
// (through cd.CheckApproval) and rollback targets (cd.RollbackTarget).
// Promotions into an environment without reviewers succeed at once.
type apiTestDeployer struct{ db *store.DB }

func (d *apiTestDeployer) env(ctx context.Context, repoID int64, name string) (cd.Environment, error) {
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

func (d *apiTestDeployer) start(ctx context.Context, repoID int64, env cd.Environment, p cd.Promotion) (*cd.Promotion, error) {
	if len(env.Reviewers) > 0 {
		p.State = cd.StateWaiting
	}
	out, err := d.db.CreatePromotion(ctx, repoID, p)
	if err != nil || out.State == cd.StateWaiting {
		return out, err
	}
	return d.db.SetPromotionState(ctx, out.ID, cd.StateSuccess)
}

func (d *apiTestDeployer) Promote(ctx context.Context, repo *store.Repo, req PromoteRequest) (*cd.Promotion, error) {
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
	kind := req.Kind
	if kind == "" {
		kind = cd.KindForward
	}
	return d.start(ctx, repo.ID, env, cd.Promotion{Env: env.Name, ReleaseID: rel.ID, Kind: kind, StartedBy: req.By})
}

func (d *apiTestDeployer) Rollback(ctx context.Context, repo *store.Repo, envName string, to int64, by string) (*cd.Promotion, error) {
	env, err := d.env(ctx, repo.ID, envName)
	if err != nil {
		return nil, err
	}
	hist, err := d.db.ListPromotions(ctx, repo.ID, envName, 500)
	if err != nil {
		return nil, err
	}
	target, err := cd.RollbackTarget(hist, to)
	if err != nil {
		return nil, err
	}
	return d.start(ctx, repo.ID, env, cd.Promotion{Env: envName, ReleaseID: target.ReleaseID, Kind: cd.KindRollback,
		StartedBy: by, Previous: hist[0].ID})
}

func (d *apiTestDeployer) Decide(ctx context.Context, id int64, by string, approve bool, comment string) (*cd.Promotion, error) {
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
	if p, err = d.db.AddApproval(ctx, id, a); err != nil {
		return nil, err
	}
	if !approve {
		return d.db.SetPromotionState(ctx, id, cd.StateFailure)
	}
	return d.db.SetPromotionState(ctx, id, cd.StateSuccess)
}

// digestOf is a valid artifact digest made from s.
func digestOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}

// collidingArtifacts returns two one-artifact sets named after salt whose
// release IDs share their first 6 hex digits, a prefix not in avoid: for
// ambiguous-prefix tests.
func collidingArtifacts(t *testing.T, salt string, avoid ...string) (prefix string, a, b []cd.Artifact) {
	t.Helper()
	seen := map[string][]cd.Artifact{}
	for i := range 1_000_000 {
		arts := []cd.Artifact{{Name: fmt.Sprintf("%s-%d.whl", salt, i), Digest: digestOf(fmt.Sprint(salt, i)), Size: 1}}
		p := strings.TrimPrefix(cd.ReleaseID(arts), "sha256:")[:6]
		if slices.Contains(avoid, p) {
			continue
		}
		if prev, ok := seen[p]; ok {
			return p, prev, arts
		}
		seen[p] = arts
	}
	t.Fatal("no two release IDs share 6 hex digits")
	return "", nil, nil
}

// cdFixture is a server with two repositories, releases, environments and
// a little deployment history of repository demo:
//
//	staging:    stagingV1 (v1, inactive), stagingV2 (v2, success)
//	production: prodWait (v1, waiting, started by alice)
type cdFixture struct {
	e                    *apiEnv
	repo                 RepoView
	run                  *store.Run
	v1, v2, rejected     *cd.Release
	stagingV1, stagingV2 *cd.Promotion
	prodWait             *cd.Promotion
	// write tokens: bob is a production reviewer, alice and carol are not.
	alice, bob, carol string
	aliceLaptop       string
	reader            string // a read token
	repoPrefix        string // a prefix two releases of demo share
	crossPrefix       string // a prefix a release of demo and one of other share
}

func newCDFixture(t *testing.T, withDeployer bool) *cdFixture {
	t.Helper()
	ctx := context.Background()
	f := &cdFixture{e: newAPIEnv(t)}
	e := f.e
	if withDeployer {
		// Set before any request, so no handler reads cfg concurrently.
		e.srv.cfg.Deployer = &apiTestDeployer{db: e.db}
	}
	f.repo = e.addRepo(RepoInput{Name: "demo", URL: "file:///srv/demo.git"})
	other := e.addRepo(RepoInput{Name: "other", URL: "file:///srv/other.git"})
	f.run, _ = e.mustRunWithJob(f.repo.ID, "refs/heads/main")
	mk := func(repoID int64, version string, arts []cd.Artifact) *cd.Release {
		t.Helper()
		src := cd.ReleaseSource{Commit: strings.Repeat("a", 40), Ref: "refs/heads/main", Version: version}
		if repoID == f.repo.ID {
			src.RunID = f.run.ID
		}
		rel, err := cd.NewRelease(src, arts, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := e.db.CreateRelease(ctx, repoID, rel)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	f.v1 = mk(f.repo.ID, "1.0.0", []cd.Artifact{{Name: "app-1.0.0.whl", Digest: digestOf("v1"), Size: 10}})
	f.v2 = mk(f.repo.ID, "1.1.0", []cd.Artifact{{Name: "app-1.1.0.whl", Digest: digestOf("v2"), Size: 11},
		{Name: "app-1.1.0.tar.gz", Digest: digestOf("v2 sdist"), Size: 12}})
	f.rejected = mk(f.repo.ID, "0.9.0", []cd.Artifact{{Name: "app-0.9.0.whl", Digest: digestOf("bad"), Size: 9}})
	if _, err := e.db.RejectRelease(ctx, f.rejected.ID); err != nil {
		t.Fatal(err)
	}
	var a, b, c, d []cd.Artifact
	f.repoPrefix, a, b = collidingArtifacts(t, "app")
	f.crossPrefix, c, d = collidingArtifacts(t, "lib", f.repoPrefix)
	mk(f.repo.ID, "x", a)
	mk(f.repo.ID, "y", b)
	mk(f.repo.ID, "z", c)
	mk(other.ID, "z", d)

	for _, env := range []cd.Environment{
		{Name: "staging", Tier: cd.TierStaging},
		{Name: "production", Tier: cd.TierProduction, Upstream: []string{"staging"}, Reviewers: []string{"bob", "dave"},
			RequiredApprovals: 1},
	} {
		if err := e.db.PutEnvironment(ctx, f.repo.ID, env); err != nil {
			t.Fatal(err)
		}
	}
	promote := func(env string, rel *cd.Release, state cd.State) *cd.Promotion {
		t.Helper()
		p, err := e.db.CreatePromotion(ctx, f.repo.ID, cd.Promotion{Env: env, ReleaseID: rel.ID, Kind: cd.KindForward,
			StartedBy: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		if p, err = e.db.SetPromotionState(ctx, p.ID, state); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f.stagingV1 = promote("staging", f.v1, cd.StateSuccess)
	f.stagingV2 = promote("staging", f.v2, cd.StateSuccess)
	f.prodWait = promote("production", f.v1, cd.StateWaiting)
	var err error
	if f.stagingV1, err = e.db.GetPromotion(ctx, f.stagingV1.ID); err != nil {
		t.Fatal(err)
	}

	f.alice = e.token("alice", store.ScopeWrite)
	// alice's second token, named otherwise: still alice.
	f.aliceLaptop = e.tokenFor("alice-laptop", store.ScopeWrite, "alice")
	f.bob = e.token("bob", store.ScopeWrite)
	f.carol = e.token("carol", store.ScopeWrite)
	f.reader = e.token("reader", store.ScopeRead)
	return f
}

func TestCDAPIStatusCodes(t *testing.T) {
	type tc struct {
		name         string
		noDeployer   bool
		method, path string
		token        func(*cdFixture) string
		body         any
		want         int
		wantErr      string // part of the error message
	}
	alice := func(f *cdFixture) string { return f.alice }
	bob := func(f *cdFixture) string { return f.bob }
	carol := func(f *cdFixture) string { return f.carol }
	reader := func(f *cdFixture) string { return f.reader }
	none := func(*cdFixture) string { return "" }
	// Paths use placeholders the fixture fills in: {v1}, {v1short}, {rejected}, {repoPrefix},
	// {crossPrefix}, {run}, {prodWait}, {stagingV1}, {stagingV2}.
	tests := []tc{
		{name: "list releases", method: "GET", path: "/api/v1/repos/demo/releases", token: reader, want: 200},
		{name: "list releases of an unknown repo", method: "GET", path: "/api/v1/repos/nope/releases", token: reader, want: 404},
		{name: "list releases without a token", method: "GET", path: "/api/v1/repos/demo/releases", token: none, want: 401},
		{name: "list releases with a bad limit", method: "GET", path: "/api/v1/repos/demo/releases?limit=x", token: reader, want: 400},
		{name: "release by full ID", method: "GET", path: "/api/v1/releases/{v1}", token: reader, want: 200},
		{name: "release by prefix, any repo", method: "GET", path: "/api/v1/releases/{v1short}", token: reader, want: 200},
		{name: "release by prefix in a repo", method: "GET", path: "/api/v1/releases/{v1short}?repo=demo", token: reader, want: 200},
		{name: "release prefix of another repo", method: "GET", path: "/api/v1/releases/{v1short}?repo=other", token: reader, want: 404},
		{name: "release in an unknown repo", method: "GET", path: "/api/v1/releases/{v1short}?repo=nope", token: reader, want: 404},
		{name: "unknown release", method: "GET", path: "/api/v1/releases/000000", token: reader, want: 404, wantErr: "not found"},
		{name: "release prefix too short", method: "GET", path: "/api/v1/releases/abc", token: reader, want: 404, wantErr: "at least 6 hex digits"},
		{name: "ambiguous prefix in a repo", method: "GET", path: "/api/v1/releases/{repoPrefix}?repo=demo", token: reader, want: 409, wantErr: "more digits"},
		{name: "ambiguous prefix across repos", method: "GET", path: "/api/v1/releases/{crossPrefix}", token: reader, want: 409, wantErr: "demo and other"},
		{name: "cross-repo prefix within one repo", method: "GET", path: "/api/v1/releases/{crossPrefix}?repo=other", token: reader, want: 200},
		{name: "reject a release", method: "POST", path: "/api/v1/releases/{v1short}/reject", token: alice, want: 200},
		{name: "read token cannot reject a release", method: "POST", path: "/api/v1/releases/{v1short}/reject", token: reader, want: 403},
		{name: "reject an unknown release", method: "POST", path: "/api/v1/releases/abcdef/reject", token: alice, want: 404},
		{name: "release of a run", method: "GET", path: "/api/v1/runs/{run}/release", token: reader, want: 200},
		{name: "release of an unknown run", method: "GET", path: "/api/v1/runs/999/release", token: reader, want: 404, wantErr: "made no release"},
		{name: "release of a bad run ID", method: "GET", path: "/api/v1/runs/x/release", token: reader, want: 400},
		{name: "environments", method: "GET", path: "/api/v1/repos/demo/environments", token: reader, want: 200},
		{name: "environments of an unknown repo", method: "GET", path: "/api/v1/repos/nope/environments", token: reader, want: 404},
		{name: "deployments", method: "GET", path: "/api/v1/repos/demo/environments/staging/deployments?limit=1", token: reader, want: 200},
		{name: "deployments of an unknown environment", method: "GET", path: "/api/v1/repos/demo/environments/qa/deployments", token: reader, want: 404},
		{name: "promotion", method: "GET", path: "/api/v1/promotions/{prodWait}", token: reader, want: 200},
		{name: "unknown promotion", method: "GET", path: "/api/v1/promotions/999", token: reader, want: 404},
		{name: "bad promotion ID", method: "GET", path: "/api/v1/promotions/x", token: reader, want: 400},

		{name: "promote", method: "POST", path: "/api/v1/repos/demo/promotions", token: alice,
			body: PromoteInput{Release: "{v1short}", Env: "staging"}, want: 201},
		{name: "promote as a hotfix", method: "POST", path: "/api/v1/repos/demo/promotions", token: alice,
			body: PromoteInput{Release: "{v1}", Env: "production", Kind: cd.KindHotfix}, want: 201},
		{name: "read token cannot promote", method: "POST", path: "/api/v1/repos/demo/promotions", token: reader,
			body: PromoteInput{Release: "{v1short}", Env: "staging"}, want: 403},
		{name: "promote without a token", method: "POST", path: "/api/v1/repos/demo/promotions", token: none,
			body: PromoteInput{Release: "{v1short}", Env: "staging"}, want: 401},
		{name: "promote an unknown release", method: "POST", path: "/api/v1/repos/demo/promotions", token: alice,
			body: PromoteInput{Release: "abcdef", Env: "staging"}, want: 404},
		{name: "promote into an unknown environment", method: "POST", path: "/api/v1/repos/demo/promotions", token: alice,
			body: PromoteInput{Release: "{v1short}", Env: "qa"}, want: 404},
		{name: "promote in an unknown repo", method: "POST", path: "/api/v1/repos/nope/promotions", token: alice,
			body: PromoteInput{Release: "{v1short}", Env: "staging"}, want: 404},
		{name: "promote an ambiguous prefix", method: "POST", path: "/api/v1/repos/demo/promotions", token: alice,
			body: PromoteInput{Release: "{repoPrefix}", Env: "staging"}, want: 409},
		{name: "promote a rejected release", method: "POST", path: "/api/v1/repos/demo/promotions", token: alice,
			body: PromoteInput{Release: "{rejected}", Env: "staging"}, want: 422, wantErr: "rejected"},
		{name: "promote without a release", method: "POST", path: "/api/v1/repos/demo/promotions", token: alice,
			body: PromoteInput{Env: "staging"}, want: 400},
		{name: "promote without an environment", method: "POST", path: "/api/v1/repos/demo/promotions", token: alice,
			body: PromoteInput{Release: "{v1short}"}, want: 400},
		{name: "promote as a rollback", method: "POST", path: "/api/v1/repos/demo/promotions", token: alice,
			body: PromoteInput{Release: "{v1short}", Env: "staging", Kind: cd.KindRollback}, want: 400, wantErr: "/rollback"},
		{name: "promote with an unknown kind", method: "POST", path: "/api/v1/repos/demo/promotions", token: alice,
			body: PromoteInput{Release: "{v1short}", Env: "staging", Kind: "sideways"}, want: 400},
		{name: "promote with an unknown field", method: "POST", path: "/api/v1/repos/demo/promotions", token: alice,
			body: map[string]string{"release": "{v1short}", "environment": "staging"}, want: 400},

		{name: "roll back", method: "POST", path: "/api/v1/repos/demo/environments/staging/rollback", token: alice, want: 201},
		{name: "roll back to a promotion", method: "POST", path: "/api/v1/repos/demo/environments/staging/rollback", token: alice,
			body: `{"to": {stagingV1}}`, want: 201},
		{name: "roll back to a negative promotion", method: "POST", path: "/api/v1/repos/demo/environments/staging/rollback",
			token: alice, body: RollbackInput{To: -2}, want: 400},
		{name: "roll back to the current release", method: "POST", path: "/api/v1/repos/demo/environments/staging/rollback",
			token: alice, body: `{"to": {stagingV2}}`, want: 422, wantErr: "redeploy it instead"},
		{name: "roll back with nothing deployed", method: "POST", path: "/api/v1/repos/demo/environments/production/rollback",
			token: alice, want: 422, wantErr: "no rollback target"},
		{name: "read token cannot roll back", method: "POST", path: "/api/v1/repos/demo/environments/staging/rollback",
			token: reader, want: 403},
		{name: "roll back an unknown environment", method: "POST", path: "/api/v1/repos/demo/environments/qa/rollback",
			token: alice, want: 404},

		{name: "reviewer approves", method: "POST", path: "/api/v1/promotions/{prodWait}/approve", token: bob,
			body: DecideInput{Comment: "ship it"}, want: 200},
		{name: "reviewer approves without a body", method: "POST", path: "/api/v1/promotions/{prodWait}/approve", token: bob, want: 200},
		{name: "reviewer rejects", method: "POST", path: "/api/v1/promotions/{prodWait}/reject", token: bob, want: 200},
		{name: "self-approval", method: "POST", path: "/api/v1/promotions/{prodWait}/approve", token: alice, want: 403,
			wantErr: "cannot approve"},
		{name: "self-approval with another token of the same person", method: "POST", path: "/api/v1/promotions/{prodWait}/approve",
			token: func(f *cdFixture) string { return f.aliceLaptop }, want: 403, wantErr: "cannot approve"},
		{name: "not a reviewer", method: "POST", path: "/api/v1/promotions/{prodWait}/approve", token: carol, want: 403,
			wantErr: "not a reviewer"},
		{name: "read token cannot approve", method: "POST", path: "/api/v1/promotions/{prodWait}/approve", token: reader, want: 403},
		{name: "approve an unknown promotion", method: "POST", path: "/api/v1/promotions/999/approve", token: bob, want: 404},
		{name: "approve a finished promotion", method: "POST", path: "/api/v1/promotions/{stagingV2}/approve", token: bob, want: 409},

		{name: "no deployer: promote", noDeployer: true, method: "POST", path: "/api/v1/repos/demo/promotions", token: alice,
			body: PromoteInput{Release: "{v1short}", Env: "staging"}, want: 501},
		{name: "no deployer: roll back", noDeployer: true, method: "POST", path: "/api/v1/repos/demo/environments/staging/rollback",
			token: alice, want: 501},
		{name: "no deployer: approve", noDeployer: true, method: "POST", path: "/api/v1/promotions/{prodWait}/approve", token: bob, want: 501},
		{name: "no deployer: reject", noDeployer: true, method: "POST", path: "/api/v1/promotions/{prodWait}/reject", token: bob, want: 501},
		{name: "no deployer: reads still work", noDeployer: true, method: "GET", path: "/api/v1/repos/demo/environments", token: reader, want: 200},
		{name: "no deployer: auth first", noDeployer: true, method: "POST", path: "/api/v1/promotions/{prodWait}/approve", token: reader, want: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newCDFixture(t, !tt.noDeployer)
			fill := strings.NewReplacer("{v1}", f.v1.ID, "{v1short}", strings.TrimPrefix(f.v1.ID, "sha256:")[:12],
				"{rejected}", f.rejected.ID, "{repoPrefix}", f.repoPrefix, "{crossPrefix}", f.crossPrefix,
				"{run}", fmt.Sprint(f.run.ID), "{prodWait}", fmt.Sprint(f.prodWait.ID),
				"{stagingV1}", fmt.Sprint(f.stagingV1.ID), "{stagingV2}", fmt.Sprint(f.stagingV2.ID))
			var body any
			switch b := tt.body.(type) {
			case nil:
			case string: // raw JSON
				body = fill.Replace(b)
			default:
				js, err := json.Marshal(b)
				if err != nil {
					t.Fatal(err)
				}
				body = fill.Replace(string(js))
			}
			code, out := f.e.do(tt.method, fill.Replace(tt.path), tt.token(f), body)
			if code != tt.want {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, code, out, tt.want)
			}
			if code >= 400 {
				var e struct{ Error string }
				if err := json.Unmarshal(out, &e); err != nil || e.Error == "" {
					t.Fatalf("error body %s is not {\"error\": ...}", out)
				}
				if !strings.Contains(e.Error, tt.wantErr) {
					t.Errorf("error %q does not say %q", e.Error, tt.wantErr)
				}
			}
		})
	}
}

func TestCDAPIReleaseDetail(t *testing.T) {
	f := newCDFixture(t, true)
	var got ReleaseDetail
	f.e.mustDo(http.StatusOK, "GET", "/api/v1/releases/"+strings.TrimPrefix(f.v2.ID, "sha256:")[:8], f.reader, nil, &got)
	want := ReleaseDetail{Release: *f.v2, Promotions: []cd.Promotion{*f.stagingV2}, Repro: []store.ReproCheck{}}
	for _, a := range f.v2.Artifacts {
		want.Artifacts = append(want.Artifacts, store.ArtifactRecord{Artifact: a})
	}
	opts := cmp.Options{cmpopts.EquateApproxTime(time.Second), cmpopts.IgnoreFields(store.ArtifactRecord{}, "Created")}
	if d := cmp.Diff(want, got, opts); d != "" {
		t.Errorf("GET release (-want +got):\n%s", d)
	}

	var byRun cd.Release
	f.e.mustDo(http.StatusOK, "GET", fmt.Sprintf("/api/v1/runs/%d/release", f.run.ID), f.reader, nil, &byRun)
	latest, err := f.e.db.ReleaseOfRun(context.Background(), f.run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(*latest, byRun, opts); d != "" {
		t.Errorf("GET run release (-want +got):\n%s", d)
	}

	var rejected cd.Release
	f.e.mustDo(http.StatusOK, "POST", "/api/v1/releases/"+f.v2.ID+"/reject", f.alice, nil, &rejected)
	if !rejected.Rejected || rejected.ID != f.v2.ID {
		t.Errorf("reject answered %+v, want v2 rejected", rejected)
	}
	var list []cd.Release
	f.e.mustDo(http.StatusOK, "GET", "/api/v1/repos/demo/releases?limit=50", f.reader, nil, &list)
	var ids []string
	for _, r := range list {
		if r.ID == f.v1.ID || r.ID == f.v2.ID || r.ID == f.rejected.ID {
			ids = append(ids, fmt.Sprintf("%s %v", r.Version, r.Rejected))
		}
	}
	if d := cmp.Diff([]string{"0.9.0 true", "1.1.0 true", "1.0.0 false"}, ids); d != "" {
		t.Errorf("releases, newest first (-want +got):\n%s", d)
	}
	var none []cd.Release
	if f.e.mustDo(http.StatusOK, "GET", "/api/v1/repos/demo/releases?limit=0", f.reader, nil, &none); len(none) == 0 {
		t.Errorf("limit=0 should mean the default, got no releases")
	}
}

func TestCDAPIEnvironmentsAndDeployments(t *testing.T) {
	f := newCDFixture(t, true)
	var envs []EnvironmentView
	f.e.mustDo(http.StatusOK, "GET", "/api/v1/repos/demo/environments", f.reader, nil, &envs)
	type summary struct {
		Env     string
		Current int64
		Pending []int64
	}
	sum := func(vs []EnvironmentView) []summary {
		var out []summary
		for _, v := range vs {
			s := summary{Env: v.Environment.Name, Pending: []int64{}}
			if v.Current != nil {
				s.Current = v.Current.ID
			}
			for _, p := range v.Pending {
				s.Pending = append(s.Pending, p.ID)
			}
			out = append(out, s)
		}
		return out
	}
	want := []summary{{"staging", f.stagingV2.ID, []int64{}}, {"production", 0, []int64{f.prodWait.ID}}}
	if d := cmp.Diff(want, sum(envs)); d != "" {
		t.Errorf("environments (-want +got):\n%s", d)
	}
	if envs[1].Environment.RequiredApprovals != 1 || len(envs[1].Environment.Reviewers) != 2 {
		t.Errorf("production's rules were not passed on: %+v", envs[1].Environment)
	}

	// bob approves: the test deployer deploys at once, and the actor is the token's name.
	var p cd.Promotion
	f.e.mustDo(http.StatusOK, "POST", fmt.Sprintf("/api/v1/promotions/%d/approve", f.prodWait.ID), f.bob,
		DecideInput{Comment: "lgtm"}, &p)
	if d := cmp.Diff([]cd.Approval{{By: "bob", Approve: true, Comment: "lgtm"}}, p.Approvals,
		cmpopts.IgnoreFields(cd.Approval{}, "At")); d != "" || p.State != cd.StateSuccess {
		t.Errorf("approval: state %s, approvals (-want +got):\n%s", p.State, d)
	}
	f.e.mustDo(http.StatusOK, "GET", "/api/v1/repos/demo/environments", f.reader, nil, &envs)
	want[1] = summary{"production", f.prodWait.ID, []int64{}}
	if d := cmp.Diff(want, sum(envs)); d != "" {
		t.Errorf("environments after the approval (-want +got):\n%s", d)
	}

	var started cd.Promotion
	f.e.mustDo(http.StatusCreated, "POST", "/api/v1/repos/demo/promotions", f.carol,
		PromoteInput{Release: strings.TrimPrefix(f.v2.ID, "sha256:")[:10], Env: "production"}, &started)
	if started.StartedBy != "carol" || started.ReleaseID != f.v2.ID || started.Kind != cd.KindForward || started.State != cd.StateWaiting {
		t.Errorf("promotion %+v: want a waiting forward promotion of v2 started by carol", started)
	}
	var rb cd.Promotion
	f.e.mustDo(http.StatusCreated, "POST", "/api/v1/repos/demo/environments/staging/rollback", f.alice, RollbackInput{}, &rb)
	if rb.Kind != cd.KindRollback || rb.ReleaseID != f.v1.ID || rb.StartedBy != "alice" {
		t.Errorf("rollback %+v: want a rollback to v1 by alice", rb)
	}

	var hist []cd.Promotion
	f.e.mustDo(http.StatusOK, "GET", "/api/v1/repos/demo/environments/staging/deployments", f.reader, nil, &hist)
	var got []string
	for _, h := range hist {
		got = append(got, fmt.Sprintf("%d %s %s", h.ID, h.Kind, h.State))
	}
	wantHist := []string{fmt.Sprintf("%d rollback success", rb.ID), fmt.Sprintf("%d forward inactive", f.stagingV2.ID),
		fmt.Sprintf("%d forward inactive", f.stagingV1.ID)}
	if d := cmp.Diff(wantHist, got); d != "" {
		t.Errorf("staging history, newest first (-want +got):\n%s", d)
	}
	f.e.mustDo(http.StatusOK, "GET", "/api/v1/repos/demo/environments/staging/deployments?limit=1", f.reader, nil, &hist)
	if len(hist) != 1 || hist[0].ID != rb.ID {
		t.Errorf("limit=1 gave %d promotions, want the latest", len(hist))
	}
	// A configured environment without history is an empty list, not null.
	if err := f.e.db.PutEnvironment(context.Background(), f.repo.ID, cd.Environment{Name: "qa", Tier: cd.TierTesting}); err != nil {
		t.Fatal(err)
	}
	if code, out := f.e.do("GET", "/api/v1/repos/demo/environments/qa/deployments", f.reader, nil); code != 200 || strings.TrimSpace(string(out)) != "[]" {
		t.Errorf("empty history = %d %s, want 200 []", code, out)
	}
}

func TestCDAPICurrentBehindManyFailures(t *testing.T) {
	f := newCDFixture(t, true)
	ctx := context.Background()
	// More failures than the first page of history hide staging's success.
	for range 60 {
		p, err := f.e.db.CreatePromotion(ctx, f.repo.ID, cd.Promotion{Env: "staging", ReleaseID: f.v1.ID, Kind: cd.KindForward})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.e.db.SetPromotionState(ctx, p.ID, cd.StateInProgress); err != nil {
			t.Fatal(err)
		}
		if _, err := f.e.db.SetPromotionState(ctx, p.ID, cd.StateFailure); err != nil {
			t.Fatal(err)
		}
	}
	var envs []EnvironmentView
	f.e.mustDo(http.StatusOK, "GET", "/api/v1/repos/demo/environments", f.reader, nil, &envs)
	if envs[0].Current == nil || envs[0].Current.ID != f.stagingV2.ID {
		t.Errorf("staging's current = %+v, want promotion %d", envs[0].Current, f.stagingV2.ID)
	}
}

func TestCDAPIOpenAPIDocumentsTheRoutes(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(apiOpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	for _, route := range []string{
		"get /api/v1/repos/{name}/releases", "get /api/v1/releases/{id}", "post /api/v1/releases/{id}/reject",
		"get /api/v1/runs/{id}/release", "get /api/v1/repos/{name}/environments",
		"get /api/v1/repos/{name}/environments/{env}/deployments", "post /api/v1/repos/{name}/promotions",
		"post /api/v1/repos/{name}/environments/{env}/rollback", "get /api/v1/promotions/{id}",
		"post /api/v1/promotions/{id}/approve", "post /api/v1/promotions/{id}/reject",
	} {
		method, path, _ := strings.Cut(route, " ")
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("openapi.json does not document %s", route)
		}
	}
}
