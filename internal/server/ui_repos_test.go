package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/store"
)

// postBody is post that also returns the response body.
func (e *uiEnv) postBody(path string, c *http.Cookie, form url.Values) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.http.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c != nil {
		req.AddCookie(c)
	}
	res, err := uiClient().Do(req)
	if err != nil {
		e.t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("reading POST %s: %v", path, err)
	}
	return res, string(b)
}

func TestUIAddRepoScopes(t *testing.T) {
	e := uiNewEnv(t)
	admin := e.signIn(store.ScopeAdmin)
	write := e.signIn(store.ScopeWrite)
	read := e.signIn(store.ScopeRead)

	_, body := e.get("/", admin)
	for _, want := range []string{`action="/ui/repos"`, `name="webhook_secret"`, `name="csrf" value="` + uiCSRF(admin) + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("admin's repositories page lacks %q", want)
		}
	}
	for _, c := range []*http.Cookie{write, read} {
		if _, body := e.get("/", c); strings.Contains(body, `action="/ui/repos"`) {
			t.Errorf("a non-admin session is offered the add-repository form")
		}
	}

	form := func(c *http.Cookie) url.Values {
		v := url.Values{"name": {"widgets"}, "url": {"https://git.example/widgets.git"}}
		if c != nil {
			v.Set("csrf", uiCSRF(c))
		}
		return v
	}
	for _, tc := range []struct {
		name   string
		cookie *http.Cookie
		form   url.Values
		want   int
	}{
		{"write scope", write, form(write), http.StatusForbidden},
		{"read scope", read, form(read), http.StatusForbidden},
		{"admin without CSRF token", admin, form(nil), http.StatusForbidden},
		{"admin with another session's token", admin, form(write), http.StatusForbidden},
		{"no session", nil, form(admin), http.StatusUnauthorized},
	} {
		if res := e.post("/ui/repos", tc.cookie, tc.form); res.StatusCode != tc.want {
			t.Errorf("%s: POST /ui/repos = %d, want %d", tc.name, res.StatusCode, tc.want)
		}
	}
	if _, err := e.db.GetRepoByName(context.Background(), "widgets"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused request stored the repository (err %v)", err)
	}
}

func TestUIAddRepo(t *testing.T) {
	e := uiNewEnv(t)
	ctx := context.Background()
	admin := e.signIn(store.ScopeAdmin)
	const (
		hookSecret  = "hook-secret-6f1d2c"
		credentials = "deploy:pa55-word-93ab"
		statusToken = "ghp_statustoken7c2e"
	)
	form := url.Values{"csrf": {uiCSRF(admin)}, "name": {" widgets "}, "url": {"https://git.example/acme/widgets.git"},
		"default_branch": {"trunk"}, "webhook_secret": {hookSecret}, "credentials": {credentials},
		"forge": {"forgejo"}, "status_token": {statusToken}, "api_url": {"https://git.example/api/v1"}}
	res := e.post("/ui/repos", admin, form)
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/repos/widgets?") {
		t.Fatalf("add = %d to %q; want 303 to the repository page", res.StatusCode, loc)
	}

	repo, err := e.db.GetRepoByName(ctx, "widgets")
	if err != nil {
		t.Fatalf("the repository was not stored: %v", err)
	}
	if repo.URL != "https://git.example/acme/widgets.git" || repo.DefaultBranch != "trunk" {
		t.Errorf("stored URL %q, default branch %q", repo.URL, repo.DefaultBranch)
	}
	if len(repo.WebhookSecret) == 0 || strings.Contains(string(repo.WebhookSecret), hookSecret) {
		t.Errorf("webhook secret stored as %q; want it sealed", repo.WebhookSecret)
	}
	if got, err := OpenWebhookSecret(e.keys, repo); err != nil || string(got) != hookSecret {
		t.Errorf("OpenWebhookSecret = %q, %v; want the submitted secret", got, err)
	}
	st, err := OpenRepoSettings(e.keys, repo)
	if err != nil {
		t.Fatal(err)
	}
	want := RepoSettings{Credentials: credentials, StatusToken: statusToken, Forge: "gitea", APIURL: "https://git.example/api/v1"}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("sealed settings (-want +got):\n%s", diff)
	}

	for _, p := range []string{"/", "/repos/widgets", "/secrets"} {
		_, body := e.get(p, admin)
		for _, secret := range []string{hookSecret, credentials, statusToken} {
			if strings.Contains(body, secret) {
				t.Errorf("GET %s shows the secret %q", p, secret)
			}
		}
	}
	if _, body := e.get("/", admin); !strings.Contains(body, `href="/repos/widgets"`) {
		t.Errorf("the new repository is not listed")
	}
}

func TestUIAddRepoErrors(t *testing.T) {
	e := uiNewEnv(t)
	admin := e.signIn(store.ScopeAdmin)
	if res := e.post("/ui/repos", admin, url.Values{"csrf": {uiCSRF(admin)}, "name": {"taken"}, "url": {"file:///srv/taken.git"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("first add = %d", res.StatusCode)
	}
	const secret = "never-echo-this-4a7b"
	for _, tc := range []struct {
		name     string
		form     url.Values
		want     int
		wantText []string
	}{
		{"bad name", url.Values{"name": {"no spaces"}, "url": {"https://git.example/x.git"}}, http.StatusBadRequest,
			[]string{"invalid repository name", `value="https://git.example/x.git"`}},
		{"no url", url.Values{"name": {"x"}}, http.StatusBadRequest, []string{"url is required", `value="x"`}},
		{"bad scheme", url.Values{"name": {"x"}, "url": {"ftp://h/x"}}, http.StatusBadRequest, []string{"unsupported url scheme"}},
		{"status token without forge", url.Values{"name": {"x"}, "url": {"https://h/x"}, "status_token": {"t"}}, http.StatusBadRequest,
			[]string{"status_token needs forge"}},
		{"unknown forge", url.Values{"name": {"x"}, "url": {"https://h/x"}, "forge": {"svn"}}, http.StatusBadRequest, []string{"unknown forge"}},
		{"taken name", url.Values{"name": {"taken"}, "url": {"https://h/x"}}, http.StatusConflict, []string{"A repository named taken already exists."}},
	} {
		tc.form.Set("csrf", uiCSRF(admin))
		tc.form.Set("webhook_secret", secret)
		res, body := e.postBody("/ui/repos", admin, tc.form)
		if res.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, res.StatusCode, tc.want)
		}
		for _, w := range append(tc.wantText, `action="/ui/repos"`) {
			if !strings.Contains(body, w) {
				t.Errorf("%s: the re-rendered form lacks %q", tc.name, w)
			}
		}
		if strings.Contains(body, secret) {
			t.Errorf("%s: the re-rendered form echoes the webhook secret", tc.name)
		}
	}
	repos, err := e.db.ListRepos(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(repos) != 1 {
		t.Errorf("%d repositories stored; want only the first", len(repos))
	}
}

func TestUIDispatch(t *testing.T) {
	e := uiNewEnv(t)
	ctx := context.Background()
	if _, err := e.db.CreateRepo(ctx, store.Repo{Name: "demo", URL: "file:///srv/demo.git", DefaultBranch: "main"}); err != nil {
		t.Fatal(err)
	}
	w := e.signIn(store.ScopeWrite)
	r := e.signIn(store.ScopeRead)
	e.sched.setTrigger([]store.Run{{ID: 42}}, nil)

	for _, tc := range []struct {
		name   string
		cookie *http.Cookie
		form   url.Values
		want   int
	}{
		{"read scope", r, url.Values{"csrf": {uiCSRF(r)}, "workflow": {"ci.yml"}}, http.StatusForbidden},
		{"no CSRF token", w, url.Values{"workflow": {"ci.yml"}}, http.StatusForbidden},
		{"no session", nil, url.Values{"csrf": {uiCSRF(w)}, "workflow": {"ci.yml"}}, http.StatusUnauthorized},
	} {
		if res := e.post("/ui/repos/demo/dispatch", tc.cookie, tc.form); res.StatusCode != tc.want {
			t.Errorf("%s: dispatch = %d, want %d", tc.name, res.StatusCode, tc.want)
		}
	}
	if got := e.sched.triggerCalls(); len(got) != 0 {
		t.Fatalf("refused requests reached the scheduler: %+v", got)
	}

	res := e.post("/ui/repos/demo/dispatch", w, url.Values{"csrf": {uiCSRF(w)}, "workflow": {"release.yml"}, "ref": {""},
		"inputs": {"level = minor\r\n\r\ndry_run=true\r\nnote=a=b\r\n"}})
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/runs/42?") {
		t.Fatalf("dispatch = %d to %q; want 303 to the new run", res.StatusCode, loc)
	}
	inputs := map[string]string{"level": "minor", "dry_run": "true", "note": "a=b"}
	want := []Trigger{{Event: "workflow_dispatch", Ref: "refs/heads/main", Workflow: ".github/workflows/release.yml",
		Inputs: inputs, Actor: uiDispatchActor, Source: store.TriggerDispatch,
		Payload: map[string]any{"inputs": inputs, "ref": "refs/heads/main", "workflow": ".github/workflows/release.yml"}}}
	if diff := cmp.Diff(want, e.sched.triggerCalls()); diff != "" {
		t.Errorf("triggers (-want +got):\n%s", diff)
	}

	e.post("/ui/repos/demo/dispatch", w, url.Values{"csrf": {uiCSRF(w)}, "workflow": {".github/workflows/ci.yaml"}, "ref": {"v1.2"}})
	calls := e.sched.triggerCalls()
	if len(calls) != 2 {
		t.Fatalf("%d triggers; want 2", len(calls))
	}
	if got := calls[1]; got.Workflow != ".github/workflows/ci.yaml" || got.Ref != "v1.2" || got.Inputs != nil {
		t.Errorf("second dispatch: workflow %q ref %q inputs %v", got.Workflow, got.Ref, got.Inputs)
	}

	if res := e.post("/ui/repos/nope/dispatch", w, url.Values{"csrf": {uiCSRF(w)}, "workflow": {"ci.yml"}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown repository = %d, want 404", res.StatusCode)
	}
}

func TestUIDispatchErrors(t *testing.T) {
	e := uiNewEnv(t)
	ctx := context.Background()
	if _, err := e.db.CreateRepo(ctx, store.Repo{Name: "demo", URL: "file:///srv/demo.git", DefaultBranch: "main"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.CreateRepo(ctx, store.Repo{Name: "nobranch", URL: "file:///srv/nobranch.git"}); err != nil {
		t.Fatal(err)
	}
	w := e.signIn(store.ScopeWrite)
	for _, tc := range []struct {
		name     string
		repo     string
		form     url.Values
		runs     []store.Run
		err      error
		want     int
		wantText []string
		triggers int
	}{
		{name: "line without =", repo: "demo", form: url.Values{"workflow": {"ci.yml"}, "inputs": {"level=minor\nverbose"}},
			want: http.StatusBadRequest, wantText: []string{"inputs line 2", "want name=value", "verbose"}},
		{name: "bad input name", repo: "demo", form: url.Values{"workflow": {"ci.yml"}, "inputs": {"9lives=yes"}},
			want: http.StatusBadRequest, wantText: []string{"inputs line 1", "is not an input name"}},
		{name: "empty input name", repo: "demo", form: url.Values{"workflow": {"ci.yml"}, "inputs": {"=yes"}},
			want: http.StatusBadRequest, wantText: []string{"inputs line 1", "is not an input name"}},
		{name: "input twice", repo: "demo", form: url.Values{"workflow": {"ci.yml"}, "inputs": {"a=1\na=2"}},
			want: http.StatusBadRequest, wantText: []string{"inputs line 2", "given twice"}},
		{name: "no workflow", repo: "demo", form: url.Values{}, want: http.StatusBadRequest, wantText: []string{"workflow is required"}},
		{name: "workflow outside the repo", repo: "demo", form: url.Values{"workflow": {"../../x.yml"}},
			want: http.StatusBadRequest, wantText: []string{"invalid workflow"}},
		{name: "no ref and no default branch", repo: "nobranch", form: url.Values{"workflow": {"ci.yml"}},
			want: http.StatusBadRequest, wantText: []string{"ref is required"}},
		{name: "scheduler refuses", repo: "demo", form: url.Values{"workflow": {"ci.yml"}, "inputs": {"level=huge"}},
			err:  errors.New(`input "level": "huge" is not one of the options`),
			want: http.StatusUnprocessableEntity, wantText: []string{"The workflow did not start", "is not one of the options"}, triggers: 1},
		{name: "no run started", repo: "demo", form: url.Values{"workflow": {"ci.yml"}},
			want: http.StatusUnprocessableEntity, wantText: []string{"No run started"}, triggers: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.sched.setTrigger(tc.runs, tc.err)
			tc.form.Set("csrf", uiCSRF(w))
			res, body := e.postBody("/ui/repos/"+tc.repo+"/dispatch", w, tc.form)
			if res.StatusCode != tc.want {
				t.Errorf("status %d, want %d", res.StatusCode, tc.want)
			}
			for _, s := range append(tc.wantText, `action="/ui/repos/`+tc.repo+`/dispatch"`) {
				if !strings.Contains(body, s) && !strings.Contains(body, htmlEscape(s)) {
					t.Errorf("the re-rendered form lacks %q", s)
				}
			}
			if in := tc.form.Get("inputs"); in != "" && !strings.Contains(body, htmlEscape(in)) {
				t.Errorf("the re-rendered form lost the inputs %q", in)
			}
			if got := len(e.sched.triggerCalls()); got != tc.triggers {
				t.Errorf("%d triggers, want %d", got, tc.triggers)
			}
		})
	}
}

// setTrigger forgets recorded triggers and sets what Trigger answers.
func (f *uiFakeScheduler) setTrigger(runs []store.Run, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.triggers, f.triggerRuns, f.triggerErr = nil, runs, err
}

// htmlEscape is how html/template writes s into text and attributes.
func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "+", "&#43;").Replace(s)
}

func TestUIParseInputs(t *testing.T) {
	for _, tc := range []struct {
		text    string
		want    map[string]string
		wantErr string
	}{
		{text: "", want: nil},
		{text: "\n  \r\n", want: nil},
		{text: "a=1", want: map[string]string{"a": "1"}},
		{text: " level = minor \r\nempty=\nurl=https://x/?a=b", want: map[string]string{"level": "minor", "empty": "", "url": "https://x/?a=b"}},
		{text: "dry-run=true\n_x=y", want: map[string]string{"dry-run": "true", "_x": "y"}},
		{text: "a=1\nnope", wantErr: `inputs line 2 ("nope"): want name=value`},
		{text: "a b=1", wantErr: `inputs line 1: "a b" is not an input name`},
		{text: "a=1\n\na=1", wantErr: "inputs line 3: input a is given twice"},
	} {
		got, err := uiParseInputs(tc.text)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("uiParseInputs(%q) error %v; want %q", tc.text, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("uiParseInputs(%q): %v", tc.text, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("uiParseInputs(%q) (-want +got):\n%s", tc.text, diff)
		}
	}
}

// uiGit runs git in dir with a fixed identity, failing the test on error.
func uiGit(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestUIDispatchFormListsWorkflows(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	e := uiNewEnv(t)
	ctx := context.Background()
	mirrored, err := e.db.CreateRepo(ctx, store.Repo{Name: "mirrored", URL: "file:///srv/m.git", DefaultBranch: "trunk"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.CreateRepo(ctx, store.Repo{Name: "fresh", URL: "file:///srv/f.git", DefaultBranch: "main"}); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	files := map[string]string{
		".github/workflows/ci.yml":       "on: push\n",
		".github/workflows/release.yaml": "on: workflow_dispatch\n",
		".github/workflows/README.md":    "not a workflow\n",
		".github/workflows/sub/x.yml":    "on: push\n", // GitHub reads only the top level
	}
	for p, body := range files {
		full := filepath.Join(work, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	uiGit(t, work, "init", "-q", "-b", "trunk")
	uiGit(t, work, "add", ".")
	uiGit(t, work, "commit", "-q", "-m", "workflows")
	mirror := filepath.Join(e.dataDir, "repos", fmt.Sprintf("%d.git", mirrored.ID))
	uiGit(t, work, "clone", "-q", "--bare", work, mirror)

	w := e.signIn(store.ScopeWrite)
	_, body := e.get("/repos/mirrored", w)
	for _, want := range []string{`<select name="workflow"`, `<option value=".github/workflows/ci.yml">ci.yml</option>`,
		`<option value=".github/workflows/release.yaml">release.yaml</option>`, `name="ref" value="trunk"`,
		`action="/ui/repos/mirrored/dispatch"`, `name="csrf" value="` + uiCSRF(w) + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("mirrored repo page lacks %q", want)
		}
	}
	for _, unwanted := range []string{"README.md", "sub/x.yml"} {
		if strings.Contains(body, unwanted) {
			t.Errorf("mirrored repo page offers %q as a workflow", unwanted)
		}
	}

	res, body := e.postBody("/ui/repos/mirrored/dispatch", w, url.Values{"csrf": {uiCSRF(w)},
		"workflow": {".github/workflows/release.yaml"}, "inputs": {"oops"}})
	if want := `<option value=".github/workflows/release.yaml" selected>`; res.StatusCode != http.StatusBadRequest || !strings.Contains(body, want) {
		t.Errorf("re-rendered form = %d; want 400 with %q still chosen", res.StatusCode, want)
	}

	_, body = e.get("/repos/fresh", w)
	if form := uiSection(t, body, `<details class="dispatch"`, "</details>"); !strings.Contains(form, `<input name="workflow"`) || strings.Contains(form, `<select name="workflow"`) {
		t.Errorf("a repository without a mirror should get a workflow text field")
	}

	r := e.signIn(store.ScopeRead)
	if _, body := e.get("/repos/mirrored", r); strings.Contains(body, "/dispatch") {
		t.Errorf("a read-only session is offered the Run workflow form")
	}
}
