package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/artifacts"
	"github.com/sluice-ci/sluice/internal/roots"
	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/store"
)

func TestUIRequiresSession(t *testing.T) {
	e := uiNewEnv(t)
	for _, tc := range []struct {
		path     string
		want     int
		location string
	}{
		{"/", http.StatusSeeOther, "/signin?next=%2F"},
		{"/repos/demo", http.StatusSeeOther, "/signin?next=%2Frepos%2Fdemo"},
		{"/runs/1", http.StatusSeeOther, "/signin?next=%2Fruns%2F1"},
		{"/queue", http.StatusSeeOther, "/signin?next=%2Fqueue"},
		{"/secrets", http.StatusSeeOther, "/signin?next=%2Fsecrets"},
		{"/ui/jobs/1/logs.json", http.StatusUnauthorized, ""},
		{"/ui/runs/1/events", http.StatusUnauthorized, ""},
		{"/signin", http.StatusOK, ""},
		{"/static/logview.js", http.StatusOK, ""},
	} {
		res, _ := e.get(tc.path, nil)
		if res.StatusCode != tc.want || res.Header.Get("Location") != tc.location {
			t.Errorf("GET %s = %d Location %q; want %d %q", tc.path, res.StatusCode, res.Header.Get("Location"), tc.want, tc.location)
		}
	}
	// A cookie holding an API token (not a session) does not open the UI.
	res, _ := e.get("/", &http.Cookie{Name: SessionCookie, Value: e.apiToken("api", store.ScopeAdmin)})
	if res.StatusCode != http.StatusSeeOther {
		t.Errorf("GET / with an API token as cookie = %d, want a redirect to sign in", res.StatusCode)
	}
}

func TestUISignInWithToken(t *testing.T) {
	e := uiNewEnv(t)
	tok := e.apiToken("ci-writer", store.ScopeWrite)

	res := e.post("/signin", nil, url.Values{"token": {"slc_not-a-token"}})
	if res.StatusCode != http.StatusUnauthorized || len(res.Cookies()) != 0 {
		t.Fatalf("bad token: %d with cookies %v; want 401 and none", res.StatusCode, res.Cookies())
	}

	res = e.post("/signin", nil, url.Values{"token": {tok}, "next": {"/queue"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/queue" {
		t.Fatalf("sign-in = %d to %q; want 303 to /queue", res.StatusCode, res.Header.Get("Location"))
	}
	var c *http.Cookie
	for _, k := range res.Cookies() {
		if k.Name == SessionCookie {
			c = k
		}
	}
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Value == tok {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, a fresh token", c)
	}
	stored, err := e.db.GetTokenByHash(context.Background(), secrets.HashToken(c.Value))
	if err != nil {
		t.Fatalf("session token not stored: %v", err)
	}
	if !strings.HasPrefix(stored.Name, "session:") || stored.Scope != store.ScopeWrite {
		t.Errorf("stored session %q scope %q; want session:… with scope write", stored.Name, stored.Scope)
	}
	if res, _ := e.get("/", c); res.StatusCode != http.StatusOK {
		t.Errorf("GET / signed in = %d", res.StatusCode)
	}

	// A next pointing off-site is ignored.
	res = e.post("/signin", nil, url.Values{"token": {tok}, "next": {"//evil.example/"}})
	if got := res.Header.Get("Location"); got != "/" {
		t.Errorf("off-site next redirected to %q, want /", got)
	}

	// Signing out ends the session for good.
	if res := e.post("/signout", c, url.Values{"csrf": {uiCSRF(c)}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out = %d", res.StatusCode)
	}
	if res, _ := e.get("/", c); res.StatusCode != http.StatusSeeOther {
		t.Errorf("GET / after sign-out = %d, want a redirect to sign in", res.StatusCode)
	}
}

func TestUISignInWithPassword(t *testing.T) {
	e := uiNewEnv(t)
	if res, body := e.get("/signin", nil); res.StatusCode != 200 || strings.Contains(body, `name="password"`) {
		t.Fatalf("without admin.password the form offers a password field (%d)", res.StatusCode)
	}
	hash, err := secrets.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dataDir, AdminPasswordFile), []byte(hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, body := e.get("/signin", nil); !strings.Contains(body, `name="password"`) {
		t.Fatalf("with admin.password the form has no password field")
	}
	if res := e.post("/signin", nil, url.Values{"password": {"wrong horse"}}); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password = %d, want 401", res.StatusCode)
	}
	res := e.post("/signin", nil, url.Values{"password": {"correct horse battery"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("password sign-in = %d, want 303", res.StatusCode)
	}
	var scope string
	for _, c := range res.Cookies() {
		if c.Name == SessionCookie {
			tk, err := e.db.GetTokenByHash(context.Background(), secrets.HashToken(c.Value))
			if err != nil {
				t.Fatal(err)
			}
			scope = tk.Scope
		}
	}
	if scope != store.ScopeAdmin {
		t.Errorf("password session scope %q, want admin", scope)
	}
}

func TestUIPagesRender(t *testing.T) {
	e := uiNewEnv(t)
	ctx := context.Background()
	s := e.seedRun("acme/widgets", []store.Job{
		{Key: "lint", Name: "lint"},
		{Key: "test (3.12)", Name: "test (3.12)", Labels: []string{"gpu"}},
		{Key: "build", Name: "build", Needs: []string{"lint", "test"}},
	})
	e.setJob(s.jobs["lint"].ID, store.StatusInProgress, "")
	e.setJob(s.jobs["lint"].ID, store.StatusCompleted, store.ConclusionSuccess)
	if _, err := e.db.Enqueue(ctx, []int64{s.jobs["test (3.12)"].ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.SetStep(ctx, store.Step{JobID: s.jobs["lint"].ID, Number: 1, Name: "Run ruff", Status: store.StatusCompleted,
		Conclusion: store.ConclusionSuccess}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.RegisterAgent(ctx, store.Agent{Name: "builder-1", Labels: []string{"linux"}, Parallel: 2}); err != nil {
		t.Fatal(err)
	}
	jobDir := filepath.Join(e.dataDir, "jobs", fmt.Sprint(s.jobs["lint"].ID))
	os.MkdirAll(jobDir, 0o755)
	os.WriteFile(filepath.Join(jobDir, "summary.md"), []byte("## Lint <b>clean</b>"), 0o644)
	os.WriteFile(filepath.Join(jobDir, "tests.json"), []byte(`{"Cases":[{"Name":"test_x","Class":"tests.test_a","Status":"failed","Message":"assert 1 == 2"}],"Passed":41,"Failed":1}`), 0o644)
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "dist.txt"), []byte("wheel bytes"), 0o644)
	art, _, err := e.arts.Upload(ctx, fmt.Sprint(s.run.ID), "dist", []string{filepath.Join(ws, "dist.txt")}, roots.New(ws, ""), artifacts.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := e.signIn(store.ScopeWrite)
	runPath := fmt.Sprintf("/runs/%d", s.run.ID)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/", []string{"acme/widgets", "https://git.example/acme/widgets.git", `href="/runs/` + fmt.Sprint(s.run.ID), "queued"}},
		{"/repos/acme/widgets", []string{"#1", "CI", "main", "0123456", "push", "alice", `class="pill queued"`}},
		{runPath, []string{"Add the frobnicator", "0123456", "build", "lint", "test (3.12)", "Run ruff",
			`data-needs="lint` + "\n" + `test"`, "41 passed", "tests/test_a.py::test_x", "assert 1 == 2",
			"<h2>Lint <b>clean</b></h2>", fmt.Sprintf("/ui/runs/%d/artifacts/%d", s.run.ID, art.ID),
			`id="cancel-btn"`, `name="csrf" value="` + uiCSRF(c) + `"`, "/static/logview.js"}},
		{"/queue", []string{"test (3.12)", "no agent has labels", "waiting for needs: test", "builder-1", "acme/widgets"}},
		{"/secrets", []string{"Server-wide", "acme/widgets", "Save secret"}},
	} {
		res, body := e.get(tc.path, c)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d", tc.path, res.StatusCode)
			continue
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: CSP %q", tc.path, csp)
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, "style=") {
			t.Errorf("GET %s has an inline script or style, which the CSP blocks", tc.path)
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s lacks %q", tc.path, w)
			}
		}
	}

	if res, _ := e.get("/repos/nope", c); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown repo = %d, want 404", res.StatusCode)
	}
	if res, _ := e.get("/runs/999", c); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown run = %d, want 404", res.StatusCode)
	}
	res, body := e.get(fmt.Sprintf("/ui/runs/%d/artifacts/%d", s.run.ID, art.ID), c)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/zip" || !strings.HasPrefix(body, "PK") {
		t.Errorf("artifact download = %d %s, %d bytes", res.StatusCode, res.Header.Get("Content-Type"), len(body))
	}
	res, _ = e.get("/static/sluice.css", c)
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Cache-Control"), "max-age") {
		t.Errorf("static = %d, Cache-Control %q", res.StatusCode, res.Header.Get("Cache-Control"))
	}
}

func TestUIRunsPaging(t *testing.T) {
	e := uiNewEnv(t)
	for range uiRunsPerPage + 3 {
		e.seedRun("paged", []store.Job{{Key: "a"}})
	}
	c := e.signIn(store.ScopeRead)
	_, first := e.get("/repos/paged", c)
	if n := strings.Count(first, `<a href="/runs/`); n != uiRunsPerPage {
		t.Errorf("first page lists %d runs, want %d", n, uiRunsPerPage)
	}
	i := strings.Index(first, "?before=")
	if i < 0 {
		t.Fatal("no link to older runs")
	}
	next := first[i : i+strings.IndexByte(first[i:], '"')]
	_, second := e.get("/repos/paged"+next, c)
	if n := strings.Count(second, `<a href="/runs/`); n != 3 || strings.Contains(second, "?before=") {
		t.Errorf("second page lists %d runs (want 3) and must not link further", n)
	}
	// A read-only session sees no buttons that would be refused.
	_, run := e.get("/runs/1", c)
	if strings.Contains(run, "cancel-btn") {
		t.Error("read session is offered Cancel")
	}
}

func TestUISecretsWriteOnly(t *testing.T) {
	e := uiNewEnv(t)
	s := e.seedRun("acme/widgets", []store.Job{{Key: "a"}})
	c := e.signIn(store.ScopeWrite)
	const value = "pypi-AgEIcHlwaS5vcmc-very-secret"
	for _, tc := range []struct {
		scope string
		repo  *int64
		ctx   string
	}{
		{"server", nil, SecretContext("", "PYPI_TOKEN")},
		{fmt.Sprintf("repo:%d", s.repo.ID), &s.repo.ID, SecretContext("acme/widgets", "PYPI_TOKEN")},
	} {
		res := e.post("/secrets", c, url.Values{"csrf": {uiCSRF(c)}, "scope": {tc.scope}, "name": {"pypi_token"}, "value": {value}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("set secret in %s = %d", tc.scope, res.StatusCode)
		}
		sec, err := e.db.GetSecret(context.Background(), tc.repo, "PYPI_TOKEN")
		if err != nil {
			t.Fatalf("secret not stored in %s: %v", tc.scope, err)
		}
		pt, err := e.keys.Open(sec.Ciphertext, tc.ctx)
		if err != nil || string(pt) != value {
			t.Errorf("secret in %s does not open with context %q: %v", tc.scope, tc.ctx, err)
		}
	}
	for _, p := range []string{"/secrets", "/", "/queue", fmt.Sprintf("/runs/%d", s.run.ID)} {
		_, body := e.get(p, c)
		if strings.Contains(body, value) || strings.Contains(body, "AgEIcHlwaS5vcmc") {
			t.Errorf("GET %s shows the secret value", p)
		}
		if p == "/secrets" && strings.Count(body, "PYPI_TOKEN") < 2 {
			t.Errorf("/secrets does not list PYPI_TOKEN in both scopes")
		}
	}
	for _, bad := range []string{"1ABC", "GITHUB_TOKEN", "A-B", ""} {
		e.post("/secrets", c, url.Values{"csrf": {uiCSRF(c)}, "scope": {"server"}, "name": {bad}, "value": {"x"}})
		if _, err := e.db.GetSecret(context.Background(), nil, strings.ToUpper(bad)); err == nil {
			t.Errorf("secret named %q was accepted", bad)
		}
	}
	res := e.post("/secrets/delete", c, url.Values{"csrf": {uiCSRF(c)}, "scope": {"server"}, "name": {"PYPI_TOKEN"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete = %d", res.StatusCode)
	}
	if _, err := e.db.GetSecret(context.Background(), nil, "PYPI_TOKEN"); err == nil {
		t.Error("server-wide secret survived its deletion")
	}
	if _, err := e.db.GetSecret(context.Background(), &s.repo.ID, "PYPI_TOKEN"); err != nil {
		t.Error("deleting the server-wide secret removed the repository's")
	}
}

func TestUICSRF(t *testing.T) {
	e := uiNewEnv(t)
	s := e.seedRun("acme/widgets", []store.Job{{Key: "a"}})
	w := e.signIn(store.ScopeWrite)
	other := e.signIn(store.ScopeWrite)
	r := e.signIn(store.ScopeRead)
	cancel := fmt.Sprintf("/ui/runs/%d/cancel", s.run.ID)
	rerun := fmt.Sprintf("/ui/runs/%d/rerun", s.run.ID)
	for _, tc := range []struct {
		name   string
		path   string
		cookie *http.Cookie
		form   url.Values
		want   int
	}{
		{"no token", cancel, w, url.Values{}, http.StatusForbidden},
		{"another session's token", cancel, w, url.Values{"csrf": {uiCSRF(other)}}, http.StatusForbidden},
		{"no session", cancel, nil, url.Values{"csrf": {uiCSRF(w)}}, http.StatusUnauthorized},
		{"read scope", cancel, r, url.Values{"csrf": {uiCSRF(r)}}, http.StatusForbidden},
		{"secret without token", "/secrets", w, url.Values{"scope": {"server"}, "name": {"X"}, "value": {"y"}}, http.StatusForbidden},
		{"sign-out without token", "/signout", w, url.Values{}, http.StatusForbidden},
		{"rerun without token", rerun, w, url.Values{"failed": {"1"}}, http.StatusForbidden},
	} {
		if res := e.post(tc.path, tc.cookie, tc.form); res.StatusCode != tc.want {
			t.Errorf("%s: POST %s = %d, want %d", tc.name, tc.path, res.StatusCode, tc.want)
		}
	}
	if got := e.sched.cancelled(); len(got) != 0 {
		t.Fatalf("refused requests reached the scheduler: cancels %v", got)
	}
	if _, err := e.db.GetSecret(context.Background(), nil, "X"); err == nil {
		t.Fatal("a secret was set without the CSRF token")
	}

	if res := e.post(cancel, w, url.Values{"csrf": {uiCSRF(w)}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("cancel with token = %d", res.StatusCode)
	}
	e.sched.rerunTo = &store.Run{ID: 77}
	res := e.post(rerun, w, url.Values{"csrf": {uiCSRF(w)}, "failed": {"1"}})
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/runs/77?") {
		t.Fatalf("rerun = %d to %q; want 303 to the new run", res.StatusCode, loc)
	}
	e.post(rerun, w, url.Values{"csrf": {uiCSRF(w)}})
	if diff := cmp.Diff([]int64{s.run.ID}, e.sched.cancelled()); diff != "" {
		t.Errorf("cancels (-want +got):\n%s", diff)
	}
	id := fmt.Sprint(s.run.ID)
	if diff := cmp.Diff([]string{id + " failed", id}, e.sched.rerunCalls()); diff != "" {
		t.Errorf("reruns (-want +got):\n%s", diff)
	}
}

func TestUILogsJSON(t *testing.T) {
	e := uiNewEnv(t)
	s := e.seedRun("r", []store.Job{{Key: "a"}})
	job := s.jobs["a"].ID
	e.setJob(job, store.StatusInProgress, "")
	texts := make([]string, 12)
	for i := range texts {
		texts[i] = fmt.Sprintf("line %d", i+1)
	}
	e.appendLogs(job, 1, texts...)
	c := e.signIn(store.ScopeRead)

	var got []string
	after := int64(0)
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		_, body := e.get(fmt.Sprintf("/ui/jobs/%d/logs.json?after=%d&limit=5", job, after), c)
		var p uiLogsPage
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatalf("logs.json: %v: %s", err, body)
		}
		for _, l := range p.Lines {
			got = append(got, l.Text)
		}
		after = p.Last
		if p.Done {
			t.Fatal("done while the job runs")
		}
		if !p.More {
			break
		}
	}
	if diff := cmp.Diff(texts, got); diff != "" {
		t.Errorf("paged lines (-want +got):\n%s", diff)
	}
	e.setJob(job, store.StatusCompleted, store.ConclusionSuccess)
	_, body := e.get(fmt.Sprintf("/ui/jobs/%d/logs.json?after=%d", job, after), c)
	var p uiLogsPage
	json.Unmarshal([]byte(body), &p)
	if !p.Done || len(p.Lines) != 0 || p.Last != 12 {
		t.Errorf("after the job completed: %+v; want done, no lines, last 12", p)
	}
}

// uiReadSSE reads events from an SSE body until stop says so.
func uiReadSSE(t *testing.T, body io.Reader, stop func(event, data string) bool) {
	t.Helper()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var event, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		case line == "" && event != "":
			if stop(event, data) {
				return
			}
			event, data = "", ""
		}
	}
	t.Fatalf("stream ended early: %v", sc.Err())
}

func TestUILogStreamFollowsUntilJobEnds(t *testing.T) {
	e := uiNewEnv(t)
	s := e.seedRun("r", []store.Job{{Key: "a"}})
	job := s.jobs["a"].ID
	e.setJob(job, store.StatusInProgress, "")
	e.appendLogs(job, 1, "first", "second")
	c := e.signIn(store.ScopeRead)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/ui/jobs/%d/stream?after=1", e.http.URL, job), nil)
	req.AddCookie(c)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	var got []string
	appended := false
	uiReadSSE(t, res.Body, func(event, data string) bool {
		switch event {
		case "lines":
			var lines []uiLogLine
			if err := json.Unmarshal([]byte(data), &lines); err != nil {
				t.Fatalf("lines event: %v", err)
			}
			for _, l := range lines {
				got = append(got, l.Text)
			}
			if !appended {
				// Written while the stream is open: it must arrive, then end.
				appended = true
				e.appendLogs(job, 3, "third")
				e.setJob(job, store.StatusCompleted, store.ConclusionSuccess)
			}
		case "end":
			return true
		}
		return false
	})
	if diff := cmp.Diff([]string{"second", "third"}, got); diff != "" {
		t.Errorf("streamed lines (-want +got):\n%s", diff)
	}
}

func TestUIRunEventsStream(t *testing.T) {
	e := uiNewEnv(t)
	s := e.seedRun("r", []store.Job{{Key: "a", Status: store.StatusQueued}})
	c := e.signIn(store.ScopeRead)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/ui/runs/%d/events", e.http.URL, s.run.ID), nil)
	req.AddCookie(c)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var states []string
	uiReadSSE(t, res.Body, func(event, data string) bool {
		if event == "end" {
			return true
		}
		var st uiRunState
		if err := json.Unmarshal([]byte(data), &st); err != nil {
			t.Fatal(err)
		}
		states = append(states, st.State+"/"+st.Jobs[0].State)
		if len(states) == 1 {
			if _, err := e.db.CancelRun(context.Background(), s.run.ID, "test"); err != nil {
				t.Fatal(err)
			}
		}
		return false
	})
	if diff := cmp.Diff([]string{"queued/queued", "cancelled/cancelled"}, states); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
}

func TestUIGraphColumns(t *testing.T) {
	job := func(key string, needs ...string) store.Job { return store.Job{Key: key, Needs: needs} }
	leg := func(key, parent string, needs ...string) store.Job {
		return store.Job{Key: key, Parent: parent, Needs: needs}
	}
	for _, tc := range []struct {
		name string
		jobs []store.Job
		want [][]string // matrix jobs as "id[leg keys]"
	}{
		{"empty", nil, nil},
		{"independent", []store.Job{job("a"), job("b")}, [][]string{{"a", "b"}}},
		// Rows recorded before rows had parents: legs are known by their keys.
		{"chain and matrix by keys", []store.Job{job("deploy", "build"), job("test (3.11)"), job("test (3.12)"), job("build", "test", "lint"), job("lint")},
			[][]string{{"test[test (3.11) test (3.12)]", "lint"}, {"build"}, {"deploy"}}},
		{"matrix parent row by keys", []store.Job{job("test"), job("test (3.11)"), job("test (3.12)"), job("build", "test")},
			[][]string{{"test[test (3.11) test (3.12)]"}, {"build"}}},
		{"one-value matrix", []store.Job{job("test"), job("test (3.12)")}, [][]string{{"test[test (3.12)]"}}},
		// The plan records a matrix job's own row and its legs under it: the legs are the
		// jobs, the row only names the group.
		{"chain and matrix", []store.Job{job("deploy", "build"), job("test"), leg("test (3.11)", "test"), leg("test (3.12)", "test"),
			job("build", "test", "lint"), job("lint")},
			[][]string{{"test[test (3.11) test (3.12)]", "lint"}, {"build"}, {"deploy"}}},
		// A called workflow's jobs are jobs of their own; a need of the call waits for all.
		{"called workflow", []store.Job{job("call"), leg("call / a", "call"), leg("call / b", "call", "call / a"), job("after", "call")},
			[][]string{{"call / a"}, {"call / b"}, {"after"}}},
		{"matrix in a called workflow", []store.Job{job("call"), leg("call / t", "call"), leg("call / t (1)", "call / t"),
			leg("call / t (2)", "call / t"), job("after", "call")},
			[][]string{{"call / t[call / t (1) call / t (2)]"}, {"after"}}},
		{"unknown need", []store.Job{job("a", "ghost")}, [][]string{{"a"}}},
		{"diamond", []store.Job{job("d", "b", "c"), job("b", "a"), job("c", "a"), job("a")}, [][]string{{"a"}, {"b", "c"}, {"d"}}},
		{"cycle is cut", []store.Job{job("a", "b"), job("b", "a")}, [][]string{{"b"}, {"a"}}},
	} {
		var got [][]string
		shown, names := uiShownJobs(tc.jobs)
		for _, col := range uiGraphColumns(shown, names) {
			var keys []string
			for _, n := range col {
				if !n.Matrix {
					keys = append(keys, n.Legs[0].Key)
					continue
				}
				var legs []string
				for _, l := range n.Legs {
					legs = append(legs, l.Key)
				}
				keys = append(keys, n.Key+"["+strings.Join(legs, " ")+"]")
			}
			got = append(got, keys)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}
