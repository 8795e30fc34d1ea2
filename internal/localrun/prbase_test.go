package localrun

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-ci/sluice/internal/gitrepo"
)

// pullBase takes the base commit from the event file only when it is a commit of the
// repository: a value shaped as a git option, a path or an unknown id is refused for
// pull_request_target (which would otherwise run other workflows than the base's) and
// ignored for pull_request (only its paths filters read it).
func TestPullBase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=Ann", "-c", "user.email=ann@example.com"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	git("commit", "-q", "--allow-empty", "-m", "base")
	base := git("rev-parse", "HEAD")
	git("checkout", "-q", "-b", "feature")
	git("commit", "-q", "--allow-empty", "-m", "head")
	repo, _, err := gitrepo.OpenAt(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "written")
	payload := func(sha string) map[string]any {
		return map[string]any{"pull_request": map[string]any{"base": map[string]any{"ref": "main", "sha": sha}}}
	}
	for _, tc := range []struct {
		name, event, sha, want, err string
	}{
		{"given", "pull_request_target", base, base, ""},
		{"option", "pull_request_target", "--output=" + out, "", "is not a commit of this repository"},
		{"unknown", "pull_request_target", strings.Repeat("ab", 20), "", "is not a commit of this repository"},
		{"path", "pull_request_target", "../../etc/passwd", "", "is not a commit of this repository"},
		{"missing", "pull_request_target", "", "", "not in this repository"},
		{"pull_request ignores a bad one", "pull_request", "--output=" + out, "", ""},
		{"push", "push", base, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pullBase(ctx, repo, tc.event, "main", payload(tc.sha))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("pullBase(%q) = %q, %v; want an error saying %q", tc.sha, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("pullBase(%q) = %q, %v; want %q", tc.sha, got, err, tc.want)
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a base sha shaped as an option reached git's argv: %s was written", out)
	}
}
