package localrun

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/gitrepo"
)

func TestReadPayload(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "event.json")
	if err := os.WriteFile(good, []byte(`{"action": "closed", "number": 7}`), 0o644); err != nil {
		t.Fatal(err)
	}
	array := filepath.Join(dir, "array.json")
	if err := os.WriteFile(array, []byte(`[1, 2]`), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readPayload(good)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"action": "closed", "number": float64(7)}, got); diff != "" {
		t.Errorf("readPayload (-want +got):\n%s", diff)
	}
	if got, err := readPayload(""); err != nil || len(got) != 0 || got == nil {
		t.Errorf("readPayload(\"\") = %v, %v; want an empty map", got, err)
	}
	_, err = readPayload(array)
	checkUsageError(t, err, "must be a JSON object")
	_, err = readPayload(filepath.Join(dir, "missing.json"))
	checkUsageError(t, err, "reading the event payload")
}

// TestLocalPayload: a push of HEAD reports what `git push` would: before is origin/main's tip,
// the commits are the two not yet pushed, with their files; the repository carries the default
// branch and web URLs (never the credentials in the origin URL); a pull request is HEAD's branch
// into the default branch. A payload given with -e keeps its own values.
func TestLocalPayload(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Ann", "GIT_AUTHOR_EMAIL=ann@example.com", "GIT_COMMITTER_NAME=Ann",
			"GIT_COMMITTER_EMAIL=ann@example.com", "GIT_AUTHOR_DATE=2025-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2025-01-02T03:04:05Z", "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q", "-b", "main")
	write("a.txt", "a")
	git("add", "-A")
	git("commit", "-qm", "first")
	pushed := git("rev-parse", "HEAD")
	git("remote", "add", "origin", "https://user:s3cret@git.example.com/octo/widgets.git")
	git("update-ref", "refs/remotes/origin/main", pushed)
	git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
	write("b.txt", "b")
	git("add", "-A")
	git("commit", "-qm", "second")
	git("rm", "-q", "a.txt")
	write("b.txt", "bb")
	git("commit", "-qam", "third\n\nwith a body")
	headSHA := git("rev-parse", "HEAD")
	second := git("rev-parse", "HEAD^")

	repo, head, err := gitrepo.OpenAt(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	ident := gitrepo.Identity{Repository: "octo/widgets", Actor: "ann", OriginURL: "https://user:s3cret@git.example.com/octo/widgets.git"}
	p, err := localPayload(ctx, repo, head, ident, "push", map[string]any{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(p)
	if strings.Contains(string(js), "s3cret") {
		t.Errorf("the payload carries the origin's credentials: %s", js)
	}
	commits := p["commits"].([]any)
	got := map[string]any{
		"before": p["before"], "after": p["after"], "ref": p["ref"], "created": p["created"],
		"default_branch": dig(p, "repository", "default_branch"), "full_name": dig(p, "repository", "full_name"),
		"html_url": dig(p, "repository", "html_url"), "clone_url": dig(p, "repository", "clone_url"),
		"owner": dig(p, "repository", "owner", "login"), "sender": dig(p, "sender", "login"),
		"commits": len(commits), "head_commit": dig(p, "head_commit", "id"), "head_message": dig(p, "head_commit", "message"),
		"head_removed": dig(p, "head_commit", "removed"), "head_modified": dig(p, "head_commit", "modified"),
		"first_added": commits[0].(map[string]any)["added"], "first_id": commits[0].(map[string]any)["id"],
		"author": dig(p, "head_commit", "author", "email"), "pusher": dig(p, "pusher", "name"),
	}
	want := map[string]any{
		"before": pushed, "after": headSHA, "ref": "refs/heads/main", "created": false,
		"default_branch": "main", "full_name": "octo/widgets",
		"html_url": "https://git.example.com/octo/widgets", "clone_url": "https://git.example.com/octo/widgets.git",
		"owner": "octo", "sender": "ann",
		"commits": 2, "head_commit": headSHA, "head_message": "third\n\nwith a body",
		"head_removed": []any{"a.txt"}, "head_modified": []any{"b.txt"},
		"first_added": []any{"b.txt"}, "first_id": second,
		"author": "ann@example.com", "pusher": "Ann",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("push payload (-want +got):\n%s", diff)
	}

	// A pull request from a feature branch into the default branch.
	git("checkout", "-q", "-b", "feature")
	repo, head, _ = gitrepo.OpenAt(ctx, dir)
	p, err = localPayload(ctx, repo, head, ident, "pull_request", map[string]any{"number": float64(7), "pull_request": map[string]any{"labels": []any{map[string]any{"name": "given"}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got = map[string]any{
		"action": p["action"], "number": p["number"], "pr_number": dig(p, "pull_request", "number"),
		"head_ref": dig(p, "pull_request", "head", "ref"), "head_sha": dig(p, "pull_request", "head", "sha"),
		"head_repo": dig(p, "pull_request", "head", "repo", "full_name"),
		"base_ref":  dig(p, "pull_request", "base", "ref"), "base_sha": dig(p, "pull_request", "base", "sha"),
		"merged": dig(p, "pull_request", "merged"), "draft": dig(p, "pull_request", "draft"),
		"labels": dig(p, "pull_request", "labels"), "title": dig(p, "pull_request", "title"), "body": dig(p, "pull_request", "body"),
		"default_branch": dig(p, "repository", "default_branch"),
	}
	want = map[string]any{
		"action": "opened", "number": float64(7), "pr_number": float64(7),
		"head_ref": "feature", "head_sha": headSHA, "head_repo": "octo/widgets",
		"base_ref": "main", "base_sha": headSHA, "merged": false, "draft": false,
		"labels": []any{map[string]any{"name": "given"}}, "title": "third", "body": "with a body",
		"default_branch": "main",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pull_request payload (-want +got):\n%s", diff)
	}
}

func dig(m any, keys ...string) any {
	for _, k := range keys {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[k]
	}
	return m
}
