package deps

import (
	"context"
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

func gitEnv(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	for k, v := range map[string]string{"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.DevNull,
		"GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com", "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.com"} {
		t.Setenv(k, v)
	}
}

func commitAll(t *testing.T, dir string, msg ...string) {
	t.Helper()
	ctx := context.Background()
	testenv.Run(t, ctx, dir, nil, "git", "add", "-A")
	args := []string{"git", "commit", "-q"}
	for _, m := range msg {
		args = append(args, "-m", m)
	}
	testenv.Run(t, ctx, dir, nil, args...)
}

// step is one commit of a test history: the files it writes and its message paragraphs.
type step struct {
	files map[string]string
	msg   []string
}

// pinRow is what a test checks of a pin.
type pinRow struct {
	Pkg, Spec, Source, File, Reason string
	Open                            bool
}

// historyPins commits the steps to a new repository and returns the pins FindPins reads there.
func historyPins(t *testing.T, steps []step) ([]Pin, []pinRow) {
	t.Helper()
	gitEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	testenv.Run(t, ctx, dir, nil, "git", "init", "-q", "-b", "main")
	for _, s := range steps {
		testenv.WriteFiles(t, dir, s.files)
		commitAll(t, dir, s.msg...)
	}
	pins, err := FindPins(ctx, &gitrepo.Repo{Root: dir}, "HEAD", 0)
	if err != nil {
		t.Fatal(err)
	}
	var rows []pinRow
	for _, p := range pins {
		rows = append(rows, pinRow{p.Package, p.Spec, p.Source, p.File, p.Reason, p.Open})
	}
	return pins, rows
}

// TestFindPins reads pins from a real history: a Sluice-Pin commit, a bound added by hand, a
// lock moved back by hand, a sluice update (never a pin), and a pin lifted later.
func TestFindPins(t *testing.T) {
	pins, got := historyPins(t, []step{
		{map[string]string{"requirements.in": "alpha\nbeta>=1\n", "requirements.txt": "# locked\nalpha==1.0.0\nbeta==1.2.0\ngamma==3.0.0\n"},
			[]string{"chore: start"}},
		{map[string]string{"requirements.txt": "# locked\nalpha==1.1.0\nbeta==1.2.0\ngamma==3.0.0\n"},
			[]string{"build(deps): update all", "Sluice-Update: all"}},
		{map[string]string{"requirements.in": "alpha\nbeta>=1,<1.3\n"}, []string{"keep beta below 1.3: its API moved"}},
		{map[string]string{"requirements.txt": "# locked\nalpha==1.1.0\nbeta==1.2.0\ngamma==2.9.0\n"}, []string{"gamma 3 crashes on start"}},
		{map[string]string{"requirements.in": "alpha==1.1.0\nbeta>=1,<1.3\n"},
			[]string{"fix(deps): pin alpha==1.1.0", "Sluice-Pin: alpha==1.1.0\nSluice-Pin-Reason: 1.2 leaks memory"}},
		{map[string]string{"requirements.in": "alpha\nbeta>=1,<1.3\n", "requirements.txt": "# locked\nalpha==1.2.0\nbeta==1.2.0\ngamma==2.9.0\n"},
			[]string{"lift the alpha pin"}},
	})
	want := []pinRow{
		{"alpha", "==1.1.0", "trailer", "", "1.2 leaks memory", false},
		{"gamma", "==2.9.0", "downgrade", "requirements.txt", "gamma 3 crashes on start", true},
		{"beta", ">=1,<1.3", "constraint", "requirements.in", "keep beta below 1.3: its API moved", true},
	}
	// Commits made within one second sort in log order, which is what FindPins keeps.
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("pins (-want +got):\n%s", d)
	}
	for _, p := range pins {
		if p.AgeDays(time.Now()) != 0 || p.Commit == "" {
			t.Errorf("pin %+v: age or commit", p)
		}
	}
}

// TestFindPinsFileKinds: which file changes are pins is python.PinChanges' decision, the one
// delivery metrics count; the pin finder sees every dependency file it reads (nested
// requirements, pyproject.toml tables, Pipfile.lock), and a raised cap or a package added to a
// fully pinned file is not a pin.
func TestFindPinsFileKinds(t *testing.T) {
	lock := func(flask string) string {
		return `{"_meta": {}, "default": {"flask": {"version": "==` + flask + `"}}, "develop": {}}`
	}
	pyproject := func(req string) string { return "[project]\nname = \"app\"\ndependencies = [\"" + req + "\"]\n" }
	_, got := historyPins(t, []step{
		{map[string]string{"requirements.in": "beta>=1\n", "requirements.txt": "beta==1.2.0\n", "services/api/requirements.txt": "httpx\n",
			"pyproject.toml": pyproject("requests>=2"), "Pipfile.lock": lock("3.0.3")}, []string{"chore: start"}},
		{map[string]string{"requirements.in": "beta>=1,<1.3\n"}, []string{"keep beta below 1.3"}},
		{map[string]string{"requirements.in": "beta>=1,<1.4\n"}, []string{"allow beta 1.3"}},
		{map[string]string{"requirements.txt": "beta==1.2.0\nsix==1.16.0\n"}, []string{"add six"}},
		{map[string]string{"services/api/requirements.txt": "httpx<0.28\n"}, []string{"cap httpx in the api"}},
		{map[string]string{"pyproject.toml": pyproject("requests>=2,<2.32")}, []string{"requests 2.32 breaks auth"}},
		{map[string]string{"Pipfile.lock": lock("3.0.0")}, []string{"flask back"}},
		{map[string]string{"pyproject.toml": pyproject("requests>=2")}, []string{"requests fixed"}},
	})
	want := []pinRow{
		{"flask", "==3.0.0", "downgrade", "Pipfile.lock", "flask back", true},
		{"requests", ">=2,<2.32", "constraint", "pyproject.toml", "requests 2.32 breaks auth", false},
		{"httpx", "<0.28", "constraint", "services/api/requirements.txt", "cap httpx in the api", true},
		{"beta", ">=1,<1.3", "constraint", "requirements.in", "keep beta below 1.3", false},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("pins (-want +got):\n%s", d)
	}
}

// TestWritePinUV pins through sluice's own code path on a real uv project and index, and
// the pin is then found open.
func TestWritePinUV(t *testing.T) {
	f := newFixture(t)
	gitEnv(t)
	p := f.project(t, UV)
	f.publishNew(t)
	ctx := context.Background()
	testenv.Run(t, ctx, p.Dir, nil, "git", "init", "-q", "-b", "main")
	commitAll(t, p.Dir, "chore: start")
	// Update first so the pin is a downgrade of a real lock.
	if _, err := Update(ctx, p, Options{Index: f.index_(), Tools: f.tools, Env: f.env, Now: f.now}); err != nil {
		t.Fatal(err)
	}
	commitAll(t, p.Dir, "build(deps): update all", "Sluice-Update: all")
	res, err := WritePin(ctx, p, "delta", "==1.0.0", f.tools, f.env)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"pyproject.toml", "uv.lock"}, res.Files); d != "" {
		t.Errorf("files (-want +got):\n%s", d)
	}
	lock, _ := ReadLock(p)
	if lock["delta"].Version != "1.0.0" || lock["alpha"].Version != "2.0.0" {
		t.Errorf("after the pin: delta %s alpha %s", lock["delta"].Version, lock["alpha"].Version)
	}
	b, _ := os.ReadFile(filepath.Join(p.Dir, "pyproject.toml"))
	if !strings.Contains(string(b), `constraint-dependencies = ["delta==1.0.0"]`) {
		t.Errorf("pyproject.toml:\n%s", b)
	}
	commitAll(t, p.Dir, "fix(deps): pin delta==1.0.0", "Sluice-Pin: delta==1.0.0\nSluice-Pin-Reason: 1.1 breaks the app")
	pins, err := FindPins(ctx, &gitrepo.Repo{Root: p.Dir}, "HEAD", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pins) != 1 || pins[0].Package != "delta" || !pins[0].Open || pins[0].Reason != "1.1 breaks the app" {
		t.Errorf("pins = %+v", pins)
	}
}

// TestHostileLockNeverReachesArgv: names and versions come from files in the repository; one
// that reads as an option must be refused before any tool runs.
func TestHostileLockNeverReachesArgv(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	// A fake uv that records it ran: the update must stop before it.
	bin := filepath.Join(dir, "bin")
	testenv.WriteFiles(t, dir, map[string]string{
		"bin/uv": "#!/bin/sh\n/usr/bin/touch " + marker + "\n",
		"uv.lock": `version = 1
requires-python = ">=3.9"

[[package]]
name = "--index-url=http://evil.example/simple"
version = "1.0"
source = { registry = "https://pypi.org/simple" }
`,
	})
	os.Chmod(filepath.Join(bin, "uv"), 0o755)
	p, err := Detect(dir)
	if err != nil {
		t.Fatal(err)
	}
	tools := &Tools{Env: []string{"PATH=" + bin}}
	_, err = Update(context.Background(), p, Options{Tools: tools})
	if err == nil || !strings.Contains(err.Error(), "not a valid name") {
		t.Fatalf("err = %v", err)
	}
	if _, serr := os.Stat(marker); serr == nil {
		t.Fatal("the tool ran with a hostile package name")
	}
	for _, bad := range []string{"-rf", "a b", "x;rm", "--upgrade", ""} {
		if ValidName(bad) {
			t.Errorf("ValidName(%q) = true", bad)
		}
	}
	for _, bad := range []string{"-1", "1.0; rm -rf /", "1.0 --pre", ""} {
		if ValidVersion(bad) {
			t.Errorf("ValidVersion(%q) = true", bad)
		}
	}
	if _, _, err := ParsePinSpec("--index-url==1"); err == nil {
		t.Error("ParsePinSpec accepted an option as a name")
	}
}

// TestHugeLockIsRefused: a lock past the size limit is refused with a clear error, not read.
func TestHugeLockIsRefused(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "uv.lock"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(maxLockBytes + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	p, _ := Detect(dir)
	if _, err := ReadLock(p); err == nil || !strings.Contains(err.Error(), "MiB") {
		t.Fatalf("err = %v", err)
	}
}

func FuzzReadUVLock(f *testing.F) {
	f.Add([]byte("[[package]]\nname = \"a\"\nversion = \"1\"\nsource = { editable = \".\" }\ndependencies = [{ name = \"b\" }]\n[[package]]\nname = \"b\"\nversion = \"2\"\n"))
	f.Add([]byte("[[package]]\nname = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := readUVLock(data)
		if err == nil && m == nil {
			t.Fatal("nil map without error")
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(groupedConfig))
	f.Add([]byte("groups: [{name: '../x'}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err == nil {
			for _, g := range cfg.Groups {
				if !groupNameRe.MatchString(g.Name) {
					t.Fatalf("accepted group name %q", g.Name)
				}
			}
		}
	})
}

// TestPinHolds: a pin is open while every clause of its spec is still declared, or its version
// is still locked; a longer version that merely starts with the pinned one does not hold it.
func TestPinHolds(t *testing.T) {
	tr := tree{
		declared: map[string][]string{"beta": {">=1,<1.3"}, "alpha": {"==1.10"}, "gamma": {""}},
		locked:   map[string]string{"delta": "1.0.0", "alpha": "1.10"},
	}
	tests := []struct {
		pkg, spec string
		want      bool
	}{
		{"beta", "<1.3", true},
		{"beta", ">=1,<1.3", true},
		{"beta", "<1.4", false},
		{"alpha", "==1.1", false},
		{"alpha", "==1.10.0", true}, // the same version, written longer
		{"delta", "==1.0", true},
		{"delta", "==0.9", false},
		{"gamma", "<2", false},
		{"missing", "==1", false},
	}
	for _, tt := range tests {
		if got := tr.holds(Pin{Package: tt.pkg, Spec: tt.spec}); got != tt.want {
			t.Errorf("holds(%s%s) = %v, want %v", tt.pkg, tt.spec, got, tt.want)
		}
	}
}
