package server

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/store"
)

func TestBootstrapPrintsTheAdminTokenOnce(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()
	// The env made an admin token already; start from an empty token table.
	tks, _ := e.db.ListTokens(ctx)
	for _, tk := range tks {
		if err := e.db.DeleteToken(ctx, tk.ID); err != nil {
			t.Fatal(err)
		}
	}
	noEnv := func(string) string { return "" }
	var out bytes.Buffer
	if err := Bootstrap(ctx, e.db, e.dataDir, noEnv, &out); err != nil {
		t.Fatal(err)
	}
	tok := regexp.MustCompile(`slc_[0-9A-Za-z]+`).FindString(out.String())
	if !secrets.ValidTokenFormat(tok) {
		t.Fatalf("first start printed no token: %q", out.String())
	}
	e.mustDo(http.StatusCreated, "POST", "/api/v1/tokens", tok, map[string]string{"name": "ci", "scope": "read"}, nil)

	var again bytes.Buffer
	if err := Bootstrap(ctx, e.db, e.dataDir, noEnv, &again); err != nil {
		t.Fatal(err)
	}
	if again.Len() != 0 {
		t.Errorf("second start printed %q, want nothing", again.String())
	}
	tks, _ = e.db.ListTokens(ctx)
	admins := 0
	for _, tk := range tks {
		if tk.Scope == store.ScopeAdmin {
			admins++
		}
	}
	if admins != 1 {
		t.Errorf("%d admin tokens after two starts, want 1", admins)
	}
}

func TestBootstrapFromEnvironment(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()
	env := map[string]string{AdminTokenEnv: "my-chosen-admin-token-123", AdminPasswordEnv: "correct horse"}
	for range 2 { // a restart with the same environment changes nothing
		var out bytes.Buffer
		if err := Bootstrap(ctx, e.db, e.dataDir, func(k string) string { return env[k] }, &out); err != nil {
			t.Fatal(err)
		}
		if out.Len() != 0 {
			t.Errorf("printed %q with %s set", out.String(), AdminTokenEnv)
		}
	}
	e.mustDo(http.StatusOK, "GET", "/api/v1/tokens", env[AdminTokenEnv], nil, nil)
	for pw, want := range map[string]bool{"correct horse": true, "wrong": false} {
		ok, err := VerifyAdminPassword(e.dataDir, pw)
		if err != nil || ok != want {
			t.Errorf("VerifyAdminPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	st, err := os.Stat(filepath.Join(e.dataDir, AdminPasswordFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("password file: %v, mode %v", err, st.Mode())
	}
	if err := Bootstrap(ctx, e.db, e.dataDir, func(k string) string {
		return map[string]string{AdminTokenEnv: "short"}[k]
	}, &bytes.Buffer{}); err == nil {
		t.Error("a 5-character SLUICE_ADMIN_TOKEN was accepted")
	}
}

func TestScopesAreEnforced(t *testing.T) {
	e := newAPIEnv(t)
	read, write := e.token("r", store.ScopeRead), e.token("w", store.ScopeWrite)
	e.addRepo(RepoInput{Name: "demo", URL: "file:///srv/demo.git", DefaultBranch: "main"})
	secret := map[string]string{"value": "v"}
	repo := map[string]string{"name": "other", "url": "file:///srv/other.git"}
	cases := []struct {
		name         string
		token        string
		method, path string
		body         any
		want         int
	}{
		{"no token", "", "GET", "/api/v1/runs", nil, http.StatusUnauthorized},
		{"unknown token", "slc_0000000000000000000000000000000000000000000", "GET", "/api/v1/runs", nil, http.StatusUnauthorized},
		{"read lists runs", read, "GET", "/api/v1/runs", nil, http.StatusOK},
		{"read cannot add a repo", read, "POST", "/api/v1/repos", repo, http.StatusForbidden},
		{"read cannot dispatch", read, "POST", "/api/v1/repos/demo/dispatch", map[string]string{"workflow": "ci.yml"}, http.StatusForbidden},
		{"read cannot set a secret", read, "PUT", "/api/v1/secrets/TOKEN", secret, http.StatusForbidden},
		{"read cannot cancel", read, "POST", "/api/v1/runs/1/cancel", nil, http.StatusForbidden},
		{"read cannot list tokens", read, "GET", "/api/v1/tokens", nil, http.StatusForbidden},
		{"write sets a secret", write, "PUT", "/api/v1/secrets/TOKEN", secret, http.StatusOK},
		{"write dispatches", write, "POST", "/api/v1/repos/demo/dispatch", map[string]string{"workflow": "ci.yml"}, http.StatusCreated},
		{"write cannot add a repo", write, "POST", "/api/v1/repos", repo, http.StatusForbidden},
		{"write cannot create tokens", write, "POST", "/api/v1/tokens", map[string]string{"name": "x", "scope": "admin"}, http.StatusForbidden},
		{"admin adds a repo", e.admin, "POST", "/api/v1/repos", repo, http.StatusCreated},
		{"admin creates tokens", e.admin, "POST", "/api/v1/tokens", map[string]string{"name": "x", "scope": "read"}, http.StatusCreated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := e.do(c.method, c.path, c.token, c.body)
			if code != c.want {
				t.Fatalf("%s %s = %d %s, want %d", c.method, c.path, code, body, c.want)
			}
		})
	}
	if got := len(e.sched.recorded()); got != 1 {
		t.Errorf("scheduler saw %d triggers, want 1 (the write token's dispatch)", got)
	}
}

func TestSessionCookieAuthenticates(t *testing.T) {
	e := newAPIEnv(t)
	tok := e.token("session:2025-01-01T00:00:00Z", store.ScopeRead)
	req, _ := http.NewRequest("GET", e.http.URL+"/api/v1/repos", nil)
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: tok})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if diff := cmp.Diff(http.StatusOK, resp.StatusCode); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
}
