package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/metrics"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

// sluice metrics against a real server: the empty state a person reads, JSON and CSV with the
// same figures, and mistakes answered with what to do.
func TestMetricsCommand(t *testing.T) {
	ctx := context.Background()
	db, srv, dir := newTestServer(t, nil)
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	admin := "cli-test-admin-token-0123456789"
	if err := server.Bootstrap(ctx, db, dir, func(k string) string {
		return map[string]string{server.AdminTokenEnv: admin}[k]
	}, io.Discard); err != nil {
		t.Fatal(err)
	}
	repo, err := db.CreateRepo(ctx, store.Repo{Name: "demo", URL: "file:///srv/demo.git"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutEnvironment(ctx, repo.ID, cd.Environment{Name: "production", Tier: cd.TierProduction}); err != nil {
		t.Fatal(err)
	}
	conn := []string{"--server", hs.URL, "--token", admin}

	out, err := runCLI(t, metricsCmd(), "", conn...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"demo · production · last 90d", "no deployments to production yet in the last 90d",
		"Dependency incidents    0 · MTTR no data · 0 open", "Build reproducibility   no data", "The repository mirror is missing"} {
		if !strings.Contains(out, want) {
			t.Errorf("sluice metrics lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "NaN") {
		t.Errorf("sluice metrics shows NaN:\n%s", out)
	}
	js, err := runCLI(t, metricsCmd(), "", append([]string{"--json", "--since", "30d"}, conn...)...)
	if err != nil {
		t.Fatal(err)
	}
	var rep metrics.Report
	if err := json.Unmarshal([]byte(js), &rep); err != nil || rep.Window != "30d" || rep.Env != "production" {
		t.Fatalf("--json: %v, %+v", err, rep)
	}
	cs, err := runCLI(t, metricsCmd(), "", append([]string{"--csv"}, conn...)...)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(cs)).ReadAll()
	if err != nil || len(rows) < 10 || strings.Join(rows[0], ",") != strings.Join(metrics.CSVHeader, ",") {
		t.Fatalf("--csv: %v\n%s", err, cs)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--json", "--csv"}, "--json and --csv: pick one"},
		{[]string{"--since", "a while"}, "want a length like 90d"},
		{[]string{"--env", "qa"}, `environment "qa" of demo not found (it has production)`},
		{[]string{"--repo", "nope"}, "repository nope not found"},
	} {
		if _, err := runCLI(t, metricsCmd(), "", append(tt.args, conn...)...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("sluice metrics %v: %v; want an error saying %q", tt.args, err, tt.want)
		}
	}
}
