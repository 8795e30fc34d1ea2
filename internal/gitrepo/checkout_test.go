package gitrepo

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// history is a source repository: main has c1 ← c2 ← c3, tag v1 (light)
// and v1.1 (annotated) on c2, branch other with o1 on c1, and a commit
// "loose" that no ref names.
type history struct {
	dir                   string
	c1, c2, c3, o1, loose string
}

func newHistory(t *testing.T) history {
	t.Helper()
	h := history{dir: newRepo(t)}
	h.c1 = commit(t, h.dir, "c1", map[string]string{"f.txt": "1", "a/x.txt": "ax", "b/y.txt": "by"})
	h.c2 = commit(t, h.dir, "c2", map[string]string{"f.txt": "2"})
	run(t, h.dir, "tag", "v1")
	run(t, h.dir, "tag", "-a", "-m", "annotated", "v1.1")
	h.c3 = commit(t, h.dir, "c3", map[string]string{"f.txt": "3"})
	run(t, h.dir, "checkout", "-q", "-b", "other", h.c1)
	h.o1 = commit(t, h.dir, "o1", map[string]string{"f.txt": "o"})
	run(t, h.dir, "checkout", "-q", "--detach", h.c3)
	h.loose = commit(t, h.dir, "loose", map[string]string{"f.txt": "loose"})
	run(t, h.dir, "checkout", "-q", "main")
	return h
}

type checkoutState struct {
	Head    string
	Branch  string // empty when detached
	Commits int
	Tags    []string
	F       string // content of f.txt
}

func stateOf(t *testing.T, dest string) checkoutState {
	t.Helper()
	s := checkoutState{Head: run(t, dest, "rev-parse", "HEAD"), Tags: lines(run(t, dest, "tag", "-l"))}
	s.Branch = run(t, dest, "branch", "--show-current")
	n := run(t, dest, "rev-list", "--count", "HEAD")
	for _, c := range n {
		s.Commits = s.Commits*10 + int(c-'0')
	}
	s.F = tree(t, dest)["f.txt"]
	return s
}

func TestCheckout(t *testing.T) {
	h := newHistory(t)
	tests := []struct {
		name string
		opts CheckoutOptions
		want checkoutState
	}{
		{name: "sha on a branch, depth 1",
			opts: CheckoutOptions{SHA: h.c2, Ref: "refs/heads/main", Depth: 1},
			want: checkoutState{Head: h.c2, Branch: "main", Commits: 1, F: "2"}},
		{name: "sha without ref, depth 1",
			opts: CheckoutOptions{SHA: h.c3, Depth: 1},
			want: checkoutState{Head: h.c3, Commits: 1, F: "3"}},
		{name: "branch tip, depth 1",
			opts: CheckoutOptions{Ref: "refs/heads/other", Depth: 1},
			want: checkoutState{Head: h.o1, Branch: "other", Commits: 1, F: "o"}},
		{name: "depth 2",
			opts: CheckoutOptions{SHA: h.c3, Ref: "refs/heads/main", Depth: 2},
			want: checkoutState{Head: h.c3, Branch: "main", Commits: 2, F: "3"}},
		{name: "depth 1 with fetch-tags",
			opts: CheckoutOptions{SHA: h.c2, Ref: "refs/heads/main", Depth: 1, FetchTags: true},
			want: checkoutState{Head: h.c2, Branch: "main", Commits: 1, Tags: []string{"v1", "v1.1"}, F: "2"}},
		{name: "sha of a commit no ref names, depth 1",
			opts: CheckoutOptions{SHA: h.loose, Depth: 1},
			want: checkoutState{Head: h.loose, Commits: 1, F: "loose"}},
		{name: "full history with tags",
			opts: CheckoutOptions{SHA: h.c3, Ref: "refs/heads/main", Depth: 0},
			want: checkoutState{Head: h.c3, Branch: "main", Commits: 3, Tags: []string{"v1", "v1.1"}, F: "3"}},
		{name: "lightweight tag, full history",
			opts: CheckoutOptions{Ref: "refs/tags/v1", Depth: 0},
			want: checkoutState{Head: h.c2, Commits: 2, Tags: []string{"v1", "v1.1"}, F: "2"}},
		// actions/checkout with `ref: v1` and the default fetch-depth 1: the
		// engine passes Ref refs/tags/v1 and no SHA.
		{name: "lightweight tag, depth 1",
			opts: CheckoutOptions{Ref: "refs/tags/v1", Depth: 1},
			want: checkoutState{Head: h.c2, Commits: 1, F: "2"}},
		{name: "annotated tag, depth 1",
			opts: CheckoutOptions{Ref: "refs/tags/v1.1", Depth: 1},
			want: checkoutState{Head: h.c2, Commits: 1, F: "2"}},
		// The engine asks for HEAD when a step checks out another local
		// repository without a ref.
		{name: "HEAD, depth 1",
			opts: CheckoutOptions{Ref: "HEAD", Depth: 1},
			want: checkoutState{Head: h.c3, Commits: 1, F: "3"}},
		{name: "HEAD, full history",
			opts: CheckoutOptions{Ref: "HEAD", Depth: 0},
			want: checkoutState{Head: h.c3, Commits: 3, Tags: []string{"v1", "v1.1"}, F: "3"}},
		// sluice run on a detached HEAD whose commit is on no branch, with
		// fetch-depth: 0.
		{name: "sha of a commit no ref names, full history",
			opts: CheckoutOptions{SHA: h.loose, Depth: 0},
			want: checkoutState{Head: h.loose, Commits: 4, Tags: []string{"v1", "v1.1"}, F: "loose"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "ws")
			tt.opts.Source = h.dir
			if err := Checkout(context.Background(), dest, tt.opts); err != nil {
				t.Fatalf("Checkout: %v", err)
			}
			if diff := cmp.Diff(tt.want, stateOf(t, dest)); diff != "" {
				t.Errorf("checkout (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckoutSparse(t *testing.T) {
	h := newHistory(t)
	dest := t.TempDir()
	err := Checkout(context.Background(), dest, CheckoutOptions{Source: h.dir, SHA: h.c3, Ref: "refs/heads/main", Depth: 1, Sparse: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	// Cone mode, as actions/checkout uses by default: the listed directory
	// and the files at the top level.
	want := map[string]string{"a/x.txt": "ax", "f.txt": "3"}
	if diff := cmp.Diff(want, tree(t, dest)); diff != "" {
		t.Errorf("sparse checkout (-want +got):\n%s", diff)
	}
}

func TestCheckoutClean(t *testing.T) {
	h := newHistory(t)
	ctx := context.Background()
	dest := t.TempDir()
	o := CheckoutOptions{Source: h.dir, SHA: h.c2, Ref: "refs/heads/main", Depth: 1, Clean: true}
	if err := Checkout(ctx, dest, o); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dest, map[string]string{"leftover.txt": "x", "f.txt": "edited"})
	o.SHA = h.c3
	if err := Checkout(ctx, dest, o); err != nil {
		t.Fatalf("second Checkout into the same directory: %v", err)
	}
	want := map[string]string{"a/x.txt": "ax", "b/y.txt": "by", "f.txt": "3"}
	if diff := cmp.Diff(want, tree(t, dest)); diff != "" {
		t.Errorf("after a clean re-checkout (-want +got):\n%s", diff)
	}
}

func TestCheckoutErrors(t *testing.T) {
	h := newHistory(t)
	tests := []struct {
		name string
		opts CheckoutOptions
		want string
	}{
		{name: "missing source", opts: CheckoutOptions{Source: filepath.Join(h.dir, "nope"), Ref: "HEAD", Depth: 1}, want: "fetching"},
		{name: "missing branch", opts: CheckoutOptions{Source: h.dir, Ref: "refs/heads/nope", Depth: 1}, want: "refs/heads/nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Checkout(context.Background(), t.TempDir(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Checkout error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
