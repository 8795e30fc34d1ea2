package server

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Sign-in is the one place a stranger makes the server do expensive work
// (argon2id takes 32 MiB and tens of milliseconds a try): the work is
// limited in concurrency, and a client that keeps failing waits longer and
// longer, answered 429 with Retry-After without any hashing.
const (
	// signinConcurrency is how many password checks run at once.
	signinConcurrency = 2
	// signinQueueWait is how long a sign-in waits for a free slot before a
	// 429.
	signinQueueWait = 2 * time.Second
	// signinFreeFailures are the failures a client has before it must wait.
	signinFreeFailures = 5
	// signinMaxBackoff caps the wait.
	signinMaxBackoff = 15 * time.Minute
	// signinForget is how long a client's failures are remembered.
	signinForget = time.Hour
	// signinMaxClients bounds the memory clients' records take.
	signinMaxClients = 10000
	// signinMaxBody bounds a sign-in form.
	signinMaxBody = 16 << 10
)

// signinLimiter holds the slots for password checks and each client's
// failures.
type signinLimiter struct {
	slots     chan struct{}
	now       func() time.Time
	queueWait time.Duration

	mu      sync.Mutex
	clients map[string]*signinClient
}

type signinClient struct {
	failures int
	last     time.Time // last failure
	until    time.Time // no attempt before this
}

func newSigninLimiter(now func() time.Time) *signinLimiter {
	if now == nil {
		now = time.Now
	}
	return &signinLimiter{slots: make(chan struct{}, signinConcurrency), now: now, queueWait: signinQueueWait, clients: map[string]*signinClient{}}
}

// clientKey is who is signing in: the connection's address (never a
// header a client sets itself).
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// wait says how long client must still wait before trying; zero lets it in.
func (l *signinLimiter) wait(client string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.clients[client]
	if c == nil {
		return 0
	}
	if d := c.until.Sub(l.now()); d > 0 {
		return d
	}
	return 0
}

// acquire takes a slot for a password check, waiting at most
// signinQueueWait; it returns a release func, or false when the server is
// busy.
func (l *signinLimiter) acquire(ctx context.Context) (func(), bool) {
	t := time.NewTimer(l.queueWait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return func() { <-l.slots }, true
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, false
}

// failed records a failure and returns how long the client must now wait.
func (l *signinLimiter) failed(client string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	c := l.clients[client]
	if c == nil {
		if len(l.clients) >= signinMaxClients {
			l.evict(now)
		}
		c = &signinClient{}
		l.clients[client] = c
	}
	if now.Sub(c.last) > signinForget {
		c.failures = 0
	}
	c.failures++
	c.last = now
	if c.failures <= signinFreeFailures {
		return 0
	}
	d := time.Second << min(c.failures-signinFreeFailures-1, 20)
	if d > signinMaxBackoff {
		d = signinMaxBackoff
	}
	c.until = now.Add(d)
	return d
}

// succeeded forgets the client's failures.
func (l *signinLimiter) succeeded(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.clients, client)
}

// evict drops forgotten clients, and when that is not enough the half that
// failed longest ago.
func (l *signinLimiter) evict(now time.Time) {
	for k, c := range l.clients {
		if now.Sub(c.last) > signinForget && now.After(c.until) {
			delete(l.clients, k)
		}
	}
	if len(l.clients) < signinMaxClients {
		return
	}
	var oldest time.Time
	for _, c := range l.clients {
		if oldest.IsZero() || c.last.Before(oldest) {
			oldest = c.last
		}
	}
	cut := oldest.Add(now.Sub(oldest) / 2)
	for k, c := range l.clients {
		if c.last.Before(cut) {
			delete(l.clients, k)
		}
	}
}

// tooMany answers 429 with Retry-After in whole seconds.
func tooMany(w http.ResponseWriter, wait time.Duration, msg string) {
	secs := int((wait + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	http.Error(w, msg, http.StatusTooManyRequests)
}
