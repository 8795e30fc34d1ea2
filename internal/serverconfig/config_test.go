package serverconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func write(t *testing.T, name, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrecedence(t *testing.T) {
	file := write(t, "sluice.toml", `# a comment
addr = "0.0.0.0:9000"
agents = 4
poll = "90s"
db = "postgres://ci@db/ci"
sandbox = false
`, 0o600)
	env := map[string]string{"SLUICE_AGENTS": "3", "SLUICE_BLOB": "/srv/blobs"}
	c, err := Load(file, func(k string) string { return env[k] }, map[string]string{"agents": "1"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{"addr": c.Addr, "agents": c.Agents, "poll": c.Poll, "db": c.DB, "blob": c.Blob, "sandbox": c.Sandbox, "base_url": c.BaseURL}
	want := map[string]any{"addr": "0.0.0.0:9000", "agents": 1, "poll": 90 * time.Second, "db": "postgres://ci@db/ci",
		"blob": "/srv/blobs", "sandbox": "off", "base_url": ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
	wantSrc := map[string]string{"addr": file + ":2", "agents": "--agents", "blob": "$SLUICE_BLOB", "base_url": "default", "poll": file + ":4"}
	for k, v := range wantSrc {
		if c.Sources[k] != v {
			t.Errorf("source of %s = %q, want %q", k, c.Sources[k], v)
		}
	}
}

func TestErrorsSayWhereAndWhat(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		env        map[string]string
		flags      map[string]string
		want       []string
	}{
		{"syntax", "addr = \"x\nagents = 2\n", nil, nil, []string{"sluice.toml:1:"}},
		{"unknown key", "addr = \"127.0.0.1:1\"\nadr = \"x\"\n", nil, nil, []string{`sluice.toml:2: unknown setting "adr" (did you mean "addr"?)`}},
		{"bad value", "\n\nagents = \"two\"\n", nil, nil, []string{`sluice.toml:3: agents: want a whole number`}},
		{"table value", "agents = [1]\n", nil, nil, []string{"sluice.toml:1: agents: want a string or a number"}},
		{"bad env", "", map[string]string{"SLUICE_POLL": "soon"}, nil, []string{`$SLUICE_POLL: want a duration`}},
		{"bad flag", "", nil, map[string]string{"sandbox": "maybe"}, []string{`--sandbox: want auto, on or off`}},
		{"several at once", "agents = -1\npoll = \"1ms\"\n", nil, nil, []string{"sluice.toml:1: agents", "sluice.toml:2: poll: 1ms is too often"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "sluice.toml")
			os.WriteFile(p, []byte(tc.body), 0o600)
			_, err := Load(p, func(k string) string { return tc.env[k] }, tc.flags)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			msg := strings.ReplaceAll(err.Error(), dir+"/", "")
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml"), os.Getenv, nil); err == nil || !strings.Contains(err.Error(), "missing.toml") {
		t.Errorf("a missing file: %v", err)
	}
}

func TestCheckSecretsAndReplicaWarnings(t *testing.T) {
	none := func(string) string { return "" }
	key := write(t, "key", "c2x1aWNlIHNsdWljZSBzbHVpY2Ugc2x1aWNlIHNsdWk=\n", 0o600)
	open := write(t, "open", "secret\n", 0o644)
	empty := write(t, "empty", "\n", 0o600)
	pw := write(t, "pw", "hunter2\n", 0o600)

	c, err := Load("", none, map[string]string{"db": "postgres://ci@db/ci", "db-password-file": pw, "secret-key-file": key, "blob": "s3://b?endpoint=h:1"})
	if err != nil {
		t.Fatal(err)
	}
	if w, err := c.Check(); err != nil || len(w) != 0 {
		t.Errorf("Check = %v, %v; want no warnings", w, err)
	}
	dsn, err := c.DSN()
	if err != nil || dsn != "postgres://ci:hunter2@db/ci" {
		t.Errorf("DSN = %q, %v", dsn, err)
	}

	c, _ = Load("", none, map[string]string{"db": "postgres://ci:inline@db/ci"})
	w, err := c.Check()
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(w, "\n")
	for _, want := range []string{"db_password_file instead", "secret_key_file is not set", "blob is a local directory"} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings %q lack %q", joined, want)
		}
	}

	for file, want := range map[string]string{open: "readable by every user", empty: "is empty", "/nonexistent/x": "no such file"} {
		c, _ := Load("", none, map[string]string{"admin-token-file": file})
		if _, err := c.Check(); err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "secret\n") {
			t.Errorf("admin_token_file %s: %v, want %q", file, err, want)
		}
	}
	c, _ = Load("", none, map[string]string{"addr": "nowhere", "base-url": "ftp://x", "db-password-file": pw})
	_, err = c.Check()
	for _, want := range []string{`addr "nowhere"`, `base_url "ftp://x"`, "db is not a postgres:// URL"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check error %v lacks %q", err, want)
		}
	}
}

// The README documents every setting in one table, generated from Settings.
func TestREADMETable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), Markdown()) {
		t.Errorf("README.md lacks the current settings table; replace it with:\n%s", Markdown())
	}
	keys, envs, flags := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, s := range Settings() {
		for _, ns := range []struct {
			seen map[string]bool
			name string
		}{{keys, s.Key}, {envs, s.Env}, {flags, s.Flag}} {
			if ns.seen[ns.name] {
				t.Errorf("name %s is used twice", ns.name)
			}
			ns.seen[ns.name] = true
		}
	}
}

func FuzzLoad(f *testing.F) {
	f.Add("addr = \"0.0.0.0:1\"\nagents = 2\n")
	f.Add("[x]\ny = 1\n")
	f.Add("agents = 99999999999999999999\n")
	f.Fuzz(func(t *testing.T, body string) {
		p := filepath.Join(t.TempDir(), "c.toml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(p, func(string) string { return "" }, nil)
		if err == nil {
			c.Check() // must not panic
		}
	})
}
