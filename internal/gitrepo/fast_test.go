package gitrepo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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
	want := Identity{Repository: "acme/widget", Actor: "Ada Lovelace", OriginURL: "git@example.com:acme/widget.git"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("readIdentity (-want +got):\n%s", diff)
	}
	// An include is git's to resolve.
	run(t, dir, "config", "include.path", "other.cfg")
	if _, ok := readIdentity(dir); ok {
		t.Error("readIdentity read a config with [include]; want it to decline")
	}
}

// Resolve answers from the .git directory, including "no such ref", only where git would give
// the same answer.
func TestResolveAgreesWithGit(t *testing.T) {
	ctx := context.Background()
	dir := newRepo(t)
	writeFiles(t, dir, map[string]string{"a.txt": "a"})
	run(t, dir, "add", "-A")
	run(t, dir, "commit", "-q", "-m", "one")
	refs := []string{"refs/heads/main", "refs/heads/master", "refs/remotes/origin/main", "refs/remotes/origin/HEAD",
		"refs/tags/v1", "refs/heads/nested/deeper", "refs/heads/main/x"}
	steps := []struct {
		name string
		do   func()
	}{
		{"no remote", func() {}},
		{"loose remote ref", func() { run(t, dir, "update-ref", "refs/remotes/origin/main", "HEAD") }},
		{"packed", func() { run(t, dir, "pack-refs", "--all") }},
		{"annotated tag", func() { run(t, dir, "tag", "-a", "-m", "t", "v1") }},
		{"symbolic remote HEAD", func() { run(t, dir, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main") }},
		{"deleted", func() { run(t, dir, "update-ref", "-d", "refs/remotes/origin/main") }},
		{"nested branch", func() { run(t, dir, "branch", "nested/deeper") }},
	}
	r := &Repo{Root: dir}
	for _, st := range steps {
		st.do()
		for _, ref := range refs {
			want := ""
			if out, err := git(ctx, dir, "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}"); err == nil {
				want = strings.TrimSpace(out)
			}
			if got := r.Resolve(ctx, ref); got != want {
				t.Errorf("%s: Resolve(%s) = %q, git says %q", st.name, ref, got, want)
			}
		}
	}
	// Where the refs may live elsewhere, the absence is git's to decide.
	t.Setenv("GIT_DIR", filepath.Join(dir, ".git"))
	if refsInFiles(filepath.Join(dir, ".git")) {
		t.Error("absence decided with GIT_DIR set; want it left to git")
	}
	t.Setenv("GIT_DIR", "")
	if err := os.Mkdir(filepath.Join(dir, ".git", "reftable"), 0o755); err != nil {
		t.Fatal(err)
	}
	if refsInFiles(filepath.Join(dir, ".git")) {
		t.Error("absence decided in a repository with a reftable directory; want it left to git")
	}
}
