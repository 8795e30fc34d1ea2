package container

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/client"
)

const (
	pythonImage   = "localhost/sluice/python:3.11"
	redisImage    = "localhost/sluice/redis:7"
	postgresImage = "localhost/sluice/postgres:15"
	debianImage   = "localhost/sluice/debian:12"
)

// testEngine connects to the engine the tests use, skipping when there is
// none unless SLUICE_REQUIRE_CONTAINERS=1, and makes sure the images from
// scripts/build-images.sh exist (building them when it can).
func testEngine(t *testing.T) *Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := Connect(ctx, "")
	if err != nil {
		if os.Getenv("SLUICE_REQUIRE_CONTAINERS") == "1" {
			t.Fatalf("SLUICE_REQUIRE_CONTAINERS=1 but: %v", err)
		}
		t.Skipf("skipping: no container engine (run scripts/podman-setup.sh, or set SLUICE_REQUIRE_CONTAINERS=1 to fail): %v", err)
	}
	t.Cleanup(func() { e.Close() })
	for _, img := range []string{debianImage, pythonImage, redisImage, postgresImage} {
		ok, err := e.imageExists(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			buildImages(t)
			break
		}
	}
	return e
}

// buildImages runs scripts/build-images.sh once per test binary.
func buildImages(t *testing.T) {
	t.Helper()
	script, err := filepath.Abs("../../../scripts/build-images.sh")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(script).CombinedOutput()
	if err != nil {
		t.Fatalf("images missing and %s failed: %v\n%s", script, err, out)
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func testRunID() string { return "t" + randomID()[:10] }

// lines collects output lines safely.
type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.l = append(l.l, s)
}

func (l *lines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.l...)
}

func startJob(t *testing.T, e *Engine, spec JobSpec) *Job {
	t.Helper()
	if spec.RunID == "" {
		spec.RunID = testRunID()
	}
	if spec.Log == nil {
		spec.Log = func(s string) { t.Log(s) }
	}
	j, err := e.StartJob(testCtx(t), spec)
	if err != nil {
		t.Fatalf("StartJob: %v", err)
	}
	t.Cleanup(func() {
		if err := j.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return j
}

func TestExecInPythonContainer(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	j := startJob(t, e, JobSpec{JobID: "exec", Container: &ContainerSpec{
		Image: pythonImage, Env: map[string]string{"FROM_SPEC": "spec"}, WorkDir: "/srv",
	}})
	tests := []struct {
		name      string
		x         ExecSpec
		wantCode  int
		wantLines []string
	}{
		{"python", ExecSpec{Argv: []string{"python3", "-u", "-c", "import sys; print(sys.version_info[:2]); print('err', file=sys.stderr)"}},
			0, []string{"(3, 11)", "err"}},
		{"env and workdir from the container", ExecSpec{Argv: []string{"sh", "-c", `echo "$FROM_SPEC $(pwd)"`}},
			0, []string{"spec /srv"}},
		{"env, workdir and user per exec", ExecSpec{
			Argv: []string{"sh", "-c", `mkdir -p /tmp/w 2>/dev/null; echo "$A $(pwd) $(id -u)"`},
			Env:  []string{"A=b c"}, WorkDir: "/tmp", User: "65534",
		}, 0, []string{"b c /tmp 65534"}},
		{"exit code", ExecSpec{Argv: []string{"sh", "-c", "echo before; exit 42"}}, 42, []string{"before"}},
		{"missing command", ExecSpec{Argv: []string{"no-such-command"}}, 127, nil},
		{"last line without newline", ExecSpec{Argv: []string{"printf", "a\nb"}}, 0, []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got lines
			x := tt.x
			x.Line = got.add
			code, err := j.Exec(testCtx(t), x, 0)
			if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (output %q)", code, tt.wantCode, got.get())
			}
			if tt.wantLines == nil {
				return
			}
			if d := cmp.Diff(tt.wantLines, got.get()); d != "" {
				t.Errorf("output (-want +got):\n%s", d)
			}
		})
	}
}

func TestExecCancel(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	j := startJob(t, e, JobSpec{JobID: "cancel", Container: &ContainerSpec{Image: pythonImage}})
	tests := []struct {
		name     string
		script   string
		wantCode int
		wantLast string
	}{
		{"SIGINT reaches a trap", `trap 'echo interrupted; exit 7' INT; echo ready; sleep 60 & wait`, 7, "interrupted"},
		{"SIGKILL after the grace period", `trap '' INT; echo ready; sleep 60`, 137, "ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			var got lines
			code, err := j.Exec(ctx, ExecSpec{Argv: []string{"bash", "-c", tt.script}, Line: func(s string) {
				got.add(s)
				if s == "ready" {
					cancel()
				}
			}}, 500*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			l := got.get()
			if code != tt.wantCode || len(l) == 0 || l[len(l)-1] != tt.wantLast {
				t.Errorf("got code %d, output %q; want code %d, last line %q", code, l, tt.wantCode, tt.wantLast)
			}
		})
	}
}

func redisPing(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dialing redis at %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading redis reply: %v", err)
	}
	return strings.TrimSpace(reply)
}

func TestRedisServiceFromContainerAndHost(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	j := startJob(t, e, JobSpec{
		JobID:     "redis",
		Container: &ContainerSpec{Image: pythonImage},
		Services: map[string]ContainerSpec{"redis": {
			Image: redisImage, Ports: []string{"6379"},
			Options: "--health-cmd 'redis-cli ping' --health-interval 1s --health-retries 20",
		}},
	})
	svc, ok := j.Services()["redis"]
	if !ok || svc.Ports["6379"] == "" || svc.Network != j.Network() {
		t.Fatalf("services = %+v, network %s", j.Services(), j.Network())
	}
	if got := redisPing(t, "127.0.0.1:"+svc.Ports["6379"]); got != "+PONG" {
		t.Errorf("from the host: %q, want +PONG", got)
	}
	var got lines
	code, err := j.Exec(testCtx(t), ExecSpec{Argv: []string{"python3", "-c", `
import socket
s = socket.create_connection(("redis", 6379), timeout=5)
s.sendall(b"PING\r\n")
print(s.recv(64).decode().strip())`}, Line: got.add}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"+PONG"}, got.get()); code != 0 || d != "" {
		t.Errorf("from the job container: code %d, output (-want +got):\n%s", code, d)
	}
	// The name must not depend on the engine's DNS alone (see StartJob).
	var hosts lines
	code, err = j.Exec(testCtx(t), ExecSpec{Argv: []string{"grep", "-w", "redis", "/etc/hosts"}, Line: hosts.add}, 0)
	if err != nil || code != 0 {
		t.Errorf("redis in the job container's /etc/hosts: code %d, err %v, lines %q", code, err, hosts.get())
	}
}

func TestPostgresServiceHealthyForHostJob(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	var progress lines
	j := startJob(t, e, JobSpec{
		JobID: "pg",
		Services: map[string]ContainerSpec{"postgres": {
			Image: postgresImage,
			Env:   map[string]string{"POSTGRES_PASSWORD": "secret", "POSTGRES_DB": "app"},
			Ports: []string{"5432"},
			// The values workflows copy from GitHub's docs; sluice checks
			// sooner than every 10s until the first success.
			Options: "--health-cmd pg_isready --health-interval 10s --health-timeout 5s --health-retries 5",
		}},
		Log: progress.add,
	})
	if j.ContainerID() != "" {
		t.Errorf("host job has container %s", j.ContainerID())
	}
	if !strings.Contains(strings.Join(progress.get(), "\n"), "Service postgres is healthy") {
		t.Errorf("progress does not report the health wait: %q", progress.get())
	}
	svc := j.Services()["postgres"]
	var got lines
	code, err := e.exec(testCtx(t), svc.ID, ExecSpec{
		Argv: []string{"psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "app", "-tAc", "select 6*7"},
		Env:  []string{"PGPASSWORD=secret"},
		Line: got.add,
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"42"}, got.get()); code != 0 || d != "" {
		t.Errorf("query inside the service: code %d, output (-want +got):\n%s", code, d)
	}
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Log("no psql on the host; the query through the mapped port is not checked")
		return
	}
	cmd := exec.Command(psql, "-h", "127.0.0.1", "-p", svc.Ports["5432"], "-U", "postgres", "-d", "app", "-tAc", "select current_database()")
	cmd.Env = append(os.Environ(), "PGPASSWORD=secret")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "app" {
		t.Errorf("query through the mapped port: %v: %q", err, out)
	}
}

func TestUnhealthyServiceFailsWithLogs(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	runID := testRunID()
	_, err := e.StartJob(testCtx(t), JobSpec{
		RunID: runID, JobID: "broken",
		Container: &ContainerSpec{Image: pythonImage},
		Services: map[string]ContainerSpec{"cache": {
			Image: redisImage, Options: "--health-cmd false --health-interval 1s --health-retries 2",
		}},
	})
	if err == nil {
		t.Fatal("StartJob succeeded with a service whose health check always fails")
	}
	msg := err.Error()
	for _, want := range []string{"service cache", "unhealthy", "failed 2 times", "Ready to accept connections"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if left := leftovers(t, e, runID); len(left) > 0 {
		t.Errorf("left behind after the failure: %v", left)
	}
}

func TestServiceThatExitsFailsWithLogs(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	_, err := e.StartJob(testCtx(t), JobSpec{
		RunID: testRunID(), JobID: "exits",
		Services: map[string]ContainerSpec{"db": {Image: postgresImage, Options: "--health-cmd pg_isready"}},
	})
	if err == nil || !strings.Contains(err.Error(), "superuser password is not specified") {
		t.Errorf("want the service's own complaint in the error, got: %v", err)
	}
}

// leftovers lists what is still labelled with runID.
func leftovers(t *testing.T, e *Engine, runID string) []string {
	t.Helper()
	ctx := testCtx(t)
	f := client.Filters{}.Add("label", LabelRun+"="+runID)
	var left []string
	cs, err := retry(ctx, func() (client.ContainerListResult, error) {
		return e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs.Items {
		left = append(left, "container "+strings.Join(c.Names, ","))
	}
	nws, err := retry(ctx, func() (client.NetworkListResult, error) {
		return e.cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nws.Items {
		left = append(left, "network "+n.Name)
	}
	return left
}

func TestCloseRemovesEverything(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	runID := testRunID()
	j, err := e.StartJob(testCtx(t), JobSpec{
		RunID: runID, JobID: "close",
		Container: &ContainerSpec{Image: pythonImage},
		Services:  map[string]ContainerSpec{"redis": {Image: redisImage}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if left := leftovers(t, e, runID); len(left) != 3 {
		t.Errorf("before Close: %v, want a job container, a service and a network", left)
	}
	// Close must work after a Ctrl-C cancelled the run's context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := j.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if left := leftovers(t, e, runID); len(left) > 0 {
		t.Errorf("after Close: %v", left)
	}
}

func TestSweepRemovesLeftoversOfDeadProcesses(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	ghost := &Engine{cli: e.cli, host: e.host, pid: dead.Process.Pid}
	deadRun, liveRun := testRunID(), testRunID()
	if _, err := ghost.StartJob(testCtx(t), JobSpec{RunID: deadRun, JobID: "crashed", Container: &ContainerSpec{Image: debianImage}}); err != nil {
		t.Fatal(err)
	}
	startJob(t, e, JobSpec{RunID: liveRun, JobID: "alive", Container: &ContainerSpec{Image: debianImage}})

	n, err := e.Sweep(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if n < 2 {
		t.Errorf("Sweep removed %d objects, want at least the dead run's container and network", n)
	}
	if left := leftovers(t, e, deadRun); len(left) > 0 {
		t.Errorf("dead process's objects survived: %v", left)
	}
	if left := leftovers(t, e, liveRun); len(left) != 2 {
		t.Errorf("live process's objects: %v, want its container and network kept", left)
	}
}

func TestBuildImageCachedByContent(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	dir := t.TempDir()
	token := randomID()
	dockerfile := fmt.Sprintf("FROM %s\nCOPY msg /msg\nRUN echo %s >> /msg\nENTRYPOINT [\"cat\", \"/msg\"]\n", debianImage, token)
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "msg"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	var first, second lines
	tag, err := e.BuildImage(ctx, dir, "", first.add)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = e.cli.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{Force: true}) })
	if !strings.HasPrefix(tag, "localhost/sluice-action:") || len(first.get()) == 0 {
		t.Errorf("first build: tag %q, log %q", tag, first.get())
	}
	tag2, err := e.BuildImage(ctx, dir, "Dockerfile", second.add)
	if err != nil {
		t.Fatal(err)
	}
	if tag2 != tag || len(second.get()) != 0 {
		t.Errorf("second build: tag %q (first %q), log %q; want the cached image and no build", tag2, tag, second.get())
	}
	var out lines
	code, err := e.RunContainer(ctx, ContainerSpec{Image: tag}, "", out.add, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"hello", token}, out.get()); code != 0 || d != "" {
		t.Errorf("running the built image: code %d, output (-want +got):\n%s", code, d)
	}
}

func TestRunContainer(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	tests := []struct {
		name      string
		spec      ContainerSpec
		cancel    bool
		wantCode  int
		wantLines []string
	}{
		{"output and exit code", ContainerSpec{
			Image: pythonImage, Env: map[string]string{"GREETING": "hi"},
			Entrypoint: []string{"python3", "-u", "-c"}, Cmd: []string{"import os,sys; print(os.environ['GREETING']); print('oops', file=sys.stderr); sys.exit(3)"},
		}, false, 3, []string{"hi", "oops"}},
		{"options and mounts", ContainerSpec{
			Image: debianImage, Options: "--entrypoint sh -w /data -e X=y",
			Mounts: []Mount{{Source: t.TempDir(), Target: "/data", ReadOnly: true}},
			Cmd:    []string{"-c", `echo "$X $(pwd)"; touch f 2>/dev/null || echo read-only`},
		}, false, 0, []string{"y /data", "read-only"}},
		{"cancellation sends SIGINT", ContainerSpec{
			Image: debianImage, Entrypoint: []string{"sh", "-c", "trap 'echo bye; exit 5' INT; echo ready; while :; do sleep 0.1; done"},
		}, true, 5, []string{"ready", "bye"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			var got lines
			code, err := e.RunContainer(ctx, tt.spec, "", func(s string) {
				got.add(s)
				if tt.cancel && s == "ready" {
					cancel()
				}
			}, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.wantLines, got.get()); code != tt.wantCode || d != "" {
				t.Errorf("code %d (want %d), output (-want +got):\n%s", code, tt.wantCode, d)
			}
		})
	}
}

func TestEnsureImageUnreachableRegistry(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	err := e.EnsureImage(testCtx(t), "localhost:1/sluice/none:1", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "scripts/build-images.sh") {
		t.Errorf("want an error explaining how to build the image locally, got %v", err)
	}
}

func TestConnectNoEngine(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	_, err := Connect(context.Background(), "unix://"+sock)
	if !errors.Is(err, ErrNoEngine) || !strings.Contains(err.Error(), "podman system service") {
		t.Errorf("want ErrNoEngine with how to start an engine, got %v", err)
	}
}
