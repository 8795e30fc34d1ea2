package gitrepo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestOpenOutsideRepository(t *testing.T) {
	isolateGit(t)
	dir := t.TempDir()
	_, err := Open(context.Background(), dir)
	if err == nil {
		t.Fatalf("Open(%s) succeeded outside a repository", dir)
	}
	for _, want := range []string{dir, "git init"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open error %q does not mention %q", err, want)
		}
	}
}

func TestOpenFromSubdirectory(t *testing.T) {
	dir := newRepo(t)
	commit(t, dir, "init", map[string]string{"sub/deeper/f.txt": "x"})
	r, err := Open(context.Background(), filepath.Join(dir, "sub", "deeper"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Root != dir {
		t.Errorf("Root = %q, want %q", r.Root, dir)
	}
}

func TestHead(t *testing.T) {
	ctx := context.Background()
	dir := newRepo(t)
	r := &Repo{Root: dir}
	if _, err := r.Head(ctx); err == nil || !strings.Contains(err.Error(), "commit yet") {
		t.Errorf("Head on an empty repository: error %v, want one asking for a commit", err)
	}
	first := commit(t, dir, "one", map[string]string{"a": "1"})
	second := commit(t, dir, "two", map[string]string{"a": "2"})
	run(t, dir, "checkout", "-q", "-b", "feature/x")

	got, err := r.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Head{SHA: second, Ref: "refs/heads/feature/x"}, got); diff != "" {
		t.Errorf("Head on a branch (-want +got):\n%s", diff)
	}

	run(t, dir, "checkout", "-q", "--detach", first)
	got, err = r.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Head{SHA: first, Ref: first}, got); diff != "" {
		t.Errorf("Head detached (-want +got):\n%s", diff)
	}
}

func TestChangedFiles(t *testing.T) {
	ctx := context.Background()
	dir := newRepo(t)
	r := &Repo{Root: dir}
	root := commit(t, dir, "root", map[string]string{"a.txt": "1", "dir/b.txt": "1", "dir/sub/c.py": "1"})
	writeFiles(t, dir, map[string]string{"a.txt": "2", "new file.txt": "n"})
	run(t, dir, "rm", "-q", "dir/b.txt")
	later := commit(t, dir, "later", nil)
	run(t, dir, "checkout", "-q", "-b", "feature")
	feat := commit(t, dir, "feature", map[string]string{"docs/f.md": "f"})
	run(t, dir, "checkout", "-q", "main")
	commit(t, dir, "main moves on", map[string]string{"a.txt": "3"})
	run(t, dir, "merge", "-q", "--no-ff", "-m", "merge", "feature")
	merge := run(t, dir, "rev-parse", "HEAD")

	tests := []struct {
		name string
		sha  string
		want []string
	}{
		{name: "root commit lists all files", sha: root, want: []string{"a.txt", "dir/b.txt", "dir/sub/c.py"}},
		{name: "later commit", sha: later, want: []string{"a.txt", "dir/b.txt", "new file.txt"}},
		{name: "branch commit", sha: feat, want: []string{"docs/f.md"}},
		{name: "merge against first parent", sha: merge, want: []string{"docs/f.md"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.ChangedFiles(ctx, tt.sha)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ChangedFiles (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := r.ChangedFiles(ctx, "0000000000000000000000000000000000000bad"); err == nil {
		t.Errorf("ChangedFiles of a missing commit succeeded")
	}
}

func TestIdentity(t *testing.T) {
	tests := []struct {
		name     string
		origin   string // empty: no origin
		userName string // empty: not configured
		want     Identity
	}{
		{name: "no origin, no user.name", want: Identity{Repository: "local/", Actor: "env-user"}},
		{name: "https", origin: "https://github.com/octo/widgets.git", userName: "Grace Hopper",
			want: Identity{Repository: "octo/widgets", Actor: "Grace Hopper", OriginURL: "https://github.com/octo/widgets.git"}},
		{name: "https without .git, trailing slash", origin: "https://github.com/octo/widgets/",
			want: Identity{Repository: "octo/widgets", Actor: "env-user", OriginURL: "https://github.com/octo/widgets/"}},
		{name: "scp-like ssh", origin: "git@github.com:octo/widgets.git",
			want: Identity{Repository: "octo/widgets", Actor: "env-user", OriginURL: "git@github.com:octo/widgets.git"}},
		{name: "ssh url with port", origin: "ssh://git@example.com:2222/octo/widgets.git",
			want: Identity{Repository: "octo/widgets", Actor: "env-user", OriginURL: "ssh://git@example.com:2222/octo/widgets.git"}},
		{name: "local path", origin: "/srv/git/octo/widgets.git", userName: "  ",
			want: Identity{Repository: "octo/widgets", Actor: "env-user", OriginURL: "/srv/git/octo/widgets.git"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newRepo(t)
			t.Setenv("USER", "env-user")
			if tt.origin != "" {
				run(t, dir, "remote", "add", "origin", tt.origin)
			}
			if tt.userName != "" {
				run(t, dir, "config", "user.name", tt.userName)
			}
			want := tt.want
			if want.Repository == "local/" {
				want.Repository += filepath.Base(dir)
			}
			if diff := cmp.Diff(want, (&Repo{Root: dir}).Identity(context.Background())); diff != "" {
				t.Errorf("Identity (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOpenAt(t *testing.T) {
	ctx := context.Background()
	dir := newRepo(t)
	if _, _, err := OpenAt(ctx, dir); err == nil || !strings.Contains(err.Error(), "commit yet") {
		t.Errorf("OpenAt on an empty repository: error %v, want one asking for a commit", err)
	}
	sha := commit(t, dir, "one", map[string]string{"sub/f": "x"})
	r, h, err := OpenAt(ctx, filepath.Join(dir, "sub"))
	if err != nil {
		t.Fatal(err)
	}
	got := struct {
		Root string
		Head Head
	}{r.Root, h}
	want := struct {
		Root string
		Head Head
	}{dir, Head{SHA: sha, Ref: "refs/heads/main"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("OpenAt (-want +got):\n%s", diff)
	}
	outside := t.TempDir()
	if _, _, err := OpenAt(ctx, outside); err == nil || !strings.Contains(err.Error(), "git init") {
		t.Errorf("OpenAt outside a repository: error %v, want one mentioning git init", err)
	}
}

func TestHasRef(t *testing.T) {
	ctx := context.Background()
	dir := newRepo(t)
	commit(t, dir, "one", nil)
	run(t, dir, "tag", "v1")
	r := &Repo{Root: dir}
	got := map[string]bool{}
	for _, ref := range []string{"refs/tags/v1", "refs/heads/main", "refs/tags/v2", "refs/heads/nope"} {
		got[ref] = r.HasRef(ctx, ref)
	}
	want := map[string]bool{"refs/tags/v1": true, "refs/heads/main": true, "refs/tags/v2": false, "refs/heads/nope": false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("HasRef (-want +got):\n%s", diff)
	}
}

// Work trees live in directories with spaces too ("My Projects").
func TestOpenAtPathWithSpaces(t *testing.T) {
	isolateGit(t)
	dir := filepath.Join(realDir(t, t.TempDir()), "My Projects", "app")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, dir, "init", "-q", "-b", "main")
	sha := commit(t, dir, "one", map[string]string{"f": "x"})
	r, h, err := OpenAt(context.Background(), dir)
	if err != nil {
		t.Fatalf("OpenAt: %v", err)
	}
	if r.Root != dir || h != (Head{SHA: sha, Ref: "refs/heads/main"}) {
		t.Errorf("OpenAt = %q, %+v; want %q at %s on main", r.Root, h, dir, sha)
	}
}

// DefaultBranch reads a plain .git directory itself and asks git in a worktree; both give the
// same answer for the same repository.
func TestDefaultBranch(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		current string
		want    string
	}{
		{name: "main exists", current: "refs/heads/feature", want: "main"},
		{name: "origin HEAD wins", current: "refs/heads/feature", want: "trunk", setup: func(t *testing.T, dir string) {
			run(t, dir, "update-ref", "refs/remotes/origin/trunk", "HEAD")
			run(t, dir, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/trunk")
		}},
		{name: "master when no main", current: "refs/heads/feature", want: "master", setup: func(t *testing.T, dir string) {
			run(t, dir, "branch", "-m", "main", "master")
		}},
		{name: "packed master", current: "refs/heads/feature", want: "master", setup: func(t *testing.T, dir string) {
			run(t, dir, "branch", "-m", "main", "master")
			run(t, dir, "pack-refs", "--all")
		}},
		{name: "current branch otherwise", current: "refs/heads/dev", want: "dev", setup: func(t *testing.T, dir string) {
			run(t, dir, "branch", "-m", "main", "dev")
		}},
		{name: "detached, nothing else: main", current: "", want: "main", setup: func(t *testing.T, dir string) {
			run(t, dir, "branch", "-m", "main", "dev")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newRepo(t)
			commit(t, dir, "one", map[string]string{"a": "1"})
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			wt := filepath.Join(realDir(t, t.TempDir()), "wt")
			run(t, dir, "worktree", "add", "-q", "--detach", wt)
			for _, root := range []string{dir, wt} {
				if got := (&Repo{Root: root}).DefaultBranch(ctx, tt.current); got != tt.want {
					t.Errorf("DefaultBranch in %s = %q, want %q", root, got, tt.want)
				}
			}
		})
	}
}
