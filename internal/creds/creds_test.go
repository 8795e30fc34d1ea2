package creds

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTakeFromEnvDropsTheValue runs this test binary as a child with a
// secret in its environment; the child takes it, re-executes itself, and
// reports what its /proc/self/environ holds then.
func TestTakeFromEnvDropsTheValue(t *testing.T) {
	if os.Getenv("CREDS_TEST_CHILD") == "1" {
		got, err := TakeFromEnv("CREDS_TEST_SECRET", "CREDS_TEST_MISSING")
		if err != nil {
			os.Stdout.WriteString("error: " + err.Error())
			os.Exit(1)
		}
		environ, _ := os.ReadFile("/proc/self/environ")
		os.Stdout.WriteString("value=" + got["CREDS_TEST_SECRET"] + "\n")
		if bytes.Contains(environ, []byte("s3cret-value")) {
			os.Stdout.WriteString("environ still holds it\n")
		}
		if _, ok := os.LookupEnv("CREDS_TEST_SECRET"); ok {
			os.Stdout.WriteString("getenv still has it\n")
		}
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestTakeFromEnvDropsTheValue$")
	cmd.Env = append(os.Environ(), "CREDS_TEST_CHILD=1", "CREDS_TEST_SECRET=s3cret-value")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "value=s3cret-value" {
		t.Errorf("child said %q; want it to have the value and no trace of it in its environment", got)
	}
}

func TestAgentCredentialIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "credentials")
	p := AgentFile(dir, "http://127.0.0.1:8080")
	if filepath.Dir(p) != dir || strings.ContainsAny(filepath.Base(p), "/:") {
		t.Fatalf("AgentFile = %s", p)
	}
	if a, err := LoadAgent(p); a != nil || err != nil {
		t.Fatalf("LoadAgent of a missing file = %v, %v; want nothing", a, err)
	}
	want := Agent{Server: "http://127.0.0.1:8080", AgentID: 3, Name: "box", Token: "slc_abc"}
	if err := SaveAgent(p, want); err != nil {
		t.Fatal(err)
	}
	got, err := LoadAgent(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, *got); diff != "" {
		t.Errorf("credential (-want +got):\n%s", diff)
	}
	for path, mode := range map[string]os.FileMode{p: 0o600, dir: 0o700} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %o, want %o", path, fi.Mode().Perm(), mode)
		}
	}
}

func TestReadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte("  tok-123  \nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if v, err := ReadFile(p, ""); err != nil || v != "tok-123" {
		t.Errorf("ReadFile = %q, %v; want the first line trimmed", v, err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, nil, 0o600)
	if _, err := ReadFile(empty, ""); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("ReadFile of an empty file: %v; want an error saying it is empty", err)
	}
}
