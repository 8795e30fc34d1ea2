package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/store"
)

func TestAPIReproChecks(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()
	repo, err := e.db.CreateRepo(ctx, store.Repo{Name: "demo", URL: "file:///srv/demo"})
	if err != nil {
		t.Fatal(err)
	}
	rel, err := cd.NewRelease(cd.ReleaseSource{Commit: "abc", Ref: "refs/heads/main"},
		[]cd.Artifact{{Name: "demo-1-py3-none-any.whl", Digest: "sha256:" + strings.Repeat("ab", 32), Size: 1}}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.db.CreateRelease(ctx, repo.ID, rel); err != nil {
		t.Fatal(err)
	}
	writer, reader := e.token("ci-bot", store.ScopeWrite), e.token("viewer", store.ScopeRead)
	url := "/api/v1/releases/" + rel.ID + "/repro"

	var list []store.ReproCheck
	e.mustDo(http.StatusOK, "GET", url, reader, nil, &list)
	if list == nil || len(list) != 0 {
		t.Errorf("checks before any = %#v, want []", list)
	}

	var first, second store.ReproCheck
	e.mustDo(http.StatusCreated, "POST", url, writer,
		ReproInput{Differ: []string{"demo-1-py3-none-any.whl"}, Detail: "wheel embeds the build path"}, &first)
	want := store.ReproCheck{ReleaseID: rel.ID, Differ: []string{"demo-1-py3-none-any.whl"}, Detail: "wheel embeds the build path", By: "ci-bot"}
	ignore := cmpopts.IgnoreFields(store.ReproCheck{}, "ID", "Created")
	if d := cmp.Diff(want, first, ignore); d != "" || first.ID == 0 || first.Created.IsZero() {
		t.Errorf("POST (-want +got):\n%s", d)
	}
	// The ID works without its "sha256:" prefix too: it is a path segment people type.
	e.mustDo(http.StatusCreated, "POST", "/api/v1/releases/"+strings.TrimPrefix(rel.ID, "sha256:")+"/repro", e.admin,
		map[string]any{"identical": true}, &second)
	if !second.Identical || second.By != "test-admin" || second.Differ == nil {
		t.Errorf("second check = %+v", second)
	}
	e.mustDo(http.StatusOK, "GET", url, reader, nil, &list)
	if d := cmp.Diff([]store.ReproCheck{second, first}, list); d != "" {
		t.Errorf("GET newest first (-want +got):\n%s", d)
	}

	unknown := "/api/v1/releases/sha256:" + strings.Repeat("0", 64) + "/repro"
	for _, tt := range []struct {
		name, method, path, token string
		body                      any
		want                      int
		msg                       string
	}{
		{"read token cannot record", "POST", url, reader, ReproInput{Identical: true}, http.StatusForbidden, "scope write"},
		{"no token", "GET", url, "", nil, http.StatusUnauthorized, "authentication required"},
		{"unknown release GET", "GET", unknown, reader, nil, http.StatusNotFound, "not found"},
		{"unknown release POST", "POST", unknown, writer, ReproInput{Identical: true}, http.StatusNotFound, "not found"},
		{"a prefix is not an ID", "GET", "/api/v1/releases/" + rel.ID[:14] + "/repro", reader, nil, http.StatusBadRequest, "want its full ID"},
		{"identical and differ", "POST", url, writer, ReproInput{Identical: true, Differ: []string{"x.whl"}}, http.StatusBadRequest, "cannot be identical"},
		{"unknown field", "POST", url, writer, `{"identical": true, "files": []}`, http.StatusBadRequest, "unknown field"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, body := e.do(tt.method, tt.path, tt.token, tt.body)
			var er struct{ Error string }
			json.Unmarshal(body, &er)
			if code != tt.want || !strings.Contains(er.Error, tt.msg) {
				t.Errorf("%s %s = %d %s, want %d with %q", tt.method, tt.path, code, body, tt.want, tt.msg)
			}
		})
	}
	e.mustDo(http.StatusOK, "GET", url, reader, nil, &list)
	if len(list) != 2 {
		t.Errorf("refused requests recorded checks: %+v", list)
	}

	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	e.mustDo(http.StatusOK, "GET", "/api/v1/openapi.json", "", nil, &doc)
	for _, m := range []string{"get", "post"} {
		if _, ok := doc.Paths["/api/v1/releases/{id}/repro"][m]; !ok {
			t.Errorf("openapi.json does not document %s /api/v1/releases/{id}/repro", m)
		}
	}
}
