package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/store"
)

// Logs returns up to limit (0: the server's default) lines of job jobID
// after seq after.
func (c *Client) Logs(ctx context.Context, jobID, after int64, limit int) ([]store.LogLine, error) {
	path := fmt.Sprintf("/api/v1/jobs/%d/logs%s", jobID, query("after", itoa(after), "limit", itoa(int64(limit))))
	req, err := c.request(ctx, "GET", path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []store.LogLine
	dec := json.NewDecoder(resp.Body)
	for {
		var l store.LogLine
		if err := dec.Decode(&l); err == io.EOF {
			return out, nil
		} else if err != nil {
			return out, fmt.Errorf("reading the log of job %d: %w", jobID, err)
		}
		out = append(out, l)
	}
}

// LogEnd is how a followed job ended.
type LogEnd struct {
	Status     string `json:"status"`
	Conclusion string `json:"conclusion"`
	Last       int64  `json:"last"`
}

// followRetry is the pause before reconnecting a stream that broke.
const followRetry = time.Second

// FollowLogs calls fn with each line of job jobID after seq after as it
// arrives, until the job is completed and every line was delivered. A
// broken stream is resumed after the last line seen (Last-Event-ID), so
// fn sees each line once and in order. It returns when the context ends
// (with its error), when fn fails, or on an error answer of the server.
func (c *Client) FollowLogs(ctx context.Context, jobID, after int64, fn func(store.LogLine) error) (*LogEnd, error) {
	last := after
	for {
		end, err := c.followOnce(ctx, jobID, &last, fn)
		if err == nil {
			return end, nil
		}
		var fnErr *callbackError
		if errors.As(err, &fnErr) {
			return nil, fnErr.err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var apiErr *Error
		if errors.As(err, &apiErr) {
			return nil, err
		}
		select {
		case <-time.After(followRetry):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }

// followOnce reads one SSE connection; it returns a nil end and a non-nil
// error when the stream broke before its end event.
func (c *Client) followOnce(ctx context.Context, jobID int64, last *int64, fn func(store.LogLine) error) (*LogEnd, error) {
	req, err := c.request(ctx, "GET", fmt.Sprintf("/api/v1/jobs/%d/logs/stream", jobID), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if *last > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(*last, 10))
	}
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	var event, data string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("following the log of job %d: %w", jobID, err)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			switch event {
			case "", "message":
				if data != "" {
					var l store.LogLine
					if err := json.Unmarshal([]byte(data), &l); err != nil {
						return nil, fmt.Errorf("following the log of job %d: bad line %q: %w", jobID, data, err)
					}
					if l.Seq > *last {
						*last = l.Seq
						if err := fn(l); err != nil {
							return nil, &callbackError{err}
						}
					}
				}
			case "end":
				var end LogEnd
				if err := json.Unmarshal([]byte(data), &end); err != nil {
					return nil, fmt.Errorf("following the log of job %d: bad end %q: %w", jobID, data, err)
				}
				return &end, nil
			case "error":
				return nil, &Error{Method: "GET", Path: req.URL.Path, Status: 410, Message: data}
			}
			event, data = "", ""
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(line[len("event:"):])
		case strings.HasPrefix(line, "data:"):
			d := strings.TrimPrefix(line[len("data:"):], " ")
			if data != "" {
				data += "\n"
			}
			data += d
		}
	}
}
