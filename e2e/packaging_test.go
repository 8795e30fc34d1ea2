package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ci/sluice/internal/client"
	"github.com/sluice-ci/sluice/internal/executor/container"
	"github.com/sluice-ci/sluice/internal/secrets"
)

// writeSecret writes a secret file as an operator would: readable by its owner only.
func writeSecret(t *testing.T, dir, name, value string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func waitHealthy(t *testing.T, url string, p *proc) {
	t.Helper()
	waitFor(t, "the server at "+url+" to answer /healthz", time.Minute, func() (string, bool, error) {
		if p != nil && p.exited() {
			t.Fatalf("the server exited:\n%s", p.output())
		}
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			return "", false, err
		}
		resp.Body.Close()
		return resp.Status, resp.StatusCode == http.StatusOK, nil
	})
}

// TestServeFromConfigFile starts the server from a TOML file the way the systemd unit does,
// with the admin token and secret key read from files, checks the configuration first, and
// shows that a mistake is named by file and line.
func TestServeFromConfigFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	token, _, err := secrets.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cfgPath := filepath.Join(dir, "sluice.toml")
	cfg := fmt.Sprintf(`addr = %q
data = %q
agents = 0
admin_token_file = %q
secret_key_file = %q
`, addr, filepath.Join(dir, "data"), writeSecret(t, dir, "admin-token", token),
		writeSecret(t, dir, "secret.key", "c2x1aWNlIHNsdWljZSBzbHVpY2Ugc2x1aWNlIHNsdWk="))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"SLUICE_STATE_DIR=" + filepath.Join(dir, "state")}
	out, err := runSluice(t, env, "serve", "--config", cfgPath, "--check-config")
	if err != nil || !strings.Contains(out, "configuration OK") || !strings.Contains(out, cfgPath+":1") || strings.Contains(out, token) {
		t.Fatalf("--check-config: %v\n%s", err, out)
	}
	p := startProc(t, "serve", env, "serve", "--config", cfgPath)
	waitHealthy(t, "http://"+addr, p)
	c := client.New("http://"+addr, token)
	if _, err := c.ListTokens(context.Background()); err != nil {
		t.Fatalf("the admin token from admin_token_file is not accepted: %v", err)
	}
	if strings.Contains(p.output(), token) {
		t.Error("the server printed the admin token it was given")
	}

	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("addr = \"127.0.0.1:1\"\nagent = 2\n"), 0o600)
	out, err = runSluice(t, env, "serve", "--config", bad)
	if err == nil || !strings.Contains(out, bad+`:2: unknown setting "agent" (did you mean "agents"?)`) {
		t.Errorf("a misspelt setting: %v\n%s", err, out)
	}
}

func runSluice(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sluiceBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// unitLines reads the systemd unit's Key=Value lines.
func unitLines(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("../packaging/sluice.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("sluice.service: line %q is not Key=Value", line)
		}
		out[k] = append(out[k], v)
	}
	return out
}

// TestSystemdUnit runs the unit's ExecStartPre and ExecStart command lines, with its
// environment, against the example configuration (paths moved into the test's directory):
// what systemd would start is a server that answers.
func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	u := unitLines(t)
	for _, k := range []string{"ExecStart", "ExecStartPre", "User", "StateDirectory"} {
		if len(u[k]) != 1 {
			t.Fatalf("sluice.service: want one %s, got %v", k, u[k])
		}
	}
	dir := t.TempDir()
	example, err := os.ReadFile("../packaging/sluice.toml")
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cfg := strings.ReplaceAll(string(example), `"/var/lib/sluice/server"`, fmt.Sprintf("%q", filepath.Join(dir, "data")))
	cfg = strings.ReplaceAll(cfg, `"0.0.0.0:8080"`, fmt.Sprintf("%q", addr))
	cfg = strings.ReplaceAll(cfg, "agents = 2", "agents = 0")
	cfgPath := filepath.Join(dir, "sluice.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	argv := func(line string) []string {
		f := strings.Fields(strings.ReplaceAll(line, "/etc/sluice/sluice.toml", cfgPath))
		if f[0] != "/usr/local/bin/sluice" {
			t.Fatalf("the unit starts %s, want /usr/local/bin/sluice", f[0])
		}
		return f[1:]
	}
	var env []string
	for _, e := range u["Environment"] {
		env = append(env, strings.ReplaceAll(e, "/var/lib/sluice", filepath.Join(dir, "state")))
	}
	if out, err := runSluice(t, env, argv(u["ExecStartPre"][0])...); err != nil {
		t.Fatalf("ExecStartPre: %v\n%s", err, out)
	}
	p := startProc(t, "unit", env, argv(u["ExecStart"][0])...)
	waitHealthy(t, "http://"+addr, p)
}

// TestServerImage builds the server's OCI image with sluice's own builder as `make image`
// does, loads it into Podman and checks the container answers /healthz.
func TestServerImage(t *testing.T) {
	t.Parallel()
	const base = "localhost/sluice/server-base:12"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	e, err := container.Connect(ctx, "")
	if err == nil {
		defer e.Close()
		err = e.EnsureImage(ctx, base, nil, nil)
	}
	if err != nil {
		if os.Getenv("SLUICE_REQUIRE_CONTAINERS") == "1" {
			t.Fatalf("SLUICE_REQUIRE_CONTAINERS=1 but: %v", err)
		}
		t.Skipf("skipping: no container engine or %s (scripts/podman-setup.sh, scripts/build-images.sh): %v", base, err)
	}
	podman := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, "podman", append([]string{"--url", "unix:///run/sluice-podman.sock"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	dir := t.TempDir()
	baseTar := filepath.Join(dir, "base.tar")
	podman("save", "-o", baseTar, base)
	layout := filepath.Join(dir, "image")
	build := exec.CommandContext(ctx, "go", "run", "./packaging/image", "-base", baseTar, "-binary", sluiceBin(t),
		"-config", "packaging/image/sluice.toml", "-out", layout)
	build.Dir = ".."
	out, err := build.CombinedOutput()
	if err != nil {
		t.Fatalf("building the image: %v\n%s", err, out)
	}
	archive := filepath.Join(dir, "image.tar")
	if out, err := exec.CommandContext(ctx, "tar", "-C", layout, "-cf", archive, ".").CombinedOutput(); err != nil {
		t.Fatalf("packing the layout: %v\n%s", err, out)
	}
	loaded := podman("load", "-q", "-i", archive)
	id := loaded[strings.LastIndex(loaded, ":")+1:]
	tag := "localhost/sluice-test/server:" + randomHex(t, 6)
	podman("tag", id, tag)
	t.Cleanup(func() { exec.Command("podman", "--url", "unix:///run/sluice-podman.sock", "rmi", "-f", tag).Run() })
	cid := podman("run", "-d", "-p", "127.0.0.1::8080", tag)
	t.Cleanup(func() { exec.Command("podman", "--url", "unix:///run/sluice-podman.sock", "rm", "-f", cid).Run() })
	port := podman("port", cid, "8080/tcp")
	url := "http://" + strings.TrimSpace(strings.Split(port, "\n")[0])
	waitFor(t, "the container to answer /healthz", 2*time.Minute, func() (string, bool, error) {
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			return "", false, err
		}
		resp.Body.Close()
		return resp.Status, resp.StatusCode == http.StatusOK, nil
	})
	if user := podman("exec", cid, "id", "-un"); user != "sluice" {
		t.Errorf("the server runs as %q, want sluice", user)
	}
}
