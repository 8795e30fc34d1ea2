package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/executor/container"
)

const pythonImage = "localhost/sluice/python:3.11"

func testEngine(t *testing.T) *container.Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := container.Connect(ctx, "")
	if err != nil {
		if os.Getenv("SLUICE_REQUIRE_CONTAINERS") == "1" {
			t.Fatalf("SLUICE_REQUIRE_CONTAINERS=1 but: %v", err)
		}
		t.Skipf("skipping: no container engine (run scripts/podman-setup.sh, or set SLUICE_REQUIRE_CONTAINERS=1 to fail): %v", err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.EnsureImage(ctx, pythonImage, nil, nil); err != nil {
		t.Fatalf("%v (scripts/build-images.sh builds it)", err)
	}
	return e
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// get returns the body served at url, or the error's text.
func get(t *testing.T, url string) string {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "error: " + err.Error()
	}
	return string(b)
}

func randomName() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return "sluice-deploy-test-" + hex.EncodeToString(b)
}

func TestDeployUpdateAutoRollbackAndRollback(t *testing.T) {
	e := testEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	name := randomName()
	stateDir := t.TempDir()
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		if err := e.RemoveContainer(cctx, name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/greeting.txt", port)
	const healthy = `--health-cmd "python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000')\"" --health-interval 1s --health-retries 5`
	target := func(greeting, options string) Target {
		return Target{
			Name:  name,
			Image: pythonImage,
			Env:   map[string]string{"GREETING": greeting},
			Ports: []string{fmt.Sprintf("%d:8000", port)},
			Cmd: []string{"sh", "-c", `mkdir -p /tmp/www && cd /tmp/www && printf '%s' "$GREETING" > greeting.txt && ` +
				`echo "serving $GREETING" && exec python3 -m http.server 8000`},
			Options:       options,
			HealthTimeout: time.Minute,
		}
	}
	var logs []string
	logf := func(s string) { logs = append(logs, s) }

	type step struct {
		name       string
		run        func() (*Result, error)
		wantErr    []string // substrings of the error; nil means success
		wantResult Result   // ContainerID is only checked for being set
		wantBody   string
	}
	steps := []step{
		{
			name:       "deploy v1",
			run:        func() (*Result, error) { return Deploy(ctx, e, stateDir, target("v1", healthy), logf) },
			wantResult: Result{Image: pythonImage, Healthy: true},
			wantBody:   "v1",
		},
		{
			name:       "deploy v2",
			run:        func() (*Result, error) { return Deploy(ctx, e, stateDir, target("v2", healthy), logf) },
			wantResult: Result{Image: pythonImage, PreviousImage: pythonImage, Healthy: true},
			wantBody:   "v2",
		},
		{
			name: "broken v3 rolls back to v2",
			run: func() (*Result, error) {
				return Deploy(ctx, e, stateDir, target("v3", `--health-cmd "exit 1" --health-interval 1s --health-retries 2`), logf)
			},
			wantErr:    []string{"unhealthy", "serving v3", "rolled back"},
			wantResult: Result{Image: pythonImage, PreviousImage: pythonImage, RolledBack: true, Healthy: true},
			wantBody:   "v2",
		},
		{
			name:       "Rollback to v1",
			run:        func() (*Result, error) { return Rollback(ctx, e, stateDir, name, logf) },
			wantResult: Result{Image: pythonImage, PreviousImage: pythonImage, RolledBack: true, Healthy: true},
			wantBody:   "v1",
		},
	}
	for _, s := range steps {
		res, err := s.run()
		switch {
		case s.wantErr == nil && err != nil:
			t.Fatalf("%s: %v\nlog:\n%s", s.name, err, strings.Join(logs, "\n"))
		case s.wantErr != nil && err == nil:
			t.Fatalf("%s: succeeded, want an error", s.name)
		case err != nil:
			t.Logf("%s: error as expected:\n%v", s.name, err)
			for _, w := range s.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: error lacks %q:\n%v", s.name, w, err)
				}
			}
		}
		if res == nil || res.ContainerID == "" {
			t.Fatalf("%s: result %+v has no container", s.name, res)
		}
		got := *res
		got.ContainerID = ""
		if diff := cmp.Diff(s.wantResult, got); diff != "" {
			t.Errorf("%s: result (-want +got):\n%s", s.name, diff)
		}
		if body := get(t, url); body != s.wantBody {
			t.Errorf("%s: served %q, want %q", s.name, body, s.wantBody)
		}
	}

	// v1 was the first deployment: nothing earlier to go back to.
	if _, err := Rollback(ctx, e, stateDir, name, logf); err == nil || !strings.Contains(err.Error(), "no previous deployment") {
		t.Errorf("second Rollback: got %v, want no previous deployment", err)
	}
	if body := get(t, url); body != "v1" {
		t.Errorf("after refused Rollback: served %q, want v1", body)
	}
}
