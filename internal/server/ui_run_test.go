package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/notify"
	"github.com/sluice-ci/sluice/internal/store"
)

// The line a failed job opens at, for each way a log can fail.
func TestUIFirstError(t *testing.T) {
	e := uiNewEnv(t)
	ctx := context.Background()
	c := e.signIn(store.ScopeRead)
	step := func(job int64, n int, conclusion string) {
		if _, err := e.db.SetStep(ctx, store.Step{JobID: job, Number: n, Name: fmt.Sprint("step ", n), Status: store.StatusCompleted,
			Conclusion: conclusion}); err != nil {
			t.Fatal(err)
		}
	}
	logs := func(job int64, lines ...store.LogLine) {
		for i := range lines {
			lines[i].Seq = int64(i + 1)
		}
		if _, err := e.db.AppendLogs(ctx, job, lines); err != nil {
			t.Fatal(err)
		}
	}
	s := e.seedRun("r", []store.Job{{Key: "annotated"}, {Key: "pytest"}, {Key: "colored"}, {Key: "silent"}, {Key: "empty"}, {Key: "nostep"}})
	id := func(k string) int64 { return s.jobs[k].ID }

	// An ::error annotation wins, wherever it is.
	step(id("annotated"), 1, store.ConclusionFailure)
	logs(id("annotated"), store.LogLine{Step: 1, Text: "E   assert 1"}, store.LogLine{Step: 1, Kind: "error", Text: "x.py:3: boom"})
	// pytest's "E" lines in the failed step, not an "error" word in an earlier, passing one.
	step(id("pytest"), 1, store.ConclusionSuccess)
	step(id("pytest"), 2, store.ConclusionFailure)
	logs(id("pytest"), store.LogLine{Step: 1, Text: "Error: this step passed anyway"},
		store.LogLine{Step: 2, Text: "collected 3 items"}, store.LogLine{Step: 2, Text: "tests/test_x.py F"},
		store.LogLine{Step: 2, Text: "E       assert 2 == 3"}, store.LogLine{Step: 2, Kind: "step", Text: "step failure (1s) - exit code 1"})
	// Colour codes do not hide a traceback.
	step(id("colored"), 1, store.ConclusionFailure)
	logs(id("colored"), store.LogLine{Step: 1, Text: "ok"}, store.LogLine{Step: 1, Text: "\x1b[31mTraceback (most recent call last):\x1b[0m"})
	// Nothing reads as an error: the failed step's last line.
	step(id("silent"), 1, store.ConclusionFailure)
	logs(id("silent"), store.LogLine{Step: 1, Text: "one"}, store.LogLine{Step: 1, Text: "two"}, store.LogLine{Step: 0, Kind: "job", Text: "job failure"})
	// No failed step: the log's end.
	logs(id("nostep"), store.LogLine{Text: "a"}, store.LogLine{Text: "b"}, store.LogLine{Text: "c"})
	for key, want := range map[string]int64{"annotated": 2, "pytest": 4, "colored": 2, "silent": 2, "empty": 0, "nostep": 3} {
		e.setJob(id(key), store.StatusCompleted, store.ConclusionFailure)
		_, body := e.get(fmt.Sprintf("/ui/jobs/%d/logs.json?around=error&context=1", id(key)), c)
		var p uiLogsPage
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatalf("%s: %v: %s", key, err, body)
		}
		if p.Focus != want {
			t.Errorf("%s: first error at %d, want %d", key, p.Focus, want)
		}
		if want > 0 && (len(p.Lines) == 0 || p.Lines[0].Seq != max(1, want-1) || p.Lines[len(p.Lines)-1].Seq > want+1) {
			t.Errorf("%s: window %+v around %d", key, p.Lines, want)
		}
	}
	if res, _ := e.get(fmt.Sprintf("/ui/jobs/%d/logs.json?around=-3", id("nostep")), c); res.StatusCode != http.StatusBadRequest {
		t.Errorf("around=-3 = %d, want 400", res.StatusCode)
	}
}

// The raw log: every line, kinds marked as GitHub marks them, times on asking.
func TestUILogsText(t *testing.T) {
	e := uiNewEnv(t)
	s := e.seedRun("r", []store.Job{{Key: "a"}})
	job := s.jobs["a"].ID
	at := time.Date(2026, 11, 22, 10, 0, 0, 5e6, time.UTC)
	lines := []store.LogLine{{Seq: 1, Time: at, Kind: "group", Text: "Install"}, {Seq: 2, Time: at, Text: "\x1b[32mok\x1b[0m"},
		{Seq: 3, Time: at, Kind: "endgroup"}, {Seq: 4, Time: at, Kind: "error", Text: "x.py:1: bad"}}
	if _, err := e.db.AppendLogs(context.Background(), job, lines); err != nil {
		t.Fatal(err)
	}
	c := e.signIn(store.ScopeRead)
	res, body := e.get(fmt.Sprintf("/ui/jobs/%d/logs.txt", job), c)
	if want := "##[group]Install\n\x1b[32mok\x1b[0m\n##[endgroup]\n##[error]x.py:1: bad\n"; body != want {
		t.Errorf("raw log %q, want %q", body, want)
	}
	if cd := res.Header.Get("Content-Disposition"); !strings.Contains(cd, fmt.Sprintf("job-%d.log", job)) {
		t.Errorf("Content-Disposition %q", cd)
	}
	_, body = e.get(fmt.Sprintf("/ui/jobs/%d/logs.txt?timestamps=1", job), c)
	if !strings.HasPrefix(body, "2026-11-22T10:00:00.005Z ##[group]Install\n") {
		t.Errorf("raw log with times starts %q", body[:min(len(body), 60)])
	}
	if res, _ := e.get(fmt.Sprintf("/ui/jobs/%d/logs.txt", job), nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("raw log without a session = %d", res.StatusCode)
	}
}

// Hostile values in what a push controls (file names in annotations) and
// in what a form carries (where to go back to) stay harmless.
func TestUIHostileLinks(t *testing.T) {
	for _, tc := range []struct{ repo, file, want string }{
		{"https://github.com/acme/app.git", "src/calc.py", "https://github.com/acme/app/blob/abc/src/calc.py#L7"},
		{"https://gitlab.example/acme/app", "src/calc.py", "https://gitlab.example/acme/app/-/blob/abc/src/calc.py#L7"},
		{"https://github.com/acme/app.git", "../../../etc/passwd", ""},
		{"https://github.com/acme/app.git", "/etc/passwd", ""},
		{"https://github.com/acme/app.git", "a/../../x.py", ""},
		{"file:///srv/git/app.git", "src/calc.py", ""},
		{"https://git.example/acme/app.git", "src/calc.py", ""},
		{"https://github.com/acme/app.git", "x.py?#\"><script>", "https://github.com/acme/app/blob/abc/x.py%3F%23%22%3E%3Cscript%3E#L7"},
	} {
		if got := uiSourceURL(tc.repo, "abc", tc.file, 7); got != tc.want {
			t.Errorf("uiSourceURL(%q, %q) = %q, want %q", tc.repo, tc.file, got, tc.want)
		}
	}
	if a := uiParseAnnotation("error", strings.Repeat("a", 400)+":12: too long a path"); a.File != "" {
		t.Errorf("an absurd path was read as a file: %q", a.File)
	}

	e := uiCDNewEnv(t)
	w := e.seedCD()
	c := e.signInAs("alice")
	for _, back := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example"} {
		res := e.post(fmt.Sprintf("/ui/promotions/%d/decide", w.prodWaiting.ID), c, url.Values{"csrf": {uiCSRF(c)}, "decision": {"maybe"}, "back": {back}})
		if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, "/repos/widgets/environments?") {
			t.Errorf("back=%q redirects to %q", back, loc)
		}
	}
}

// Promote and roll back from the UI: refusals are said as such, a read-only
// session cannot, and the forms need the CSRF token.
func TestUIPromoteRollbackForms(t *testing.T) {
	e := uiCDNewEnv(t)
	w := e.seedCD()
	ctx := context.Background()
	if _, err := e.db.RejectRelease(ctx, w.oldRel.ID); err != nil {
		t.Fatal(err)
	}
	c := e.signInAs("dave")
	flash := func(res *http.Response) string {
		_, body := e.get(res.Header.Get("Location"), c)
		return uiFlashOf(body)
	}
	res := e.post("/ui/repos/widgets/promote", c, url.Values{"csrf": {uiCSRF(c)}, "release": {uiReleaseHex(w.oldRel.ID)}, "env": {"production"}})
	if got := flash(res); !strings.HasPrefix(got, "Refused promoting "+uiShortRelease(w.oldRel.ID)+" to production:") {
		t.Errorf("promoting a rejected release: %q", got)
	}
	res = e.post("/ui/repos/widgets/promote", c, url.Values{"csrf": {uiCSRF(c)}, "release": {uiReleaseHex(w.newRel.ID)}, "env": {"nowhere"}})
	if got := flash(res); !strings.HasPrefix(got, "Refused promoting") {
		t.Errorf("promoting into an unknown environment: %q", got)
	}
	res = e.post("/ui/repos/widgets/environments/production/rollback", c, url.Values{"csrf": {uiCSRF(c)}, "to": {"x"}})
	if got := flash(res); got != `"x" is not a promotion number.` {
		t.Errorf("rollback to x: %q", got)
	}
	if res := e.post("/ui/repos/widgets/promote", c, url.Values{"release": {"abc"}, "env": {"staging"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("promote without CSRF = %d", res.StatusCode)
	}
	r := e.signIn(store.ScopeRead)
	if res := e.post("/ui/repos/widgets/environments/staging/rollback", r, url.Values{"csrf": {uiCSRF(r)}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("rollback by a read-only session = %d", res.StatusCode)
	}
	if _, body := e.get("/repos/widgets/environments", r); strings.Contains(body, "rollback") {
		t.Error("a read-only session is offered rollback")
	}
}

// A repository named as on its forge (owner/name) has all its pages, and
// its API under the escaped name.
func TestUIOwnerNameRepository(t *testing.T) {
	e := uiCDNewEnv(t)
	ctx := context.Background()
	repo, err := e.db.CreateRepo(ctx, store.Repo{Name: "acme/app", URL: "https://git.example/acme/app.git"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.CreateRepo(ctx, store.Repo{Name: "acme", URL: "https://git.example/acme.git"}); err != nil {
		t.Fatal(err)
	}
	c := e.signIn(store.ScopeWrite)
	for path, want := range map[string]string{
		"/repos/acme/app":               "<h1>acme/app</h1>",
		"/repos/acme/app/environments":  "acme/app</a> · Environments",
		"/repos/acme/app/releases":      "acme/app</a> · Releases",
		"/repos/acme/app/notifications": "acme/app</a> · Notifications",
		"/repos/acme/app/dependencies":  "acme/app</a> · Dependencies",
		"/repos/acme":                   "<h1>acme</h1>",
		"/repos/acme/environments":      "acme</a> · Environments",
	} {
		res, body := e.get(path, c)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET %s = %d, lacks %q", path, res.StatusCode, want)
		}
	}
	if res, _ := e.get("/repos/acme/app/nonsense", c); res.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown page = %d", res.StatusCode)
	}
	tok := e.apiToken("api", store.ScopeRead)
	req, _ := http.NewRequest(http.MethodGet, e.http.URL+"/api/v1/repos/"+url.PathEscape(repo.Name), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("GET /api/v1/repos/acme%%2Fapp = %d", res.StatusCode)
	}
}

// Badges: a workflow's badge is its latest completed run on the default
// branch; the repository's is failing while any workflow's is.
func TestUIBadges(t *testing.T) {
	e := uiNewEnv(t)
	ctx := context.Background()
	repo, err := e.db.CreateRepo(ctx, store.Repo{Name: "app", URL: "https://git.example/app.git", DefaultBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(wf, ref, conclusion string) {
		r, _, err := e.db.CreateRun(ctx, store.Run{RepoID: repo.ID, Workflow: ".github/workflows/" + wf, Ref: ref, Event: "push"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if conclusion != "" {
			if _, err := e.db.SetRunStatus(ctx, r.ID, store.StatusCompleted, conclusion); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("ci.yml", "refs/heads/main", store.ConclusionFailure)
	mk("docs.yml", "refs/heads/main", store.ConclusionSuccess)
	mk("ci.yml", "refs/heads/feature", store.ConclusionSuccess) // another branch
	mk("ci.yml", "refs/heads/main", "")                         // still running
	badge := func(q string) string {
		res, err := http.Get(e.http.URL + "/badge/app.svg" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	for q, want := range map[string]string{
		"":                                   "failing",
		"?workflow=docs.yml":                 "passing",
		"?workflow=ci.yml":                   "failing",
		"?workflow=ci.yml&branch=feature":    "passing",
		"?branch=feature":                    "passing",
		"?workflow=nightly.yml":              "no runs",
		"?workflow=.github/workflows/ci.yml": "failing",
	} {
		if got := badge(q); !strings.Contains(got, ">"+want+"<") {
			t.Errorf("badge%s lacks %q: %.300s", q, want, got)
		}
	}
	c := e.signIn(store.ScopeRead)
	_, body := e.get("/repos/app", c)
	for _, want := range []string{"[![app](http://ci.example/badge/app.svg)](http://ci.example/repos/app)",
		"[![ci.yml](http://ci.example/badge/app.svg?workflow=ci.yml)](http://ci.example/repos/app)"} {
		if !strings.Contains(body, want) {
			t.Errorf("repository page lacks the badge markdown %q", want)
		}
	}
}

// The runs list's filters: what the URL says is what the store is asked,
// and the pager keeps them.
func TestUIRunFilterQuery(t *testing.T) {
	facets := &store.RunFacets{Refs: []string{"refs/heads/main", "refs/tags/v1.0"}, Workflows: []string{".github/workflows/ci.yml"}}
	for _, tc := range []struct {
		f    uiRunFilter
		want store.RunFilter
	}{
		{uiRunFilter{Branch: "main"}, store.RunFilter{RepoID: 1, Ref: "refs/heads/main"}},
		{uiRunFilter{Branch: "v1.0"}, store.RunFilter{RepoID: 1, Ref: "refs/tags/v1.0"}},
		{uiRunFilter{Branch: "new"}, store.RunFilter{RepoID: 1, Ref: "refs/heads/new"}},
		{uiRunFilter{Workflow: "ci.yml", Status: "failure"}, store.RunFilter{RepoID: 1, Workflow: ".github/workflows/ci.yml", Status: store.StatusCompleted, Conclusion: "failure"}},
		{uiRunFilter{Status: "in_progress", Event: "push", Actor: "bob"}, store.RunFilter{RepoID: 1, Status: "in_progress", Event: "push", Actor: "bob"}},
	} {
		if diff := cmp.Diff(tc.want, tc.f.storeFilter(1, facets)); diff != "" {
			t.Errorf("%+v (-want +got):\n%s", tc.f, diff)
		}
	}
	if got := (uiRunFilter{Branch: "main", Status: "failure"}).Query(42); got != "?before=42&branch=main&status=failure" {
		t.Errorf("pager query %q", got)
	}
}

// Notification settings through the UI and the API: secrets sealed and
// never shown back, the signing key shown once, scopes enforced, the test
// button delivering through the real notifier to a local receiver.
func TestUINotificationSettings(t *testing.T) {
	var got []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, r.URL.Path+" "+string(b))
	}))
	defer recv.Close()
	e := uiNewEnv(t)
	ntf := notify.New(notify.Config{Store: e.db, Keys: e.keys, BaseURL: "http://ci.example", Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Sender: notify.Sender{HTTP: recv.Client()}})
	srv, err := New(Config{DB: e.db, Keys: e.keys, Scheduler: e.sched, DataDir: e.dataDir, BaseURL: "http://ci.example", Notifier: ntf,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e.http.Close()
	e.http = httptest.NewServer(srv.Handler())
	defer e.http.Close()
	repo, err := e.db.CreateRepo(context.Background(), store.Repo{Name: "acme/app", URL: "https://git.example/acme/app.git"})
	if err != nil {
		t.Fatal(err)
	}
	c := e.signIn(store.ScopeWrite)
	scope := fmt.Sprintf("repo:%d", repo.ID)
	secretURL := recv.URL + "/services/T1/B1/very-secret-token"
	res := e.post("/ui/notifications", c, url.Values{"csrf": {uiCSRF(c)}, "scope": {scope}, "name": {"chat"}, "kind": {"slack"},
		"events": {"failure", "recovery"}, "url": {secretURL}})
	if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, "/repos/acme/app/notifications?flash=") {
		t.Fatalf("saving a channel: %d %q", res.StatusCode, loc)
	}
	_, body := e.get("/repos/acme/app/notifications", c)
	if strings.Contains(body, "very-secret-token") || !strings.Contains(body, "chat") || !strings.Contains(body, recv.URL) {
		t.Errorf("the channels page shows the webhook's secret, or not the channel")
	}
	// A JSON webhook without a key gets one, shown on that answer only.
	res2, body := e.postBody("/ui/notifications", c, url.Values{"csrf": {uiCSRF(c)}, "scope": {scope}, "name": {"hook"}, "kind": {"webhook"},
		"events": {"failure"}, "url": {recv.URL + "/hook"}})
	if res2.StatusCode != http.StatusOK || !strings.Contains(body, `id="signing-key"`) {
		t.Fatalf("creating a webhook channel = %d without its signing key", res2.StatusCode)
	}
	if _, body := e.get("/repos/acme/app/notifications", c); strings.Contains(body, `id="signing-key"`) {
		t.Error("the signing key is shown again")
	}
	// The test button: delivered through the notifier.
	chans, err := e.db.ListNotifyChannels(context.Background(), &repo.ID)
	if err != nil || len(chans) != 2 {
		t.Fatalf("channels %v, %v", chans, err)
	}
	res = e.post(fmt.Sprintf("/ui/notifications/%d/test", chans[0].ID), c, url.Values{"csrf": {uiCSRF(c)}, "scope": {scope}})
	_, body = e.get(res.Header.Get("Location"), c)
	if f := uiFlashOf(body); f != "Sent a test message to chat." || len(got) != 1 || !strings.HasPrefix(got[0], "/services/T1/B1/very-secret-token ") {
		t.Errorf("test button: flash %q, receiver got %q", f, got)
	}
	// A channel of another scope is out of reach of this form.
	other, _ := e.db.CreateRepo(context.Background(), store.Repo{Name: "other", URL: "https://git.example/o.git"})
	res = e.post(fmt.Sprintf("/ui/notifications/%d/delete", chans[0].ID), c, url.Values{"csrf": {uiCSRF(c)}, "scope": {fmt.Sprintf("repo:%d", other.ID)}})
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("deleting a channel through another repository's scope = %d", res.StatusCode)
	}
	// Server-wide channels and the SMTP relay need admin.
	if res := e.post("/ui/notifications", c, url.Values{"csrf": {uiCSRF(c)}, "scope": {"server"}, "name": {"x"}, "kind": {"slack"},
		"events": {"failure"}, "url": {recv.URL}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("a write session saving a server-wide channel = %d", res.StatusCode)
	}
	if res := e.post("/ui/smtp", c, url.Values{"csrf": {uiCSRF(c)}, "host": {"smtp.example"}, "from": {"ci@example.com"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("a write session setting the SMTP relay = %d", res.StatusCode)
	}
	a := e.signIn(store.ScopeAdmin)
	res = e.post("/ui/smtp", a, url.Values{"csrf": {uiCSRF(a)}, "host": {"smtp.example"}, "port": {"2525"}, "from": {"ci@example.com"},
		"username": {"ci"}, "password": {"smtp-pass-123"}})
	_, body = e.get(res.Header.Get("Location"), a)
	if f := uiFlashOf(body); f != "Saved the SMTP relay." || strings.Contains(body, "smtp-pass-123") || !strings.Contains(body, "smtp.example:2525") {
		t.Errorf("SMTP relay: flash %q", f)
	}
	// The API never answers a URL, key or password either.
	tok := e.apiToken("api", store.ScopeAdmin)
	for _, path := range []string{"/api/v1/repos/" + url.PathEscape("acme/app") + "/notifications", "/api/v1/smtp"} {
		req, _ := http.NewRequest(http.MethodGet, e.http.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || strings.Contains(string(b), "very-secret-token") || strings.Contains(string(b), "smtp-pass-123") ||
			strings.Contains(string(b), "signing_key") {
			t.Errorf("GET %s = %d: %s", path, res.StatusCode, b)
		}
	}
}

func TestOpenAPIDocumentsNotifications(t *testing.T) {
	e := uiNewEnv(t)
	_, body := e.get("/api/v1/openapi.json", nil)
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	for _, route := range []string{
		"get /api/v1/notifications", "put /api/v1/notifications/{channel}", "delete /api/v1/notifications/{channel}",
		"post /api/v1/notifications/{channel}/test", "get /api/v1/repos/{name}/notifications",
		"put /api/v1/repos/{name}/notifications/{channel}", "delete /api/v1/repos/{name}/notifications/{channel}",
		"post /api/v1/repos/{name}/notifications/{channel}/test", "get /api/v1/smtp", "put /api/v1/smtp",
	} {
		method, path, _ := strings.Cut(route, " ")
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("openapi.json does not document %s", route)
		}
	}
}
