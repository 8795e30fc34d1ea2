package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// The API's JSON, only the fields the benchmark reads.
type (
	apiRun struct {
		ID         int64      `json:"id"`
		Status     string     `json:"status"`
		Conclusion string     `json:"conclusion"`
		QueuedAt   time.Time  `json:"queued_at"`
		StartedAt  *time.Time `json:"started_at"`
		FinishedAt *time.Time `json:"finished_at"`
	}
	apiStep struct {
		Number     int        `json:"number"`
		Name       string     `json:"name"`
		StartedAt  *time.Time `json:"started_at"`
		FinishedAt *time.Time `json:"finished_at"`
	}
	apiJob struct {
		ID         int64      `json:"id"`
		Key        string     `json:"key"`
		Status     string     `json:"status"`
		Conclusion string     `json:"conclusion"`
		Reason     string     `json:"reason"`
		AgentID    *int64     `json:"agent_id"`
		CreatedAt  time.Time  `json:"created_at"`
		QueuedAt   *time.Time `json:"queued_at"`
		StartedAt  *time.Time `json:"started_at"`
		FinishedAt *time.Time `json:"finished_at"`
		Steps      []apiStep  `json:"steps"`
	}
	apiRunDetail struct {
		Run  apiRun   `json:"run"`
		Jobs []apiJob `json:"jobs"`
	}
	apiAgent struct {
		ID       int64      `json:"id"`
		Name     string     `json:"name"`
		LastSeen *time.Time `json:"last_seen"`
	}
	hookReply struct {
		DeliveryID int64   `json:"delivery_id"`
		Runs       []int64 `json:"runs"`
	}
)

// client talks to one server as the admin.
type client struct {
	base, token string
	http        *http.Client
}

func (c *client) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: reading the body: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: decoding: %w", path, err)
	}
	return nil
}

func (c *client) run(ctx context.Context, id int64) (*apiRunDetail, error) {
	var d apiRunDetail
	if err := c.get(ctx, fmt.Sprintf("/api/v1/runs/%d", id), &d); err != nil {
		return nil, err
	}
	return &d, nil
}

func (c *client) agents(ctx context.Context) ([]apiAgent, error) {
	var out struct {
		Agents []apiAgent `json:"agents"`
	}
	err := c.get(ctx, "/api/v1/agents", &out)
	return out.Agents, err
}

// firstLog is the time of a job's first log line: the engine's "sluice
// VERSION on OS" line, written once the checkout is done.
func (c *client) firstLog(ctx context.Context, jobID int64) (time.Time, error) {
	path := fmt.Sprintf("/api/v1/jobs/%d/logs?limit=1", jobID)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return time.Time{}, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return time.Time{}, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return time.Time{}, fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	var line struct {
		Time time.Time `json:"time"`
		Text string    `json:"text"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&line); err != nil {
		return time.Time{}, fmt.Errorf("GET %s: decoding the first line: %w", path, err)
	}
	return line.Time, nil
}

// signature is GitHub's X-Hub-Signature-256 value for body.
func signature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// hookRuns posts a delivery that must start exactly want runs.
func (c *client) hookRuns(ctx context.Context, repo, secret, delivery string, body []byte, want int) (reply hookReply, sent time.Time, took time.Duration, err error) {
	reply, sent, took, err = c.hook(ctx, repo, secret, delivery, body)
	if err == nil && len(reply.Runs) != want {
		err = fmt.Errorf("webhook %s started runs %v, want %d", delivery, reply.Runs, want)
	}
	return reply, sent, took, err
}

// hook posts a signed GitHub push delivery for repo and returns when the
// server answered: sent is the moment just before the request went out.
func (c *client) hook(ctx context.Context, repo, secret, delivery string, body []byte) (reply hookReply, sent time.Time, took time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/hooks/github?repo="+repo, bytes.NewReader(body))
	if err != nil {
		return hookReply{}, time.Time{}, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", signature(secret, body))
	sent = time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return hookReply{}, sent, 0, fmt.Errorf("posting webhook %s: %w", delivery, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	took = time.Since(sent)
	if err != nil {
		return hookReply{}, sent, took, fmt.Errorf("reading the reply to webhook %s: %w", delivery, err)
	}
	if resp.StatusCode != http.StatusAccepted {
		return hookReply{}, sent, took, fmt.Errorf("webhook %s: %s: %s", delivery, resp.Status, bytes.TrimSpace(b))
	}
	if err := json.Unmarshal(b, &reply); err != nil {
		return hookReply{}, sent, took, fmt.Errorf("decoding the reply to webhook %s: %w", delivery, err)
	}
	return reply, sent, took, nil
}
