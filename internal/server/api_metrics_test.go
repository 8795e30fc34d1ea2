package server

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/metrics"
	"github.com/sluice-ci/sluice/internal/store"
)

// metricsRepo registers a repository with a production environment.
func metricsRepo(e *apiEnv, name string) *store.Repo {
	e.t.Helper()
	e.addRepo(RepoInput{Name: name, URL: "https://user:s3cret@forge.example/acme/" + name + ".git"})
	repo, err := e.db.GetRepoByName(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.PutEnvironment(context.Background(), repo.ID, cd.Environment{Name: "production", Tier: cd.TierProduction}); err != nil {
		e.t.Fatal(err)
	}
	return repo
}

// An empty history answers figures without data, never NaN; one deployment answers its figures.
func TestAPIMetrics(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()
	repo := metricsRepo(e, "app")
	path := "/api/v1/repos/app/metrics"

	if code, _ := e.do("GET", path, "", nil); code != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401", code)
	}
	if code, _ := e.do("GET", "/api/v1/repos/nope/metrics", e.admin, nil); code != http.StatusNotFound {
		t.Errorf("unknown repository: %d, want 404", code)
	}
	var rep metrics.Report
	e.mustDo(http.StatusOK, "GET", path, e.token("reader", store.ScopeRead), nil, &rep)
	if rep.Env != "production" || rep.DORA.Frequency.Count != 0 || rep.DORA.ChangeFailRate.Value != nil ||
		rep.DORA.LeadTime.Median != nil || rep.DORA.Frequency.Bucket != "none" {
		t.Errorf("empty history: %+v", rep.DORA)
	}
	_, raw := e.do("GET", path, e.admin, nil)
	if strings.Contains(string(raw), "NaN") || !strings.Contains(string(raw), `"change_fail_rate":{"definition"`) {
		t.Errorf("empty history JSON: %s", raw)
	}

	// One deployment, recorded through the store.
	a := cd.Artifact{Name: "app.whl", Digest: "sha256:" + strings.Repeat("ab", 32), Size: 1}
	r, err := cd.NewRelease(cd.ReleaseSource{Repo: "app", Commit: strings.Repeat("c", 40), Ref: "refs/heads/main"}, []cd.Artifact{a}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.db.CreateRelease(ctx, repo.ID, r); err != nil {
		t.Fatal(err)
	}
	p, err := e.db.CreatePromotion(ctx, repo.ID, cd.Promotion{Env: "production", ReleaseID: r.ID, Kind: cd.KindForward, StartedBy: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []cd.State{cd.StateInProgress, cd.StateSuccess} {
		if _, err := e.db.SetPromotionState(ctx, p.ID, st); err != nil {
			t.Fatal(err)
		}
	}
	e.mustDo(http.StatusOK, "GET", path+"?since=7d&env=production", e.admin, nil, &rep)
	if rep.DORA.Frequency.Count != 1 || rep.DORA.Frequency.Deployments[0].Promotion != p.ID || rep.Window != "7d" ||
		rep.DORA.ChangeFailRate.Value == nil || *rep.DORA.ChangeFailRate.Value != 0 {
		t.Errorf("one deployment: window %s, %+v", rep.Window, rep.DORA)
	}
	if !strings.Contains(strings.Join(rep.Notes, " "), "mirror is missing") {
		t.Errorf("notes %q do not say the mirror is missing", rep.Notes)
	}
	if strings.Contains(e.allBodies(), "s3cret") {
		t.Error("a response holds the repository URL's password")
	}

	// Prometheus: the keys per repository and environment; staging has no deployment, so no
	// rate or quantile of it is exported (never NaN).
	if err := e.db.PutEnvironment(ctx, repo.ID, cd.Environment{Name: "staging", Tier: cd.TierStaging}); err != nil {
		t.Fatal(err)
	}
	code, scrape := e.do("GET", "/metrics", "", nil)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, line := range []string{`sluice_deployments{env="production",repo="app"} 1`, `sluice_change_fail_rate{env="production",repo="app"} 0`,
		`sluice_deployment_rework_rate{env="production",repo="app"} 0`, `sluice_deployments{env="staging",repo="app"} 0`} {
		if !strings.Contains(string(scrape), line+"\n") {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	if strings.Contains(string(scrape), "NaN") || strings.Contains(string(scrape), `sluice_change_fail_rate{env="staging"`) {
		t.Errorf("/metrics exports a figure without data:\n%s", scrape)
	}

	// CSV: one figure per row.
	code, out := e.do("GET", path+"?format=csv", e.admin, nil)
	if code != http.StatusOK {
		t.Fatalf("csv: %d %s", code, out)
	}
	rows, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
	if err != nil {
		t.Fatalf("reading the CSV: %v\n%s", err, out)
	}
	if strings.Join(rows[0], ",") != "section,subject,metric,period,value,unit" {
		t.Errorf("CSV header %q", rows[0])
	}
	found := false
	for _, row := range rows {
		if row[0] == "dora" && row[2] == "deployments" && row[3] == "" {
			found = row[4] == "1"
		}
	}
	if !found {
		t.Errorf("CSV has no dora deployments = 1 row:\n%s", out)
	}
}

func TestAPIMetricsIsDocumented(t *testing.T) {
	e := newAPIEnv(t)
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct{ Name string } `json:"parameters"`
		} `json:"paths"`
	}
	e.mustDo(http.StatusOK, "GET", "/api/v1/openapi.json", "", nil, &doc)
	op, ok := doc.Paths["/api/v1/repos/{name}/metrics"]["get"]
	if !ok {
		t.Fatal("openapi.json does not document GET /api/v1/repos/{name}/metrics")
	}
	var names []string
	for _, p := range op.Parameters {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, ","); got != "name,env,since,lead_from,compare,split_by,hotfix_window,format" {
		t.Errorf("documented parameters %s", got)
	}
}

// Every parameter comes from a request: bad values get a 400 that says what to pass, and a
// commit to compare against can never become an option of git.
func TestAPIMetricsBadInput(t *testing.T) {
	e := newAPIEnv(t)
	metricsRepo(e, "app")
	// A mirror, so that a compare reaches git.
	repo, _ := e.db.GetRepoByName(context.Background(), "app")
	mirror := e.srv.mirrorDir(repo.ID)
	if err := os.MkdirAll(filepath.Dir(mirror), 0o755); err != nil {
		t.Fatal(err)
	}
	gitInit(t, mirror)
	marker := filepath.Join(t.TempDir(), "pwned")
	tests := []struct {
		query string
		code  int
		want  string
	}{
		{"since=90x", 400, "want a length like 90d"},
		{"since=99999d", 400, "longer than ten years"},
		{"since=-5h", 400, "longer than nothing"},
		{"since=2999-01-01", 400, "not in the past"},
		{"since=" + url.QueryEscape(strings.Repeat("9", 5000)), 400, "want a length"},
		{"format=xml", 400, "want json or csv"},
		{"lead_from=yesterday", 400, "want commit or push"},
		{"split_by=" + url.QueryEscape("pip; rm -rf /"), 400, "want a tool name"},
		{"hotfix_window=1s", 400, "from 1m to 720h"},
		{"env=nope", 404, "it has production"},
		{"compare=" + url.QueryEscape("--output="+marker), 400, "want a commit or a date"},
		{"compare=" + url.QueryEscape("HEAD --output="+marker), 400, "want a commit or a date"},
		{"compare=no-such-branch", 400, "no commit"},
	}
	for _, tt := range tests {
		code, out := e.do("GET", "/api/v1/repos/app/metrics?"+tt.query, e.admin, nil)
		var body struct{ Error string }
		_ = json.Unmarshal(out, &body)
		if code != tt.code || !strings.Contains(body.Error, tt.want) {
			t.Errorf("?%.60s: %d %s, want %d saying %q", tt.query, code, out, tt.code, tt.want)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a compare parameter made git write a file")
	}
}

// gitInit makes a bare repository with one commit on main at dir.
func gitInit(t *testing.T, dir string) {
	t.Helper()
	work := t.TempDir()
	for _, args := range [][]string{
		{"init", "-q", "--bare", "-b", "main", dir},
		{"-C", work, "init", "-q", "-b", "main"},
		{"-C", work, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "first"},
		{"-C", work, "push", "-q", dir, "main"},
	} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
}
