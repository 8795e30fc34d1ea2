package actions

import (
	"archive/zip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/sluice-ci/sluice/internal/executor/container"
	"github.com/sluice-ci/sluice/internal/roots"
)

// recordingStep is a Step whose effects are kept for the test to inspect.
type recordingStep struct {
	ctx  StepContext
	mu   sync.Mutex
	logs []string
}

func (s *recordingStep) Context() StepContext { return s.ctx }
func (s *recordingStep) Output(context.Context, []string, string, []string) (string, error) {
	return "", errors.New("no processes here")
}

func (s *recordingStep) AddRoot(dir string, writable bool) {
	if !writable {
		s.ctx.Roots = s.ctx.Roots.WithReadOnly(dir)
	}
}
func (s *recordingStep) Log(line string)  { s.record(line) }
func (s *recordingStep) Warn(msg string)  { s.record("warning: " + msg) }
func (s *recordingStep) Debug(msg string) { s.record("debug: " + msg) }
func (s *recordingStep) SetEnv(name, value string) {
	s.record("env: " + name + "=" + value)
}
func (s *recordingStep) AddPath(dir string)        { s.record("path: " + dir) }
func (s *recordingStep) AddMask(secret string)     {}
func (s *recordingStep) AddPost(p Post)            { s.record("post: " + p.Name) }
func (s *recordingStep) PythonEnvs() PythonEnvs    { return nil }
func (s *recordingStep) RecordVersion(_, _ string) {}
func (s *recordingStep) Exec(ctx context.Context, argv []string, dir string, extra map[string]string) (int, error) {
	return -1, errors.New("recordingStep cannot run processes")
}

func (s *recordingStep) record(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs = append(s.logs, line)
}

func newRecordingStep(t *testing.T, env map[string]string) *recordingStep {
	t.Helper()
	ws, temp := t.TempDir(), t.TempDir()
	return &recordingStep{ctx: StepContext{
		Workspace: ws,
		Temp:      temp,
		StateDir:  t.TempDir(),
		Env:       env,
		Roots:     roots.New(ws, "", temp),
	}}
}

// writeWheel writes a pure-Python wheel of one module by hand, with a
// correct RECORD, into dir.
func writeWheel(t *testing.T, dir, name, version, module, body string) string {
	t.Helper()
	info := name + "-" + version + ".dist-info"
	files := [][2]string{
		{module + ".py", body},
		{info + "/METADATA", "Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version + "\n"},
		{info + "/WHEEL", "Wheel-Version: 1.0\nGenerator: sluice-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	}
	var record strings.Builder
	for _, f := range files {
		sum := sha256.Sum256([]byte(f[1]))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", f[0], base64.RawURLEncoding.EncodeToString(sum[:]), len(f[1]))
	}
	record.WriteString(info + "/RECORD,,\n")
	files = append(files, [2]string{info + "/RECORD", record.String()})

	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+"-"+version+"-py3-none-any.whl")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, e := range files {
		w, err := zw.Create(e[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// imageWorkspace fills a workspace with what build-image reads: a base
// image as a docker archive, a lock pinning one dependency, that
// dependency's wheel, and the application's wheel under dist/.
func imageWorkspace(t *testing.T, ws string) {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(filepath.Join(ws, "base.tar"), nil, img); err != nil {
		t.Fatal(err)
	}
	writeWheel(t, filepath.Join(ws, "wheels"), "tinydep", "1.0", "tinydep", "VALUE = 1\n")
	writeWheel(t, filepath.Join(ws, "dist"), "tinyapp", "0.1", "tinyapp", "import tinydep\n")
	if err := os.WriteFile(filepath.Join(ws, "requirements.lock"), []byte("tinydep==1.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func buildInputs() map[string]string {
	return map[string]string{
		"base":       "base.tar",
		"lockfile":   "requirements.lock",
		"wheel-dir":  "wheels",
		"app-wheel":  "dist/*.whl",
		"entrypoint": "python3 -m tinyapp",
		"env":        "GREETING=hello world\nMODE=prod\n",
		"workdir":    "/srv",
	}
}

func TestBuildAndPushImage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := newRecordingStep(t, map[string]string{"SOURCE_DATE_EPOCH": "1700000000"})
	imageWorkspace(t, s.ctx.Workspace)

	first, err := BuildImage(ctx, s, buildInputs())
	if err != nil {
		t.Fatalf("build-image: %v\n%s", err, strings.Join(s.logs, "\n"))
	}
	if first["deps-cached"] != "false" {
		t.Errorf("first build deps-cached = %q, want false", first["deps-cached"])
	}
	if !strings.HasPrefix(first["path"], s.ctx.StateDir) {
		t.Errorf("image path %s is not under the state directory %s", first["path"], s.ctx.StateDir)
	}
	idx, err := layout.ImageIndexFromPath(first["path"])
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Digest.String() != first["digest"] {
		t.Fatalf("layout at %s holds %v, want the one image %s", first["path"], im.Manifests, first["digest"])
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"python3", "-m", "tinyapp"}, cf.Config.Entrypoint); diff != "" {
		t.Errorf("entrypoint (-want +got):\n%s", diff)
	}
	if cf.Config.WorkingDir != "/srv" {
		t.Errorf("workdir = %q, want /srv", cf.Config.WorkingDir)
	}
	for _, want := range []string{"GREETING=hello world", "MODE=prod"} {
		if !contains(cf.Config.Env, want) {
			t.Errorf("image env %v lacks %q", cf.Config.Env, want)
		}
	}
	if got := cf.Created.Unix(); got != 1700000000 {
		t.Errorf("created = %d, want SOURCE_DATE_EPOCH 1700000000", got)
	}

	// Same inputs: the same digest, and the dependencies layer from cache.
	second, err := BuildImage(ctx, s, buildInputs())
	if err != nil {
		t.Fatalf("second build-image: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"digest": first["digest"], "path": first["path"], "deps-cached": "true"}, second); diff != "" {
		t.Errorf("rebuild outputs (-want +got):\n%s", diff)
	}

	srv := httptest.NewServer(registry.New(registry.Logger(nopLogger())))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ref := host + "/team/app:1.0"
	pushed, err := PushImage(ctx, s, map[string]string{"path": first["path"], "ref": ref, "insecure": "true"})
	if err != nil {
		t.Fatalf("push-image: %v", err)
	}
	if pushed["digest"] != first["digest"] {
		t.Errorf("pushed digest %s, built %s", pushed["digest"], first["digest"])
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	// Every layer and the config are new to this registry.
	if got, want := pushed["blobs-uploaded"], strconv.Itoa(len(layers)+1); got != want {
		t.Errorf("blobs-uploaded = %s, want %s", got, want)
	}
	if n, err := strconv.ParseInt(pushed["bytes-uploaded"], 10, 64); err != nil || n <= 0 {
		t.Errorf("bytes-uploaded = %q, want a positive count", pushed["bytes-uploaded"])
	}

	// The same image under a new tag moves no blobs.
	again, err := PushImage(ctx, s, map[string]string{"path": first["path"], "ref": host + "/team/app:latest", "insecure": "true"})
	if err != nil {
		t.Fatalf("second push-image: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"digest": first["digest"], "blobs-uploaded": "0", "bytes-uploaded": "0"}, again); diff != "" {
		t.Errorf("re-tag push outputs (-want +got):\n%s", diff)
	}
}

func TestBuildImageInputErrors(t *testing.T) {
	tests := []struct {
		name    string
		change  func(ws string, with map[string]string)
		wantErr string
	}{
		{"no base", func(_ string, w map[string]string) { delete(w, "base") }, "input base is required"},
		{"no wheel matched", func(_ string, w map[string]string) { w["app-wheel"] = "dist/other-*.whl" }, "matches no file"},
		{"two wheels matched", func(ws string, w map[string]string) {
			writeWheel(t, filepath.Join(ws, "dist"), "tinyapp", "0.2", "tinyapp", "")
		}, "matches 2 files"},
		{"bad env line", func(_ string, w map[string]string) { w["env"] = "JUSTANAME" }, "not NAME=VALUE"},
		{"bad epoch", func(_ string, w map[string]string) { w["source-date-epoch"] = "yesterday" }, "source-date-epoch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newRecordingStep(t, nil)
			imageWorkspace(t, s.ctx.Workspace)
			with := buildInputs()
			tc.change(s.ctx.Workspace, with)
			_, err := BuildImage(context.Background(), s, with)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestDeployTargetInputs(t *testing.T) {
	tests := []struct {
		name    string
		with    map[string]string
		want    deployTargetView
		wantErr string
	}{
		{
			name: "all inputs",
			with: map[string]string{"name": "web", "image": "reg/app:1", "ports": "8080:80\n\n9090\n", "env": "A=1\nB=x=y",
				"options": "--health-cmd true", "cmd": "python3 -m http.server", "health-timeout": "90"},
			want: deployTargetView{Name: "web", Image: "reg/app:1", Ports: []string{"8080:80", "9090"}, Env: map[string]string{"A": "1", "B": "x=y"},
				Options: "--health-cmd true", Cmd: []string{"python3", "-m", "http.server"}, HealthTimeout: 90 * time.Second},
		},
		{name: "duration timeout", with: map[string]string{"name": "web", "image": "i", "health-timeout": "2m"},
			want: deployTargetView{Name: "web", Image: "i", HealthTimeout: 2 * time.Minute}},
		{name: "no image", with: map[string]string{"name": "web"}, wantErr: "name and image are required"},
		{name: "bad timeout", with: map[string]string{"name": "web", "image": "i", "health-timeout": "soon"}, wantErr: "health-timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := deployTarget(tc.with)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			view := deployTargetView{Name: got.Name, Image: got.Image, Ports: got.Ports, Env: got.Env, Options: got.Options, Cmd: got.Cmd, HealthTimeout: got.HealthTimeout}
			if diff := cmp.Diff(tc.want, view); diff != "" {
				t.Errorf("target (-want +got):\n%s", diff)
			}
		})
	}
}

type deployTargetView struct {
	Name, Image   string
	Ports         []string
	Env           map[string]string
	Options       string
	Cmd           []string
	HealthTimeout time.Duration
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func httpGet(url string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	return resp.Status, nil
}

func nopLogger() *log.Logger { return log.New(io.Discard, "", 0) }

const deployPythonImage = "localhost/sluice/python:3.11"

func TestDeployContainer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	e, err := container.Connect(cctx, "")
	ccancel()
	if err != nil {
		if os.Getenv("SLUICE_REQUIRE_CONTAINERS") == "1" {
			t.Fatalf("SLUICE_REQUIRE_CONTAINERS=1 but: %v", err)
		}
		t.Skipf("skipping: no container engine (set SLUICE_REQUIRE_CONTAINERS=1 to fail): %v", err)
	}
	defer e.Close()
	if err := e.EnsureImage(ctx, deployPythonImage, nil, nil); err != nil {
		t.Fatalf("%v (scripts/build-images.sh builds it)", err)
	}
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	name := "sluice-action-deploy-test-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer rcancel()
		if err := e.RemoveContainer(rctx, name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})

	s := newRecordingStep(t, nil)
	port := freeTCPPort(t)
	healthy := `--health-cmd "python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000')\"" --health-interval 1s --health-retries 5`
	with := func(options string) map[string]string {
		return map[string]string{
			"name":           name,
			"image":          deployPythonImage,
			"ports":          fmt.Sprintf("%d:8000", port),
			"env":            "GREETING=hi",
			"cmd":            "python3 -m http.server 8000",
			"options":        options,
			"health-timeout": "60s",
		}
	}

	first, err := DeployContainer(ctx, s, with(healthy))
	if err != nil {
		t.Fatalf("first deploy: %v\n%s", err, strings.Join(s.logs, "\n"))
	}
	if first["container-id"] == "" {
		t.Errorf("first deploy gave no container-id: %v", first)
	}
	if diff := cmp.Diff(map[string]string{"rolled-back": "false", "previous-image": ""}, withoutID(first)); diff != "" {
		t.Errorf("first deploy outputs (-want +got):\n%s", diff)
	}
	if status, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", port)); err != nil || status != "200 OK" {
		t.Errorf("deployed server answered %q, %v", status, err)
	}

	// A health check that never passes: the step fails and the first
	// container is back under the name.
	broken := `--health-cmd "false" --health-interval 1s --health-retries 2`
	w := with(broken)
	w["health-timeout"] = "20"
	second, err := DeployContainer(ctx, s, w)
	if err == nil {
		t.Fatalf("deploy with a failing health check succeeded: %v", second)
	}
	if second["container-id"] == "" || second["container-id"] == first["container-id"] {
		t.Errorf("rolled-back container-id = %q, want a new one (first was %q)", second["container-id"], first["container-id"])
	}
	if diff := cmp.Diff(map[string]string{"rolled-back": "true", "previous-image": deployPythonImage}, withoutID(second)); diff != "" {
		t.Errorf("rollback outputs (-want +got):\n%s", diff)
	}
	if status, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", port)); err != nil || status != "200 OK" {
		t.Errorf("rolled-back server answered %q, %v", status, err)
	}
}

func withoutID(out map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range out {
		if k != "container-id" {
			m[k] = v
		}
	}
	return m
}
