package actions

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-ci/sluice/internal/testenv"
)

// An action's path names a directory inside its repository; one that leaves it is refused
// when the step is read, before anything is fetched.
func TestParseRefusesPathsLeavingTheRepository(t *testing.T) {
	for _, tt := range []struct {
		uses, wantPath, wantErr string
	}{
		{uses: "acme/tools/lint@v1", wantPath: "lint"},
		{uses: "acme/tools/a/b/../c@v1", wantPath: "a/b/../c"},
		{uses: "acme/tools/../../../evil@v1", wantErr: "leaves the repository acme/tools"},
		{uses: "acme/tools/a/../..@v1", wantErr: "leaves the repository"},
		{uses: "acme/tools//etc@v1", wantErr: "leaves the repository"},
		{uses: `acme/tools/a\..\..\x@v1`, wantErr: "leaves the repository"},
	} {
		r, err := Parse(tt.uses)
		switch {
		case tt.wantErr == "" && (err != nil || r.Path != tt.wantPath):
			t.Errorf("Parse(%q) = path %q, %v; want path %q", tt.uses, r.Path, err, tt.wantPath)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("Parse(%q) = %+v, %v; want an error saying %q", tt.uses, r, err, tt.wantErr)
		}
	}
}

// A symbolic link in an action's repository does not lead the agent out of it: not as the
// action's directory, not as its action.yml.
func TestResolveStaysInsideTheRepository(t *testing.T) {
	store, host := t.TempDir(), t.TempDir()
	testenv.WriteFiles(t, store, map[string]string{
		"acme/tools@v1/lint/action.yml":  strings.ReplaceAll(greetAction, "%s", "lint"),
		"acme/tools@v1/inner/action.yml": strings.ReplaceAll(greetAction, "%s", "inner"),
	})
	testenv.WriteFiles(t, host, map[string]string{"action.yml": strings.ReplaceAll(greetAction, "%s", "HOST")})
	repo := filepath.Join(store, "acme", "tools@v1")
	for link, target := range map[string]string{"out": host, "ok": "inner", "file/action.yml": filepath.Join(host, "action.yml")} {
		p := filepath.Join(repo, link)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	rs := Resolver{Store: store, BaseURL: "http://127.0.0.1:1", CacheDir: t.TempDir()}.Session()
	for uses, want := range map[string]string{"acme/tools/lint@v1": "lint", "acme/tools/ok@v1": "inner",
		"acme/tools/out@v1": "leads outside the action's repository", "acme/tools/file@v1": "leads outside the action's repository"} {
		r, err := Parse(uses)
		if err != nil {
			t.Fatal(err)
		}
		d, err := rs.Resolve(context.Background(), r)
		if strings.Contains(want, " ") {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q, %v; want an error saying %q", uses, d, err, want)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", uses, err)
		}
		if got := said(t, d); got != want {
			t.Errorf("%s: %s, want %s", uses, got, want)
		}
	}
}
