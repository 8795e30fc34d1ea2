package store

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/cd"
)

// Another run making a release's bytes again is a rebuild, recorded once; a promotion run, which
// deploys the release's own copied bytes, is not.
func TestReleaseRebuiltEvent(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	repo := mustRepo(t, db, "acme/app")
	first, _ := mustRun(t, db, repo.ID, Job{Key: "build"})
	again, _ := mustRun(t, db, repo.ID, Job{Key: "build"})
	promo, _, err := db.CreateRun(ctx, Run{RepoID: repo.ID, Workflow: ".github/workflows/ci.yml", Trigger: TriggerPromotion,
		Event: "push", Ref: "refs/heads/main"}, []Job{{Key: "deploy"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range []int64{first.ID, again.ID, again.ID, promo.ID, 0} {
		if _, _, err := db.CreateRelease(ctx, repo.ID, mustReleaseOf(t, run)); err != nil {
			t.Fatal(err)
		}
	}
	builds, err := db.MetricsBuilds(ctx, repo.ID, newClock().Now().Add(-24*60*60*1e9))
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, b := range builds {
		got = append(got, b.RunID)
	}
	if diff := cmp.Diff([]int64{first.ID, again.ID}, got); diff != "" {
		t.Errorf("builds by run (-want +got):\n%s", diff)
	}
}

func mustReleaseOf(t *testing.T, run int64) cd.Release {
	t.Helper()
	a := cd.Artifact{Name: "app.whl", Digest: "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Size: 1}
	r, err := cd.NewRelease(cd.ReleaseSource{Repo: "acme/app", Commit: "c0ffee", Ref: "refs/heads/main", RunID: run}, []cd.Artifact{a}, newClock().Now())
	if err != nil {
		t.Fatal(err)
	}
	return r
}
