package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestReproChecks(t *testing.T) {
	ctx := context.Background()
	db, clock := newDB(t)
	repo := mustRepo(t, db, "demo")
	other := mustRepo(t, db, "other")
	r1 := mustRelease(t, db, repo.ID, 0, "a-1-py3-none-any.whl", "a-1.tar.gz")
	r2 := mustRelease(t, db, repo.ID, 0, "a-2-py3-none-any.whl")
	r3 := mustRelease(t, db, repo.ID, 0, "a-3-py3-none-any.whl")
	ro := mustRelease(t, db, other.ID, 0, "b-1-py3-none-any.whl")

	if got, err := db.ListReproChecks(ctx, r1.ID); err != nil || got == nil || len(got) != 0 {
		t.Errorf("ListReproChecks before any = %#v, %v; want an empty list", got, err)
	}
	if checked, identical, err := db.ReproRate(ctx, repo.ID); err != nil || checked != 0 || identical != 0 {
		t.Errorf("ReproRate before any = %d, %d, %v", checked, identical, err)
	}

	add := func(c ReproCheck) ReproCheck {
		t.Helper()
		clock.Advance(time.Minute)
		got, err := db.AddReproCheck(ctx, c)
		if err != nil {
			t.Fatalf("AddReproCheck: %v", err)
		}
		return *got
	}
	first := add(ReproCheck{ReleaseID: r1.ID, Identical: false, Differ: []string{"a-1-py3-none-any.whl"}, Detail: "wheel embeds the time", By: "ann"})
	want := ReproCheck{ID: first.ID, ReleaseID: r1.ID, Differ: []string{"a-1-py3-none-any.whl"}, Detail: "wheel embeds the time",
		By: "ann", Created: clock.Now()}
	if d := cmp.Diff(want, first); d != "" {
		t.Errorf("AddReproCheck (-want +got):\n%s", d)
	}
	second := add(ReproCheck{ReleaseID: r1.ID, Identical: true, By: "bob"})
	if second.Differ == nil || len(second.Differ) != 0 {
		t.Errorf("identical check's Differ = %#v, want an empty list", second.Differ)
	}
	add(ReproCheck{ReleaseID: r2.ID, Identical: true})
	add(ReproCheck{ReleaseID: r3.ID, Identical: true})
	add(ReproCheck{ReleaseID: r3.ID, Identical: false, Differ: []string{"a-3-py3-none-any.whl"}})
	add(ReproCheck{ReleaseID: ro.ID, Identical: true})

	got, err := db.ListReproChecks(ctx, r1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]ReproCheck{second, first}, got); d != "" {
		t.Errorf("ListReproChecks newest first (-want +got):\n%s", d)
	}

	// Latest check per release: r1 identical (fixed), r2 identical, r3 differs (regressed).
	if checked, identical, err := db.ReproRate(ctx, repo.ID); err != nil || checked != 3 || identical != 2 {
		t.Errorf("ReproRate(demo) = %d checked, %d identical, %v; want 3, 2", checked, identical, err)
	}
	if checked, identical, err := db.ReproRate(ctx, other.ID); err != nil || checked != 1 || identical != 1 {
		t.Errorf("ReproRate(other) = %d checked, %d identical, %v; want 1, 1", checked, identical, err)
	}

	if _, err := db.AddReproCheck(ctx, ReproCheck{ReleaseID: "sha256:" + "0123456789abcdef"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("check of an unknown release: err = %v, want ErrNotFound", err)
	}
	if d := cmp.Diff([]string{EventReproChecked, EventReproChecked, EventReproChecked, EventReproChecked, EventReproChecked},
		eventKinds(t, db, EventFilter{RepoID: repo.ID, Kinds: []string{EventReproChecked}})); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
}
