package forge

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type recorded struct {
	Method, EscapedPath string
	Header              map[string]string
	Body                map[string]string
}

// statusServer records one request and answers with code and reply.
func statusServer(t *testing.T, code int, reply string) (*httptest.Server, *recorded) {
	t.Helper()
	rec := &recorded{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.Method, rec.EscapedPath = r.Method, r.URL.EscapedPath()
		rec.Header = map[string]string{}
		for _, k := range []string{"Authorization", "Private-Token", "Content-Type", "Accept", "X-Github-Api-Version"} {
			if v := r.Header.Get(k); v != "" {
				rec.Header[k] = v
			}
		}
		data, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(data, &rec.Body); err != nil {
			t.Errorf("request body %q: %v", data, err)
		}
		w.WriteHeader(code)
		io.WriteString(w, reply)
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

const sha = "6dcb09b5b57875f334f61aebed695e2e4193db5e"

func TestSetStatus(t *testing.T) {
	st := Status{SHA: sha, Context: "sluice/ci", Description: "3 jobs passed", TargetURL: "https://ci.example.com/runs/9", State: Success}
	tests := []struct {
		name   string
		kind   Kind
		prefix string
		repo   string
		status Status
		want   recorded
	}{
		{
			name: "github", kind: GitHub, repo: "octo-org/demo", status: st,
			want: recorded{
				Method: "POST", EscapedPath: "/repos/octo-org/demo/statuses/" + sha,
				Header: map[string]string{"Authorization": "Bearer tok", "Content-Type": "application/json", "Accept": "application/vnd.github+json", "X-Github-Api-Version": "2022-11-28"},
				Body:   map[string]string{"state": "success", "context": "sluice/ci", "description": "3 jobs passed", "target_url": "https://ci.example.com/runs/9"},
			},
		},
		{
			name: "gitea", kind: Gitea, prefix: "/api/v1", repo: "gitea/webhooks", status: Status{SHA: sha, Context: "sluice/ci", State: Failure},
			want: recorded{
				Method: "POST", EscapedPath: "/api/v1/repos/gitea/webhooks/statuses/" + sha,
				Header: map[string]string{"Authorization": "token tok", "Content-Type": "application/json", "Accept": "application/json"},
				Body:   map[string]string{"state": "failure", "context": "sluice/ci"},
			},
		},
		{
			name: "gitlab nested group", kind: GitLab, prefix: "/api/v4", repo: "group/sub/project",
			status: Status{SHA: sha, Context: "sluice/test", Description: "running", TargetURL: "https://ci.example.com/runs/10", State: Pending},
			want: recorded{
				Method: "POST", EscapedPath: "/api/v4/projects/group%2Fsub%2Fproject/statuses/" + sha,
				Header: map[string]string{"Private-Token": "tok", "Content-Type": "application/json", "Accept": "application/json"},
				Body:   map[string]string{"state": "running", "name": "sluice/test", "description": "running", "target_url": "https://ci.example.com/runs/10"},
			},
		},
		{
			name: "gitlab error is canceled", kind: GitLab, repo: "g/p", status: Status{SHA: sha, Context: "sluice/ci", State: Error},
			want: recorded{
				Method: "POST", EscapedPath: "/projects/g%2Fp/statuses/" + sha,
				Header: map[string]string{"Private-Token": "tok", "Content-Type": "application/json", "Accept": "application/json"},
				Body:   map[string]string{"state": "canceled", "name": "sluice/ci"},
			},
		},
		{
			name: "default context and long description", kind: GitHub, repo: "o/r",
			status: Status{SHA: sha, Description: strings.Repeat("é", 200), State: Pending},
			want: recorded{
				Method: "POST", EscapedPath: "/repos/o/r/statuses/" + sha,
				Header: map[string]string{"Authorization": "Bearer tok", "Content-Type": "application/json", "Accept": "application/vnd.github+json", "X-Github-Api-Version": "2022-11-28"},
				Body:   map[string]string{"state": "pending", "context": "sluice", "description": strings.Repeat("é", 139) + "…"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, rec := statusServer(t, http.StatusCreated, `{"id":1}`)
			c := &Client{Kind: tt.kind, BaseURL: srv.URL + tt.prefix + "/", Token: "tok", HTTP: srv.Client()}
			if err := c.SetStatus(context.Background(), tt.repo, tt.status); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, *rec); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetStatusErrors(t *testing.T) {
	t.Run("http error carries the forge's message", func(t *testing.T) {
		srv, _ := statusServer(t, http.StatusNotFound, `{"message":"Not Found"}`)
		c := &Client{Kind: GitHub, BaseURL: srv.URL, Token: "tok"}
		err := c.SetStatus(context.Background(), "o/r", Status{SHA: sha, State: Success})
		if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "Not Found") {
			t.Fatalf("err = %v, want the 404 and its message", err)
		}
		if strings.Contains(err.Error(), "tok") {
			t.Errorf("error %q contains the token", err)
		}
	})
	t.Run("gitlab same-state transition is not an error", func(t *testing.T) {
		srv, _ := statusServer(t, http.StatusBadRequest, `{"message":"Cannot transition status via :run from :running"}`)
		c := &Client{Kind: GitLab, BaseURL: srv.URL, Token: "tok"}
		if err := c.SetStatus(context.Background(), "g/p", Status{SHA: sha, State: Pending}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("gitlab other 400 is an error", func(t *testing.T) {
		srv, _ := statusServer(t, http.StatusBadRequest, `{"message":"state is invalid"}`)
		c := &Client{Kind: GitLab, BaseURL: srv.URL, Token: "tok"}
		if err := c.SetStatus(context.Background(), "g/p", Status{SHA: sha, State: Pending}); err == nil {
			t.Fatal("want an error")
		}
	})

	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls++ }))
	defer srv.Close()
	invalid := []struct {
		name string
		c    Client
		repo string
		s    Status
	}{
		{"short sha", Client{Kind: GitHub, BaseURL: srv.URL}, "o/r", Status{SHA: "abc123", State: Success}},
		{"sha with path", Client{Kind: GitHub, BaseURL: srv.URL}, "o/r", Status{SHA: "../../" + sha[6:], State: Success}},
		{"unknown state", Client{Kind: GitHub, BaseURL: srv.URL}, "o/r", Status{SHA: sha, State: "done"}},
		{"unknown gitlab state", Client{Kind: GitLab, BaseURL: srv.URL}, "g/p", Status{SHA: sha, State: "done"}},
		{"repo without owner", Client{Kind: Gitea, BaseURL: srv.URL}, "repo", Status{SHA: sha, State: Success}},
		{"repo with three parts", Client{Kind: GitHub, BaseURL: srv.URL}, "a/b/c", Status{SHA: sha, State: Success}},
		{"no base url", Client{Kind: GitHub}, "o/r", Status{SHA: sha, State: Success}},
		{"unknown forge", Client{Kind: "svn", BaseURL: srv.URL}, "o/r", Status{SHA: sha, State: Success}},
	}
	for _, tt := range invalid {
		if err := tt.c.SetStatus(context.Background(), tt.repo, tt.s); err == nil {
			t.Errorf("%s: SetStatus succeeded", tt.name)
		}
	}
	if calls != 0 {
		t.Errorf("invalid statuses made %d requests", calls)
	}
}

func TestAPIBaseURL(t *testing.T) {
	tests := []struct {
		kind       Kind
		html, full string
		want       string
		wantErr    bool
	}{
		{GitHub, "https://github.com/octo-org/demo", "octo-org/demo", "https://api.github.com", false},
		{GitHub, "https://ghe.example.com/octo-org/demo", "octo-org/demo", "https://ghe.example.com/api/v3", false},
		{Gitea, "http://localhost:3000/gitea/webhooks", "gitea/webhooks", "http://localhost:3000/api/v1", false},
		{Gitea, "https://example.com/git/gitea/webhooks/", "gitea/webhooks", "https://example.com/git/api/v1", false},
		{GitLab, "http://example.com/group/sub/project", "group/sub/project", "http://example.com/api/v4", false},
		{GitLab, "http://example.com/other/project", "group/project", "", true},
		{GitLab, "git@example.com:group/project.git", "group/project", "", true},
	}
	for _, tt := range tests {
		got, err := APIBaseURL(tt.kind, tt.html, tt.full)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("APIBaseURL(%s, %q, %q) = %q, %v; want %q (error %v)", tt.kind, tt.html, tt.full, got, err, tt.want, tt.wantErr)
		}
	}
}
