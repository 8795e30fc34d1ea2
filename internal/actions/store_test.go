package actions

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/testenv"
)

const greetAction = "name: greet\ndescription: d\nruns:\n  using: composite\n  steps:\n    - run: echo %s\n      shell: bash\n"

// actionRepo serves acme/greet from a local git HTTP server standing in for GitHub, with a
// history that covers every kind of ref: v1 (lightweight tag), v2 (annotated tag) on main, a
// branch "next", and a commit reachable only from the tag "orphan" (it is the parent of the
// tagged commit, and its branch was deleted), which no ref names.
type actionRepo struct {
	srv                            testenv.GitServer
	dir                            string
	v1, v2, next, orphan, mainHead string
}

func newActionRepo(t *testing.T, o testenv.GitServerOptions) actionRepo {
	t.Helper()
	srv := testenv.StartGitServer(t, t.TempDir(), o)
	a := actionRepo{srv: srv}
	a.dir = srv.GitRepo(t, "acme/greet", map[string]string{"action.yml": strings.ReplaceAll(greetAction, "%s", "v1")})
	git := func(args ...string) string { return testenv.Git(t, a.dir, args...) }
	commit := func(msg string) string {
		testenv.WriteFiles(t, a.dir, map[string]string{"action.yml": strings.ReplaceAll(greetAction, "%s", msg)})
		git("commit", "-qam", msg)
		return git("rev-parse", "HEAD")
	}
	a.v1 = git("rev-parse", "HEAD")
	git("tag", "v1")
	a.v2 = commit("v2")
	git("tag", "-a", "v2", "-m", "release 2")
	git("checkout", "-q", "-b", "next")
	a.next = commit("next")
	git("checkout", "-q", "-b", "gone", "main")
	a.orphan = commit("orphan")
	commit("orphan-tip")
	git("tag", "orphan")
	git("checkout", "-q", "main")
	git("branch", "-q", "-D", "gone")
	a.mainHead = commit("main")
	return a
}

// said reads which commit an action directory holds (its echo).
func said(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, _ := strings.Cut(string(b), "- run: echo ")
	return strings.TrimSpace(strings.SplitN(after, "\n", 2)[0])
}

func TestResolverFetchesLikeGitHub(t *testing.T) {
	for _, o := range []testenv.GitServerOptions{{}, {V0Only: true}} {
		name := "protocol v2"
		if o.V0Only {
			name = "protocol v0 only"
		}
		t.Run(name, func(t *testing.T) {
			a := newActionRepo(t, o)
			cache := t.TempDir()
			rs := Resolver{BaseURL: a.srv.URL, CacheDir: cache}.Session()
			ctx := context.Background()
			tests := []struct {
				ref, want, commit string
			}{
				{"v1", "v1", a.v1},
				{"v2", "v2", a.v2}, // an annotated tag names its commit
				{"next", "next", a.next},
				{"main", "main", a.mainHead},
				{a.v2, "v2", a.v2},             // a SHA a tag points at
				{a.orphan, "orphan", a.orphan}, // a SHA only a tag reaches
				{a.v1[:7] + strings.Repeat("0", 33), "", ""},
			}
			for _, tc := range tests {
				r, err := Parse("acme/greet@" + tc.ref)
				if err != nil {
					t.Fatal(err)
				}
				dir, commit, err := rs.ResolveRepo(ctx, r)
				if tc.want == "" {
					if err == nil {
						t.Fatalf("%s: resolved a commit that does not exist", tc.ref)
					}
					msg := err.Error()
					for _, w := range []string{`"acme/greet@` + tc.ref + `"`, "commit " + tc.ref + " is not in acme/greet", a.srv.URL + "/acme/greet", cache} {
						if !strings.Contains(msg, w) {
							t.Errorf("error %q does not say %q", msg, w)
						}
					}
					if strings.Contains(msg, "upload-pack") || strings.Contains(msg, "not our ref") {
						t.Errorf("error %q shows git's plumbing", msg)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", tc.ref, err)
				}
				if diff := cmp.Diff([]string{tc.want, tc.commit, filepath.Join(cache, "acme", "greet", "commits", tc.commit)}, []string{said(t, dir), commit, dir}); diff != "" {
					t.Errorf("%s (-want +got):\n%s", tc.ref, diff)
				}
				if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
					t.Errorf("%s: the cached commit keeps a .git directory", tc.ref)
				}
			}
		})
	}
}

func TestResolverCachesByCommitAndWorksOffline(t *testing.T) {
	a := newActionRepo(t, testenv.GitServerOptions{})
	cache := t.TempDir()
	ctx := context.Background()
	ref := func(s string) Ref { r, _ := Parse("acme/greet@" + s); return r }

	cold := Resolver{BaseURL: a.srv.URL, CacheDir: cache}.Session()
	d1, err := cold.Resolve(ctx, ref("v1"))
	if err != nil {
		t.Fatal(err)
	}
	// The same commit under another name is not fetched again.
	before := a.srv.Requests.Load()
	d2, err := Resolver{BaseURL: a.srv.URL, CacheDir: cache}.Session().Resolve(ctx, ref(a.v1))
	if err != nil || d2 != d1 {
		t.Fatalf("by SHA: %s, %v; want the cached %s", d2, err, d1)
	}
	if n := a.srv.Requests.Load() - before; n != 0 {
		t.Errorf("resolving a cached SHA made %d requests", n)
	}

	// Offline (the server gone): the SHA and the tag resolved before still run.
	var notes []string
	offline := Resolver{BaseURL: "http://127.0.0.1:1", CacheDir: cache, Note: func(s string) { notes = append(notes, s) }}.Session()
	for _, r := range []string{a.v1, "v1"} {
		d, err := offline.Resolve(ctx, ref(r))
		if err != nil || d != d1 {
			t.Errorf("offline %s: %s, %v; want %s", r, d, err, d1)
		}
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "using commit "+a.v1[:12]) {
		t.Errorf("offline notes = %q, want one saying which commit v1 was", notes)
	}
	// A ref never resolved cannot run offline, and the error says what to do.
	_, err = offline.Resolve(ctx, ref("next"))
	if err == nil || !strings.Contains(err.Error(), "--action-store") || !strings.Contains(err.Error(), "127.0.0.1:1/acme/greet") {
		t.Errorf("offline unknown ref: %v", err)
	}

	// A moved tag: one session keeps the commit it saw first; the next session sees the move.
	session := Resolver{BaseURL: a.srv.URL, CacheDir: cache}.Session()
	if d, _ := session.Resolve(ctx, ref("v1")); said(t, d) != "v1" {
		t.Fatalf("v1 before the move: %s", said(t, d))
	}
	testenv.Git(t, a.dir, "tag", "-f", "v1", a.mainHead)
	if d, _ := session.Resolve(ctx, ref("v1")); said(t, d) != "v1" {
		t.Errorf("v1 moved within a session: %s", said(t, d))
	}
	if d, _ := (Resolver{BaseURL: a.srv.URL, CacheDir: cache}).Session().Resolve(ctx, ref("v1")); said(t, d) != "main" {
		t.Errorf("v1 after the move, new session: %s, want main", said(t, d))
	}
}

func TestResolverStoreAndMirror(t *testing.T) {
	a := newActionRepo(t, testenv.GitServerOptions{})
	ctx := context.Background()
	store := t.TempDir()
	testenv.WriteFiles(t, store, map[string]string{"acme/plain@v9/action.yml": strings.ReplaceAll(greetAction, "%s", "plain")})
	// A git checkout in the store is a source like a remote.
	testenv.Git(t, store, "clone", "-q", a.dir, filepath.Join(store, "acme", "greet"))
	rs := Resolver{Store: store, BaseURL: "http://127.0.0.1:1", CacheDir: t.TempDir()}.Session()
	for uses, want := range map[string]string{"acme/plain@v9": "plain", "acme/greet@v2": "v2", "acme/greet@" + a.v1: "v1"} {
		r, _ := Parse(uses)
		d, err := rs.Resolve(ctx, r)
		if err != nil {
			t.Fatalf("%s: %v", uses, err)
		}
		if got := said(t, d); got != want {
			t.Errorf("%s: %s, want %s", uses, got, want)
		}
	}
	// A mirror replaces GitHub.
	mirror := Resolver{Mirror: a.srv.URL + "/{owner}/{repo}", BaseURL: "http://127.0.0.1:1", CacheDir: t.TempDir()}.Session()
	r, _ := Parse("acme/greet@next")
	if d, err := mirror.Resolve(ctx, r); err != nil || said(t, d) != "next" {
		t.Errorf("mirror: %v", err)
	}
}

func TestResolverRefusesHostileNames(t *testing.T) {
	a := newActionRepo(t, testenv.GitServerOptions{})
	cache := t.TempDir()
	rs := Resolver{BaseURL: a.srv.URL, CacheDir: cache}.Session()
	for _, uses := range []string{
		"acme/greet@--upload-pack=touch /tmp/pwned",
		"acme/greet@../../../../etc",
		"acme/greet@v1:refs/heads/x",
		"../greet@v1",
		"acme/..@v1",
		"acme/greet@refs/../../x",
	} {
		r, err := Parse(uses)
		if err != nil {
			continue // refused by the parser already
		}
		before := a.srv.Requests.Load()
		if _, err := rs.Resolve(context.Background(), r); err == nil {
			t.Errorf("%s resolved", uses)
		}
		if n := a.srv.Requests.Load() - before; n != 0 {
			t.Errorf("%s reached the server (%d requests)", uses, n)
		}
	}
	entries, _ := os.ReadDir(cache)
	if len(entries) != 0 {
		t.Errorf("hostile refs wrote to the cache: %v", entries)
	}
}

func TestWorkflowFile(t *testing.T) {
	srv := testenv.StartGitServer(t, t.TempDir(), testenv.GitServerOptions{})
	called := "on: workflow_call\njobs:\n  inner:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo inner\n"
	dir := srv.GitRepo(t, "org/shared", map[string]string{".github/workflows/test.yml": called, "secret.txt": "nope"})
	// The cached commit's directory is the root: three levels up is outside it.
	if err := os.Symlink("../../../outside.yml", filepath.Join(dir, ".github/workflows/link.yml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, ".github/workflows/abs.yml")); err != nil {
		t.Fatal(err)
	}
	testenv.Git(t, dir, "add", "-A")
	testenv.Git(t, dir, "commit", "-qm", "links")
	testenv.Git(t, dir, "tag", "v1")
	rs := Resolver{BaseURL: srv.URL, CacheDir: t.TempDir()}.Session()
	ctx := context.Background()

	r, err := ParseCall("org/shared/.github/workflows/test.yml@v1")
	if err != nil {
		t.Fatal(err)
	}
	f, err := rs.WorkflowFile(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(called, string(f.Source)); diff != "" || f.Display != "org/shared/.github/workflows/test.yml@v1" || f.Commit == "" {
		t.Errorf("fetched %+v (-want +got source):\n%s", f, diff)
	}
	// The planner's view: a uses string in, a name and bytes out.
	if display, src, err := rs.WorkflowSource(ctx, "org/shared/.github/workflows/test.yml@v1"); err != nil || display != f.Display || string(src) != called {
		t.Errorf("WorkflowSource = %q, %q, %v", display, src, err)
	}
	if _, _, err := rs.WorkflowSource(ctx, "./.github/workflows/test.yml"); err == nil {
		t.Errorf("WorkflowSource of a local workflow should say it is not fetched")
	}
	for uses, want := range map[string]string{
		"org/shared/.github/workflows/nope.yml@v1":      "does not exist at that ref",
		"org/shared/.github/workflows/../../x.yml@v1":   "directly in .github/workflows",
		"org/shared/secret.txt@v1":                      "directly in .github/workflows",
		"org/shared/.github/workflows/link.yml@v1":      "path escapes",
		"org/shared/.github/workflows/abs.yml@v1":       "path escapes",
		"org/shared/.github/workflows/test.yml@nothere": `has no tag, branch or commit "nothere"`,
	} {
		r, err := ParseCall(uses)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rs.WorkflowFile(ctx, r); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", uses, err, want)
		}
	}
}

func TestCheckUsesAndSuggest(t *testing.T) {
	srv := testenv.StartGitServer(t, t.TempDir(), testenv.GitServerOptions{})
	srv.GitRepo(t, "acme/greet", map[string]string{"action.yml": strings.ReplaceAll(greetAction, "%s", "hi")})
	rs := Resolver{BaseURL: srv.URL, CacheDir: t.TempDir()}.Session()
	ctx := context.Background()
	tests := []struct {
		uses string
		call bool
		want string // "" resolves
	}{
		{"actions/checkout@v4", false, ""},
		{"./local", false, ""},
		{"docker://alpine:3", false, ""},
		{"acme/greet@main", false, ""},
		{"actions/setup-pyhton@v5", false, "did you mean actions/setup-python@v5?"},
		{"actions/chekout@v4", false, "did you mean actions/checkout@v4?"},
		{"codecov/codecov-acton@v5", false, "did you mean codecov/codecov-action@v5?"},
		{"acme/nothing@v1", false, `"acme/nothing@v1" is not built into sluice and cannot be fetched: acme/nothing has no tag, branch or commit "v1"`},
		{"checkout", false, "a remote action needs a ref"},
		{"./.github/workflows/x.yml", true, ""},
		{"org/repo@v1", true, "a reusable workflow is"},
	}
	for _, tc := range tests {
		err := rs.CheckUses(ctx, tc.uses, tc.call)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.uses, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.uses, err, tc.want)
		}
	}
	// A name far from every known one gets no suggestion.
	if s := Suggest(Ref{Owner: "someone", Repo: "thing"}); s != "" {
		t.Errorf("Suggest(someone/thing) = %q", s)
	}
}
