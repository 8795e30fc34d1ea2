package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
)

// maxCheckBody bounds what an HTTP check reads of a body to look for its substring.
const maxCheckBody = 1 << 20

// checkHTTP GETs h.URL until it answers as expected or the attempts run out.
func checkHTTP(ctx context.Context, h *cd.HTTPCheck, o CheckOptions) error {
	want := h.Status
	if want == 0 {
		want = http.StatusOK
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = defaultHTTPTimeout
	}
	delay := o.RetryDelay
	if delay <= 0 {
		delay = defaultRetryDelay
	}
	attempts := 1 + max(h.Retries, 0)
	client := &http.Client{}
	if want/100 == 3 {
		// A check that expects a redirect must see it rather than where it leads.
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	expect := fmt.Sprintf("status %d", want)
	if h.Contains != "" {
		expect += fmt.Sprintf(" and a body containing %q", h.Contains)
	}
	var got string
	for i := 1; i <= attempts; i++ {
		var ok bool
		ok, got = httpAttempt(ctx, client, h, want, timeout)
		if ok {
			o.log(fmt.Sprintf("verify: GET %s: %s", h.URL, got))
			return nil
		}
		o.log(fmt.Sprintf("verify: GET %s: attempt %d of %d: want %s, got %s", h.URL, i, attempts, expect, got))
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("verifying %s: %w", h.URL, err)
		}
		if i < attempts {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("verifying %s: %w", h.URL, ctx.Err())
			case <-t.C:
			}
		}
	}
	return fmt.Errorf("verifying %s: want %s, got %s (%d attempts)", h.URL, expect, got, attempts)
}

// httpAttempt makes one GET and says whether it passed and what it got.
func httpAttempt(ctx context.Context, client *http.Client, h *cd.HTTPCheck, want int, timeout time.Duration) (bool, string) {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, h.URL, nil)
	if err != nil {
		return false, "an unusable URL: " + err.Error()
	}
	req.Header.Set("User-Agent", "sluice-verify")
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return false, fmt.Sprintf("no answer within %s", timeout)
		}
		return false, "error: " + err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCheckBody))
	if err != nil {
		return false, fmt.Sprintf("status %d and an error reading the body: %v", resp.StatusCode, err)
	}
	got := fmt.Sprintf("status %d, body %q", resp.StatusCode, head(body, 200))
	if resp.StatusCode != want {
		return false, got
	}
	if h.Contains != "" && !strings.Contains(string(body), h.Contains) {
		return false, got
	}
	return true, fmt.Sprintf("status %d", resp.StatusCode)
}

func head(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
