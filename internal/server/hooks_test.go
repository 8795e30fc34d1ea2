package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/store"
)

const apiHookSecret = "hook-secret-d41d8cd98f00b204"

func apiForgePayload(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "forge", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hook posts body to path signed with secret ("" for unsigned), with the
// event headers kv.
func (e *apiEnv) hook(path string, kind forge.Kind, body []byte, secret string, kv ...string) (int, []byte) {
	e.t.Helper()
	hdr := append([]string{"Content-Type", "application/json"}, kv...)
	if secret != "" {
		name, value := forge.Sign(kind, body, []byte(secret))
		hdr = append(hdr, name, value)
	}
	return e.do("POST", path, "", body, hdr...)
}

func TestSignedWebhooksTrigger(t *testing.T) {
	cases := []struct {
		name string
		repo RepoInput
		path string
		kind forge.Kind
		file string
		hdr  []string
		want Trigger // compared on the fields below
	}{
		{
			name: "github push matched by clone URL", path: "/hooks/github", kind: forge.GitHub, file: "github_push.json",
			repo: RepoInput{Name: "demo", URL: "https://github.com/octo-org/demo.git"},
			hdr:  []string{"X-GitHub-Event", "push", "X-GitHub-Delivery", "gh-1"},
			want: Trigger{Event: "push", Ref: "refs/heads/main", SHA: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
				Before: "9049f1265b7d61be4a8904a9a27120d2064dab3b", Source: "webhook"},
		},
		{
			name: "github tag push is a push", path: "/hooks/github?repo=mirror", kind: forge.GitHub, file: "github_tag.json",
			repo: RepoInput{Name: "mirror", URL: "file:///srv/mirror.git"},
			hdr:  []string{"X-GitHub-Event", "push"},
			want: Trigger{Event: "push", Source: "webhook"},
		},
		{
			name: "github pull request from a fork", path: "/hooks/github", kind: forge.GitHub, file: "github_pr_opened.json",
			repo: RepoInput{Name: "demo", URL: "git@github.com:octo-org/demo.git"},
			hdr:  []string{"X-GitHub-Event", "pull_request"},
			want: Trigger{Event: "pull_request", Action: "opened", BaseRef: "main", Fork: true, Source: "webhook"},
		},
		{
			name: "gitea push", path: "/hooks/gitea", kind: forge.Gitea, file: "gitea_push.json",
			repo: RepoInput{Name: "webhooks", URL: "http://localhost:3000/gitea/webhooks.git"},
			hdr:  []string{"X-Gitea-Event", "push", "X-Gitea-Delivery", "gt-1"},
			want: Trigger{Event: "push", Source: "webhook"},
		},
		{
			name: "forgejo push by ?repo", path: "/hooks/forgejo?repo=fj", kind: forge.Gitea, file: "gitea_push.json",
			repo: RepoInput{Name: "fj", URL: "file:///srv/fj.git"},
			hdr:  []string{"X-Forgejo-Event", "push"},
			want: Trigger{Event: "push", Source: "webhook"},
		},
		{
			name: "gitlab push", path: "/hooks/gitlab", kind: forge.GitLab, file: "gitlab_push.json",
			repo: RepoInput{Name: "diaspora", URL: "https://example.com/mike/diaspora.git"},
			hdr:  []string{"X-Gitlab-Event", "Push Hook"},
			want: Trigger{Event: "push", Source: "webhook"},
		},
		{
			name: "gitlab merge request", path: "/hooks/gitlab?repo=mr", kind: forge.GitLab, file: "gitlab_mr_open.json",
			repo: RepoInput{Name: "mr", URL: "file:///srv/mr.git"},
			hdr:  []string{"X-Gitlab-Event", "Merge Request Hook"},
			want: Trigger{Event: "pull_request", Action: "opened", Fork: true, Source: "webhook"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newAPIEnv(t)
			c.repo.WebhookSecret = apiHookSecret
			e.addRepo(c.repo)
			body := apiForgePayload(t, c.file)
			code, out := e.hook(c.path, c.kind, body, apiHookSecret, c.hdr...)
			if code != http.StatusAccepted {
				t.Fatalf("status %d %s, want 202", code, out)
			}
			var res struct {
				DeliveryID int64   `json:"delivery_id"`
				Runs       []int64 `json:"runs"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatal(err)
			}
			got := e.sched.recorded()
			if len(got) != 1 || len(res.Runs) != 1 {
				t.Fatalf("triggers %+v, runs %v: want one of each", got, res.Runs)
			}
			tr := got[0]
			if tr.DeliveryID != res.DeliveryID || tr.Payload == nil || tr.SHA == "" {
				t.Errorf("trigger lacks delivery, payload or sha: %+v", tr)
			}
			if c.want.Ref == "" {
				c.want.Ref, c.want.SHA, c.want.Before = tr.Ref, tr.SHA, tr.Before
			}
			if c.want.BaseRef == "" {
				c.want.BaseRef = tr.BaseRef
			}
			pick := func(t Trigger) Trigger {
				return Trigger{Event: t.Event, Action: t.Action, Ref: t.Ref, SHA: t.SHA, Before: t.Before,
					BaseRef: t.BaseRef, Fork: t.Fork, Source: t.Source}
			}
			if diff := cmp.Diff(pick(c.want), pick(tr)); diff != "" {
				t.Errorf("trigger (-want +got):\n%s", diff)
			}
			d, err := e.db.GetDelivery(context.Background(), res.DeliveryID)
			if err != nil {
				t.Fatal(err)
			}
			if !d.Valid || !d.Processed || string(d.Body) != string(body) {
				t.Errorf("delivery valid=%v processed=%v, body kept=%v", d.Valid, d.Processed, string(d.Body) == string(body))
			}
		})
	}
}

func TestWebhookBadSignatureIsRejectedAndRecorded(t *testing.T) {
	body := apiForgePayload(t, "github_push.json")
	cases := []struct {
		name   string
		secret string // signing secret; "" sends no signature
	}{
		{"missing signature", ""},
		{"wrong secret", "not-the-secret"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newAPIEnv(t)
			e.addRepo(RepoInput{Name: "demo", URL: "https://github.com/octo-org/demo.git", WebhookSecret: apiHookSecret})
			code, out := e.hook("/hooks/github", forge.GitHub, body, c.secret, "X-GitHub-Event", "push")
			if code != http.StatusUnauthorized {
				t.Fatalf("status %d %s, want 401", code, out)
			}
			if n := len(e.sched.recorded()); n != 0 {
				t.Errorf("scheduler called %d times", n)
			}
			ds, err := e.db.ListDeliveries(context.Background(), store.DeliveryFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != 1 || ds[0].Valid || !strings.Contains(ds[0].Reason, "X-Hub-Signature-256") {
				t.Fatalf("deliveries %+v: want one invalid with the reason", ds)
			}
			if strings.Contains(string(out), apiHookSecret) || strings.Contains(ds[0].Reason, apiHookSecret) {
				t.Error("the webhook secret leaked into the answer or the reason")
			}
		})
	}
}

func TestWebhookUnknownRepositoryIsRecorded(t *testing.T) {
	e := newAPIEnv(t)
	body := apiForgePayload(t, "github_push.json")
	code, _ := e.hook("/hooks/github", forge.GitHub, body, apiHookSecret, "X-GitHub-Event", "push")
	if code != http.StatusNotFound {
		t.Fatalf("status %d, want 404", code)
	}
	ds, _ := e.db.ListDeliveries(context.Background(), store.DeliveryFilter{})
	if len(ds) != 1 || ds[0].Valid {
		t.Fatalf("deliveries %+v: want one invalid", ds)
	}
}

func TestWebhookPingAndIgnoredEvents(t *testing.T) {
	e := newAPIEnv(t)
	e.addRepo(RepoInput{Name: "demo", URL: "https://github.com/octo-org/demo.git", WebhookSecret: apiHookSecret})
	code, out := e.hook("/hooks/github", forge.GitHub, apiForgePayload(t, "github_ping.json"), apiHookSecret, "X-GitHub-Event", "ping")
	if code != http.StatusOK || strings.TrimSpace(string(out)) != "pong" {
		t.Errorf("ping = %d %q, want 200 pong", code, out)
	}
	code, out = e.hook("/hooks/github?repo=demo", forge.GitHub, []byte(`{"action":"created","issue":{}}`), apiHookSecret, "X-GitHub-Event", "issue_comment")
	if code != http.StatusAccepted || !strings.Contains(string(out), "ignored") {
		t.Errorf("issue_comment = %d %s, want 202 ignored", code, out)
	}
	if n := len(e.sched.recorded()); n != 0 {
		t.Errorf("scheduler called %d times", n)
	}
	ds, _ := e.db.ListDeliveries(context.Background(), store.DeliveryFilter{Unprocessed: true})
	if len(ds) != 0 {
		t.Errorf("%d deliveries left unprocessed", len(ds))
	}
}

func TestWebhookIsPersistedBeforeTriggerAndReplayed(t *testing.T) {
	e := newAPIEnv(t)
	e.addRepo(RepoInput{Name: "named", URL: "file:///srv/named.git", WebhookSecret: apiHookSecret})
	body := apiForgePayload(t, "gitlab_push.json")
	var seenBeforeTrigger []store.Delivery
	e.sched.during = func(Trigger) error {
		ds, err := e.db.ListDeliveries(context.Background(), store.DeliveryFilter{Unprocessed: true})
		if err != nil {
			return err
		}
		seenBeforeTrigger = ds
		return errors.New("the forge is down")
	}
	code, _ := e.hook("/hooks/gitlab?repo=named", forge.GitLab, body, apiHookSecret, "X-Gitlab-Event", "Push Hook")
	if code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500 when triggering fails", code)
	}
	if len(seenBeforeTrigger) != 1 || string(seenBeforeTrigger[0].Body) != string(body) {
		t.Fatalf("the delivery was not stored before the scheduler ran: %+v", seenBeforeTrigger)
	}
	// The server restarts with a working scheduler: the delivery is replayed
	// for the repository named by ?repo=, which the payload does not name.
	e.sched.during = nil
	if err := e.srv.ReplayDeliveries(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := e.sched.recorded()
	if len(got) != 1 || got[0].Event != "push" || got[0].DeliveryID != seenBeforeTrigger[0].ID {
		t.Fatalf("replay triggered %+v", got)
	}
	runs, _ := e.db.ListRuns(context.Background(), store.RunFilter{})
	repo, _ := e.db.GetRepoByName(context.Background(), "named")
	if len(runs) != 1 || runs[0].RepoID != repo.ID {
		t.Errorf("runs after replay: %+v", runs)
	}
	ds, _ := e.db.ListDeliveries(context.Background(), store.DeliveryFilter{Unprocessed: true})
	if len(ds) != 0 {
		t.Errorf("%d deliveries still unprocessed after replay", len(ds))
	}
}

func TestRepoMatchKey(t *testing.T) {
	for in, want := range map[string]string{
		"https://github.com/Octo-Org/demo.git":     "octo-org/demo",
		"git@github.com:octo-org/demo.git":         "octo-org/demo",
		"ssh://git@host:2222/group/sub/proj.git":   "group/sub/proj",
		"octo-org/demo":                            "octo-org/demo",
		"https://user:pw@gitea.local/a/b/":         "a/b",
		"http://localhost:3000/gitea/webhooks":     "gitea/webhooks",
		"file:///srv/git/octo-org/demo.git":        "srv/git/octo-org/demo",
		"https://gitlab.example.com/mike/diaspora": "mike/diaspora",
	} {
		if got := repoMatchKey(in); got != want {
			t.Errorf("repoMatchKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// A forge redelivers a webhook it got no answer to (a replica died, a proxy timed out) with the
// same delivery id, and an attacker may replay a captured one: neither makes a second run. A
// redelivery of one that was recorded but never turned into runs is processed then.
func TestWebhookRedeliveryMakesNoSecondRun(t *testing.T) {
	e := newAPIEnv(t)
	e.addRepo(RepoInput{Name: "named", URL: "file:///srv/named.git", WebhookSecret: apiHookSecret})
	body := apiForgePayload(t, "gitlab_push.json")
	post := func(id string) (int, map[string]any) {
		code, out := e.hook("/hooks/gitlab?repo=named", forge.GitLab, body, apiHookSecret, "X-Gitlab-Event", "Push Hook", "X-Gitlab-Event-UUID", id)
		var ans map[string]any
		json.Unmarshal(out, &ans)
		return code, ans
	}
	code, first := post("uuid-1")
	if code != http.StatusAccepted {
		t.Fatalf("first delivery: %d %v", code, first)
	}
	code, again := post("uuid-1")
	if code != http.StatusOK || again["redelivery"] != true || fmt.Sprint(again["runs"]) != fmt.Sprint(first["runs"]) {
		t.Fatalf("redelivery: %d %v, want 200 with the first one's runs %v", code, again, first["runs"])
	}
	if n := len(e.sched.recorded()); n != 1 {
		t.Errorf("%d triggers for one delivery sent twice", n)
	}
	// Recorded, then the replica died before planning it (here: the trigger failed).
	e.sched.during = func(Trigger) error { return errors.New("the replica dies") }
	if code, _ := post("uuid-2"); code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", code)
	}
	e.sched.during = nil
	code, redo := post("uuid-2")
	if code != http.StatusAccepted || redo["redelivery"] != true || len(redo["runs"].([]any)) != 1 {
		t.Fatalf("redelivery of an unprocessed delivery: %d %v, want 202 with its run", code, redo)
	}
	if code, _ := post("uuid-2"); code != http.StatusOK || len(e.sched.recorded()) != 2 {
		t.Errorf("a third copy: %d, %d triggers; want 200 and no new trigger", code, len(e.sched.recorded()))
	}
	ds, _ := e.db.ListDeliveries(context.Background(), store.DeliveryFilter{})
	if len(ds) != 2 {
		t.Errorf("%d deliveries stored for two delivery ids", len(ds))
	}
}

// TestWebhookReplayStartsNothing: a signed delivery sent again with the
// same delivery id (an attacker's replay, or a forge's redelivery of one
// that went through) answers 200 "already processed" and triggers nothing;
// the same id for another repository is its own delivery.
func TestWebhookReplayStartsNothing(t *testing.T) {
	e := newAPIEnv(t)
	e.addRepo(RepoInput{Name: "demo", URL: "https://github.com/octo-org/demo.git", WebhookSecret: apiHookSecret})
	e.addRepo(RepoInput{Name: "other", URL: "file:///srv/other.git", WebhookSecret: apiHookSecret})
	body := apiForgePayload(t, "github_push.json")
	hdr := []string{"X-GitHub-Event", "push", "X-GitHub-Delivery", "replayed-1"}
	if code, out := e.hook("/hooks/github", forge.GitHub, body, apiHookSecret, hdr...); code != http.StatusAccepted {
		t.Fatalf("first delivery: %d %s", code, out)
	}
	for i := 0; i < 3; i++ {
		code, out := e.hook("/hooks/github", forge.GitHub, body, apiHookSecret, hdr...)
		if code != http.StatusOK || !strings.Contains(string(out), "already processed") {
			t.Fatalf("replay %d: %d %s, want 200 already processed", i, code, out)
		}
	}
	if n := len(e.sched.recorded()); n != 1 {
		t.Errorf("the scheduler was called %d times, want once", n)
	}
	if code, out := e.hook("/hooks/github?repo=other", forge.GitHub, body, apiHookSecret, hdr...); code != http.StatusAccepted {
		t.Errorf("same delivery id for another repository: %d %s, want it processed", code, out)
	}
	if n := len(e.sched.recorded()); n != 2 {
		t.Errorf("the scheduler was called %d times, want twice", n)
	}
}

// TestWebhookFailuresAreBounded: a delivery whose processing keeps failing
// is tried at most store.MaxDeliveryAttempts times (the first request, then
// restarts' replays), then given up and never executed again.
func TestWebhookFailuresAreBounded(t *testing.T) {
	e := newAPIEnv(t)
	e.addRepo(RepoInput{Name: "named", URL: "file:///srv/named.git", WebhookSecret: apiHookSecret})
	calls := 0
	e.sched.during = func(Trigger) error {
		calls++
		return errors.New("git fetch failed")
	}
	code, out := e.hook("/hooks/gitlab?repo=named", forge.GitLab, apiForgePayload(t, "gitlab_push.json"), apiHookSecret, "X-Gitlab-Event", "Push Hook")
	if code != http.StatusInternalServerError || !strings.Contains(string(out), "attempt 1 of") {
		t.Fatalf("status %d %s, want 500 naming the attempt", code, out)
	}
	for i := 0; i < store.MaxDeliveryAttempts+3; i++ {
		_ = e.srv.ReplayDeliveries(context.Background())
	}
	if calls != store.MaxDeliveryAttempts {
		t.Errorf("processing was tried %d times, want %d", calls, store.MaxDeliveryAttempts)
	}
	if ds, _ := e.db.ListDeliveries(context.Background(), store.DeliveryFilter{Unprocessed: true}); len(ds) != 0 {
		t.Errorf("given-up delivery still pending: %+v", ds)
	}
}

// TestUnsignedFloodIsBounded: deliveries that fail authentication (or name
// no repository) are kept without their bodies and only up to a bound.
func TestUnsignedFloodIsBounded(t *testing.T) {
	e := newAPIEnv(t)
	e.addRepo(RepoInput{Name: "demo", URL: "https://github.com/octo-org/demo.git", WebhookSecret: apiHookSecret})
	big := append([]byte(`{"repository":{"full_name":"octo-org/demo"},"pad":"`), make([]byte, 1<<20)...)
	for i := range big[len(big)-(1<<20):] {
		big[len(big)-(1<<20)+i] = 'x'
	}
	big = append(big, `"}`...)
	for i := 0; i < store.MaxRejectedDeliveries+20; i++ {
		body := big
		if i%2 == 1 {
			body = []byte(`{"repository":{"full_name":"nobody/else"}}`)
		}
		if code, _ := e.hook("/hooks/github", forge.GitHub, body, "", "X-GitHub-Event", "push"); code != http.StatusUnauthorized && code != http.StatusNotFound {
			t.Fatalf("unsigned delivery %d answered %d", i, code)
		}
	}
	ds, err := e.db.ListDeliveries(context.Background(), store.DeliveryFilter{Limit: 10 * store.MaxRejectedDeliveries})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != store.MaxRejectedDeliveries {
		t.Errorf("%d deliveries kept, want %d", len(ds), store.MaxRejectedDeliveries)
	}
	for _, d := range ds {
		if d.Body != nil {
			t.Fatalf("rejected delivery %d kept a %d-byte body", d.ID, len(d.Body))
		}
	}
}

// TestReplayUnattemptedLeavesFailedDeliveries: the replay replicas run every few seconds picks up
// deliveries nobody tried (a replica died holding them), not ones whose processing failed, so a
// failing delivery is not burnt through its bounded attempts in seconds; a start retries it.
func TestReplayUnattemptedLeavesFailedDeliveries(t *testing.T) {
	e := newAPIEnv(t)
	e.addRepo(RepoInput{Name: "named", URL: "file:///srv/named.git", WebhookSecret: apiHookSecret})
	calls := 0
	e.sched.during = func(Trigger) error {
		calls++
		return errors.New("git fetch failed")
	}
	if code, out := e.hook("/hooks/gitlab?repo=named", forge.GitLab, apiForgePayload(t, "gitlab_push.json"), apiHookSecret, "X-Gitlab-Event", "Push Hook"); code != http.StatusInternalServerError {
		t.Fatalf("status %d %s, want 500", code, out)
	}
	for range 3 {
		if err := e.srv.ReplayUnattempted(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 1 {
		t.Errorf("processing was tried %d times after the periodic replays, want 1", calls)
	}
	e.sched.during = nil
	if err := e.srv.ReplayDeliveries(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ds, _ := e.db.ListDeliveries(context.Background(), store.DeliveryFilter{Unprocessed: true}); len(ds) != 0 {
		t.Errorf("delivery still pending after a start's replay: %+v", ds)
	}
}
