package repro

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluice-ci/sluice/internal/cd"
)

const hatchProject = `[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "repro-demo"
version = "%s"
description = "A project whose builds are reproducible"
requires-python = ">=3.8"

[tool.hatch.build.targets.wheel]
packages = ["src/repro_demo"]
`

// timeBackend is an in-tree PEP 517 backend whose sdist is reproducible but whose wheel
// records where and when it was built, as careless build hooks do.
const timeBackend = `import gzip, io, os, tarfile, time, zipfile

NAME, VERSION = "stamped_demo", "0.1"
FILES = ["pyproject.toml", "_backend/stamp_backend.py", "stamped_demo/__init__.py"]

def get_requires_for_build_wheel(config_settings=None):
    return []

def get_requires_for_build_sdist(config_settings=None):
    return []

def build_sdist(sdist_directory, config_settings=None):
    epoch = int(os.environ["SOURCE_DATE_EPOCH"])
    base = f"{NAME}-{VERSION}"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        pkg_info = f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n".encode()
        for name, data in sorted([(f, open(f, "rb").read()) for f in FILES] + [("PKG-INFO", pkg_info)]):
            info = tarfile.TarInfo(f"{base}/{name}")
            info.size, info.mtime, info.mode = len(data), epoch, 0o644
            tar.addfile(info, io.BytesIO(data))
    name = base + ".tar.gz"
    with open(os.path.join(sdist_directory, name), "wb") as f:
        with gzip.GzipFile(filename="", fileobj=f, mode="wb", mtime=0) as gz:
            gz.write(raw.getvalue())
    return name

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = f"{NAME}-{VERSION}-py3-none-any.whl"
    di = f"{NAME}-{VERSION}.dist-info"
    files = {
        "stamped_demo/__init__.py": open("stamped_demo/__init__.py").read()
            + f"BUILT_IN = {os.getcwd()!r}\nBUILT_AT = {time.time()!r}\n",
        f"{di}/METADATA": f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n",
        f"{di}/WHEEL": "Wheel-Version: 1.0\nGenerator: stamp\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{di}/RECORD"] = "".join(f"{n},,\n" for n in files) + f"{di}/RECORD,,\n"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as z:
        for n, body in files.items():
            z.writestr(zipfile.ZipInfo(n, date_time=(2020, 1, 1, 0, 0, 0)), body)
    return name
`

const stampProject = `[build-system]
requires = []
build-backend = "stamp_backend"
backend-path = ["_backend"]

[project]
name = "stamped_demo"
version = "0.1"
`

func uvBuild(uv string) string { return uv + ` build --quiet --out-dir "$OUT"` }

func TestRebuildReproducibleHatchlingProject(t *testing.T) {
	uv := testUV(t)
	repo := t.TempDir()
	first := commitFiles(t, repo, "2024-05-01T12:00:00Z", map[string]string{
		"pyproject.toml":             strings.Replace(hatchProject, "%s", "1.0.0", 1),
		"src/repro_demo/__init__.py": "VALUE = 42\n",
		"src/repro_demo/data.txt":    "some data\n",
	})
	// A later commit changes the version: Rebuild must build the release's commit, not HEAD.
	commitFiles(t, repo, "2024-06-01T12:00:00Z", map[string]string{
		"pyproject.toml": strings.Replace(hatchProject, "%s", "2.0.0", 1),
	})
	expected := buildLikeAWorkflow(t, repo, first, uvBuild(uv))
	// Releases carry more than Python distributions; those are not rebuilt.
	expected = append(expected, cd.Artifact{Name: "image/manifest.json", Digest: "sha256:" + strings.Repeat("ab", 32)})

	var logged []string
	start := time.Now()
	res, err := Rebuild(context.Background(), Options{Source: repo, Commit: first[:10], Expected: expected,
		BuildCmd: uvBuild(uv), Log: func(s string) { logged = append(logged, s) }})
	if err != nil {
		t.Fatalf("Rebuild: %v\n%s", err, strings.Join(logged, "\n"))
	}
	t.Logf("two rebuilds took %s", time.Since(start).Round(time.Millisecond))

	want := &Result{
		Commit:          first,
		SourceDateEpoch: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC).Unix(),
		BuildCmd:        uvBuild(uv),
		Identical:       true,
		Differ:          []string{},
	}
	for _, a := range expected[:2] {
		want.Files = append(want.Files, File{Name: path.Base(a.Name), Expected: a.Digest, Rebuilt: []string{a.Digest, a.Digest}, Identical: true})
	}
	slices.SortFunc(want.Files, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	ignoreWorkspaces := cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Workspaces" }, cmp.Ignore())
	if d := cmp.Diff(want, res, ignoreWorkspaces); d != "" {
		t.Errorf("Rebuild (-want +got):\n%s\nlog:\n%s", d, strings.Join(logged, "\n"))
	}
	if !strings.HasSuffix(want.Files[0].Name, "1.0.0.tar.gz") && !strings.HasSuffix(want.Files[1].Name, "1.0.0.tar.gz") {
		t.Errorf("files %+v are not of version 1.0.0", want.Files)
	}
	checkVaried(t, res.Workspaces)
	if !strings.Contains(res.Summary(), ": identical") {
		t.Errorf("Summary() = %q", res.Summary())
	}
}

// checkVaried checks that the workspaces differ in what they are meant to.
func checkVaried(t *testing.T, ws []Workspace) {
	t.Helper()
	if len(ws) != 2 {
		t.Fatalf("%d workspaces, want 2", len(ws))
	}
	a, b := ws[0], ws[1]
	if len(a.Dir) == len(b.Dir) || a.Umask == b.Umask || a.TZ == b.TZ {
		t.Errorf("workspaces do not vary path length, umask and TZ: %+v", ws)
	}
}

func TestRebuildFindsAWheelThatEmbedsBuildPathAndTime(t *testing.T) {
	uv := testUV(t)
	repo := t.TempDir()
	commit := commitFiles(t, repo, "2023-01-02T03:04:05Z", map[string]string{
		"pyproject.toml":            stampProject,
		"_backend/stamp_backend.py": timeBackend,
		"stamped_demo/__init__.py":  "VALUE = 1\n",
	})
	expected := buildLikeAWorkflow(t, repo, commit, uvBuild(uv))
	var logged []string
	res, err := Rebuild(context.Background(), Options{Source: repo, Commit: commit, Expected: expected,
		BuildCmd: uvBuild(uv), Log: func(s string) { logged = append(logged, s) }})
	if err != nil {
		t.Fatalf("Rebuild: %v\n%s", err, strings.Join(logged, "\n"))
	}
	if d := cmp.Diff([]string{"stamped_demo-0.1-py3-none-any.whl"}, res.Differ); d != "" || res.Identical {
		t.Errorf("identical %v, Differ (-want +got):\n%s", res.Identical, d)
	}
	for _, f := range res.Files {
		wheel := strings.HasSuffix(f.Name, ".whl")
		if f.Identical == wheel || len(f.Rebuilt) != 2 || slices.Contains(f.Rebuilt, "") {
			t.Errorf("file %+v: want the sdist identical and the wheel not, both built twice", f)
		}
		if wheel && (f.Rebuilt[0] == f.Rebuilt[1] || f.Rebuilt[0] == f.Expected) {
			t.Errorf("wheel %+v: rebuilds should differ from each other and from the release", f)
		}
	}
	i := slices.IndexFunc(expected, func(a cd.Artifact) bool { return strings.HasSuffix(a.Name, ".whl") })
	if s := res.Summary(); !strings.Contains(s, "differ: stamped_demo-0.1-py3-none-any.whl (release "+expected[i].Digest) {
		t.Errorf("Summary() = %q", s)
	}
}

func TestRebuildErrors(t *testing.T) {
	repo := t.TempDir()
	commit := commitFiles(t, repo, "2023-01-02T03:04:05Z", map[string]string{"README": "x\n"})
	wheel := []cd.Artifact{{Name: "x-1-py3-none-any.whl", Digest: "sha256:" + strings.Repeat("0", 64)}}
	tests := []struct {
		name    string
		o       Options
		wantErr string
		is      error
	}{
		{"no python artifacts", Options{Source: repo, Commit: commit, Expected: []cd.Artifact{{Name: "app.tar", Digest: wheel[0].Digest}}},
			"no Python artifacts", ErrNoPythonArtifacts},
		{"not a repository", Options{Source: t.TempDir(), Commit: commit, Expected: wheel}, "is not a git repository", nil},
		{"unknown commit", Options{Source: repo, Commit: strings.Repeat("1", 40), Expected: wheel}, "is not in", nil},
		{"build fails", Options{Source: repo, Commit: commit, Expected: wheel, BuildCmd: "echo no pyproject.toml >&2; exit 3"},
			"rebuilding in workspace 1: building: exit status 3; last output:\nno pyproject.toml", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Rebuild(context.Background(), tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Errorf("Rebuild = %+v, %v; want an error with %q", res, err, tt.wantErr)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	const a, b, c = "sha256:aa", "sha256:bb", "sha256:cc"
	expected := []cd.Artifact{{Name: "dist/p-1.tar.gz", Digest: a}, {Name: "dist/p-1-py3-none-any.whl", Digest: b}}
	tests := []struct {
		name   string
		built  []map[string]string
		files  []File
		differ []string
	}{
		{"all identical", []map[string]string{{"p-1.tar.gz": a, "p-1-py3-none-any.whl": b}, {"p-1.tar.gz": a, "p-1-py3-none-any.whl": b, "extra.txt": c}},
			[]File{{"p-1.tar.gz", a, []string{a, a}, true}, {"p-1-py3-none-any.whl", b, []string{b, b}, true}}, []string{}},
		{"one workspace differs", []map[string]string{{"p-1.tar.gz": a, "p-1-py3-none-any.whl": b}, {"p-1.tar.gz": a, "p-1-py3-none-any.whl": c}},
			[]File{{"p-1.tar.gz", a, []string{a, a}, true}, {"p-1-py3-none-any.whl", b, []string{b, c}, false}}, []string{"p-1-py3-none-any.whl"}},
		{"not built", []map[string]string{{"p-1.tar.gz": a}, {"p-1.tar.gz": a}},
			[]File{{"p-1.tar.gz", a, []string{a, a}, true}, {"p-1-py3-none-any.whl", b, []string{"", ""}, false}}, []string{"p-1-py3-none-any.whl"}},
		{"both rebuilds agree but not with the release", []map[string]string{{"p-1.tar.gz": c, "p-1-py3-none-any.whl": b}, {"p-1.tar.gz": c, "p-1-py3-none-any.whl": b}},
			[]File{{"p-1.tar.gz", a, []string{c, c}, false}, {"p-1-py3-none-any.whl", b, []string{b, b}, true}}, []string{"p-1.tar.gz"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Result
			r.compare(expected, tt.built)
			if d := cmp.Diff(&Result{Files: tt.files, Differ: tt.differ, Identical: len(tt.differ) == 0}, &r); d != "" {
				t.Errorf("compare (-want +got):\n%s", d)
			}
		})
	}
}

func TestPythonArtifacts(t *testing.T) {
	got := pythonArtifacts([]cd.Artifact{{Name: "b/x-1-py3-none-any.whl"}, {Name: "x-1.tar.gz"}, {Name: "app.tar"},
		{Name: "x-1.zip"}, {Name: "a/x-1-py3-none-any.whl"}, {Name: "sbom.json"}})
	want := []cd.Artifact{{Name: "b/x-1-py3-none-any.whl"}, {Name: "x-1.tar.gz"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("pythonArtifacts (-want +got):\n%s", d)
	}
}

func TestRebuildVariesTheWorkspaces(t *testing.T) {
	repo := t.TempDir()
	commit := commitFiles(t, repo, "2022-02-03T04:05:06Z", map[string]string{"README": "x\n"})
	// The "build" reports what it sees and makes an empty wheel, which is reproducible.
	build := `echo "env: $(umask) $TZ $SOURCE_DATE_EPOCH $(pwd) $(stat -c %a README) $(git rev-parse HEAD)"; : > "$OUT/x-1-py3-none-any.whl"`
	empty := "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	var env []string
	res, err := Rebuild(context.Background(), Options{Source: repo, Commit: commit, BuildCmd: build, Workspaces: 3,
		Expected: []cd.Artifact{{Name: "x-1-py3-none-any.whl", Digest: empty}},
		Log: func(s string) {
			if f := strings.Fields(s); len(f) > 0 && f[0] == "env:" {
				env = append(env, strings.Join(f[1:], " "))
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	epoch := time.Date(2022, 2, 3, 4, 5, 6, 0, time.UTC).Unix()
	var want []string
	for i, w := range res.Workspaces {
		mode := map[string]string{"022": "644", "077": "600", "002": "664"}[w.Umask]
		want = append(want, strings.Join([]string{"0" + w.Umask, w.TZ, fmt.Sprint(epoch), w.Dir, mode, commit}, " "))
		if i > 0 && strings.HasPrefix(w.Dir, res.Workspaces[i-1].Dir) {
			t.Errorf("workspace %d is inside workspace %d", i, i-1)
		}
	}
	if d := cmp.Diff(want, env); d != "" || !res.Identical || len(res.Workspaces) != 3 {
		t.Errorf("identical %v; what the builds saw (-want +got):\n%s", res.Identical, d)
	}
	checkVaried(t, res.Workspaces[:2])
	for _, w := range res.Workspaces {
		if _, err := os.Stat(w.Dir); !os.IsNotExist(err) {
			t.Errorf("workspace %s is left behind: %v", w.Dir, err)
		}
	}
}
