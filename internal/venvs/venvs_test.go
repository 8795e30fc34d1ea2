package venvs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/python"
)

// index is a simple-API index (JSON) whose projects the test changes.
type index struct {
	mu    sync.Mutex
	files map[string][]string // project → file names
	hits  map[string]int
	srv   *httptest.Server
}

func newIndex(t *testing.T) *index {
	ix := &index{files: map[string][]string{}, hits: map[string]int{}}
	ix.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.Trim(strings.TrimPrefix(r.URL.Path, "/simple/"), "/")
		ix.mu.Lock()
		files, ok := ix.files[name]
		ix.hits[name]++
		ix.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		var doc struct {
			Files []map[string]any `json:"files"`
		}
		for _, f := range files {
			doc.Files = append(doc.Files, map[string]any{"filename": f, "url": "/files/" + f, "hashes": map[string]string{}})
		}
		w.Header().Set("Content-Type", "application/vnd.pypi.simple.v1+json")
		_ = json.NewEncoder(w).Encode(doc)
	}))
	t.Cleanup(ix.srv.Close)
	return ix
}

func (ix *index) publish(project, file string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.files[project] = append(ix.files[project], file)
}

func (ix *index) spec() python.IndexSpec {
	return python.IndexSpec{URLs: []string{ix.srv.URL + "/simple/"}}
}

// world is one job slot (its environments and workspace) and the state
// directory, used by successive "runs" of the same job.
type world struct {
	t           *testing.T
	state, slot string
	root, ws    string
	ix          *index
	runs        map[string]int // step name → times it really ran
	notes       []string
	last        *Manager // closed (as the engine does at a job's end) before the next run
}

func newWorld(t *testing.T) *world {
	base := t.TempDir()
	w := &world{t: t, state: filepath.Join(base, "state"), slot: "slot-0",
		root: filepath.Join(base, "slot", "envs"), ws: filepath.Join(base, "slot", "work", "repo"),
		ix: newIndex(t), runs: map[string]int{}}
	t.Cleanup(w.closeLast)
	return w
}

func (w *world) closeLast() {
	if w.last != nil {
		w.last.Close(context.Background())
		w.last = nil
	}
}

// newRun starts a run: a fresh workspace holding files, as a checkout.
func (w *world) newRun(files map[string]string) *Manager {
	w.t.Helper()
	w.closeLast()
	if err := os.RemoveAll(filepath.Dir(w.ws)); err != nil {
		w.t.Fatal(err)
	}
	for name, body := range files {
		p := filepath.Join(w.ws, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			w.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			w.t.Fatal(err)
		}
	}
	if err := os.MkdirAll(w.ws, 0o755); err != nil {
		w.t.Fatal(err)
	}
	w.notes = nil
	w.last = New(Options{StateDir: w.state, Slot: w.slot, Root: w.root, Workspace: w.ws, Reuse: true,
		Note: func(_, text string) { w.notes = append(w.notes, text) }})
	return w.last
}

func (w *world) noted(sub string) bool {
	for _, n := range w.notes {
		if strings.Contains(n, sub) {
			return true
		}
	}
	return false
}

// env makes the job's environment: a site-packages with pip.
func (w *world) env() Step {
	dir := filepath.Join(w.root, "py")
	return Step{Name: "env", Fixed: true, Targets: []string{dir},
		Inputs: python.StepInputs{Values: map[string]string{"interpreter": "3.11"}},
		Run: func(context.Context) error {
			w.runs["env"]++
			return os.MkdirAll(filepath.Join(dir, "lib", "python3.11", "site-packages", "pip-25.0.dist-info"), 0o755)
		}}
}

// install is a step installing dists (name → version) into the job's
// environment, reading the workspace file req; the index decides the
// names not pinned.
func (w *world) install(name, req string, dists map[string]string, pinned ...string) Step {
	dir := filepath.Join(w.root, "py")
	body, _ := os.ReadFile(filepath.Join(w.ws, req))
	p := map[string]bool{}
	for _, n := range pinned {
		p[n] = true
	}
	return Step{Name: name, Targets: []string{dir}, Workspace: true,
		Inputs: python.StepInputs{Values: map[string]string{"command": name, "file " + req: string(body)}, Pinned: p, Index: w.ix.spec()},
		Run: func(context.Context) error {
			w.runs[name]++
			for d, v := range dists {
				if err := os.MkdirAll(filepath.Join(dir, "lib", "python3.11", "site-packages", d+"-"+v+".dist-info"), 0o755); err != nil {
					return err
				}
			}
			// Like an editable install's metadata, written into the project.
			return os.WriteFile(filepath.Join(w.ws, name+".egg-info"), []byte(name), 0o644)
		}}
}

func (w *world) installed() []string {
	var out []string
	for n, v := range python.InstalledDists(filepath.Join(w.root, "py")) {
		out = append(out, n+"=="+v)
	}
	return sorted(out)
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// job runs steps through m then a barrier, as the engine does before the
// first step it cannot key.
func (w *world) job(m *Manager, steps ...Step) {
	w.t.Helper()
	ctx := context.Background()
	for _, st := range steps {
		if _, err := m.Apply(ctx, st); err != nil {
			w.t.Fatalf("applying %s: %v", st.Name, err)
		}
	}
	if err := m.Barrier(ctx); err != nil {
		w.t.Fatalf("barrier: %v", err)
	}
}

func TestWarmRunRestoresWithoutRunning(t *testing.T) {
	w := newWorld(t)
	w.ix.publish("beta", "beta-1.0-py3-none-any.whl")
	files := map[string]string{"req.txt": "alpha==1.0\n"}
	steps := func() []Step {
		return []Step{w.env(), w.install("pip install -r req.txt", "req.txt", map[string]string{"alpha": "1.0", "beta": "1.0"}, "alpha")}
	}
	w.job(w.newRun(files), steps()...)
	cold := w.installed()
	if !w.noted("environment kept") {
		t.Fatalf("cold run kept nothing: %q", w.notes)
	}
	for run := 2; run <= 3; run++ {
		w.job(w.newRun(files), steps()...)
		if diff := cmp.Diff(cold, w.installed()); diff != "" {
			t.Errorf("run %d: installed differs from the cold run (-cold +warm):\n%s", run, diff)
		}
		if _, err := os.Stat(filepath.Join(w.ws, "pip install -r req.txt.egg-info")); err != nil {
			t.Errorf("run %d: what the install wrote in the workspace was not restored: %v", run, err)
		}
	}
	if diff := cmp.Diff(map[string]int{"env": 1, "pip install -r req.txt": 1}, w.runs); diff != "" {
		t.Errorf("steps really run (-want +got):\n%s", diff)
	}
	// Only beta, which nothing pins, was asked of the index.
	if w.ix.hits["alpha"] != 0 || w.ix.hits["beta"] < 3 {
		t.Errorf("index asked for %v; want beta on every run, never the pinned alpha", w.ix.hits)
	}
}

func TestChangedInputsAreNamedAndInstalledAgain(t *testing.T) {
	w := newWorld(t)
	w.job(w.newRun(map[string]string{"req.txt": "a\n"}), w.env(), w.install("install", "req.txt", map[string]string{"a": "1"}, "a"))
	m := w.newRun(map[string]string{"req.txt": "b\n"})
	w.job(m, w.env(), w.install("install", "req.txt", map[string]string{"b": "1"}, "b"))
	if !w.noted(`environment inputs changed at "install": file req.txt`) {
		t.Errorf("notes do not name the changed file: %q", w.notes)
	}
	// A fresh environment, replayed: a is gone.
	if diff := cmp.Diff([]string{"b==1", "pip==25.0"}, w.installed()); diff != "" {
		t.Errorf("installed (-want +got):\n%s", diff)
	}
	if w.runs["env"] != 2 || w.runs["install"] != 2 {
		t.Errorf("steps really run: %v", w.runs)
	}
}

func TestRemovedStepIsNotKept(t *testing.T) {
	w := newWorld(t)
	files := map[string]string{"a.txt": "a\n", "b.txt": "b\n"}
	w.job(w.newRun(files), w.env(), w.install("a", "a.txt", map[string]string{"a": "1"}, "a"), w.install("b", "b.txt", map[string]string{"tomli": "1"}, "tomli"))
	w.job(w.newRun(files), w.env(), w.install("a", "a.txt", map[string]string{"a": "1"}, "a"))
	if diff := cmp.Diff([]string{"a==1", "pip==25.0"}, w.installed()); diff != "" {
		t.Errorf("after removing step b (-want +got):\n%s", diff)
	}
	if !w.noted(`also holds "b"`) {
		t.Errorf("notes do not say the kept environment held more: %q", w.notes)
	}
	if _, err := os.Stat(filepath.Join(w.ws, "b.egg-info")); err == nil {
		t.Error("the removed step's workspace file is there")
	}
}

func TestNewReleaseOnTheIndexInstallsAgain(t *testing.T) {
	w := newWorld(t)
	w.ix.publish("beta", "beta-1.0-py3-none-any.whl")
	files := map[string]string{"req.txt": "alpha==1.0\n"}
	w.job(w.newRun(files), w.env(), w.install("i", "req.txt", map[string]string{"alpha": "1.0", "beta": "1.0"}, "alpha"))
	w.ix.publish("beta", "beta-1.1-py3-none-any.whl")
	w.job(w.newRun(files), w.env(), w.install("i", "req.txt", map[string]string{"alpha": "1.0", "beta": "1.1"}, "alpha"))
	if !w.noted("the index changed what it offers for beta") {
		t.Errorf("notes do not say the index changed: %q", w.notes)
	}
	if diff := cmp.Diff([]string{"alpha==1.0", "beta==1.1", "pip==25.0"}, w.installed()); diff != "" {
		t.Errorf("installed (-want +got):\n%s", diff)
	}
	// A new release of a pinned name changes nothing.
	w.ix.publish("alpha", "alpha-2.0-py3-none-any.whl")
	w.job(w.newRun(files), w.env(), w.install("i", "req.txt", map[string]string{"alpha": "1.0", "beta": "1.1"}, "alpha"))
	if !w.noted("environment restored from") || w.runs["i"] != 2 {
		t.Errorf("a release of a pinned name reinstalled (runs %v): %q", w.runs, w.notes)
	}
}

func TestReadMaterializesWithoutEndingThePrefix(t *testing.T) {
	w := newWorld(t)
	files := map[string]string{"req.txt": "a\n"}
	w.job(w.newRun(files), w.env(), w.install("i", "req.txt", map[string]string{"a": "1"}, "a"))
	// python --version right after the environment, then the install.
	m := w.newRun(files)
	ctx := context.Background()
	if _, err := m.Apply(ctx, w.env()); err != nil {
		t.Fatal(err)
	}
	if err := m.Read(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(w.root, "py")); err != nil {
		t.Fatalf("Read left the environment off disk: %v", err)
	}
	deferred, err := m.Apply(ctx, w.install("i", "req.txt", map[string]string{"a": "1"}, "a"))
	if err != nil || !deferred {
		t.Fatalf("the install after a read: deferred %v, err %v; want it deferred", deferred, err)
	}
	if err := m.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a==1", "pip==25.0"}, w.installed()); diff != "" {
		t.Errorf("installed (-want +got):\n%s", diff)
	}
}

// A workspace whose checkout holds a symlink where a kept environment
// wrote (.venv -> somewhere outside) must not have the restore write
// through it.
func TestRestoreDoesNotFollowWorkspaceSymlinks(t *testing.T) {
	w := newWorld(t)
	dir := func() string { return filepath.Join(w.ws, ".venv") }
	venv := func() Step {
		return Step{Name: "uv sync", Workspace: true, Targets: []string{dir()},
			Inputs: python.StepInputs{Values: map[string]string{"command": "uv sync"}, Locks: []string{"uv.lock"}},
			Run: func(context.Context) error {
				w.runs["uv sync"]++
				// The job's own tool writing through the job's own link is
				// the job's business; this test is about sluice's restore.
				if fi, err := os.Lstat(dir()); err == nil && fi.Mode()&os.ModeSymlink != 0 {
					return fmt.Errorf(".venv is a symlink")
				}
				return os.MkdirAll(filepath.Join(dir(), "lib", "python3.11", "site-packages", "x-1.dist-info"), 0o755)
			}}
	}
	w.job(w.newRun(nil), venv())
	outside := t.TempDir()
	m := w.newRun(nil)
	if err := os.Symlink(outside, dir()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(context.Background(), venv()); err != nil {
		t.Fatal(err)
	}
	err := m.Barrier(context.Background())
	entries, _ := os.ReadDir(outside)
	if len(entries) != 0 {
		t.Fatalf("the restore wrote through the workspace's symlink into %s: %v", outside, entries)
	}
	if err == nil || !w.noted(".venv already exists in the workspace") {
		t.Errorf("restoring over a planted symlink: barrier error %v, notes %q", err, w.notes)
	}
}

func TestStepChangingAFileItDoesNotReadIsNotKept(t *testing.T) {
	w := newWorld(t)
	st := Step{Name: "odd", Workspace: true, Inputs: python.StepInputs{Values: map[string]string{"command": "odd"}},
		Run: func(context.Context) error {
			return os.WriteFile(filepath.Join(w.ws, "README"), []byte("changed"), 0o644)
		}}
	w.job(w.newRun(map[string]string{"README": "hi"}), st)
	if !w.noted("not kept: the steps changed README") {
		t.Errorf("notes: %q", w.notes)
	}
}

func TestKeptEnvironmentsArePruned(t *testing.T) {
	w := newWorld(t)
	for i := range 5 {
		files := map[string]string{"req.txt": fmt.Sprint(i)}
		w.job(w.newRun(files), w.env(), w.install("i", "req.txt", map[string]string{"a": "1"}, "a"))
	}
	recs := readRecords(filepath.Join(w.state, "envs", w.slot))
	if len(recs) != 3 {
		t.Errorf("kept %d environments, want the newest 3", len(recs))
	}
	// The newest is the last run's.
	if got := recs[0].Steps[1].Inputs["file req.txt"]; got != "4" {
		t.Errorf("newest kept environment is for req.txt %q, want 4", got)
	}
	_ = time.Now
}
