package event

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/gitrepo"
)

func TestRepositoryFromURL(t *testing.T) {
	tests := []struct {
		raw            string
		html, cloneURL string
	}{
		{"https://github.com/octo/widgets.git", "https://github.com/octo/widgets", "https://github.com/octo/widgets.git"},
		{"https://x-access-token:ghs_secret@github.com/octo/widgets", "https://github.com/octo/widgets", "https://github.com/octo/widgets.git"},
		{"git@github.com:octo/widgets.git", "https://github.com/octo/widgets", "https://github.com/octo/widgets.git"},
		{"ssh://git@gitlab.example.com:2222/group/sub/app.git", "https://gitlab.example.com/group/sub/app", "https://gitlab.example.com/group/sub/app.git"},
		{"http://127.0.0.1:3000/acme/app.git", "http://127.0.0.1:3000/acme/app", "http://127.0.0.1:3000/acme/app.git"},
		{"/srv/git/app", "file:///srv/git/app", "file:///srv/git/app"},
	}
	for _, tc := range tests {
		r := RepositoryFromURL(tc.raw, "o/n", "main")
		if diff := cmp.Diff([]string{tc.html, tc.cloneURL}, []string{r.HTMLURL, r.CloneURL}); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.raw, diff)
		}
	}
}

// TestFillKeepsWhatIsGiven: GitHub's own delivery comes through unchanged; a forge's partial
// one (GitLab's repository without a default branch) is completed.
func TestFillKeepsWhatIsGiven(t *testing.T) {
	github := map[string]any{
		"ref": "refs/heads/main", "before": "b", "after": "a", "created": false, "deleted": false, "forced": true,
		"base_ref": nil, "compare": "c", "commits": []any{}, "head_commit": map[string]any{"id": "a"},
		"pusher": map[string]any{"name": "p"},
		"repository": map[string]any{"name": "n", "full_name": "o/n", "owner": map[string]any{"login": "o", "name": "o", "type": "Organization"},
			"private": true, "html_url": "h", "clone_url": "c", "url": "u", "default_branch": "trunk", "master_branch": "trunk"},
		"sender": map[string]any{"login": "s", "type": "Bot"},
	}
	var want map[string]any
	js, _ := json.Marshal(github)
	_ = json.Unmarshal(js, &want)
	got := Fill(github, Facts{Event: "push", Ref: "refs/heads/x", Before: "x", After: "y", Sender: "other",
		Repo:    Repository{FullName: "x/y", HTMLURL: "hx", CloneURL: "cx", DefaultBranch: "main"},
		Commits: []gitrepo.PushCommit{{SHA: "y"}}})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("a GitHub payload changed (-want +got):\n%s", diff)
	}

	gitlab := map[string]any{"repository": map[string]any{"full_name": "group/app", "html_url": "https://gl/group/app", "default_branch": ""}}
	got = Fill(gitlab, Facts{Event: "push", Ref: "refs/heads/main", After: "a1", Sender: "ann",
		Repo:    Repository{FullName: "group/app", HTMLURL: "https://gl/group/app", CloneURL: "https://gl/group/app.git", DefaultBranch: "main"},
		Commits: []gitrepo.PushCommit{{SHA: "a1", Message: "m", AuthorName: "Ann", AuthorEmail: "ann@x", Added: []string{"f"}}}})
	for path, w := range map[string]any{
		"repository.default_branch": "main", "repository.clone_url": "https://gl/group/app.git", "repository.owner.login": "group",
		"before": ZeroSHA, "created": true, "head_commit.id": "a1", "head_commit.url": "https://gl/group/app/commit/a1",
		"head_commit.added": []any{"f"}, "sender.login": "ann", "pusher.email": "ann@x",
		"compare": "https://gl/group/app/compare/000000000000...a1",
	} {
		if diff := cmp.Diff(w, lookup(got, path)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", path, diff)
		}
	}
}

func lookup(m map[string]any, path string) any {
	var cur any = m
	start := 0
	for i := 0; i <= len(path); i++ {
		if i == len(path) || path[i] == '.' {
			mm, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = mm[path[start:i]]
			start = i + 1
		}
	}
	return cur
}
