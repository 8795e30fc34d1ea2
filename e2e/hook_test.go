package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sluice-ci/sluice/internal/forge"
)

const zeroSHA = "0000000000000000000000000000000000000000"

// pushDelivery is a push as a forge would deliver it: the body in that
// forge's format and its event headers (not yet signed).
func pushDelivery(t *testing.T, kind forge.Kind, g *gitRepo, before, after, id string) (http.Header, []byte) {
	t.Helper()
	const fullName = "e2e/demo"
	commit := map[string]any{"id": after, "message": "change", "added": []string{}, "removed": []string{},
		"modified": []string{".github/workflows/ci.yml"}}
	h := http.Header{"Content-Type": {"application/json"}}
	var payload map[string]any
	switch kind {
	case forge.GitHub, forge.Gitea:
		payload = map[string]any{
			"ref": "refs/heads/main", "before": before, "after": after,
			"repository":  map[string]any{"full_name": fullName, "clone_url": g.url(), "default_branch": "main"},
			"head_commit": commit, "commits": []any{commit},
			"sender": map[string]any{"login": "tester"}, "pusher": map[string]any{"name": "tester"},
		}
		if kind == forge.GitHub {
			h.Set("X-GitHub-Event", "push")
			h.Set("X-GitHub-Delivery", id)
		} else {
			h.Set("X-Gitea-Event", "push")
			h.Set("X-Gitea-Delivery", id)
		}
	case forge.GitLab:
		payload = map[string]any{
			"object_kind": "push", "event_name": "push",
			"ref": "refs/heads/main", "before": before, "after": after, "checkout_sha": after,
			"user_username": "tester", "user_name": "Tester",
			"project":             map[string]any{"path_with_namespace": fullName, "git_http_url": g.url(), "default_branch": "main"},
			"commits":             []any{commit},
			"total_commits_count": 1,
		}
		h.Set("X-Gitlab-Event", "Push Hook")
		h.Set("X-Gitlab-Event-UUID", id)
	default:
		t.Fatalf("no push payload for forge %q", kind)
	}
	body, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return h, body
}

// hookAnswer is the server's answer to a delivery.
type hookAnswer struct {
	Status     int
	DeliveryID int64   `json:"delivery_id"`
	Runs       []int64 `json:"runs"`
	Error      string  `json:"error"`
	raw        string
}

// postHook delivers body with headers h to /hooks/{kind}?repo=repo.
func (s *srv) postHook(t *testing.T, kind forge.Kind, repo string, h http.Header, body []byte) hookAnswer {
	t.Helper()
	u := fmt.Sprintf("%s/hooks/%s?repo=%s", s.url, kind, url.QueryEscape(repo))
	req, err := http.NewRequest("POST", u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("delivering to %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := hookAnswer{Status: resp.StatusCode, raw: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("decoding the answer %q to a %s delivery: %v", b, kind, err)
		}
	}
	return a
}

// pushHook delivers a correctly signed push of after to the server and
// returns the IDs of the runs it started, failing unless it was accepted.
func (s *srv) pushHook(t *testing.T, kind forge.Kind, repo string, g *gitRepo, before, after, secret, id string) []int64 {
	t.Helper()
	h, body := pushDelivery(t, kind, g, before, after, id)
	name, value := forge.Sign(kind, body, []byte(secret))
	h.Set(name, value)
	a := s.postHook(t, kind, repo, h, body)
	if a.Status != http.StatusAccepted {
		t.Fatalf("%s push delivery: got %d %s, want 202", kind, a.Status, a.raw)
	}
	if len(a.Runs) == 0 {
		t.Fatalf("%s push delivery started no run: %s", kind, a.raw)
	}
	return a.Runs
}
