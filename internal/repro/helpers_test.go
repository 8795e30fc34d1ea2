package repro

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
)

// testUV returns a uv binary: on PATH, in the tools environment other packages' tests keep
// under the user cache directory, or installed there from PyPI by this test.
func testUV(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds wheels with uv; skipped with -short")
	}
	if p, err := exec.LookPath("uv"); err == nil {
		return p
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Skipf("no user cache directory: %v", err)
	}
	shared := filepath.Join(cache, "sluice-test-tools", "venv", "bin", "uv")
	if _, err := os.Stat(shared); err == nil {
		return shared
	}
	target := filepath.Join(cache, "sluice-test-tools", "repro-uv")
	uv := filepath.Join(target, "bin", "uv")
	if _, err := os.Stat(uv); err == nil {
		return uv
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("neither uv nor python3 on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tmp := target + ".tmp"
	os.RemoveAll(tmp)
	run(t, ctx, "", nil, py, "-m", "pip", "install", "-q", "--target", tmp, "uv")
	os.RemoveAll(target)
	if err := os.Rename(tmp, target); err != nil {
		t.Fatal(err)
	}
	return uv
}

// run runs a command and fails the test with its output if it fails.
func run(t *testing.T, ctx context.Context, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// gitEnv pins identities and dates so commits do not depend on the machine.
func gitEnv(date string) []string {
	return []string{"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.com", "GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date,
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1"}
}

// commitFiles writes files into repo and commits them at date, returning the commit.
func commitFiles(t *testing.T, repo, date string, files map[string]string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := os.Stat(filepath.Join(repo, ".git")); err != nil {
		run(t, ctx, repo, gitEnv(date), "git", "init", "-q", "-b", "main")
	}
	for name, body := range files {
		p := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run(t, ctx, repo, gitEnv(date), "git", "add", "-A")
	run(t, ctx, repo, gitEnv(date), "git", "commit", "-q", "-m", "commit at "+date)
	return strings.TrimSpace(run(t, ctx, repo, gitEnv(date), "git", "rev-parse", "HEAD"))
}

// buildLikeAWorkflow builds commit of repo the way a CI job would — in a plain checkout of it,
// with SOURCE_DATE_EPOCH from the commit — and returns the distributions as release artifacts.
func buildLikeAWorkflow(t *testing.T, repo, commit, buildCmd string) []cd.Artifact {
	t.Helper()
	ctx := context.Background()
	checkout := filepath.Join(t.TempDir(), "checkout")
	run(t, ctx, "", nil, "git", "clone", "-q", repo, checkout)
	run(t, ctx, checkout, nil, "git", "checkout", "-q", "--detach", commit)
	epoch := strings.TrimSpace(run(t, ctx, checkout, nil, "git", "show", "-s", "--format=%ct", commit))
	out := t.TempDir()
	run(t, ctx, checkout, []string{"OUT=" + out, "SOURCE_DATE_EPOCH=" + epoch}, "sh", "-c", buildCmd)
	ds, err := digests(out)
	if err != nil {
		t.Fatal(err)
	}
	var arts []cd.Artifact
	for name, d := range ds {
		if !IsPython(name) {
			continue // uv writes a .gitignore into the output directory
		}
		// Releases name artifacts by their upload path; Rebuild matches base names.
		arts = append(arts, cd.Artifact{Name: "dist/" + name, Digest: d})
	}
	if len(arts) != 2 {
		t.Fatalf("the workflow build made %d files, want a wheel and an sdist: %v", len(arts), ds)
	}
	return arts
}
