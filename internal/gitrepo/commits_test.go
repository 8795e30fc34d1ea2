package gitrepo

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPushAndChangedFiles: a push of HEAD ahead of origin/main brings the commits since the
// upstream, and its paths filters see every file they changed (before..HEAD); with no upstream,
// HEAD alone, and a root commit changes every file.
func TestPushAndChangedFiles(t *testing.T) {
	ctx := context.Background()
	dir := newRepo(t)
	put := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	commit := func(msg string) string {
		run(t, dir, "add", "-A")
		run(t, dir, "commit", "-q", "-m", msg)
		return run(t, dir, "rev-parse", "HEAD")
	}
	put("a.txt", "a")
	put("b.txt", "b")
	root := commit("root")
	put("a.txt", "a2")
	second := commit("second")
	put("c.txt", "c")
	head := commit("third")
	r := &Repo{Root: dir}
	h := Head{SHA: head, Ref: "refs/heads/main"}

	before, cs, err := r.PushOf(ctx, h, 20)
	if err != nil {
		t.Fatal(err)
	}
	if before != second || len(cs) != 1 || cs[0].SHA != head || cs[0].Message != "third" {
		t.Errorf("without upstream: before %s, commits %+v; want HEAD alone after its parent", before, cs)
	}
	run(t, dir, "update-ref", "refs/remotes/origin/main", root)
	before, cs, err = r.PushOf(ctx, h, 20)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.SHA)
	}
	if diff := cmp.Diff([]string{second, head}, ids); diff != "" || before != root {
		t.Errorf("ahead of origin/main: before %s (want %s), commits (-want +got):\n%s", before, root, diff)
	}
	if diff := cmp.Diff([]string{"c.txt"}, cs[1].Added); diff != "" {
		t.Errorf("files of the head commit (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		before, after string
		want          []string
	}{
		{root, head, []string{"a.txt", "c.txt"}},
		{"", root, []string{"a.txt", "b.txt"}},
		{"0000000000000000000000000000000000000000", head, []string{"c.txt"}},
	} {
		got, err := r.ChangedSince(ctx, tc.before, tc.after)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ChangedSince(%.7s, %.7s) (-want +got):\n%s", tc.before, tc.after, diff)
		}
	}
	if _, err := r.ChangedSince(ctx, "--output=/tmp/x", head); err == nil {
		t.Errorf("ChangedSince accepted an option as a commit")
	}
}
