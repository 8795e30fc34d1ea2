package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitRepo is a bare repository (what the server fetches) and a work tree
// that pushes to it.
type gitRepo struct {
	bare, work string
}

func (g *gitRepo) url() string { return "file://" + g.bare }

// newGitRepo creates the bare repository and pushes a first commit with
// files to its main branch.
func newGitRepo(t *testing.T, files map[string]string) (*gitRepo, string) {
	t.Helper()
	dir := t.TempDir()
	g := &gitRepo{bare: filepath.Join(dir, "origin.git"), work: filepath.Join(dir, "work")}
	runGit(t, dir, "init", "--quiet", "--bare", "-b", "main", g.bare)
	runGit(t, dir, "init", "--quiet", "-b", "main", g.work)
	runGit(t, g.work, "remote", "add", "origin", g.bare)
	return g, g.commit(t, files, "first commit")
}

// commit writes files into the work tree, commits them and pushes main;
// it returns the new commit's SHA.
func (g *gitRepo) commit(t *testing.T, files map[string]string, msg string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(g.work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	runGit(t, g.work, "add", "-A")
	runGit(t, g.work, "commit", "--quiet", "--allow-empty", "-m", msg)
	runGit(t, g.work, "push", "--quiet", "origin", "main")
	return strings.TrimSpace(runGit(t, g.work, "rev-parse", "HEAD"))
}

func runGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=e2e", "-c", "user.email=e2e@example.com",
		"-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
