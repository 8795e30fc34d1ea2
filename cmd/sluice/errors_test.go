package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/spf13/cobra"
)

// What a person reads when a command fails: what went wrong and what to do,
// without the HTTP plumbing, which --verbose adds.
func TestCLIErrorMessages(t *testing.T) {
	ctx := context.Background()
	db, srv, dir := newTestServer(t, func(db *store.DB) server.Deployer { return cliDeployer{db} })
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	admin := "cli-test-admin-token-0123456789"
	if err := server.Bootstrap(ctx, db, dir, func(k string) string {
		return map[string]string{server.AdminTokenEnv: admin}[k]
	}, io.Discard); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	for _, n := range []string{"carol", "reader"} {
		scope := store.ScopeWrite
		if n == "reader" {
			scope = store.ScopeRead
		}
		out, err := runCLI(t, tokenCmd(), "", "create", n, "--scope", scope, "--server", hs.URL, "--token", admin)
		if err != nil {
			t.Fatal(err)
		}
		tokens[n] = strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	}
	// A promotion carol started, waiting for reviewers.
	repo, err := db.CreateRepo(ctx, store.Repo{Name: "app", URL: "file:///srv/app.git"})
	if err != nil {
		t.Fatal(err)
	}
	rel, err := cd.NewRelease(cd.ReleaseSource{Repo: "app", Commit: strings.Repeat("a", 40), Ref: "refs/heads/main"},
		[]cd.Artifact{{Name: "app.whl", Digest: "sha256:" + strings.Repeat("b", 64), Size: 1}}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateRelease(ctx, repo.ID, rel); err != nil {
		t.Fatal(err)
	}
	if err := db.PutEnvironment(ctx, repo.ID, cd.Environment{Name: "production", Reviewers: []string{"alice", "carol"}}); err != nil {
		t.Fatal(err)
	}
	p, err := db.CreatePromotion(ctx, repo.ID, cd.Promotion{Env: "production", ReleaseID: rel.ID, Kind: cd.KindForward,
		StartedBy: "carol", State: cd.StateWaiting})
	if err != nil {
		t.Fatal(err)
	}
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()

	for _, tc := range []struct {
		name    string
		cmd     func() *cobra.Command
		args    []string
		want    []string // in what is printed
		verbose string   // in what --verbose adds
		code    int
	}{
		{"wrong token", runsCmd, []string{"--server", hs.URL, "--token", "sk_not_a_real_token_0000000000000000"},
			[]string{"the server does not accept this API token", "--token or SLUICE_TOKEN"}, "GET /api/v1/runs: 401 Unauthorized", 1},
		{"no server", runsCmd, []string{"--server", dead, "--token", admin},
			[]string{"cannot reach the sluice server at " + dead + " (nothing listens there)", "--server or SLUICE_SERVER"}, "GET /api/v1/runs: ", 1},
		{"self-approval", func() *cobra.Command { return decideCmd(true) }, []string{"1", "--server", hs.URL, "--token", tokens["carol"]},
			[]string{"carol approving promotion", "cannot approve"}, "POST /api/v1/promotions/1/approve: 403 Forbidden", 1},
		{"scope", repoCmd, []string{"add", "x", "--url", "file:///x.git", "--server", hs.URL, "--token", tokens["reader"]},
			[]string{"needs a token with scope admin", "use a token with that scope"}, "POST /api/v1/repos: 403 Forbidden", 1},
		{"unknown run", cancelCmd, []string{"999", "--server", hs.URL, "--token", admin},
			[]string{"run 999"}, "POST /api/v1/runs/999/cancel: 404 Not Found", 1},
		{"no token", runsCmd, []string{"--server", hs.URL}, []string{"no API token: pass --token or set SLUICE_TOKEN"}, "", 2},
		{"bad repository name", repoCmd, []string{"add", "../etc", "--url", "file:///x.git", "--server", hs.URL, "--token", admin},
			[]string{`invalid repository name "../etc"`, "OWNER/NAME"}, "POST /api/v1/repos: 400 Bad Request", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SLUICE_TOKEN", "")
			t.Setenv("SLUICE_SERVER", "")
			_ = p
			for _, verbose := range []bool{false, true} {
				args := tc.args
				if verbose {
					args = append(append([]string(nil), args...), "--verbose")
				}
				_, err := runCLI(t, tc.cmd(), "", args...)
				if err == nil {
					t.Fatalf("%v succeeded", args)
				}
				var out bytes.Buffer
				code := reportError(&out, err, verbose)
				text := out.String()
				for _, w := range tc.want {
					if !strings.Contains(text, w) {
						t.Errorf("verbose=%v: %q lacks %q", verbose, text, w)
					}
				}
				hasPlumbing := strings.Contains(text, "/api/v1/") || strings.Contains(text, " 40") || strings.Contains(text, "dial tcp")
				if !verbose && hasPlumbing {
					t.Errorf("without --verbose the error shows HTTP plumbing: %q", text)
				}
				if verbose && tc.verbose != "" && !strings.Contains(text, tc.verbose) {
					t.Errorf("with --verbose %q lacks %q", text, tc.verbose)
				}
				if code != tc.code {
					t.Errorf("exit status %d, want %d", code, tc.code)
				}
			}
		})
	}
}

// A token in the environment is never printed as a flag's default.
func TestHelpHidesTokens(t *testing.T) {
	const secret = "sk_help_must_not_show_this_0123456789"
	t.Setenv("SLUICE_TOKEN", secret)
	for _, cmd := range []*cobra.Command{repoCmd(), runsCmd(), agentCmd(), promoteCmd(), secretCmd(), tokenCmd()} {
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs([]string{"--help"})
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), secret) {
			t.Errorf("sluice %s --help prints SLUICE_TOKEN:\n%s", cmd.Name(), out.String())
		}
		if cmd.Name() != "agent" && !strings.Contains(out.String(), "$SLUICE_TOKEN") {
			t.Errorf("sluice %s --help does not say the token comes from $SLUICE_TOKEN", cmd.Name())
		}
	}
}

// Repositories are named as on their forge.
func TestRepoAddOwnerName(t *testing.T) {
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
	conn := []string{"--server", hs.URL, "--token", admin}
	out, err := runCLI(t, repoCmd(), "", append([]string{"add", "acme/app", "--url", "https://git.example/acme/app.git"}, conn...)...)
	if err != nil || !strings.Contains(out, "added repository acme/app") {
		t.Fatalf("repo add acme/app: %q, %v", out, err)
	}
	if out, err := runCLI(t, runsCmd(), "", append([]string{"--repo", "acme/app"}, conn...)...); err != nil {
		t.Errorf("runs --repo acme/app: %q, %v", out, err)
	}
	if out, err := runCLI(t, repoCmd(), "", append([]string{"remove", "acme/app"}, conn...)...); err != nil || !strings.Contains(out, "removed repository acme/app") {
		t.Errorf("repo remove acme/app: %q, %v", out, err)
	}
}

// `sluice lock check` where there is no lock file says so, rather than
// calling nothing "up to date".
func TestLockCheckNothingToCheck(t *testing.T) {
	dir := t.TempDir()
	out, err := runCLI(t, lockCmd(), "", "check", dir)
	if err != nil || !strings.Contains(out, "no lock files to check in "+dir) || strings.Contains(out, "up to date") {
		t.Errorf("lock check of an empty directory: %q, %v", out, err)
	}
}
