package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ci/sluice/internal/store"
)

// TestDependenciesPage shows a repository's pending updates with their runs, finished ones
// with their outcome, open pins from the mirror's history, the last update and the age of
// the oldest locked dependency; what came from a repository or an index is escaped.
func TestDependenciesPage(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	e := uiNewEnv(t)
	ctx := context.Background()
	repo, err := e.db.CreateRepo(ctx, store.Repo{Name: "app", URL: "https://git.example/acme/app.git", DefaultBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	// The server's mirror of the repository, with an emergency pin in its history.
	work := t.TempDir()
	git := func(dir string, args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@b", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@b")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git(work, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(work, "requirements.in"), []byte("urllib3\n"), 0o644)
	git(work, "add", "-A")
	git(work, "commit", "-q", "-m", "start")
	os.WriteFile(filepath.Join(work, "requirements.in"), []byte("urllib3<2.3\n"), 0o644)
	git(work, "commit", "-q", "-am", "fix(deps): pin urllib3<2.3", "-m", "Sluice-Pin: urllib3<2.3\nSluice-Pin-Reason: <b>proxy</b> breaks")
	mirror := filepath.Join(e.dataDir, "repos", fmt.Sprintf("%d.git", repo.ID))
	git(work, "clone", "-q", "--bare", work, mirror)

	if err := e.db.PutDepStatus(ctx, store.DepStatus{RepoID: repo.ID, Checked: time.Now(), LockFile: "uv.lock", Packages: 150,
		OldestName: "six", OldestVersion: "1.16.0", OldestUploaded: time.Now().Add(-1000 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	changes := `{"tool":"uv","lock":"uv.lock","changes":[{"name":"delta","old":"1.0.0","new":"1.1.0","type":"minor","group":"runtime","age_days":7}],"packages":150}`
	pending, err := e.db.CreateDepUpdate(ctx, store.DepUpdate{RepoID: repo.ID, Group: "runtime", Branch: "sluice/deps/runtime", State: store.DepRunning, Changes: json.RawMessage(changes), Runs: []int64{41}})
	if err != nil {
		t.Fatal(err)
	}
	done, err := e.db.CreateDepUpdate(ctx, store.DepUpdate{RepoID: repo.ID, Group: "dev", Branch: "sluice/deps/dev", State: store.DepRunning, Changes: json.RawMessage(changes), Runs: []int64{40}})
	if err != nil {
		t.Fatal(err)
	}
	done.State, done.Finding, done.PRURL = store.DepPROpen, "<script>alert(1)</script> breaks the build", "javascript:alert(1)"
	if _, err := e.db.SaveDepUpdate(ctx, *done); err != nil {
		t.Fatal(err)
	}

	resp, body := e.get("/repos/app/dependencies", e.signIn(store.ScopeRead))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d:\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{
		"uv.lock (150 packages)", "six 1.16.0</span>, released 1000 days ago",
		`<a href="/runs/41">run 41</a>`, "sluice/deps", "runtime",
		"urllib3&lt;2.3", "&lt;b&gt;proxy&lt;/b&gt; breaks", "trailer",
		"&lt;script&gt;alert(1)&lt;/script&gt; breaks the build", "pr-open",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script>alert(1)", `href="javascript:`, "<b>proxy"} {
		if strings.Contains(body, bad) {
			t.Errorf("page carries %q unescaped", bad)
		}
	}
	_ = pending

	// The same facts as JSON; updating on demand needs a runner this server lacks.
	tok := e.apiToken("ci", store.ScopeWrite)
	req, _ := http.NewRequest(http.MethodGet, e.http.URL+"/api/v1/repos/app/deps", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var v DepsView
	json.NewDecoder(r2.Body).Decode(&v)
	r2.Body.Close()
	if len(v.Updates) != 2 || len(v.Pins) != 1 || v.Pins[0].Package != "urllib3" || v.Status == nil || v.Status.Packages != 150 {
		t.Errorf("deps API: %+v", v)
	}
	req, _ = http.NewRequest(http.MethodPost, e.http.URL+"/api/v1/repos/app/deps/update", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	r3, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r3.Body.Close()
	if r3.StatusCode != http.StatusNotImplemented {
		t.Errorf("update on demand without a runner: %d", r3.StatusCode)
	}
}
