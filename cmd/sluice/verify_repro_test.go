package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/store"
)

// reproGit runs git in dir with a fixed identity and date.
func reproGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.com", "GIT_AUTHOR_DATE=2024-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2024-01-02T03:04:05Z",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func sha256Of(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}

// TestVerifyRepro runs the command against a real server and store. The build command stands
// in for a Python build (internal/repro's tests build real wheels): it copies a committed file
// as the wheel, reproducibly, and writes the build's path as the sdist, which is not.
func TestVerifyRepro(t *testing.T) {
	ctx := context.Background()
	db, srv, _ := newTestServer(t, nil)
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	tok, hash, err := secrets.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateToken(ctx, store.Token{Name: "repro-bot", Hash: hash, Scope: store.ScopeWrite}); err != nil {
		t.Fatal(err)
	}

	src := filepath.Join(t.TempDir(), "app")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	const wheelBody = "PK pretend wheel\n"
	if err := os.WriteFile(filepath.Join(src, "wheel.bin"), []byte(wheelBody), 0o644); err != nil {
		t.Fatal(err)
	}
	reproGit(t, src, "init", "-q", "-b", "main")
	reproGit(t, src, "add", "-A")
	reproGit(t, src, "commit", "-q", "-m", "app")
	commit := reproGit(t, src, "rev-parse", "HEAD")
	build := `cp wheel.bin "$OUT/app-1-py3-none-any.whl"; pwd > "$OUT/app-1.tar.gz"`

	repo, err := db.CreateRepo(ctx, store.Repo{Name: "app", URL: "file://" + src})
	if err != nil {
		t.Fatal(err)
	}
	newRun := func(arts ...cd.Artifact) (int64, string) {
		t.Helper()
		run, _, err := db.CreateRun(ctx, store.Run{RepoID: repo.ID, Workflow: ".github/workflows/release.yml", Event: "push",
			Ref: "refs/heads/main", SHA: commit}, []store.Job{{Key: "build", Name: "build", Status: store.StatusQueued}})
		if err != nil {
			t.Fatal(err)
		}
		if len(arts) == 0 {
			return run.ID, ""
		}
		rel, err := cd.NewRelease(cd.ReleaseSource{Commit: commit, Ref: "refs/heads/main", RunID: run.ID}, arts, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.CreateRelease(ctx, repo.ID, rel); err != nil {
			t.Fatal(err)
		}
		return run.ID, rel.ID
	}
	wheel := cd.Artifact{Name: "dist/app-1-py3-none-any.whl", Digest: sha256Of(wheelBody), Size: int64(len(wheelBody))}
	sdist := cd.Artifact{Name: "dist/app-1.tar.gz", Digest: sha256Of("/where/ci/built/it\n"), Size: 19}
	image := cd.Artifact{Name: "image.tar", Digest: sha256Of("image")}
	goodRun, goodRel := newRun(wheel, image)
	badRun, badRel := newRun(wheel, sdist)
	noRelRun, _ := newRun()
	imageRun, _ := newRun(image)

	conn := []string{"--server", hs.URL, "--token", tok, "--source", src, "--build-cmd", build}
	verify := func(args ...string) (string, error) {
		t.Helper()
		return runCLI(t, verifyReproCmd(), "", append(args, conn...)...)
	}
	checks := func(rel string) []store.ReproCheck {
		t.Helper()
		cs, err := db.ListReproChecks(ctx, rel)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}

	start := time.Now()
	out, err := verify(strconv.FormatInt(goodRun, 10))
	if err != nil {
		t.Fatalf("verify-repro of a reproducible release: %v\n%s", err, out)
	}
	t.Logf("verify-repro with two rebuilds took %s", time.Since(start).Round(time.Millisecond))
	for _, want := range []string{"app-1-py3-none-any.whl", shortDigest(wheel.Digest), "same", "reproducible: every file rebuilt identical", "recorded check"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if cs := checks(goodRel); len(cs) != 1 || !cs[0].Identical || cs[0].By != "repro-bot" || !strings.Contains(cs[0].Detail, "identical") {
		t.Errorf("recorded checks of the reproducible release: %+v", cs)
	}

	out, err = verify(strconv.FormatInt(badRun, 10))
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("verify-repro of an unreproducible release: err %v, want exit 1\n%s", err, out)
	}
	if !strings.Contains(out, "DIFFERENT") || !strings.Contains(out, "NOT reproducible: app-1.tar.gz") {
		t.Errorf("output does not name the sdist:\n%s", out)
	}
	cs := checks(badRel)
	if len(cs) != 1 || cs[0].Identical {
		t.Fatalf("recorded checks of the unreproducible release: %+v", cs)
	}
	if d := cmp.Diff([]string{"app-1.tar.gz"}, cs[0].Differ); d != "" {
		t.Errorf("recorded Differ (-want +got):\n%s", d)
	}

	out, err = verify(strconv.FormatInt(badRun, 10), "--json", "--no-record")
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("--json: err %v, want exit 1", err)
	}
	var rep reproReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json printed %q: %v", out, err)
	}
	if rep.Release != badRel || rep.Check != nil || rep.Result.Commit != commit || len(rep.Result.Files) != 2 ||
		rep.Result.Files[1].Rebuilt[0] == rep.Result.Files[1].Rebuilt[1] {
		t.Errorf("--json report: %+v", rep)
	}
	if len(checks(badRel)) != 1 {
		t.Error("--no-record recorded a check")
	}

	for _, tt := range []struct {
		name, run, wantErr string
	}{
		{"run without release", strconv.FormatInt(noRelRun, 10), "made no release to verify"},
		{"release without python artifacts", strconv.FormatInt(imageRun, 10), "no Python artifacts"},
		{"unknown run", "999", "made no release to verify"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := verify(tt.run); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if cmd := verifyReproCmd(); !strings.Contains(cmd.Example, "sluice verify-repro 42") {
		t.Errorf("no example in --help: %q", cmd.Example)
	}
}
