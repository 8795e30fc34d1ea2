package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAgents(t *testing.T) {
	ctx := context.Background()
	db, clock := newDB(t)
	a := mustAgent(t, db, "box", 2, "default")
	clock.Advance(5e9)
	again, err := db.RegisterAgent(ctx, Agent{Name: "box", Labels: []string{"gpu"}, Parallel: 4, TokenHash: []byte("new"), Version: "1.1"})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != a.ID || again.Parallel != 4 || !again.LastSeen.Equal(clock.Now()) || again.CreatedAt != a.CreatedAt {
		t.Errorf("re-registered agent = %+v (was %+v)", again, a)
	}
	byHash, err := db.GetAgentByTokenHash(ctx, []byte("new"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(again, byHash); diff != "" {
		t.Errorf("by hash (-want +got):\n%s", diff)
	}
	if _, err := db.GetAgentByTokenHash(ctx, []byte("hash-box")); !errors.Is(err, ErrNotFound) {
		t.Errorf("old token hash: err = %v, want ErrNotFound", err)
	}
	if _, err := db.RegisterAgent(ctx, Agent{Name: "other", TokenHash: []byte("new")}); !errors.Is(err, ErrConflict) {
		t.Errorf("shared token hash: err = %v, want ErrConflict", err)
	}
	if err := db.DeleteAgent(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if list, err := db.ListAgents(ctx); err != nil || len(list) != 0 {
		t.Errorf("ListAgents = %v, %v", list, err)
	}
	if err := db.TouchAgent(ctx, a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("TouchAgent of deleted agent: %v", err)
	}
}

func TestSecrets(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	repo := mustRepo(t, db, "app")
	other := mustRepo(t, db, "other")
	put := func(repoID *int64, name, value string) {
		t.Helper()
		if _, err := db.PutSecret(ctx, repoID, name, []byte(value)); err != nil {
			t.Fatal(err)
		}
	}
	put(nil, "PYPI_TOKEN", "server-pypi")
	put(nil, "SLACK", "server-slack")
	put(&repo.ID, "PYPI_TOKEN", "repo-pypi-old")
	put(&repo.ID, "PYPI_TOKEN", "repo-pypi") // replaces
	put(&other.ID, "DEPLOY", "other-deploy")
	put(nil, "SLACK", "server-slack-2") // server-wide names are unique too

	view := func(ss []Secret) map[string]string {
		out := map[string]string{}
		for _, s := range ss {
			out[s.Name] = string(s.Ciphertext)
		}
		return out
	}
	tests := []struct {
		name string
		get  func() ([]Secret, error)
		want map[string]string
	}{
		{"server", func() ([]Secret, error) { return db.ListSecrets(ctx, nil) },
			map[string]string{"PYPI_TOKEN": "server-pypi", "SLACK": "server-slack-2"}},
		{"repo", func() ([]Secret, error) { return db.ListSecrets(ctx, &repo.ID) },
			map[string]string{"PYPI_TOKEN": "repo-pypi"}},
		{"for repo", func() ([]Secret, error) { return db.SecretsForRepo(ctx, repo.ID) },
			map[string]string{"PYPI_TOKEN": "repo-pypi", "SLACK": "server-slack-2"}},
		{"for other", func() ([]Secret, error) { return db.SecretsForRepo(ctx, other.ID) },
			map[string]string{"PYPI_TOKEN": "server-pypi", "SLACK": "server-slack-2", "DEPLOY": "other-deploy"}},
	}
	for _, tc := range tests {
		got, err := tc.get()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, view(got)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
	if err := db.DeleteSecret(ctx, &repo.ID, "PYPI_TOKEN"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetSecret(ctx, &repo.ID, "PYPI_TOKEN"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted secret: err = %v", err)
	}
	if s, err := db.GetSecret(ctx, nil, "PYPI_TOKEN"); err != nil || string(s.Ciphertext) != "server-pypi" {
		t.Errorf("server secret after deleting the repo's = %v, %v", s, err)
	}
	evs, err := db.ListEvents(ctx, EventFilter{Kinds: []string{EventSecretSet}})
	if err != nil || len(evs) != 6 {
		t.Fatalf("secret.set events = %d, %v", len(evs), err)
	}
	for _, e := range evs {
		if !strings.Contains(string(e.Data), `"name"`) || strings.Contains(string(e.Data), "pypi") || strings.Contains(string(e.Data), "slack") {
			t.Errorf("event data %s", e.Data)
		}
	}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	db, clock := newDB(t)
	tk, err := db.CreateToken(ctx, Token{Name: "admin", Hash: []byte{1, 2, 3}, Scope: ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateToken(ctx, Token{Name: "dup", Hash: []byte{1, 2, 3}, Scope: ScopeRead}); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate hash: %v", err)
	}
	if _, err := db.CreateToken(ctx, Token{Name: "bad", Hash: []byte{9}, Scope: "root"}); err == nil {
		t.Error("unknown scope accepted")
	}
	clock.Advance(1e9)
	if err := db.TouchToken(ctx, tk.ID); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetTokenByHash(ctx, []byte{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	want := *tk
	now := clock.Now()
	want.LastUsed = &now
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("GetTokenByHash (-want +got):\n%s", diff)
	}
	if err := db.DeleteToken(ctx, tk.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetTokenByHash(ctx, []byte{1, 2, 3}); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoked token: %v", err)
	}
}

func TestDeliveries(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	good, _, err := db.CreateDelivery(ctx, Delivery{Forge: "github", Event: "push", DeliveryID: "d1", Valid: true, Body: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateDelivery(ctx, Delivery{Forge: "gitea", Event: "push", DeliveryID: "d2", Reason: "bad signature", Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	second, _, err := db.CreateDelivery(ctx, Delivery{Forge: "gitlab", Event: "Push Hook", DeliveryID: "d3", Valid: true})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(f DeliveryFilter) []string {
		ds, err := db.ListDeliveries(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range ds {
			out = append(out, d.DeliveryID)
		}
		return out
	}
	if diff := cmp.Diff([]string{"d1", "d3"}, ids(DeliveryFilter{Unprocessed: true})); diff != "" {
		t.Errorf("unprocessed (-want +got):\n%s", diff)
	}
	if err := db.MarkDeliveryProcessed(ctx, good.ID, []int64{7}); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkDeliveryProcessed(ctx, good.ID, nil); err != nil {
		t.Errorf("second MarkDeliveryProcessed: %v", err)
	}
	if diff := cmp.Diff([]string{"d3"}, ids(DeliveryFilter{Unprocessed: true})); diff != "" {
		t.Errorf("unprocessed after marking (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"d3", "d2", "d1"}, ids(DeliveryFilter{})); diff != "" {
		t.Errorf("all (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"d2", "d1"}, ids(DeliveryFilter{Before: second.ID})); diff != "" {
		t.Errorf("page (-want +got):\n%s", diff)
	}
	got, err := db.GetDelivery(ctx, good.ID)
	if err != nil || !got.Processed || string(got.Body) != "{}" {
		t.Errorf("GetDelivery = %+v, %v", got, err)
	}
	// A rejected delivery is a trace, not an event: a flood of them adds no
	// events and keeps no body.
	if diff := cmp.Diff([]string{EventWebhookReceived, EventWebhookReceived, EventWebhookHandled},
		eventKinds(t, db, EventFilter{})); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	all, _ := db.ListDeliveries(ctx, DeliveryFilter{})
	for _, d := range all {
		if !d.Valid && d.Body != nil {
			t.Errorf("rejected delivery %s kept its body %q", d.DeliveryID, d.Body)
		}
	}
}

// TestDeliveriesBounded: rejected deliveries are capped in number; a
// delivery id is recorded once per repository; a failing delivery is given
// up after MaxDeliveryAttempts; retention prunes what is done.
func TestDeliveriesBounded(t *testing.T) {
	ctx := context.Background()
	db, clock := newDB(t)
	for i := 0; i < MaxRejectedDeliveries+50; i++ {
		if _, _, err := db.CreateDelivery(ctx, Delivery{Forge: "github", DeliveryID: fmt.Sprint(i), Reason: "bad signature"}); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := db.rd().queryRow(ctx, `SELECT count(*) FROM deliveries WHERE valid = 0`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != MaxRejectedDeliveries {
		t.Errorf("%d rejected deliveries kept, want %d", n, MaxRejectedDeliveries)
	}

	repo := mustRepo(t, db, "r")
	first, existed, err := db.CreateDelivery(ctx, Delivery{Forge: "github", DeliveryID: "same", RepoID: repo.ID, Valid: true})
	if err != nil || existed {
		t.Fatalf("first delivery: %v, existed %v", err, existed)
	}
	again, existed, err := db.CreateDelivery(ctx, Delivery{Forge: "github", DeliveryID: "same", RepoID: repo.ID, Valid: true})
	if err != nil || !existed || again.ID != first.ID {
		t.Fatalf("replayed delivery: %+v, existed %v, %v; want the first one back", again, existed, err)
	}
	for i := 1; i <= MaxDeliveryAttempts; i++ {
		attempts, gaveUp, err := db.DeliveryFailed(ctx, first.ID, "boom")
		if err != nil || attempts != i || gaveUp != (i == MaxDeliveryAttempts) {
			t.Fatalf("failure %d: attempts %d, gave up %v, %v", i, attempts, gaveUp, err)
		}
	}
	if ds, _ := db.ListDeliveries(ctx, DeliveryFilter{Unprocessed: true}); len(ds) != 0 {
		t.Errorf("a given-up delivery is still offered for replay: %+v", ds)
	}
	clock.Advance(48 * time.Hour)
	pruned, err := db.PruneDeliveries(ctx, clock.Now().Add(-24*time.Hour))
	if err != nil || pruned != int64(MaxRejectedDeliveries+1) {
		t.Errorf("PruneDeliveries = %d, %v; want %d", pruned, err, MaxRejectedDeliveries+1)
	}
}
