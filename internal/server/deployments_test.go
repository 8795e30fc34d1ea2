package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/cd"
)

// TestReportDeployment reports one promotion's life to a GitHub-shaped API:
// the deployment is created once, then each state is a status of it.
func TestReportDeployment(t *testing.T) {
	type call struct {
		Method, Path string
		Body         map[string]any
	}
	var mu sync.Mutex
	var got []call
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		mu.Lock()
		got = append(got, call{r.Method, r.URL.Path, body})
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		if strings.HasSuffix(r.URL.Path, "/deployments") {
			io.WriteString(w, `{"id": 4242}`)
			return
		}
		io.WriteString(w, "{}")
	}))
	defer fake.Close()
	e := newAPIEnv(t)
	ctx := context.Background()
	view := e.addRepo(RepoInput{Name: "demo", URL: "https://github.com/octo-org/demo.git", Forge: "github",
		StatusToken: "ghp_tok", APIURL: fake.URL})
	repo, err := e.db.GetRepo(ctx, view.ID)
	if err != nil {
		t.Fatal(err)
	}
	sha := strings.Repeat("b", 40)
	art := cd.Artifact{Name: "app/app-1.0-py3-none-any.whl", Digest: "sha256:" + strings.Repeat("1", 64), Size: 3}
	rel, err := cd.NewRelease(cd.ReleaseSource{Repo: "octo-org/demo", Commit: sha, Ref: "refs/heads/main"}, []cd.Artifact{art}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.db.CreateRelease(ctx, repo.ID, rel); err != nil {
		t.Fatal(err)
	}
	if err := e.db.PutEnvironment(ctx, repo.ID, cd.Environment{Name: "production", Tier: cd.TierProduction}); err != nil {
		t.Fatal(err)
	}
	p, err := e.db.CreatePromotion(ctx, repo.ID, cd.Promotion{Env: "production", ReleaseID: rel.ID, Kind: cd.KindForward, StartedBy: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []cd.State{cd.StateQueued, cd.StateInProgress, cd.StateSuccess} {
		if p, err = e.db.SetPromotionState(ctx, p.ID, st); err != nil {
			t.Fatal(err)
		}
		p.URL = "https://demo.example"
		if err := e.srv.ReportDeployment(ctx, repo, p); err != nil {
			t.Fatalf("reporting %s: %v", st, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var paths []string
	for _, c := range got {
		paths = append(paths, c.Method+" "+c.Path)
	}
	want := []string{"POST /repos/octo-org/demo/deployments", "POST /repos/octo-org/demo/deployments/4242/statuses",
		"POST /repos/octo-org/demo/deployments/4242/statuses", "POST /repos/octo-org/demo/deployments/4242/statuses"}
	if d := cmp.Diff(want, paths); d != "" {
		t.Fatalf("forge calls (-want +got):\n%s", d)
	}
	if got[0].Body["environment"] != "production" || got[0].Body["ref"] != sha || got[0].Body["production_environment"] != true {
		t.Errorf("deployment body %v", got[0].Body)
	}
	var states []any
	for _, c := range got[1:] {
		states = append(states, c.Body["state"])
	}
	if d := cmp.Diff([]any{"queued", "in_progress", "success"}, states); d != "" {
		t.Errorf("statuses (-want +got):\n%s", d)
	}
	if got[3].Body["environment_url"] != "https://demo.example" {
		t.Errorf("last status %v lacks the environment URL", got[3].Body)
	}
}
