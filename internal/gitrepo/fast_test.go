package gitrepo

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The fast paths must agree with git itself, or decline.
func TestReadHeadAgreesWithGit(t *testing.T) {
	ctx := context.Background()
	dir := newRepo(t)
	writeFiles(t, dir, map[string]string{"a.txt": "a"})
	run(t, dir, "add", "-A")
	run(t, dir, "commit", "-q", "-m", "one")
	steps := []struct {
		name string
		do   func()
	}{
		{"loose ref", func() {}},
		{"packed refs", func() { run(t, dir, "pack-refs", "--all") }},
		{"detached", func() { run(t, dir, "checkout", "-q", "--detach") }},
		{"other branch", func() { run(t, dir, "checkout", "-q", "-b", "feature/x") }},
	}
	for _, st := range steps {
		st.do()
		root, h, ok := readHead(dir)
		if !ok {
			t.Fatalf("%s: fast path declined", st.name)
		}
		want, err := (&Repo{Root: dir}).Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, h); diff != "" || root != dir {
			t.Errorf("%s: readHead = %s %+v, git says (-want +got):\n%s", st.name, root, h, diff)
		}
	}
}

func TestReadIdentityAgreesWithGit(t *testing.T) {
	dir := newRepo(t)
	run(t, dir, "remote", "add", "origin", "git@example.com:acme/widget.git")
	run(t, dir, "config", "user.name", "Ada Lovelace")
	for _, k := range []string{"GIT_AUTHOR_NAME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_COUNT"} {
		t.Setenv(k, "")
	}
	t.Setenv("HOME", t.TempDir())
	got, ok := readIdentity(dir)
	if !ok {
		t.Fatal("fast path declined")
	}
	want := Identity{Repository: "acme/widget", Actor: "Ada Lovelace", Origin: "git@example.com:acme/widget.git"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("readIdentity (-want +got):\n%s", diff)
	}
	// An include is git's to resolve.
	run(t, dir, "config", "include.path", "other.cfg")
	if _, ok := readIdentity(dir); ok {
		t.Error("readIdentity read a config with [include]; want it to decline")
	}
}
