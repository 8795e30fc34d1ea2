package e2e

import (
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-ci/sluice/internal/testenv"
)

// The real binary's first log line says what the server is (its version, as `sluice version`
// prints it, the database and schema it opened) and every setting it runs with, where each came
// from a flag, the environment or a default; no secret it was given appears anywhere in its
// output: not the admin token or password (environment), not the secret key (a file), not a
// password written into the Postgres URL (redacted).
func TestServeLogsVersionAndSettings(t *testing.T) {
	out, err := exec.Command(sluiceBin(t), "version").Output()
	if err != nil {
		t.Fatalf("sluice version: %v", err)
	}
	version := strings.TrimPrefix(strings.TrimSpace(string(out)), "sluice ")

	dir := t.TempDir()
	keyValue := "a2V5IGtleSBrZXkga2V5IGtleSBrZXkga2V5IGtleSE="
	keyFile := writeSecret(t, dir, "secret.key", keyValue)
	extra := []string{"--secret-key-file", keyFile, "--replica", "node-e2e", "--poll", "7m", "--deps-every", "13h",
		"--github-url", "https://git.example.test"}
	database, dbPassword := "sqlite", "pg-inline-Pa55word-e2e"
	if testenv.PostgresAdminDSN() != "" || testenv.RequirePostgres() {
		u, err := url.Parse(testenv.PostgresDB(t))
		if err != nil {
			t.Fatal(err)
		}
		// The test server trusts local connections, so the password is only there to be hidden.
		u.User = url.UserPassword(u.User.Username(), dbPassword)
		database, extra = "postgres", append(extra, "--db", u.String())
	}
	s := startServerEnv(t, 1, []string{"SLUICE_DELIVERY_RETENTION=48h"}, extra...)
	log := s.proc.output()
	// Warnings about the settings come first, as plain lines; then the log.
	var first string
	for _, line := range strings.Split(log, "\n") {
		if strings.HasPrefix(line, "time=") {
			first = line
			break
		}
	}
	if !strings.Contains(first, `msg="sluice server starting"`) {
		t.Fatalf("the first log line is not the start line:\n%s", log)
	}
	got := logfmt(first)
	want := map[string]string{
		"version": version, "database": database, "addr": s.addr, "data": s.data, "agents": "1", "replica": "node-e2e",
		"poll": "7m0s", "deps_every": "13h0m0s", "github_url": "https://git.example.test", "secret_key_file": keyFile,
		"delivery_retention": "48h0m0s", "blob": filepath.Join(s.data, "blobs"), "base_url": s.url, "admin_token_file": "",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("start line: %s=%q, want %q\n%s", k, got[k], v, first)
		}
	}
	for _, k := range []string{"go", "os", "schema", "sandboxed", "sandbox", "db"} {
		if _, ok := got[k]; !ok {
			t.Errorf("start line lacks %s:\n%s", k, first)
		}
	}
	if database == "postgres" && !strings.Contains(got["db"], "xxxxx") {
		t.Errorf("start line: db=%q, want the password redacted", got["db"])
	}
	for name, secret := range map[string]string{"admin token": s.token, "admin password": "e2e-admin-password",
		"secret key": keyValue, "database password": dbPassword} {
		if strings.Contains(log, secret) {
			t.Errorf("the server's output holds the %s:\n%s", name, log)
		}
	}
}

// logfmt reads the key=value pairs of one slog text line (values quoted when they hold spaces).
func logfmt(line string) map[string]string {
	out := map[string]string{}
	for line != "" {
		line = strings.TrimLeft(line, " ")
		k, rest, ok := strings.Cut(line, "=")
		if !ok {
			break
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := 1
			for end < len(rest) && (rest[end] != '"' || rest[end-1] == '\\') {
				end++
			}
			v = strings.ReplaceAll(rest[1:min(end, len(rest))], `\"`, `"`)
			rest = rest[min(end+1, len(rest)):]
		} else {
			v, rest, _ = strings.Cut(rest, " ")
		}
		if _, dup := out[k]; !dup {
			out[k] = v
		}
		line = rest
	}
	return out
}
