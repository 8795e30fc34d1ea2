package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ErrLeaseLost is returned when the server answers 409: the job is no longer leased to this
// agent (it expired, was declared lost, or was completed already).
var ErrLeaseLost = errors.New("job lease lost")

// StatusError is an answer from the server that is neither success nor a lost lease.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("server answered %d: %s", e.Code, e.Message)
}

// Client speaks the agent protocol to one server with one agent token.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// NewClient returns a client of the server at base URL (http://host:port) using token.
func NewClient(base, token string) *Client {
	// No client-wide timeout: each call's context bounds it (a claim long-polls).
	return &Client{base: strings.TrimRight(base, "/"), token: token, hc: &http.Client{}}
}

// call sends a JSON request (body nil: none) and decodes a JSON answer into out (nil: ignored).
// It reports whether the server answered 204 No Content.
func (c *Client) call(ctx context.Context, method, path string, body, out any) (noContent bool, err error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return false, fmt.Errorf("encoding %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	resp, err := c.send(ctx, method, path, "application/json", rd)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return true, nil
	}
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return false, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return false, fmt.Errorf("decoding answer of %s %s: %w", method, path, err)
	}
	return false, nil
}

// send makes one request and turns error statuses into errors; the caller closes the body of a
// successful answer.
func (c *Client) send(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("making request %s %s: %w", method, path, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e struct {
		Error string `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(b))
	}
	if resp.StatusCode == http.StatusConflict {
		return nil, fmt.Errorf("%s %s: %w (%s)", method, path, ErrLeaseLost, e.Error)
	}
	return nil, fmt.Errorf("%s %s: %w", method, path, &StatusError{Code: resp.StatusCode, Message: e.Error})
}

// isStatus reports whether err is a StatusError with code.
func isStatus(err error, code int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == code
}

// Register registers an agent with the server using a registration token (scope register),
// and returns the agent's id and its own token, which the server shows only this once.
func Register(ctx context.Context, server, registrationToken, name string, labels []string, parallel int) (agentID int64, token string, err error) {
	c := NewClient(server, registrationToken)
	var out struct {
		AgentID int64  `json:"agent_id"`
		Token   string `json:"token"`
	}
	in := map[string]any{"name": name, "labels": labels, "parallel": parallel, "version": ""}
	if _, err := c.call(ctx, http.MethodPost, "/api/v1/agent/register", in, &out); err != nil {
		return 0, "", fmt.Errorf("registering agent %s: %w", name, err)
	}
	return out.AgentID, out.Token, nil
}

func decodeJSON(r io.Reader, v any) error {
	if err := json.NewDecoder(r).Decode(v); err != nil {
		return fmt.Errorf("decoding answer: %w", err)
	}
	return nil
}

// IsUnauthorized says whether err is the server refusing the agent's
// credential.
func IsUnauthorized(err error) bool { return isStatus(err, http.StatusUnauthorized) }
