package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pressly/goose/v3"

	"github.com/sluice-ci/sluice/internal/cd"
)

func digestOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}

func mustRelease(t *testing.T, db *DB, repoID, runID int64, names ...string) *cd.Release {
	t.Helper()
	var arts []cd.Artifact
	for _, n := range names {
		arts = append(arts, cd.Artifact{Name: n, Digest: digestOf(n), Size: int64(len(n)), MediaType: "application/zip"})
	}
	r, err := cd.NewRelease(cd.ReleaseSource{Commit: "abc", Ref: "refs/heads/main", Version: "1.0", LockHash: "lh", RunID: runID}, arts, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := db.CreateRelease(context.Background(), repoID, r)
	if err != nil {
		t.Fatalf("CreateRelease: %v", err)
	}
	return got
}

func mustPromotion(t *testing.T, db *DB, repoID int64, env, release string) *cd.Promotion {
	t.Helper()
	p, err := db.CreatePromotion(context.Background(), repoID, cd.Promotion{Env: env, ReleaseID: release, Kind: cd.KindForward, StartedBy: "ann"})
	if err != nil {
		t.Fatalf("CreatePromotion: %v", err)
	}
	return p
}

func TestCDMigrationFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db.sqlite")
	d, err := parseDSN(path)
	if err != nil {
		t.Fatal(err)
	}
	// Build a database as the previous release of sluice left it: only 00001 applied.
	_, all := d.migrations()
	first, err := fs.ReadFile(all, "00001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open(d.driverName(), d.writerDSN())
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, raw, fstest.MapFS{"00001_init.sql": {Data: first}},
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, `INSERT INTO repos (name, url, created_at) VALUES ('old', 'u', 1)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db := openAt(t, path)
	if v, err := db.SchemaVersion(ctx); err != nil || v != latestMigration(t) {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, latestMigration(t))
	}
	repo, err := db.GetRepoByName(ctx, "old")
	if err != nil {
		t.Fatalf("repo from version 1: %v", err)
	}
	want := mustRelease(t, db, repo.ID, 0, "app.whl")
	db.Close()

	db2 := openAt(t, path)
	got, err := db2.GetRelease(ctx, want.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("release after reopen (-want +got):\n%s", diff)
	}
}

func TestReleaseIdempotent(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	repo := mustRepo(t, db, "app")
	run, _ := mustRun(t, db, repo.ID, Job{Key: "build"})
	arts := []cd.Artifact{
		{Name: "app-1.0.tar.gz", Digest: digestOf("sdist"), Size: 5},
		{Name: "app-1.0-py3-none-any.whl", Digest: digestOf("wheel"), Size: 5, MediaType: "application/zip"},
	}
	r, err := cd.NewRelease(cd.ReleaseSource{Commit: "c0ffee", Ref: "refs/tags/v1.0", Version: "1.0", LockHash: "lh", RunID: run.ID}, arts, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	first, created, err := db.CreateRelease(ctx, repo.ID, r)
	if err != nil || !created {
		t.Fatalf("first CreateRelease: created=%v err=%v", created, err)
	}
	want := r
	want.Repo, want.Created = "app", newClock().Now()
	if diff := cmp.Diff(&want, first); diff != "" {
		t.Errorf("created release (-want +got):\n%s", diff)
	}
	again := r
	again.Version = "other"
	second, created, err := db.CreateRelease(ctx, repo.ID, again)
	if err != nil || created {
		t.Fatalf("second CreateRelease: created=%v err=%v", created, err)
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("second CreateRelease changed the release (-first +second):\n%s", diff)
	}
	other := mustRepo(t, db, "other")
	if _, _, err := db.CreateRelease(ctx, other.ID, r); !errors.Is(err, ErrConflict) {
		t.Errorf("same release in another repo: err = %v, want ErrConflict", err)
	}
	bad := r
	bad.ID = digestOf("x")
	if _, _, err := db.CreateRelease(ctx, repo.ID, bad); err == nil {
		t.Error("release with a wrong id accepted")
	}
	if _, err := db.GetRelease(ctx, bad.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetRelease(unknown): err = %v, want ErrNotFound", err)
	}

	if err := db.PutArtifact(ctx, arts[1], []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)); err != nil {
		t.Fatal(err)
	}
	a, err := db.GetArtifact(ctx, arts[1].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(`{"_type":"https://in-toto.io/Statement/v1"}`, string(a.Provenance)); diff != "" {
		t.Errorf("provenance (-want +got):\n%s", diff)
	}

	rej, err := db.RejectRelease(ctx, r.ID)
	if err != nil || !rej.Rejected {
		t.Fatalf("RejectRelease = %+v, %v", rej, err)
	}
	if _, err := db.RejectRelease(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{EventReleaseCreated, EventReleaseRejected},
		eventKinds(t, db, EventFilter{RepoID: repo.ID, Kinds: []string{EventReleaseCreated, EventReleaseRejected}})); diff != "" {
		t.Errorf("release events (-want +got):\n%s", diff)
	}
}

func TestListReleasesAndHistoryNewestFirst(t *testing.T) {
	ctx := context.Background()
	db, clock := newDB(t)
	repo := mustRepo(t, db, "app")
	var ids []string
	for _, n := range []string{"a", "b", "c"} {
		ids = append(ids, mustRelease(t, db, repo.ID, 0, n).ID)
		clock.Advance(time.Second)
	}
	rels, err := db.ListReleases(ctx, repo.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rels {
		got = append(got, r.ID)
	}
	if diff := cmp.Diff([]string{ids[2], ids[1]}, got); diff != "" {
		t.Errorf("ListReleases (-want +got):\n%s", diff)
	}

	var staging []int64
	for _, id := range ids {
		staging = append(staging, mustPromotion(t, db, repo.ID, "staging", id).ID)
		mustPromotion(t, db, repo.ID, "production", id)
	}
	hist, err := db.ListPromotions(ctx, repo.ID, "staging", 0)
	if err != nil {
		t.Fatal(err)
	}
	var gotIDs []int64
	var gotRel []string
	for _, p := range hist {
		gotIDs, gotRel = append(gotIDs, p.ID), append(gotRel, p.ReleaseID)
	}
	if diff := cmp.Diff([]int64{staging[2], staging[1], staging[0]}, gotIDs); diff != "" {
		t.Errorf("staging history ids (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{ids[2], ids[1], ids[0]}, gotRel); diff != "" {
		t.Errorf("staging history releases (-want +got):\n%s", diff)
	}
	all, err := db.ListPromotions(ctx, repo.ID, "", 4)
	if err != nil || len(all) != 4 {
		t.Errorf("ListPromotions(all, 4) = %d promotions, %v", len(all), err)
	}
	if _, err := db.CreatePromotion(ctx, repo.ID, cd.Promotion{Env: "staging", ReleaseID: digestOf("none"), Kind: cd.KindForward}); !errors.Is(err, ErrNotFound) {
		t.Errorf("promotion of unknown release: err = %v, want ErrNotFound", err)
	}
}

func TestSuccessDeactivatesEarlierSuccesses(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	repo := mustRepo(t, db, "app")
	r1 := mustRelease(t, db, repo.ID, 0, "one")
	r2 := mustRelease(t, db, repo.ID, 0, "two")
	succeed := func(p *cd.Promotion) {
		t.Helper()
		for _, s := range []cd.State{cd.StateInProgress, cd.StateSuccess} {
			if _, err := db.SetPromotionState(ctx, p.ID, s); err != nil {
				t.Fatalf("SetPromotionState(%d, %s): %v", p.ID, s, err)
			}
		}
	}
	old := mustPromotion(t, db, repo.ID, "production", r1.ID)
	succeed(old)
	otherEnv := mustPromotion(t, db, repo.ID, "staging", r1.ID)
	succeed(otherEnv)
	failed := mustPromotion(t, db, repo.ID, "production", r2.ID)
	if _, err := db.SetPromotionState(ctx, failed.ID, cd.StateError); err != nil {
		t.Fatal(err)
	}
	next := mustPromotion(t, db, repo.ID, "production", r2.ID)
	succeed(next)

	states := map[int64]cd.State{}
	for _, id := range []int64{old.ID, otherEnv.ID, failed.ID, next.ID} {
		p, err := db.GetPromotion(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		states[id] = p.State
	}
	want := map[int64]cd.State{old.ID: cd.StateInactive, otherEnv.ID: cd.StateSuccess, failed.ID: cd.StateError, next.ID: cd.StateSuccess}
	if diff := cmp.Diff(want, states); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	if _, err := db.SetPromotionState(ctx, failed.ID, cd.StateInProgress); err == nil {
		t.Error("a terminal promotion was moved back to in_progress")
	}
	if _, err := db.SetPromotionState(ctx, next.ID, "bogus"); err == nil {
		t.Error("unknown state accepted")
	}

	evs, err := db.ListEvents(ctx, EventFilter{RepoID: repo.ID, Kinds: []string{EventPromotionState}})
	if err != nil {
		t.Fatal(err)
	}
	var data []string
	for _, e := range evs {
		data = append(data, string(e.Data))
	}
	wantData := []string{
		`{"from":"queued","promotion":1,"to":"in_progress"}`, `{"from":"in_progress","promotion":1,"to":"success"}`,
		`{"from":"queued","promotion":2,"to":"in_progress"}`, `{"from":"in_progress","promotion":2,"to":"success"}`,
		`{"from":"queued","promotion":3,"to":"error"}`,
		`{"from":"queued","promotion":4,"to":"in_progress"}`, `{"from":"in_progress","promotion":4,"to":"success"}`,
		`{"from":"success","promotion":1,"to":"inactive"}`,
	}
	if diff := cmp.Diff(wantData, data); diff != "" {
		t.Errorf("promotion.state events (-want +got):\n%s", diff)
	}
}

func TestApprovals(t *testing.T) {
	ctx := context.Background()
	db, clock := newDB(t)
	repo := mustRepo(t, db, "app")
	p := mustPromotion(t, db, repo.ID, "production", mustRelease(t, db, repo.ID, 0, "w").ID)
	if _, err := db.AddApproval(ctx, p.ID, cd.Approval{By: "bob", Approve: true, Comment: "lgtm"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	got, err := db.AddApproval(ctx, p.ID, cd.Approval{By: "carol", Approve: false})
	if err != nil {
		t.Fatal(err)
	}
	t0 := newClock().Now()
	want := []cd.Approval{{By: "bob", Approve: true, Comment: "lgtm", At: t0}, {By: "carol", At: t0.Add(time.Minute)}}
	if diff := cmp.Diff(want, got.Approvals); diff != "" {
		t.Errorf("approvals (-want +got):\n%s", diff)
	}
	if _, err := db.AddApproval(ctx, p.ID, cd.Approval{By: "bob", Approve: false}); !errors.Is(err, ErrConflict) {
		t.Errorf("second approval by bob: err = %v, want ErrConflict", err)
	}
	if _, err := db.AddApproval(ctx, 999, cd.Approval{By: "bob"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("approval of unknown promotion: err = %v, want ErrNotFound", err)
	}
	hist, err := db.ListPromotions(ctx, repo.ID, "production", 0)
	if err != nil || len(hist) != 1 {
		t.Fatalf("ListPromotions = %v, %v", hist, err)
	}
	if diff := cmp.Diff(want, hist[0].Approvals); diff != "" {
		t.Errorf("listed approvals (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{EventPromotionCreated, EventPromotionApproval, EventPromotionApproval},
		eventKinds(t, db, EventFilter{RepoID: repo.ID, Kinds: []string{EventPromotionCreated, EventPromotionApproval}})); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestEnvironments(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	repo := mustRepo(t, db, "app")
	staging := cd.Environment{Name: "staging", Tier: cd.TierStaging, Automatic: true}
	prod := cd.Environment{Name: "production", Tier: cd.TierProduction, Upstream: []string{"staging"},
		Reviewers: []string{"bob", "carol"}, RequiredApprovals: 1, WaitTimer: time.Minute}
	for _, e := range []cd.Environment{staging, prod} {
		if err := db.PutEnvironment(ctx, repo.ID, e); err != nil {
			t.Fatal(err)
		}
	}
	staging.URL = "https://staging.example"
	if err := db.PutEnvironment(ctx, repo.ID, staging); err != nil {
		t.Fatal(err)
	}
	got, err := db.ListEnvironments(ctx, repo.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]cd.Environment{staging, prod}, got); diff != "" {
		t.Errorf("ListEnvironments (-want +got):\n%s", diff)
	}
	if err := db.PutEnvironment(ctx, 999, staging); err == nil {
		t.Error("environment of an unknown repo accepted")
	}
}

func TestDeleteRepoWithCD(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	repo := mustRepo(t, db, "app")
	r := mustRelease(t, db, repo.ID, 0, "w")
	p := mustPromotion(t, db, repo.ID, "staging", r.ID)
	if _, err := db.AddApproval(ctx, p.ID, cd.Approval{By: "bob", Approve: true}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteRepo(ctx, repo.ID); err != nil {
		t.Fatalf("DeleteRepo: %v", err)
	}
	if _, err := db.GetRelease(ctx, r.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("release after repo deletion: err = %v", err)
	}
	if _, err := db.GetArtifact(ctx, digestOf("w")); err != nil {
		t.Errorf("content-addressed artifact should outlive the repo: %v", err)
	}
}
