package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSigninBackoff: after a few wrong passwords a client gets 429 with a
// Retry-After that grows, before any password is checked (the right
// password included); once the wait is over it can sign in.
func TestSigninBackoff(t *testing.T) {
	e := newAPIEnv(t)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	e.srv.signin.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	if err := writeAdminPassword(e.dataDir, "the-right-password"); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(pw string) *http.Response {
		t.Helper()
		resp, err := client.PostForm(e.http.URL+"/signin", url.Values{"password": {pw}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for i := 1; i <= signinFreeFailures; i++ {
		if resp := post("wrong"); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Retry-After") != "" {
			t.Fatalf("failure %d: %d, Retry-After %q; want 401 without a wait", i, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if resp := post("wrong"); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("failure over the limit: %d, Retry-After %q; want 401 asking to wait 1 s", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	resp := post("the-right-password")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("while waiting: %d, Retry-After %q; want 429 with Retry-After 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	mu.Lock()
	clock = clock.Add(2 * time.Second)
	mu.Unlock()
	if resp := post("wrong"); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("next failure: %d, Retry-After %q; want the wait doubled to 2 s", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	mu.Lock()
	clock = clock.Add(3 * time.Second)
	mu.Unlock()
	if resp := post("the-right-password"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after the wait, the right password: %d, want 303 to the UI", resp.StatusCode)
	}
	if resp := post("wrong"); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Retry-After") != "" {
		t.Fatalf("after a success the failures are forgotten: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestSigninConcurrencyBounded: at most signinConcurrency password checks
// run at once; a sign-in that finds none free within the queue wait is
// answered 429 without hashing.
func TestSigninConcurrencyBounded(t *testing.T) {
	l := newSigninLimiter(nil)
	l.queueWait = 50 * time.Millisecond
	var releases []func()
	for i := 0; i < signinConcurrency; i++ {
		rel, ok := l.acquire(context.Background())
		if !ok {
			t.Fatalf("slot %d refused with nothing running", i)
		}
		releases = append(releases, rel)
	}
	if _, ok := l.acquire(context.Background()); ok {
		t.Fatal("a slot was given beyond the limit")
	}
	releases[0]()
	if rel, ok := l.acquire(context.Background()); !ok {
		t.Fatal("a freed slot was not given")
	} else {
		rel()
	}
	// Many clients failing at once keep at most signinMaxClients records.
	for i := 0; i < signinMaxClients+500; i++ {
		l.failed(fmt.Sprintf("10.0.%d.%d", i/256, i%256))
	}
	l.mu.Lock()
	n := len(l.clients)
	l.mu.Unlock()
	if n > signinMaxClients {
		t.Errorf("%d client records kept, want at most %d", n, signinMaxClients)
	}
}

func TestTooManyRetryAfterIsWholeSeconds(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want int
	}{{0, 1}, {300 * time.Millisecond, 1}, {time.Second, 1}, {1500 * time.Millisecond, 2}, {15 * time.Minute, 900}} {
		w := &headerRecorder{h: http.Header{}}
		tooMany(w, c.d, "wait")
		got, _ := strconv.Atoi(w.h.Get("Retry-After"))
		if got != c.want || w.code != http.StatusTooManyRequests || !strings.Contains(w.body.String(), "wait") {
			t.Errorf("tooMany(%s): %d Retry-After %d %q, want 429 and %d", c.d, w.code, got, w.body.String(), c.want)
		}
	}
}

type headerRecorder struct {
	h    http.Header
	code int
	body strings.Builder
}

func (r *headerRecorder) Header() http.Header         { return r.h }
func (r *headerRecorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *headerRecorder) WriteHeader(c int)           { r.code = c }
