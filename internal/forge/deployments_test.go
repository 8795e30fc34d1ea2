package forge

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluice-ci/sluice/internal/cd"
)

// apiCall is one request a fake forge received.
type apiCall struct {
	Method, Path string
	Auth         string // Authorization or PRIVATE-TOKEN
	Body         map[string]any
}

// fakeForge records every request and answers each with code and reply.
func fakeForge(t *testing.T, code int, reply string) (*httptest.Server, func() []apiCall) {
	t.Helper()
	var mu sync.Mutex
	var calls []apiCall
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := apiCall{Method: r.Method, Path: r.URL.EscapedPath(), Auth: r.Header.Get("Authorization") + r.Header.Get("Private-Token")}
		data, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(data, &c.Body); err != nil {
			t.Errorf("request body %q: %v", data, err)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		mu.Lock()
		calls = append(calls, c)
		mu.Unlock()
		w.WriteHeader(code)
		io.WriteString(w, reply)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []apiCall { mu.Lock(); defer mu.Unlock(); return append([]apiCall(nil), calls...) }
}

const deploySHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"

func TestCreateDeployment(t *testing.T) {
	d := Deployment{Repo: "octo-org/demo", SHA: deploySHA, Ref: "refs/heads/main", Environment: "production",
		Description: "release sha256:abc", Production: true}
	tests := []struct {
		name   string
		kind   Kind
		prefix string
		d      Deployment
		code   int
		reply  string
		wantID int64
		want   []apiCall
	}{
		{
			name: "github", kind: GitHub, d: d, code: 201, reply: `{"id": 1234, "sha": "` + deploySHA + `"}`, wantID: 1234,
			want: []apiCall{{Method: "POST", Path: "/repos/octo-org/demo/deployments", Auth: "Bearer tok", Body: map[string]any{
				"ref": deploySHA, "environment": "production", "auto_merge": false, "required_contexts": []any{},
				"description": "release sha256:abc", "transient_environment": false, "production_environment": true,
			}}},
		},
		{
			name: "github preview", kind: GitHub, prefix: "/api/v3", code: 201, reply: `{"id": 7}`, wantID: 7,
			d: Deployment{Repo: "octo-org/demo", SHA: deploySHA, Ref: "refs/pull/3/merge", Environment: "pr-3", Transient: true},
			want: []apiCall{{Method: "POST", Path: "/api/v3/repos/octo-org/demo/deployments", Auth: "Bearer tok", Body: map[string]any{
				"ref": deploySHA, "environment": "pr-3", "auto_merge": false, "required_contexts": []any{},
				"description": "", "transient_environment": true, "production_environment": false,
			}}},
		},
		{
			name: "gitlab tag", kind: GitLab, prefix: "/api/v4", code: 201, reply: `{"id": 42, "iid": 2, "status": "created"}`, wantID: 42,
			d: Deployment{Repo: "group/sub/app", SHA: deploySHA, Ref: "refs/tags/v1.4.2", Environment: "production"},
			want: []apiCall{{Method: "POST", Path: "/api/v4/projects/group%2Fsub%2Fapp/deployments", Auth: "tok", Body: map[string]any{
				"environment": "production", "sha": deploySHA, "ref": "v1.4.2", "tag": true, "status": "created",
			}}},
		},
		{
			name: "gitlab branch", kind: GitLab, prefix: "/api/v4", code: 201, reply: `{"id": 43}`, wantID: 43,
			d: Deployment{Repo: "group/app", SHA: deploySHA, Ref: "refs/heads/main", Environment: "staging"},
			want: []apiCall{{Method: "POST", Path: "/api/v4/projects/group%2Fapp/deployments", Auth: "tok", Body: map[string]any{
				"environment": "staging", "sha": deploySHA, "ref": "main", "tag": false, "status": "created",
			}}},
		},
		{
			name: "gitea falls back to a commit status", kind: Gitea, prefix: "/api/v1", d: d, code: 201, reply: `{"id": 99}`, wantID: 0,
			want: []apiCall{{Method: "POST", Path: "/api/v1/repos/octo-org/demo/statuses/" + deploySHA, Auth: "token tok", Body: map[string]any{
				"state": "pending", "context": "deploy/production", "description": "release sha256:abc",
			}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls := fakeForge(t, tt.code, tt.reply)
			c := &Client{Kind: tt.kind, BaseURL: srv.URL + tt.prefix, Token: "tok"}
			id, err := c.CreateDeployment(context.Background(), tt.d)
			if err != nil {
				t.Fatalf("CreateDeployment: %v", err)
			}
			if id != tt.wantID {
				t.Errorf("id = %d, want %d", id, tt.wantID)
			}
			if diff := cmp.Diff(tt.want, calls()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetDeploymentStatus(t *testing.T) {
	tests := []struct {
		name   string
		kind   Kind
		prefix string
		repo   string
		st     DeploymentStatus
		want   []apiCall // nil: no request
	}{
		{
			name: "github success", kind: GitHub, repo: "octo-org/demo",
			st: DeploymentStatus{State: cd.StateSuccess, Environment: "production", EnvironmentURL: "https://app.example.com",
				LogURL: "https://ci.example.com/runs/9", Description: "deployed release 1.4.2"},
			want: []apiCall{{Method: "POST", Path: "/repos/octo-org/demo/deployments/1234/statuses", Auth: "Bearer tok", Body: map[string]any{
				"state": "success", "environment": "production", "environment_url": "https://app.example.com",
				"log_url": "https://ci.example.com/runs/9", "description": "deployed release 1.4.2",
			}}},
		},
		{
			name: "github waiting is pending", kind: GitHub, repo: "octo-org/demo", st: DeploymentStatus{State: cd.StateWaiting},
			want: []apiCall{{Method: "POST", Path: "/repos/octo-org/demo/deployments/1234/statuses", Auth: "Bearer tok",
				Body: map[string]any{"state": "pending"}}},
		},
		{
			name: "github inactive", kind: GitHub, repo: "octo-org/demo", st: DeploymentStatus{State: cd.StateInactive},
			want: []apiCall{{Method: "POST", Path: "/repos/octo-org/demo/deployments/1234/statuses", Auth: "Bearer tok",
				Body: map[string]any{"state": "inactive"}}},
		},
		{
			name: "gitlab in progress", kind: GitLab, prefix: "/api/v4", repo: "group/app", st: DeploymentStatus{State: cd.StateInProgress},
			want: []apiCall{{Method: "PUT", Path: "/api/v4/projects/group%2Fapp/deployments/1234", Auth: "tok", Body: map[string]any{"status": "running"}}},
		},
		{
			name: "gitlab error is failed", kind: GitLab, prefix: "/api/v4", repo: "group/app", st: DeploymentStatus{State: cd.StateError},
			want: []apiCall{{Method: "PUT", Path: "/api/v4/projects/group%2Fapp/deployments/1234", Auth: "tok", Body: map[string]any{"status": "failed"}}},
		},
		{
			name: "gitlab inactive is canceled", kind: GitLab, prefix: "/api/v4", repo: "group/app", st: DeploymentStatus{State: cd.StateInactive},
			want: []apiCall{{Method: "PUT", Path: "/api/v4/projects/group%2Fapp/deployments/1234", Auth: "tok", Body: map[string]any{"status": "canceled"}}},
		},
		{
			name: "gitlab cannot go back to created", kind: GitLab, prefix: "/api/v4", repo: "group/app", st: DeploymentStatus{State: cd.StateWaiting},
		},
		{
			name: "gitea success shows the environment", kind: Gitea, prefix: "/api/v1", repo: "org/app",
			st: DeploymentStatus{State: cd.StateSuccess, Environment: "staging", SHA: deploySHA,
				EnvironmentURL: "https://staging.example.com", LogURL: "https://ci.example.com/runs/9"},
			want: []apiCall{{Method: "POST", Path: "/api/v1/repos/org/app/statuses/" + deploySHA, Auth: "token tok", Body: map[string]any{
				"state": "success", "context": "deploy/staging", "description": "deployment to staging: success",
				"target_url": "https://staging.example.com",
			}}},
		},
		{
			name: "gitea failure links the log", kind: Gitea, prefix: "/api/v1", repo: "org/app",
			st: DeploymentStatus{State: cd.StateFailure, Environment: "staging", SHA: deploySHA, Description: "health check failed",
				EnvironmentURL: "https://staging.example.com", LogURL: "https://ci.example.com/runs/9"},
			want: []apiCall{{Method: "POST", Path: "/api/v1/repos/org/app/statuses/" + deploySHA, Auth: "token tok", Body: map[string]any{
				"state": "failure", "context": "deploy/staging", "description": "health check failed",
				"target_url": "https://ci.example.com/runs/9",
			}}},
		},
		{
			name: "gitea in progress", kind: Gitea, prefix: "/api/v1", repo: "org/app",
			st: DeploymentStatus{State: cd.StateInProgress, Environment: "staging", SHA: deploySHA},
			want: []apiCall{{Method: "POST", Path: "/api/v1/repos/org/app/statuses/" + deploySHA, Auth: "token tok", Body: map[string]any{
				"state": "pending", "context": "deploy/staging", "description": "deployment to staging: in progress",
			}}},
		},
		{
			name: "gitea inactive leaves the commit alone", kind: Gitea, prefix: "/api/v1", repo: "org/app",
			st: DeploymentStatus{State: cd.StateInactive, Environment: "staging", SHA: deploySHA},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := http.StatusCreated
			if tt.kind == GitLab {
				code = http.StatusOK
			}
			srv, calls := fakeForge(t, code, `{"id": 5}`)
			c := &Client{Kind: tt.kind, BaseURL: srv.URL + tt.prefix, Token: "tok"}
			if err := c.SetDeploymentStatus(context.Background(), tt.repo, 1234, tt.st); err != nil {
				t.Fatalf("SetDeploymentStatus: %v", err)
			}
			if diff := cmp.Diff(tt.want, calls()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeploymentErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("forge refuses", func(t *testing.T) {
		srv, _ := fakeForge(t, http.StatusConflict, `{"message":"Conflict: Commit status checks failed for main."}`)
		c := &Client{Kind: GitHub, BaseURL: srv.URL, Token: "tok"}
		_, err := c.CreateDeployment(ctx, Deployment{Repo: "o/r", SHA: deploySHA, Environment: "production"})
		if err == nil || !strings.Contains(err.Error(), "409") || !strings.Contains(err.Error(), "Commit status checks failed") {
			t.Errorf("CreateDeployment = %v, want the 409 and GitHub's message", err)
		}
	})
	t.Run("auto merge answer is not a deployment", func(t *testing.T) {
		srv, _ := fakeForge(t, http.StatusAccepted, `{"message":"Auto-merged main into topic on deployment."}`)
		c := &Client{Kind: GitHub, BaseURL: srv.URL, Token: "tok"}
		if _, err := c.CreateDeployment(ctx, Deployment{Repo: "o/r", SHA: deploySHA, Environment: "production"}); err == nil {
			t.Error("CreateDeployment accepted a 202")
		}
	})
	srv, calls := fakeForge(t, http.StatusCreated, `{"id": 1}`)
	bad := []struct {
		name string
		c    *Client
		run  func(c *Client) error
	}{
		{"bad sha", &Client{Kind: GitHub, BaseURL: srv.URL}, func(c *Client) error {
			_, err := c.CreateDeployment(ctx, Deployment{Repo: "o/r", SHA: "main", Environment: "production"})
			return err
		}},
		{"no environment", &Client{Kind: GitHub, BaseURL: srv.URL}, func(c *Client) error {
			_, err := c.CreateDeployment(ctx, Deployment{Repo: "o/r", SHA: deploySHA})
			return err
		}},
		{"repo not owner/name", &Client{Kind: GitHub, BaseURL: srv.URL}, func(c *Client) error {
			_, err := c.CreateDeployment(ctx, Deployment{Repo: "o/r/x", SHA: deploySHA, Environment: "e"})
			return err
		}},
		{"unknown state", &Client{Kind: GitHub, BaseURL: srv.URL}, func(c *Client) error {
			return c.SetDeploymentStatus(ctx, "o/r", 1, DeploymentStatus{State: "done"})
		}},
		{"gitea without environment", &Client{Kind: Gitea, BaseURL: srv.URL}, func(c *Client) error {
			return c.SetDeploymentStatus(ctx, "o/r", 0, DeploymentStatus{State: cd.StateSuccess, SHA: deploySHA})
		}},
		{"gitea without sha", &Client{Kind: Gitea, BaseURL: srv.URL}, func(c *Client) error {
			return c.SetDeploymentStatus(ctx, "o/r", 0, DeploymentStatus{State: cd.StateSuccess, Environment: "e"})
		}},
		{"no base url", &Client{Kind: GitLab}, func(c *Client) error {
			return c.SetDeploymentStatus(ctx, "g/p", 1, DeploymentStatus{State: cd.StateSuccess})
		}},
	}
	for _, b := range bad {
		if err := b.run(b.c); err == nil {
			t.Errorf("%s: no error", b.name)
		}
	}
	if got := calls(); len(got) != 0 {
		t.Errorf("invalid calls reached the forge: %+v", got)
	}
}
