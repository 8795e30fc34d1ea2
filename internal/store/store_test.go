package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMigrationsFreshAndReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "data", "db.sqlite")
	db := openAt(t, path)
	v, err := db.SchemaVersion(ctx)
	if want := latestMigration(t); err != nil || v != want {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, want)
	}
	var mode string
	if err := db.r.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	var fk int
	if err := db.w.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys = %d, %v; want 1", fk, err)
	}
	want := mustRepo(t, db, "app")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopening runs the migrations again: nothing to apply, data intact.
	for _, dsn := range []string{path, "sqlite://" + path, "file:" + path} {
		db2, err := Open(ctx, dsn)
		if err != nil {
			t.Fatalf("reopen %s: %v", dsn, err)
		}
		if v, err := db2.SchemaVersion(ctx); err != nil || v != latestMigration(t) {
			t.Errorf("%s: SchemaVersion = %d, %v", dsn, v, err)
		}
		got, err := db2.GetRepoByName(ctx, "app")
		if err != nil {
			t.Fatalf("%s: GetRepoByName: %v", dsn, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: repo after reopen (-want +got):\n%s", dsn, diff)
		}
		db2.Close()
	}
}

func TestOpenRejects(t *testing.T) {
	for _, dsn := range []string{":memory:", "postgres://u:secret@h/db", "sqlite://", "file:x.db?mode=ro"} {
		db, err := Open(context.Background(), dsn)
		if err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", dsn)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error leaks the password: %v", dsn, err)
		}
	}
}

func TestRepos(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	a, err := db.CreateRepo(ctx, Repo{Name: "a", URL: "https://x/a.git", WebhookSecret: []byte{1, 2}, DefaultBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	mustRepo(t, db, "b")
	if _, err := db.CreateRepo(ctx, Repo{Name: "a", URL: "u"}); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate name: err = %v, want ErrConflict", err)
	}
	got, err := db.GetRepo(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, got); diff != "" {
		t.Errorf("GetRepo (-want +got):\n%s", diff)
	}
	a.URL = "ssh://x/a.git"
	if _, err := db.UpdateRepo(ctx, *a); err != nil {
		t.Fatal(err)
	}
	mustRun(t, db, a.ID, Job{Key: "build", Status: StatusQueued})
	if err := db.DeleteRepo(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetRepo(ctx, a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete: err = %v, want ErrNotFound", err)
	}
	runs, err := db.ListRuns(ctx, RunFilter{RepoID: a.ID})
	if err != nil || len(runs) != 0 {
		t.Errorf("runs of deleted repo = %v, %v", runs, err)
	}
	list, err := db.ListRepos(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range list {
		names = append(names, r.Name)
	}
	if diff := cmp.Diff([]string{"b"}, names); diff != "" {
		t.Errorf("ListRepos (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{EventRepoCreated, EventRepoUpdated, EventRepoDeleted},
		eventKinds(t, db, EventFilter{RepoID: a.ID, Kinds: []string{EventRepoCreated, EventRepoUpdated, EventRepoDeleted}})); diff != "" {
		t.Errorf("repo events (-want +got):\n%s", diff)
	}
}

// latestMigration is the number of the newest SQLite migration file: every
// migration is applied.
func latestMigration(t *testing.T) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", "sqlite", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("listing migrations: %v", err)
	}
	var n int64
	for _, f := range files {
		var v int64
		fmt.Sscanf(filepath.Base(f), "%d_", &v)
		n = max(n, v)
	}
	return n
}
