package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ci/sluice/internal/client"
	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/spf13/cobra"
)

// cliScheduler makes one run with one queued job per trigger.
type cliScheduler struct{ db *store.DB }

func (f cliScheduler) Trigger(ctx context.Context, repo *store.Repo, t server.Trigger) ([]store.Run, error) {
	run, _, err := f.db.CreateRun(ctx, store.Run{RepoID: repo.ID, Workflow: t.Workflow, WorkflowName: "Release",
		Event: t.Event, Ref: t.Ref, Trigger: t.Source, Inputs: t.Inputs}, []store.Job{{Key: "build", Name: "build", Status: store.StatusQueued}})
	if err != nil {
		return nil, err
	}
	return []store.Run{*run}, nil
}
func (cliScheduler) JobFinished(context.Context, int64) error { return nil }
func (f cliScheduler) Cancel(ctx context.Context, id int64) error {
	_, err := f.db.CancelRun(ctx, id, "cancelled")
	return err
}
func (f cliScheduler) Rerun(ctx context.Context, id int64, _ bool) (*store.Run, error) {
	return f.db.GetRun(ctx, id)
}

// runCLI runs cmd with args against the server and returns its stdout.
func runCLI(t *testing.T, cmd *cobra.Command, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestAPICommands(t *testing.T) {
	ctx := context.Background()
	db, srv, dir := newTestServer(t, nil)
	keys, err := secrets.LoadKey(dir, func(string) string { return "" }) // the server's, kept in dir
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	admin := "cli-test-admin-token-0123456789"
	if err := server.Bootstrap(ctx, db, dir, func(k string) string {
		return map[string]string{server.AdminTokenEnv: admin}[k]
	}, io.Discard); err != nil {
		t.Fatal(err)
	}
	conn := []string{"--server", hs.URL, "--token", admin}
	must := func(cmd *cobra.Command, stdin string, args ...string) string {
		t.Helper()
		out, err := runCLI(t, cmd, stdin, append(args, conn...)...)
		if err != nil {
			t.Fatalf("%s %v: %v", cmd.Name(), args, err)
		}
		return out
	}

	if out := must(repoCmd(), "", "add", "demo", "--url", "file:///srv/demo.git", "--webhook-secret", "hook-s3cret", "--default-branch", "main"); !strings.Contains(out, "added repository demo") {
		t.Errorf("repo add printed %q", out)
	}
	if out := must(repoCmd(), "", "list"); !strings.Contains(out, "demo") || strings.Contains(out, "hook-s3cret") {
		t.Errorf("repo list printed %q", out)
	}
	if out := must(dispatchCmd(), "", "demo", "release.yml", "--input", "level=minor"); !strings.Contains(out, "run 1: demo #1 .github/workflows/release.yml refs/heads/main") {
		t.Errorf("dispatch printed %q", out)
	}
	if _, err := runCLI(t, dispatchCmd(), "", append([]string{"demo", "x.yml", "--input", "novalue"}, conn...)...); err == nil {
		t.Error("dispatch accepted --input without =")
	}
	var runs []server.RunView
	if err := json.Unmarshal([]byte(must(runsCmd(), "", "--repo", "demo", "--json")), &runs); err != nil || len(runs) != 1 || runs[0].Inputs["level"] != "minor" {
		t.Fatalf("runs --json: %+v, %v", runs, err)
	}
	if out := must(runsCmd(), ""); !strings.Contains(out, "Release") || !strings.Contains(out, "queued") {
		t.Errorf("runs printed %q", out)
	}

	// A job writes its log and completes while `logs --follow` waits.
	agent, err := db.RegisterAgent(ctx, store.Agent{Name: "a1", TokenHash: []byte("h"), Parallel: 1, Labels: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	job, err := db.Claim(ctx, agent.ID, nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// A job's line carries an OSC 52 clipboard write, an OSC 8 link and a
	// cursor move: sluice logs prints none of them (colours stay).
	hostile := "\x1b]52;c;ZWNobyBwd25lZA==\x07\x1b[32m3 passed\x1b[0m\x1b]8;;https://evil.example\x1b\\\x1b[1A\r"
	if _, err := db.AppendLogs(ctx, job.ID, []store.LogLine{{Seq: 1, Text: "Run tests", Kind: "group"}, {Seq: 2, Text: hostile}}); err != nil {
		t.Fatal(err)
	}
	go func() {
		db.AppendLogs(ctx, job.ID, []store.LogLine{{Seq: 3, Text: "done"}})
		db.Complete(ctx, job.ID, agent.ID, store.ConclusionSuccess, nil)
		db.FinishRunIfDone(ctx, job.RunID)
	}()
	if out := must(logsCmd(), "", fmt.Sprint(job.RunID), "--follow"); out != "▶ Run tests\n\x1b[32m3 passed\x1b[0m\ndone\n" {
		t.Errorf("logs --follow printed %q", out)
	}
	if out := must(logsCmd(), "", fmt.Sprint(job.RunID), "--job", "build"); out != "▶ Run tests\n\x1b[32m3 passed\x1b[0m\ndone\n" {
		t.Errorf("logs --job printed %q", out)
	}
	if _, err := runCLI(t, logsCmd(), "", append([]string{fmt.Sprint(job.RunID), "--job", "nope"}, conn...)...); err == nil {
		t.Error("logs --job nope succeeded")
	}

	if out := must(secretCmd(), "pypi-value-9\n", "set", "pypi_token", "--repo", "demo"); !strings.Contains(out, "set secret PYPI_TOKEN of demo") {
		t.Errorf("secret set printed %q", out)
	}
	sc, err := db.ListSecrets(ctx, &runs[0].RepoID)
	if err != nil || len(sc) != 1 {
		t.Fatalf("secrets %+v, %v", sc, err)
	}
	if pt, err := keys.Open(sc[0].Ciphertext, server.SecretContext("demo", "PYPI_TOKEN")); err != nil || string(pt) != "pypi-value-9" {
		t.Errorf("stored secret %q, %v: want the stdin value without its newline", pt, err)
	}
	if out := must(secretCmd(), "", "list", "--repo", "demo"); !strings.Contains(out, "PYPI_TOKEN") || strings.Contains(out, "pypi-value-9") {
		t.Errorf("secret list printed %q", out)
	}

	tok := strings.TrimSpace(must(tokenCmd(), "", "create", "reader", "--scope", "read"))
	if !secrets.ValidTokenFormat(tok) {
		t.Fatalf("token create printed %q", tok)
	}
	var apiErr *client.Error
	if _, err := runCLI(t, cancelCmd(), "", "1", "--server", hs.URL, "--token", tok); !errors.As(err, &apiErr) || apiErr.Status != http.StatusForbidden {
		t.Errorf("cancel with a read token: %v, want 403", err)
	}
	var agents []server.AgentView
	if err := json.Unmarshal([]byte(must(agentsCmd(), "", "--json")), &agents); err != nil || len(agents) != 1 || agents[0].Name != "a1" {
		t.Errorf("agents --json: %+v, %v", agents, err)
	}
	if out := must(agentsCmd(), ""); !strings.Contains(out, "a1") || !strings.Contains(out, "online") {
		t.Errorf("agents printed %q", out)
	}
	if out := must(rerunCmd(), "", "1", "--failed"); !strings.Contains(out, "run 1") {
		t.Errorf("rerun printed %q", out)
	}
	must(dispatchCmd(), "", "demo", "release.yml")
	if out := must(cancelCmd(), "", "2"); !strings.Contains(out, "run 2: cancelled") {
		t.Errorf("cancel printed %q", out)
	}
	if _, err := runCLI(t, runsCmd(), "", "--server", hs.URL, "--token", ""); err == nil || !strings.Contains(err.Error(), "SLUICE_TOKEN") {
		t.Errorf("runs without a token: %v", err)
	}
}

// newTestServer is a real server over a real store in a temporary
// directory, for the commands to talk to; deployer (nil for none) makes the
// server's Deployer over its store.
func newTestServer(t *testing.T, deployer func(*store.DB) server.Deployer) (*store.DB, *server.Server, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(context.Background(), filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys, err := secrets.LoadKey(dir, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var d server.Deployer
	if deployer != nil {
		d = deployer(db)
	}
	srv, err := server.New(server.Config{DB: db, Keys: keys, Scheduler: cliScheduler{db}, Deployer: d, DataDir: dir,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return db, srv, dir
}
