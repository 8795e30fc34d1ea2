// Package client is the Go client of the sluice server's JSON API
// (/api/v1), used by the CLI.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
)

// Client talks to one server with one API token.
type Client struct {
	BaseURL string
	Token   string
	// HTTP is the client to use; nil means http.DefaultClient. Streams
	// (FollowLogs) last as long as their context, so set no Timeout on it.
	HTTP *http.Client
}

// New returns a client of the server at baseURL (e.g. http://127.0.0.1:8080)
// authenticating with token.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimSuffix(baseURL, "/"), Token: token}
}

// Error is an error answer of the server. Its Error says what went wrong
// and what to do, in the words of a person using the CLI; Detail has the
// HTTP request and status, for --verbose.
type Error struct {
	Method, Path string
	Status       int
	Message      string
}

func (e *Error) Error() string {
	msg := strings.TrimSuffix(e.Message, ".")
	switch {
	case e.Status == http.StatusUnauthorized:
		// The server's own words are about HTTP headers: Detail has them.
		return "the server does not accept this API token: pass a valid one with --token or SLUICE_TOKEN " +
			"(sluice serve prints the admin token on first start; `sluice token create NAME` makes more)"
	case e.Status == http.StatusForbidden && strings.Contains(msg, "scope"):
		return msg + ": use a token with that scope (an admin makes one with `sluice token create NAME --scope SCOPE`)"
	case e.Status == http.StatusNotFound && msg == "":
		return "not found on the server: check the name or number (and --server)"
	case e.Status >= 500 && e.Status != http.StatusNotImplemented:
		return fmt.Sprintf("the server failed (%s): %s; its log says more", http.StatusText(e.Status), msg)
	case msg == "":
		return fmt.Sprintf("the server refused the request (%s)", http.StatusText(e.Status))
	}
	return msg
}

// Detail is the request and the server's status, for --verbose.
func (e *Error) Detail() string {
	d := fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Status == http.StatusUnauthorized && e.Message != "" {
		d += ": " + e.Message
	}
	return d
}

// NetError is a request that got no answer: the server is not there, or
// the connection broke.
type NetError struct {
	Method, Path, Server string
	Err                  error
}

func (e *NetError) Error() string {
	cause := e.Err.Error()
	switch {
	case errors.Is(e.Err, syscall.ECONNREFUSED):
		cause = "nothing listens there"
	case errors.Is(e.Err, context.DeadlineExceeded):
		cause = "it did not answer in time"
	default:
		var dns *net.DNSError
		if errors.As(e.Err, &dns) {
			cause = "no such host " + dns.Name
		}
	}
	return fmt.Sprintf("cannot reach the sluice server at %s (%s): is sluice serve running there? "+
		"Point --server or SLUICE_SERVER at it", e.Server, cause)
}

func (e *NetError) Unwrap() error { return e.Err }

// Detail is the request and the transport's own error, for --verbose.
func (e *NetError) Detail() string { return fmt.Sprintf("%s %s: %v", e.Method, e.Path, e.Err) }

// IsNotFound reports whether err is a 404 answer.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// request builds a request to path (which may carry a query) with a JSON
// body when in is not nil.
func (c *Client) request(ctx context.Context, method, path string, in any) (*http.Request, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encoding the request to %s: %w", path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return nil, fmt.Errorf("building %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	req.Header.Set("User-Agent", "sluice-cli")
	return req, nil
}

// send performs the request and returns the response when its status is
// 2xx; otherwise it reads the {"error": ...} body into an *Error.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	resp, err := c.httpClient().Do(req)
	if err != nil {
		if req.Context().Err() != nil && !errors.Is(req.Context().Err(), context.DeadlineExceeded) {
			return nil, req.Context().Err() // interrupted: nothing to explain
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, &NetError{Method: req.Method, Path: req.URL.Path, Server: c.BaseURL, Err: err}
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := strings.TrimSpace(string(b))
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	return nil, &Error{Method: req.Method, Path: req.URL.Path, Status: resp.StatusCode, Message: msg}
}

// do sends a JSON request and decodes the JSON answer into out (unless nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	req, err := c.request(ctx, method, path, in)
	if err != nil {
		return err
	}
	resp, err := c.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decoding the answer to %s %s: %w", method, path, err)
	}
	return nil
}

// Do calls any API route: a JSON request (in, unless nil) and its JSON
// answer decoded into out (unless nil); a non-2xx answer is an *Error.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	return c.do(ctx, method, path, in, out)
}

// query encodes the non-empty values of kv (name, value pairs).
func query(kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// Health reports whether the server answers /healthz.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, "GET", "/healthz", nil, nil)
}
