package release

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/gitrepo"
	"github.com/sluice-ci/sluice/internal/testenv"
)

// histRepo is a real git repository under test.
type histRepo struct {
	t    *testing.T
	dir  string
	repo *gitrepo.Repo
	env  []string
}

func newHistRepo(t *testing.T, files map[string]string) *histRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir, _ := filepath.EvalSymlinks(t.TempDir())
	home := t.TempDir()
	env := []string{"HOME=" + home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=" + os.DevNull,
		"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com",
		"GIT_CEILING_DIRECTORIES=" + filepath.Dir(dir)}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	h := &histRepo{t: t, dir: dir, repo: &gitrepo.Repo{Root: dir}, env: env}
	h.git("init", "-q", "-b", "main")
	testenv.WriteFiles(t, dir, files)
	h.git("add", "-A")
	h.git("commit", "-q", "-m", "chore: start")
	return h
}

func (h *histRepo) git(args ...string) string {
	h.t.Helper()
	return testenv.Run(h.t, context.Background(), h.dir, nil, append([]string{"git"}, args...)...)
}

func (h *histRepo) commit(subject string, body ...string) {
	h.t.Helper()
	f := filepath.Join(h.dir, "work.txt")
	old, _ := os.ReadFile(f)
	if err := os.WriteFile(f, append(old, subject+"\n"...), 0o644); err != nil {
		h.t.Fatal(err)
	}
	args := []string{"commit", "-q", "-a", "-m", subject}
	for _, b := range body {
		args = append(args, "-m", b)
	}
	h.git("add", "work.txt")
	h.git(args...)
}

func (h *histRepo) read(rel string) string {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join(h.dir, rel))
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}

var plainProject = map[string]string{
	"pyproject.toml":      "[project]\nname = \"App\"\nversion = \"1.0.0\"\nrequires-python = \">=3.9\"\ndependencies = []\n",
	"src/app/__init__.py": "\"\"\"The app.\"\"\"\n__version__ = \"1.0.0\"\n",
	"vendor/__init__.py":  "__version__ = \"7.7.7\"  # someone else's\n",
}

func TestBumpHistories(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		version string
		config  string
		commits [][]string
		opts    Options
		want    string
		wantInc string
	}{
		{name: "fix", version: "1.0.0", commits: [][]string{{"docs: words"}, {"fix: crash on empty input"}}, want: "1.0.1", wantInc: "patch"},
		{name: "feat", version: "1.0.0", commits: [][]string{{"fix: a"}, {"feat(cli): --json"}, {"chore: tidy"}}, want: "1.1.0", wantInc: "minor"},
		{name: "breaking bang", version: "1.0.0", commits: [][]string{{"feat!: new config format"}}, want: "2.0.0", wantInc: "major"},
		{name: "breaking footer", version: "1.4.2", commits: [][]string{{"refactor: storage", "BREAKING CHANGE: the v1 format is gone"}}, want: "2.0.0", wantInc: "major"},
		{name: "0.x breaking makes 1.0", version: "0.3.1", commits: [][]string{{"feat!: x"}}, want: "1.0.0", wantInc: "major"},
		{name: "0.x major-version-zero", version: "0.3.1", config: "major-version-zero: true\n", commits: [][]string{{"feat!: x"}}, want: "0.4.0", wantInc: "major"},
		{name: "pre-release", version: "1.0.0", commits: [][]string{{"feat: y"}}, opts: Options{Prerelease: "rc"}, want: "1.1.0rc0", wantInc: "minor"},
		{name: "non-conventional mixed in", version: "1.0.0", commits: [][]string{{"Update stuff"}, {"perf: faster"}}, want: "1.0.1", wantInc: "patch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{}
			for k, v := range plainProject {
				files[k] = strings.ReplaceAll(v, "1.0.0", c.version)
			}
			if c.config != "" {
				files[".sluice/bump.yml"] = c.config
			}
			h := newHistRepo(t, files)
			h.git("tag", "v"+c.version)
			for _, cm := range c.commits {
				h.commit(cm[0], cm[1:]...)
			}
			if c.opts.Devrelease == 0 {
				c.opts.Devrelease = -1
			}
			c.opts.Now = time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
			plan, err := PlanBump(ctx, h.repo, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if plan.Next != c.want || plan.Increment != c.wantInc {
				t.Fatalf("next %s (%s), want %s (%s)", plan.Next, plan.Increment, c.want, c.wantInc)
			}
			if err := plan.Apply(ctx, h.repo); err != nil {
				t.Fatal(err)
			}
			if got := h.git("describe", "--tags", "--exact-match", "HEAD"); strings.TrimSpace(got) != "v"+c.want {
				t.Errorf("HEAD is tagged %q, want v%s", got, c.want)
			}
			if !strings.Contains(h.read("pyproject.toml"), `version = "`+c.want+`"`) {
				t.Errorf("pyproject.toml:\n%s", h.read("pyproject.toml"))
			}
			if !strings.Contains(h.read("src/app/__init__.py"), `__version__ = "`+c.want+`"`) {
				t.Errorf("__init__.py:\n%s", h.read("src/app/__init__.py"))
			}
			if !strings.Contains(h.read("vendor/__init__.py"), "7.7.7") {
				t.Error("a __version__ that is not the project's was changed")
			}
			if !strings.Contains(h.read("CHANGELOG.md"), "## ["+c.want+"] - 2026-03-04") {
				t.Errorf("CHANGELOG.md:\n%s", h.read("CHANGELOG.md"))
			}
			trailer := strings.TrimSpace(h.git("log", "-1", "--format=%(trailers:key=Sluice-Bump,valueonly)"))
			if trailer != c.version+" -> "+c.want {
				t.Errorf("Sluice-Bump trailer %q", trailer)
			}
			if st := strings.TrimSpace(h.git("status", "--porcelain")); st != "" {
				t.Errorf("tree not clean after bump:\n%s", st)
			}
		})
	}
}

func TestBumpPrereleaseSeries(t *testing.T) {
	ctx := context.Background()
	h := newHistRepo(t, plainProject)
	h.git("tag", "v1.0.0")
	steps := []struct {
		commit string
		pre    string
		want   string
	}{
		{"feat: a", "alpha", "1.1.0a0"},
		{"fix: b", "alpha", "1.1.0a1"},
		{"fix: c", "beta", "1.1.0b0"},
		{"feat!: d", "rc", "2.0.0rc0"},
		{"fix: e", "", "2.0.0"},
	}
	for _, s := range steps {
		h.commit(s.commit)
		plan, err := PlanBump(ctx, h.repo, Options{Prerelease: s.pre, Devrelease: -1})
		if err != nil {
			t.Fatalf("%s: %v", s.commit, err)
		}
		if plan.Next != s.want {
			t.Fatalf("after %q with --prerelease %q: %s, want %s", s.commit, s.pre, plan.Next, s.want)
		}
		if err := plan.Apply(ctx, h.repo); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBumpRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("no commits since the tag", func(t *testing.T) {
		h := newHistRepo(t, plainProject)
		h.git("tag", "v1.0.0")
		_, err := PlanBump(ctx, h.repo, Options{Devrelease: -1})
		if !errors.Is(err, ErrNothingToRelease) || !strings.Contains(err.Error(), "no commits since v1.0.0") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("only chores", func(t *testing.T) {
		h := newHistRepo(t, plainProject)
		h.git("tag", "v1.0.0")
		h.commit("docs: x")
		h.commit("ci: y")
		_, err := PlanBump(ctx, h.repo, Options{Devrelease: -1})
		if !errors.Is(err, ErrNothingToRelease) || !strings.Contains(err.Error(), "only ci, docs") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("dirty tree", func(t *testing.T) {
		h := newHistRepo(t, plainProject)
		h.git("tag", "v1.0.0")
		h.commit("fix: x")
		testenv.WriteFiles(t, h.dir, map[string]string{"src/app/new.py": "x = 1\n"})
		_, err := PlanBump(ctx, h.repo, Options{Devrelease: -1})
		if err == nil || !strings.Contains(err.Error(), "uncommitted changes (src/") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("non-conventional history", func(t *testing.T) {
		h := newHistRepo(t, plainProject)
		h.git("tag", "v1.0.0")
		h.commit("Update stuff")
		h.commit("more work")
		_, err := PlanBump(ctx, h.repo, Options{Devrelease: -1})
		if err == nil || !strings.Contains(err.Error(), "none of the 2 commits since v1.0.0 is a conventional commit") || !strings.Contains(err.Error(), "--increment") {
			t.Fatalf("err = %v", err)
		}
		plan, err := PlanBump(ctx, h.repo, Options{Increment: Minor, Devrelease: -1})
		if err != nil || plan.Next != "1.1.0" {
			t.Fatalf("with --increment minor: %v %+v", err, plan)
		}
	})
	t.Run("version file outside the repository", func(t *testing.T) {
		files := map[string]string{".sluice/bump.yml": "version-files: [../../etc/passwd]\n"}
		for k, v := range plainProject {
			files[k] = v
		}
		h := newHistRepo(t, files)
		h.git("tag", "v1.0.0")
		h.commit("fix: x")
		_, err := PlanBump(ctx, h.repo, Options{Devrelease: -1})
		if err == nil || !strings.Contains(err.Error(), "must stay inside the repository") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unknown config key names its line", func(t *testing.T) {
		files := map[string]string{".sluice/bump.yml": "tag-format: \"v{version}\"\nchangelogs: x\n"}
		for k, v := range plainProject {
			files[k] = v
		}
		h := newHistRepo(t, files)
		h.git("tag", "v1.0.0")
		h.commit("fix: x")
		_, err := PlanBump(ctx, h.repo, Options{Devrelease: -1})
		if err == nil || !strings.Contains(err.Error(), ".sluice/bump.yml:2:") {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestBumpKeepsLocksInSync is the release tools' top complaint: after the bump, the release
// commit passes `uv sync --locked`, `poetry check --lock` and `pdm lock --check`.
func TestBumpKeepsLocksInSync(t *testing.T) {
	py := testenv.LockTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	interp, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	interp, _ = filepath.EvalSymlinks(interp)
	cache := t.TempDir()
	toolEnv := []string{"UV_PYTHON=" + interp, "UV_PYTHON_DOWNLOADS=never", "UV_NO_CONFIG=1", "UV_CACHE_DIR=" + cache,
		"POETRY_CACHE_DIR=" + cache, "POETRY_VIRTUALENVS_CREATE=false", "PDM_CACHE_DIR=" + cache, "PDM_CHECK_UPDATE=false", "PDM_IGNORE_SAVED_PYTHON=1"}
	cases := []struct {
		name  string
		files map[string]string
		lock  []string
		check []string
	}{
		{"uv", map[string]string{
			"pyproject.toml": "[project]\nname = \"app\"\nversion = \"0.9.0\"\nrequires-python = \">=3.9\"\ndependencies = []\n",
		}, []string{py, "-m", "uv", "lock"}, []string{py, "-m", "uv", "sync", "--locked"}},
		{"poetry", map[string]string{
			"pyproject.toml": "[project]\nname = \"app\"\nversion = \"0.9.0\"\nrequires-python = \">=3.9\"\ndependencies = []\n\n[tool.poetry]\npackage-mode = false\n",
		}, []string{py, "-m", "poetry", "lock"}, []string{py, "-m", "poetry", "check", "--lock"}},
		{"pdm", map[string]string{
			"pyproject.toml": "[project]\nname = \"app\"\nversion = \"0.9.0\"\nrequires-python = \">=3.9\"\ndependencies = []\n\n[tool.pdm]\ndistribution = false\n",
		}, []string{py, "-m", "pdm", "lock"}, []string{py, "-m", "pdm", "lock", "--check"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHistRepo(t, c.files)
			testenv.Run(t, ctx, h.dir, toolEnv, c.lock...)
			h.git("add", "-A")
			h.git("commit", "-q", "-m", "build: lock")
			h.git("tag", "v0.9.0")
			h.commit("feat: something")
			plan, err := PlanBump(ctx, h.repo, Options{Devrelease: -1})
			if err != nil {
				t.Fatal(err)
			}
			if plan.Next != "0.10.0" {
				t.Fatalf("next = %s", plan.Next)
			}
			var files []string
			for _, e := range plan.Edits {
				files = append(files, e.Path)
			}
			wantFiles := []string{"pyproject.toml"}
			if c.name == "uv" {
				wantFiles = append(wantFiles, "uv.lock") // poetry and pdm keep no entry of the project itself
			}
			if d := cmp.Diff(wantFiles, files); d != "" {
				t.Errorf("files (-want +got):\n%s", d)
			}
			if err := plan.Apply(ctx, h.repo); err != nil {
				t.Fatal(err)
			}
			testenv.Run(t, ctx, h.dir, toolEnv, c.check...)
			if c.name == "uv" {
				// The defence matters: with pyproject.toml bumped alone, uv refuses.
				h.git("checkout", "-q", "HEAD~1", "--", "uv.lock")
				cmd := exec.CommandContext(ctx, c.check[0], c.check[1:]...)
				cmd.Dir, cmd.Env = h.dir, append(os.Environ(), toolEnv...)
				if out, err := cmd.CombinedOutput(); err == nil {
					t.Errorf("uv sync --locked passed with a stale uv.lock; the test proves nothing:\n%s", out)
				}
			}
		})
	}
}
