package oci

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

const appV1 = "import six\n\ndef main():\n    print('hello', six.PY3)\n"

type fixture struct {
	tools, base, lock, wheel string
	baseImg                  v1.Image
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	tools := testTools(t)
	base, img := randomBase(t)
	return fixture{
		tools:   tools,
		base:    base,
		baseImg: img,
		lock:    writeLock(t, "# pinned by pip-compile\nsix==1.16.0\n"),
		wheel:   buildAppWheel(t, tools, "0.1.0", appV1),
	}
}

func (f fixture) spec(t *testing.T, cache string) BuildSpec {
	return BuildSpec{
		Base:            f.base,
		Lockfile:        f.lock,
		WheelDir:        f.tools,
		AppWheel:        f.wheel,
		Entrypoint:      []string{"app-hello"},
		Env:             map[string]string{"APP_ENV": "staging", "A_FIRST": "1"},
		WorkDir:         "/srv",
		SourceDateEpoch: testEpoch,
		CacheDir:        cache,
		OutDir:          filepath.Join(t.TempDir(), "image"),
	}
}

// Not parallel: it changes the process umask, and serial tests finish
// before parallel ones start.
func TestBuildIsReproducible(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	first, err := Build(ctx, f.spec(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if first.DepsLayerCached {
		t.Error("first build in an empty cache reports a cached deps layer")
	}
	// A second cold build in a new cache, under a different umask and at a
	// later time, must give the same bytes.
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })
	time.Sleep(1100 * time.Millisecond) // let wall-clock seconds differ
	second, err := Build(ctx, f.spec(t, t.TempDir()))
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	if second.DepsLayerCached {
		t.Error("build in a fresh cache reports a cached deps layer")
	}
	if diff := cmp.Diff(first, second, cmpIgnorePath); diff != "" {
		t.Errorf("two builds of the same inputs differ (-first +second):\n%s", diff)
	}
	baseDigest, _ := f.baseImg.Digest()
	if first.BaseDigest != baseDigest.String() {
		t.Errorf("BaseDigest = %s, want %s", first.BaseDigest, baseDigest)
	}
	if len(first.Layers) != 4 {
		t.Errorf("layers = %d, want base 2 + deps + app", len(first.Layers))
	}
}

var cmpIgnorePath = cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Path" }, cmp.Ignore())

func TestBuildReusesDepsLayer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	cache := t.TempDir()
	first, err := Build(ctx, f.spec(t, cache))
	if err != nil {
		t.Fatal(err)
	}
	f.wheel = buildAppWheel(t, f.tools, "0.2.0", appV1+"\nVERSION = 2\n")
	second, err := Build(ctx, f.spec(t, cache))
	if err != nil {
		t.Fatal(err)
	}
	if first.DepsLayerCached || !second.DepsLayerCached {
		t.Errorf("DepsLayerCached = %v then %v, want false then true", first.DepsLayerCached, second.DepsLayerCached)
	}
	n := len(first.Layers)
	if diff := cmp.Diff(first.Layers[:n-1], second.Layers[:n-1]); diff != "" {
		t.Errorf("base and deps layers differ after changing only the app (-first +second):\n%s", diff)
	}
	if first.AppLayer == second.AppLayer || first.Digest == second.Digest {
		t.Errorf("app layer %s→%s, digest %s→%s: want both to change", first.AppLayer, second.AppLayer, first.Digest, second.Digest)
	}
	if first.DepsLayer != second.DepsLayer {
		t.Errorf("deps layer %s→%s", first.DepsLayer, second.DepsLayer)
	}

	// A different lock is a different cache key.
	f.lock = writeLock(t, "six==1.16.0\n# a comment changes the hash\n")
	third, err := Build(ctx, f.spec(t, cache))
	if err != nil {
		t.Fatal(err)
	}
	if third.DepsLayerCached {
		t.Error("a changed lockfile reused the cached deps layer")
	}
}

func TestBuildImageContents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res, err := Build(context.Background(), f.spec(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	img, err := imageFromLayout(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	if d.String() != res.Digest {
		t.Fatalf("layout holds %s, result says %s", d, res.Digest)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !cf.Created.Time.Equal(time.Unix(testEpoch, 0)) {
		t.Errorf("created = %v", cf.Created.Time)
	}
	if diff := cmp.Diff([]string{"app-hello"}, cf.Config.Entrypoint); diff != "" {
		t.Errorf("entrypoint:\n%s", diff)
	}
	if cf.Config.WorkingDir != "/srv" {
		t.Errorf("workdir = %q", cf.Config.WorkingDir)
	}
	for _, want := range []string{
		"PYTHONPATH=/opt/sluice/app:/opt/sluice/deps",
		"A_FIRST=1", "APP_ENV=staging",
	} {
		if !slices.Contains(cf.Config.Env, want) {
			t.Errorf("env %v lacks %s", cf.Config.Env, want)
		}
	}
	if i, j := slices.Index(cf.Config.Env, "APP_ENV=staging"), slices.Index(cf.Config.Env, "A_FIRST=1"); i > j {
		t.Errorf("new env keys not in sorted order: %v", cf.Config.Env)
	}
	if n := len(cf.History); n < 2 || !strings.Contains(cf.History[n-1].CreatedBy, "app-0.1.0") || !strings.Contains(cf.History[n-2].CreatedBy, res.LockHash) {
		t.Errorf("history = %+v", cf.History)
	}

	layers, _ := img.Layers()
	deps := layerEntries(t, layers[len(layers)-2])
	app := layerEntries(t, layers[len(layers)-1])
	for name, e := range mergeMaps(deps, app) {
		if e.Unix != testEpoch || e.UID != 0 || e.GID != 0 {
			t.Errorf("%s: mtime %d uid %d gid %d", name, e.Unix, e.UID, e.GID)
		}
		if strings.Contains(name, "__pycache__") || strings.HasSuffix(name, "direct_url.json") || strings.HasSuffix(name, ".pyc") {
			t.Errorf("host-dependent file in layer: %s", name)
		}
	}
	for _, name := range []string{"opt/", "opt/sluice/", "opt/sluice/deps/six.py", "opt/sluice/deps/six-1.16.0.dist-info/METADATA"} {
		if _, ok := deps[name]; !ok {
			t.Errorf("deps layer lacks %s", name)
		}
	}
	if _, ok := deps["opt/sluice/app/app/__init__.py"]; ok {
		t.Error("app files in the deps layer")
	}
	if got := app["opt/sluice/app/app/__init__.py"].Body; got != appV1 {
		t.Errorf("app/__init__.py = %q", got)
	}
	script := app["opt/sluice/app/bin/app-hello"]
	if !strings.HasPrefix(script.Body, "#!/usr/bin/python3\n") || script.Mode != 0o755 {
		t.Errorf("console script mode %o starts %q", script.Mode, strings.SplitN(script.Body, "\n", 2)[0])
	}
	record := app["opt/sluice/app/app-0.1.0.dist-info/RECORD"].Body
	if strings.Contains(record, "direct_url.json") || !strings.Contains(record, "bin/app-hello,sha256=") {
		t.Errorf("RECORD not rewritten:\n%s", record)
	}
}

func mergeMaps(a, b map[string]tarEntry) map[string]tarEntry {
	out := map[string]tarEntry{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func TestBuildBaseFormats(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	want, _ := f.baseImg.Digest()

	layoutDir := filepath.Join(t.TempDir(), "base-layout")
	p, err := layout.Write(layoutDir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(f.baseImg); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, base string }{
		{"docker archive", f.base},
		{"OCI layout", layoutDir},
	}
	cache := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := f.spec(t, cache)
			s.Base = tt.base
			res, err := Build(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if res.BaseDigest != want.String() {
				t.Errorf("base digest %s, want %s", res.BaseDigest, want)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		name    string
		mutate  func(*BuildSpec)
		wantErr string
	}{
		{"missing base", func(s *BuildSpec) { s.Base = filepath.Join(t.TempDir(), "nope.tar") + ":bad ref" }, "opening base image"},
		{"no lock", func(s *BuildSpec) { s.Lockfile = "" }, "no lockfile"},
		{"not a wheel", func(s *BuildSpec) { s.AppWheel = f.lock }, "not a wheel"},
		{"unlocked dependency", func(s *BuildSpec) { s.Lockfile = writeLock(t, "six==1.15.0\n") }, "installing locked dependencies"},
		{"host python mismatch", func(s *BuildSpec) { s.HostPython = "python-that-does-not-exist" }, "no host Python"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := f.spec(t, t.TempDir())
			tt.mutate(&s)
			_, err := Build(context.Background(), s)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Build error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
