package delivery

import (
	"context"
	"errors"
	"fmt"
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

	"github.com/sluice-ci/sluice/internal/cd"
)

// flaky answers 503 to the first failures requests, then 200 with body.
func flaky(t *testing.T, failures int, body string) (*httptest.Server, func() int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		if k <= failures {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func TestCheckHTTP(t *testing.T) {
	long := strings.Repeat("a", 200) + "TAIL-NOT-SHOWN"
	tests := []struct {
		name      string
		failures  int
		body      string
		check     cd.HTTPCheck // URL filled in
		wantCalls int
		wantErr   []string // substrings; nil: pass
	}{
		{name: "ok", body: "ok", wantCalls: 1},
		{name: "contains", body: `{"status":"healthy","version":"1.4.2"}`, check: cd.HTTPCheck{Contains: `"version":"1.4.2"`}, wantCalls: 1},
		{name: "recovers within retries", failures: 2, body: "ok", check: cd.HTTPCheck{Retries: 2}, wantCalls: 3},
		{name: "retries run out", failures: 5, body: "ok", check: cd.HTTPCheck{Retries: 1}, wantCalls: 2,
			wantErr: []string{"want status 200", "got status 503", "warming up", "2 attempts"}},
		{name: "wrong body", body: long, check: cd.HTTPCheck{Contains: "1.4.2"}, wantCalls: 1,
			wantErr: []string{`body containing "1.4.2"`, "status 200", strings.Repeat("a", 200)}},
		{name: "other status expected", body: "ok", check: cd.HTTPCheck{Status: 204}, wantCalls: 1,
			wantErr: []string{"want status 204", "got status 200"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls := flaky(t, tt.failures, tt.body)
			h := tt.check
			h.URL = srv.URL + "/health"
			var logs []string
			err := Check(context.Background(), &cd.Verify{HTTP: &h}, CheckOptions{RetryDelay: time.Millisecond,
				Log: func(s string) { logs = append(logs, s) }})
			if got := calls(); got != tt.wantCalls {
				t.Errorf("server saw %d requests, want %d", got, tt.wantCalls)
			}
			if len(logs) != tt.wantCalls {
				t.Errorf("logged %d lines, want one per attempt: %q", len(logs), logs)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Check passed, want an error")
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "TAIL-NOT-SHOWN") {
				t.Errorf("error %q shows more than 200 bytes of the body", err)
			}
		})
	}
}

func TestCheckHTTPRedirectExpected(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			http.Redirect(w, r, "/login", http.StatusFound)
			return
		}
		fmt.Fprint(w, "login page")
	}))
	defer srv.Close()
	ctx := context.Background()
	if err := Check(ctx, &cd.Verify{HTTP: &cd.HTTPCheck{URL: srv.URL, Status: 302}}, CheckOptions{}); err != nil {
		t.Errorf("expecting 302: %v", err)
	}
	// Expecting 200, the redirect is followed.
	if err := Check(ctx, &cd.Verify{HTTP: &cd.HTTPCheck{URL: srv.URL, Contains: "login page"}}, CheckOptions{}); err != nil {
		t.Errorf("expecting 200: %v", err)
	}
}

func TestCheckHTTPAttemptTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	err := Check(context.Background(), &cd.Verify{HTTP: &cd.HTTPCheck{URL: srv.URL, Timeout: 50 * time.Millisecond, Retries: 1}},
		CheckOptions{RetryDelay: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no answer within 50ms") {
		t.Errorf("Check = %v, want a per-attempt timeout", err)
	}
}

func TestCheckHTTPCancelledBetweenAttempts(t *testing.T) {
	srv, calls := flaky(t, 10, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// An hour between attempts: only the cancellation can end the wait.
	err := Check(ctx, &cd.Verify{HTTP: &cd.HTTPCheck{URL: srv.URL, Retries: 3}}, CheckOptions{RetryDelay: time.Hour,
		Log: func(string) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Check = %v, want context.Canceled", err)
	}
	if calls() != 1 {
		t.Errorf("server saw %d requests, want 1", calls())
	}
}

func TestCheckNil(t *testing.T) {
	if err := Check(context.Background(), nil, CheckOptions{}); err != nil {
		t.Errorf("Check(nil) = %v", err)
	}
	if err := Check(context.Background(), &cd.Verify{}, CheckOptions{}); err != nil {
		t.Errorf("Check(empty) = %v", err)
	}
}

func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SLUICE_TEST_SERVER_SECRET", "hunter2")
	var logs []string
	run := `test "$GREETING" = hi || exit 10
test -z "$SLUICE_TEST_SERVER_SECRET" || exit 11
test -n "$PATH" || exit 12
pwd`
	err := Check(context.Background(), &cd.Verify{Command: &cd.CommandCheck{Run: run}},
		CheckOptions{Dir: dir, Env: []string{"GREETING=hi"}, Log: func(s string) { logs = append(logs, s) }})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"verify: $ " + run, real}, logs); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}

func TestCheckCommandFails(t *testing.T) {
	err := Check(context.Background(), &cd.Verify{Command: &cd.CommandCheck{Run: `for i in $(seq 1 30); do echo line$i; done; echo oops >&2; exit 3`}},
		CheckOptions{Dir: t.TempDir()})
	if err == nil {
		t.Fatal("Check passed, want exit code 3")
	}
	msg := err.Error()
	for _, s := range []string{"exit code 3", "line12\n", "line30\noops"} {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q does not contain %q", msg, s)
		}
	}
	if strings.Contains(msg, "line11\n") {
		t.Errorf("error %q has more than the last 20 lines", msg)
	}
}

func TestCheckCommandTimeoutKillsGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	err := Check(context.Background(), &cd.Verify{Command: &cd.CommandCheck{
		Run:     `sleep 300 & echo $! > pid; echo started; wait`,
		Timeout: 300 * time.Millisecond,
	}}, CheckOptions{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "did not finish within 300ms") || !strings.Contains(err.Error(), "started") {
		t.Fatalf("Check = %v, want a timeout with the output", err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// The background sleep was in the command's process group, so it is gone (or a zombie
	// waiting for its new parent to reap it) once Check returns; allow the kernel a moment.
	for i := 0; !processGone(pid); i++ {
		if i == 100 {
			t.Fatalf("background process %d outlived the timed-out check", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCheckCommandCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	err := Check(ctx, &cd.Verify{Command: &cd.CommandCheck{Run: `echo ready; sleep 300`}},
		CheckOptions{Log: func(s string) {
			if s == "ready" {
				cancel()
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Check = %v, want context.Canceled", err)
	}
}

func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndex(s, ")")
	return i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X')
}
