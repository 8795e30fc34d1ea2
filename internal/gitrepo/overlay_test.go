package gitrepo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sourceSnapshot is what must not change in the user's repository when a
// checkout is made from it.
type sourceSnapshot struct {
	Status  string
	Objects string
	Refs    string
}

func snapshot(t *testing.T, dir string) sourceSnapshot {
	t.Helper()
	return sourceSnapshot{
		Status:  run(t, dir, "status", "--porcelain=v1", "--untracked-files=all"),
		Objects: run(t, dir, "count-objects", "-v"),
		Refs:    run(t, dir, "for-each-ref"),
	}
}

// checkoutHead makes a depth-1 checkout of src's HEAD in a new directory.
func checkoutHead(t *testing.T, src string) string {
	t.Helper()
	dest := filepath.Join(t.TempDir(), "ws")
	sha := run(t, src, "rev-parse", "HEAD")
	if err := Checkout(context.Background(), dest, CheckoutOptions{Source: src, SHA: sha, Ref: "refs/heads/main", Depth: 1}); err != nil {
		t.Fatalf("Checkout: %v", err)
	}
	return dest
}

func TestOverlayWorkingTree(t *testing.T) {
	src := newRepo(t)
	commit(t, src, "init", map[string]string{
		".gitignore":       "*.log\nbuild/\n",
		"modified.txt":     "old",
		"deleted.txt":      "gone soon",
		"staged-del.txt":   "gone too",
		"same.txt":         "same",
		"dir/nested.txt":   "old nested",
		"with space/a b.c": "old",
	})
	writeFiles(t, src, map[string]string{
		"modified.txt":        "new",
		"dir/nested.txt":      "new nested",
		"with space/a b.c":    "new",
		"untracked.txt":       "u",
		"newdir/deep/u.py":    "print(1)",
		"staged-new.txt":      "s",
		"debug.log":           "ignored",
		"build/out.bin":       "ignored",
		"newdir/deep/ign.log": "ignored",
	})
	if err := os.Remove(filepath.Join(src, "deleted.txt")); err != nil {
		t.Fatal(err)
	}
	run(t, src, "add", "staged-new.txt")
	run(t, src, "rm", "-q", "staged-del.txt")
	dest := checkoutHead(t, src)
	before := snapshot(t, src)

	if err := OverlayWorkingTree(context.Background(), src, dest); err != nil {
		t.Fatalf("OverlayWorkingTree: %v", err)
	}

	want := map[string]string{
		".gitignore":       "*.log\nbuild/\n",
		"modified.txt":     "new",
		"same.txt":         "same",
		"dir/nested.txt":   "new nested",
		"with space/a b.c": "new",
		"untracked.txt":    "u",
		"newdir/deep/u.py": "print(1)",
		"staged-new.txt":   "s",
	}
	if diff := cmp.Diff(want, tree(t, dest)); diff != "" {
		t.Errorf("checkout after overlay (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, snapshot(t, src)); diff != "" {
		t.Errorf("source repository changed (-before +after):\n%s", diff)
	}
}

func TestOverlayWorkingTreeSymlinks(t *testing.T) {
	src := newRepo(t)
	writeFiles(t, src, map[string]string{"target.txt": "target"})
	if err := os.Symlink("target.txt", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	commit(t, src, "init", nil)
	// The tracked symlink becomes a regular file, and a new symlink appears.
	if err := os.Remove(filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, src, map[string]string{"link": "now a file"})
	if err := os.Symlink("target.txt", filepath.Join(src, "newlink")); err != nil {
		t.Fatal(err)
	}
	dest := checkoutHead(t, src)
	if err := OverlayWorkingTree(context.Background(), src, dest); err != nil {
		t.Fatalf("OverlayWorkingTree: %v", err)
	}
	want := map[string]string{"target.txt": "target", "link": "now a file", "newlink": "-> target.txt"}
	if diff := cmp.Diff(want, tree(t, dest)); diff != "" {
		t.Errorf("checkout after overlay (-want +got):\n%s", diff)
	}
}

// A mode-only change (chmod +x on a tracked script) is a modification git
// reports, and the step that runs ./script.sh needs it.
func TestOverlayWorkingTreeExecutableBit(t *testing.T) {
	src := newRepo(t)
	commit(t, src, "init", map[string]string{"script.sh": "#!/bin/sh\necho hi\n"})
	if err := os.Chmod(filepath.Join(src, "script.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	dest := checkoutHead(t, src)
	if err := OverlayWorkingTree(context.Background(), src, dest); err != nil {
		t.Fatalf("OverlayWorkingTree: %v", err)
	}
	fi, err := os.Stat(filepath.Join(dest, "script.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("script.sh in the checkout has mode %v, want it executable as in the working tree", fi.Mode())
	}
}

// OverlayWorkingTree promises not to write to the source. `git status`
// refreshes stale stat data in the index and rewrites .git/index unless
// told not to take optional locks, which also races with the user's own git
// commands in another terminal.
func TestOverlayWorkingTreeLeavesIndexAlone(t *testing.T) {
	src := newRepo(t)
	commit(t, src, "init", map[string]string{"a.txt": "a", "b.txt": "b"})
	// Same content, different stat data: git sees it as clean after
	// re-reading it and would like to record the new stat data.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(src, "a.txt"), old, old); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, src, map[string]string{"b.txt": "changed"})
	dest := checkoutHead(t, src)
	index := filepath.Join(src, ".git", "index")
	before, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	if err := OverlayWorkingTree(context.Background(), src, dest); err != nil {
		t.Fatalf("OverlayWorkingTree: %v", err)
	}
	after, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("OverlayWorkingTree rewrote the source repository's .git/index")
	}
}

func TestOverlayWorkingTreeNotARepository(t *testing.T) {
	isolateGit(t)
	if err := OverlayWorkingTree(context.Background(), t.TempDir(), t.TempDir()); err == nil {
		t.Errorf("OverlayWorkingTree from a plain directory succeeded")
	}
}
