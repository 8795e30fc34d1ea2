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
)

// TestOpenPullRequest opens a pull request on each forge's API shape, and refreshes the one
// already open from the branch when the forge refuses a second.
func TestOpenPullRequest(t *testing.T) {
	type call struct{ Method, Path, Auth, Body string }
	cases := []struct {
		kind     Kind
		exists   int // status the create call answers when a pull request is open already
		want     []call
		wantPull OpenedPull
	}{
		{GitHub, 0, []call{{"POST", "/repos/acme/app/pulls", "Bearer tok", `{"base":"main","body":"b","head":"sluice/deps/all","title":"t"}`}},
			OpenedPull{Number: 7, URL: "https://forge/acme/app/pull/7"}},
		{GitHub, http.StatusUnprocessableEntity, []call{
			{"POST", "/repos/acme/app/pulls", "Bearer tok", `{"base":"main","body":"b","head":"sluice/deps/all","title":"t"}`},
			{"GET", "/repos/acme/app/pulls?state=open&head=acme%3Asluice%2Fdeps%2Fall", "Bearer tok", ""},
			{"PATCH", "/repos/acme/app/pulls/3", "Bearer tok", `{"body":"b","title":"t"}`},
		}, OpenedPull{Number: 3, URL: "https://forge/acme/app/pull/3"}},
		{Gitea, http.StatusConflict, []call{
			{"POST", "/repos/acme/app/pulls", "token tok", `{"base":"main","body":"b","head":"sluice/deps/all","title":"t"}`},
			{"GET", "/repos/acme/app/pulls?state=open&limit=50", "token tok", ""},
			{"PATCH", "/repos/acme/app/pulls/3", "token tok", `{"body":"b","title":"t"}`},
		}, OpenedPull{Number: 3, URL: "https://forge/acme/app/pull/3"}},
		{GitLab, 0, []call{{"POST", "/projects/acme%2Fapp/merge_requests", "PRIVATE-TOKEN tok",
			`{"description":"b","remove_source_branch":true,"source_branch":"sluice/deps/all","target_branch":"main","title":"t"}`}},
			OpenedPull{Number: 9, URL: "https://forge/acme/app/-/merge_requests/9"}},
		{GitLab, http.StatusConflict, []call{
			{"POST", "/projects/acme%2Fapp/merge_requests", "PRIVATE-TOKEN tok", `{"description":"b","remove_source_branch":true,"source_branch":"sluice/deps/all","target_branch":"main","title":"t"}`},
			{"GET", "/projects/acme%2Fapp/merge_requests?state=opened&source_branch=sluice%2Fdeps%2Fall", "PRIVATE-TOKEN tok", ""},
			{"PUT", "/projects/acme%2Fapp/merge_requests/4", "PRIVATE-TOKEN tok", `{"description":"b","title":"t"}`},
		}, OpenedPull{Number: 4, URL: "https://forge/acme/app/-/merge_requests/4"}},
	}
	for _, c := range cases {
		t.Run(string(c.kind), func(t *testing.T) {
			var mu sync.Mutex
			var got []call
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				auth := r.Header.Get("Authorization")
				if tok := r.Header.Get("PRIVATE-TOKEN"); tok != "" {
					auth = "PRIVATE-TOKEN " + tok
				}
				mu.Lock()
				got = append(got, call{r.Method, r.URL.RequestURI(), auth, string(b)})
				mu.Unlock()
				switch {
				case r.Method == "POST" && c.exists != 0:
					w.WriteHeader(c.exists)
					w.Write([]byte(`{"message":"exists"}`))
				case r.Method == "POST" && c.kind == GitLab:
					w.WriteHeader(http.StatusCreated)
					json.NewEncoder(w).Encode(map[string]any{"iid": 9, "web_url": "https://forge/acme/app/-/merge_requests/9"})
				case r.Method == "POST":
					w.WriteHeader(http.StatusCreated)
					json.NewEncoder(w).Encode(map[string]any{"number": 7, "html_url": "https://forge/acme/app/pull/7"})
				case r.Method == "GET" && c.kind == GitLab:
					json.NewEncoder(w).Encode([]map[string]any{{"iid": 4, "web_url": "https://forge/acme/app/-/merge_requests/4", "source_branch": "sluice/deps/all"}})
				case r.Method == "GET":
					json.NewEncoder(w).Encode([]map[string]any{
						{"number": 2, "html_url": "https://forge/acme/app/pull/2", "head": map[string]any{"ref": "other"}},
						{"number": 3, "html_url": "https://forge/acme/app/pull/3", "head": map[string]any{"ref": "sluice/deps/all"}},
					})
				default:
					w.Write([]byte(`{}`))
				}
			}))
			defer srv.Close()
			cl := &Client{Kind: c.kind, BaseURL: srv.URL, Token: "tok"}
			pr, err := cl.OpenPullRequest(context.Background(), "acme/app", PullRequest{Title: "t", Body: "b", Head: "sluice/deps/all", Base: "main"})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(c.wantPull, *pr); d != "" {
				t.Errorf("pull (-want +got):\n%s", d)
			}
			for i := range got {
				got[i].Body = strings.TrimSpace(got[i].Body)
			}
			if d := cmp.Diff(c.want, got); d != "" {
				t.Errorf("calls (-want +got):\n%s", d)
			}
		})
	}
}

// TestOpenPullRequestRefusesOddBranches: a branch name reaches a URL and a JSON body; one
// that is not a plain branch name is refused before any call.
func TestOpenPullRequestRefusesOddBranches(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls++ }))
	defer srv.Close()
	cl := &Client{Kind: GitHub, BaseURL: srv.URL, Token: "tok"}
	for _, head := range []string{"--upload-pack=x", "a/../../b", "a b", "x\ny", ""} {
		if _, err := cl.OpenPullRequest(context.Background(), "acme/app", PullRequest{Title: "t", Head: head, Base: "main"}); err == nil {
			t.Errorf("head %q accepted", head)
		}
	}
	if calls != 0 {
		t.Errorf("%d calls made", calls)
	}
}
