// Package venvs keeps a job's Python environments between runs so that a
// warm run is indistinguishable from a cold one on a fresh machine.
//
// A job's environment-changing steps form a prefix: the steps from the
// job's start up to the first step sluice cannot reason about. Each step of
// the prefix is keyed by everything it reads (see python.Recognize), and
// the prefix by the ordered chain of those keys. While the chain matches a
// kept environment's, steps are deferred, not run; at the prefix's end the
// kept environment (the job's environment directories plus what the steps
// changed in the workspace) is restored, after checking with the index that
// every distribution the index decided would still be chosen. Whatever
// cannot be shown equal is run for real from a fresh environment, and the
// log says which input changed. The job's environments and workspace live
// at paths that are the same on every run of the job (its slot), so the
// absolute paths installs write (scripts' shebangs, editable installs'
// .pth files) stay right, and a restore is a copy: the kept original in the
// state directory is never the job's to write. The copy of the job's
// environments directory is made ahead of time, in the background of the
// run before (spare.go), and renamed into place.
package venvs

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluice-ci/sluice/internal/python"
)

// Options say where a job's environments live and whether they are kept.
type Options struct {
	// StateDir holds kept environments, under envs/<Slot>; jobs never see it.
	StateDir string
	// Slot names the job's stable paths: one repository identity, one job.
	Slot string
	// Root is the directory of the job's environments, Workspace its
	// workspace; both are the same on every run in the slot.
	Root, Workspace string
	// Reuse allows deferring steps to a kept environment and keeping one.
	Reuse bool
	HTTP  *http.Client
	// Note writes a line to the job's log.
	Note func(step, text string)
	Now  func() time.Time
	// Keep is how many environments a slot keeps (3 when zero); MaxBytes
	// the largest one kept (8 GiB when zero).
	Keep     int
	MaxBytes int64
}

// Step is one environment-changing step of a job.
type Step struct {
	Name   string // for the log
	Inputs python.StepInputs
	// Targets are the environment directories the step writes; its
	// installed distributions are read from them.
	Targets []string
	// Fixed says the inputs alone decide the result (no index involved),
	// as for a new environment from an interpreter and a pip wheel.
	Fixed bool
	// Workspace says the step may write the workspace.
	Workspace bool
	// Run does the step for real; it is called again when a run that
	// deferred the step has to replay it.
	Run func(ctx context.Context) error
}

type applied struct {
	step      Step
	key       string
	chain     string
	installed []string // distributions it installed or changed, when run here
	ran       bool
	pages     map[string]string // from the restored record, for steps not run here
}

// Manager is one job's environments for the length of the job.
type Manager struct {
	o Options

	loaded   bool
	cands    []*record
	steps    []*applied
	onDisk   int  // steps[:onDisk] are on disk
	ran      bool // a step the index or the job's files decide ran here
	ended    bool
	broken   string // why nothing may be kept
	base     manifest
	noted    bool
	restored *record
	// spare is closed when the background copy of a kept environment
	// for the next run's restore has finished (nil: none started).
	spare chan struct{}
}

// New prepares a job's environments; nothing is read or written until a
// step is applied.
func New(o Options) *Manager {
	if o.Keep <= 0 {
		o.Keep = 3
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 8 << 30
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Note == nil {
		o.Note = func(string, string) {}
	}
	return &Manager{o: o}
}

// Dir is where the job's environment called name lives: the same path on
// every run in the slot.
func (m *Manager) Dir(name string) string { return filepath.Join(m.o.Root, name) }

// Managed says whether path lies in the job's environments or workspace.
func (m *Manager) Managed(path string) bool {
	for _, d := range []string{m.o.Root, m.o.Workspace} {
		if rel, err := filepath.Rel(d, path); err == nil && (rel == "." || filepath.IsLocal(rel)) {
			return true
		}
	}
	return false
}

// Open says whether steps may still be deferred or kept: the prefix has
// not ended.
func (m *Manager) Open() bool { return !m.ended }

// Touched says whether a step applied so far may write the workspace.
func (m *Manager) Touched() bool {
	for _, a := range m.steps {
		if a.step.Workspace {
			return true
		}
	}
	return false
}

func (m *Manager) keptDir() string { return filepath.Join(m.o.StateDir, "envs", m.o.Slot) }

func (m *Manager) load() {
	if m.loaded {
		return
	}
	m.loaded = true
	if !m.o.Reuse {
		return
	}
	for _, r := range readRecords(m.keptDir()) {
		if r.Root == m.o.Root && r.Workspace == m.o.Workspace {
			m.cands = append(m.cands, r)
		}
	}
}

// Apply takes one environment-changing step. deferred is true when a kept
// environment holds its result and nothing needs to run now; otherwise the
// step ran (err is its failure, or the failure to bring the environment to
// the state the step starts from).
func (m *Manager) Apply(ctx context.Context, st Step) (deferred bool, err error) {
	m.load()
	if m.ended || !m.o.Reuse {
		m.ended = true
		return false, m.runReal(ctx, &applied{step: st})
	}
	prev := ""
	if n := len(m.steps); n > 0 {
		prev = m.steps[n-1].chain
	}
	a := &applied{step: st, key: st.Inputs.Key()}
	a.chain = chainKey(prev, a.key)
	i := len(m.steps)
	m.steps = append(m.steps, a)
	// Only steps whose results the inputs fix (a new environment) may have
	// run: a kept environment replaces those wholesale.
	if !m.ran {
		for _, c := range m.cands {
			if len(c.Steps) > i && c.Steps[i].Chain == a.chain {
				if !st.Fixed { // a new environment says so itself
					m.o.Note(st.Name, fmt.Sprintf("environment restored: %q already applied with the same inputs (key %s); run with --no-env-reuse to install anyway", st.Name, a.key[:12]))
				}
				return true, nil
			}
		}
	}
	if !st.Fixed {
		m.explainMiss(i)
	}
	if err := m.materialize(ctx, i); err != nil {
		return false, err
	}
	if err := m.runReal(ctx, a); err != nil {
		return false, err
	}
	m.onDisk = i + 1
	return false, nil
}

// Read brings the deferred steps' result to disk without ending the
// prefix: for a step that only looks at the environment (python
// --version, pip list).
func (m *Manager) Read(ctx context.Context) error {
	if m.ended || !m.o.Reuse {
		return nil
	}
	return m.materialize(ctx, len(m.steps))
}

// explainMiss notes, once, why step i cannot be taken from a kept
// environment.
func (m *Manager) explainMiss(i int) {
	if m.noted || m.ran {
		return
	}
	m.noted = true
	a := m.steps[i]
	if len(m.cands) == 0 {
		m.o.Note(a.step.Name, "environment: nothing kept for this job yet; installing")
		return
	}
	for _, c := range m.cands {
		if i > 0 && (len(c.Steps) < i || c.Steps[i-1].Chain != m.steps[i-1].chain) {
			continue
		}
		if len(c.Steps) <= i {
			m.o.Note(a.step.Name, fmt.Sprintf("environment inputs changed: the kept environment ends before %q; installing", a.step.Name))
			return
		}
		changed := python.Changed(c.Steps[i].Inputs, a.step.Inputs.Values)
		m.o.Note(a.step.Name, fmt.Sprintf("environment inputs changed at %q: %s; installing", a.step.Name, describe(changed)))
		return
	}
	m.o.Note(a.step.Name, "environment inputs changed: no kept environment starts like this job; installing")
}

func describe(changed []string) string {
	if len(changed) == 0 {
		return "the steps before it"
	}
	if len(changed) > 6 {
		changed = append(changed[:6:6], fmt.Sprintf("%d more", len(changed)-6))
	}
	return strings.Join(changed, ", ")
}

// materialize brings the disk to the state after steps[:n]: a kept
// environment of exactly those steps whose index pages are unchanged is
// restored, otherwise the steps not on disk yet run again.
func (m *Manager) materialize(ctx context.Context, n int) error {
	if m.onDisk >= n {
		return nil
	}
	if !m.ran {
		if c := m.exact(n); c != nil {
			why, err := m.verifyIndex(ctx, c)
			switch {
			case err == nil && why == "":
				if err := m.restore(c); err == nil {
					m.onDisk = n
					m.restored = c
					return nil
				} else {
					m.o.Note("", fmt.Sprintf("environment: restoring the kept environment failed (%v); installing", err))
				}
			case why != "":
				m.o.Note("", "environment: "+why+"; installing again")
			default:
				m.o.Note("", fmt.Sprintf("environment: cannot ask the index whether the kept environment is current (%v); installing again", err))
			}
		} else if c := m.longer(n); c != nil {
			var extra []string
			for _, s := range c.Steps[n:] {
				extra = append(extra, fmt.Sprintf("%q", s.Name))
			}
			m.o.Note("", fmt.Sprintf("environment: the kept environment also holds %s, which this run does not apply (removed or skipped); installing again", strings.Join(extra, ", ")))
		}
	}
	if m.onDisk == 0 {
		if err := clearDir(m.o.Root); err != nil {
			return fmt.Errorf("resetting the job's environments: %w", err)
		}
	}
	for i := m.onDisk; i < n; i++ {
		a := m.steps[i]
		if !a.step.Fixed {
			m.o.Note(a.step.Name, fmt.Sprintf("replaying %q", a.step.Name))
		}
		if err := m.runReal(ctx, a); err != nil {
			return fmt.Errorf("replaying %q while making the environment: %w", a.step.Name, err)
		}
		m.onDisk = i + 1
	}
	return nil
}

func (m *Manager) exact(n int) *record {
	if n == 0 {
		return nil
	}
	for _, c := range m.cands {
		if len(c.Steps) == n && c.Steps[n-1].Chain == m.steps[n-1].chain {
			return c
		}
	}
	return nil
}

func (m *Manager) longer(n int) *record {
	for _, c := range m.cands {
		if n > 0 && len(c.Steps) > n && c.Steps[n-1].Chain == m.steps[n-1].chain {
			return c
		}
	}
	return nil
}

// takeBase lists the workspace before the job's environments first change
// it, to find later what the steps wrote there.
func (m *Manager) takeBase() error {
	if m.base != nil {
		return nil
	}
	r, err := os.OpenRoot(m.o.Workspace)
	if err != nil {
		return fmt.Errorf("reading the workspace: %w", err)
	}
	defer r.Close()
	if m.base, err = walk(r, skipInWorkspace); err != nil {
		return fmt.Errorf("reading the workspace: %w", err)
	}
	return nil
}

func (m *Manager) runReal(ctx context.Context, a *applied) error {
	if m.o.Reuse && a.step.Workspace {
		if err := m.takeBase(); err != nil {
			return err
		}
	}
	before := dists(a.step.Targets)
	err := a.step.Run(ctx)
	a.ran = true
	if !a.step.Fixed {
		m.ran = true
	}
	if err != nil {
		m.broken = fmt.Sprintf("%q failed", a.step.Name)
		return err
	}
	after := dists(a.step.Targets)
	for name, v := range after {
		if before[name] != v {
			a.installed = append(a.installed, name)
		}
	}
	sort.Strings(a.installed)
	if a.step.Inputs.UpgradeAll {
		a.installed = a.installed[:0]
		for name := range after {
			a.installed = append(a.installed, name)
		}
		sort.Strings(a.installed)
	}
	return nil
}

// dists lists the distributions installed in envs: name → version.
func dists(envs []string) map[string]string {
	out := map[string]string{}
	for _, e := range envs {
		for k, v := range python.InstalledDists(e) {
			out[k] = v
		}
	}
	return out
}

// Barrier ends the prefix before a step sluice cannot reason about: the
// deferred steps' result is brought to disk, and a prefix that ran here
// is kept for the next run.
func (m *Manager) Barrier(ctx context.Context) error {
	if m.ended {
		return nil
	}
	if !m.o.Reuse || len(m.steps) == 0 {
		m.ended = true
		return nil
	}
	start := m.o.Now()
	err := m.materialize(ctx, len(m.steps))
	m.ended = true
	if err != nil {
		m.broken = err.Error()
		return err
	}
	if !m.ran {
		if m.restored != nil {
			m.o.Note("", fmt.Sprintf("environment restored from the run of %s: %d step(s) with the same inputs, index unchanged for what it decided (%s)",
				m.restored.Created.Local().Format("2006-01-02 15:04:05"), len(m.steps), m.o.Now().Sub(start).Round(time.Millisecond)))
		}
		return nil
	}
	m.keep(ctx)
	return nil
}

// Close ends the job's use of its environments, keeping them for the
// next run when the prefix ran here and nothing failed.
func (m *Manager) Close(ctx context.Context) {
	defer m.waitSpare()
	if m.ended || !m.o.Reuse {
		return
	}
	m.ended = true
	if m.ran {
		m.keep(ctx)
	}
}

// keep stores the job's environments as they are now (the end of the
// prefix) for the next run, logging why when it cannot.
func (m *Manager) keep(ctx context.Context) {
	if !m.ran || len(m.steps) == 0 {
		return
	}
	if m.broken != "" {
		m.o.Note("", "environment not kept: "+m.broken)
		return
	}
	size, err := m.snapshot(ctx)
	if err != nil {
		m.o.Note("", "environment not kept: "+err.Error())
		return
	}
	m.o.Note("", fmt.Sprintf("environment kept for the next run (%d step(s), %s)", len(m.steps), humanBytes(size)))
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// snapshot copies the job's environments and the workspace changes into
// the state directory, with what decided them.
func (m *Manager) snapshot(ctx context.Context) (int64, error) {
	ws, err := os.OpenRoot(m.o.Workspace)
	if err != nil {
		return 0, fmt.Errorf("reading the workspace: %w", err)
	}
	defer ws.Close()
	now, err := walk(ws, skipInWorkspace)
	if err != nil {
		return 0, fmt.Errorf("reading the workspace: %w", err)
	}
	base := m.base
	if base == nil {
		base = now // no step that writes the workspace ran
	}
	d := diff(base, now)
	inputs := map[string]string{}
	for _, a := range m.steps {
		for k, v := range a.step.Inputs.Values {
			if rel, ok := strings.CutPrefix(k, "file "); ok {
				inputs[rel] = v
			}
		}
	}
	bases := map[string]string{}
	for _, p := range append(append([]string(nil), d.Modified...), d.Deleted...) {
		if m.base[p].Mode.IsDir() {
			continue // its files are listed themselves
		}
		v, ok := inputs[p]
		if !ok {
			return 0, fmt.Errorf("the steps changed %s in the workspace, which none of them reads as an input", p)
		}
		bases[p] = v
	}
	modifiedLocks := map[string]bool{}
	for _, p := range d.Modified {
		modifiedLocks[p] = true
	}
	for _, p := range d.Created {
		modifiedLocks[p] = true
	}
	rec := &record{Version: recordVersion, Created: m.o.Now(), Root: m.o.Root, Workspace: m.o.Workspace, Delta: d, Bases: bases}
	pages, err := m.pages(ctx, modifiedLocks)
	if err != nil {
		return 0, err
	}
	for i, a := range m.steps {
		rec.Steps = append(rec.Steps, stepRecord{Name: a.step.Name, Chain: a.chain, Inputs: a.step.Inputs.Values, Pages: pages[i]})
	}
	kept := m.keptDir()
	if err := os.MkdirAll(kept, 0o755); err != nil {
		return 0, err
	}
	tmp, err := os.MkdirTemp(kept, ".tmp-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	cp := &copier{limit: m.o.MaxBytes}
	if err := os.MkdirAll(m.o.Root, 0o755); err != nil {
		return 0, err
	}
	envs, err := os.OpenRoot(m.o.Root)
	if err != nil {
		return 0, err
	}
	defer envs.Close()
	em, err := walk(envs, nil)
	if err != nil {
		return 0, fmt.Errorf("reading the job's environments: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(tmp, "venvs"), 0o755); err != nil {
		return 0, err
	}
	if err := cp.fromJob(envs, em, sortedPaths(em), filepath.Join(tmp, "venvs")); err != nil {
		return 0, fmt.Errorf("copying the job's environments: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(tmp, "ws"), 0o755); err != nil {
		return 0, err
	}
	var wsPaths []string
	wsPaths = append(wsPaths, d.Created...)
	for _, p := range d.Modified {
		if !now[p].Mode.IsDir() {
			wsPaths = append(wsPaths, p)
		}
	}
	sort.Strings(wsPaths)
	if err := cp.fromJob(ws, now, wsPaths, filepath.Join(tmp, "ws")); err != nil {
		return 0, fmt.Errorf("copying what the steps wrote in the workspace: %w", err)
	}
	rec.dir = tmp
	if err := rec.write(); err != nil {
		return 0, err
	}
	name := rec.Steps[len(rec.Steps)-1].Chain[:24]
	final := filepath.Join(kept, name)
	_ = os.RemoveAll(final)
	if err := os.Rename(tmp, final); err != nil {
		return 0, fmt.Errorf("keeping the environment: %w", err)
	}
	if err := prune(kept, m.o.Keep, name); err != nil {
		m.o.Note("", fmt.Sprintf("removing older kept environments: %v", err))
	}
	m.startSpare(final)
	return cp.bytes, nil
}

func sortedPaths(m manifest) []string {
	out := make([]string, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// checkSet is the distributions whose index pages decided step a.
func (m *Manager) checkSet(a *applied, modified map[string]bool) []string {
	in := a.step.Inputs
	if a.step.Fixed || in.Query {
		return nil
	}
	if len(in.Locks) > 0 && !in.UpgradeAll {
		changed := false
		for _, l := range in.Locks {
			if modified[l] {
				changed = true
			}
		}
		if !changed {
			return nil // the lock decided, and the step did not change it
		}
	}
	set := map[string]bool{}
	for _, n := range a.installed {
		set[n] = true
	}
	if in.Upgrade {
		for _, n := range in.Named {
			set[n] = true
		}
	}
	var out []string
	for n := range set {
		if !in.Pinned[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// pages reads, for each step that ran here, the index pages of the
// distributions the index decided for it; a restored step keeps the pages
// its record had.
func (m *Manager) pages(ctx context.Context, modified map[string]bool) ([]map[string]string, error) {
	out := make([]map[string]string, len(m.steps))
	type job struct {
		step int
		name string
	}
	var jobs []job
	for i, a := range m.steps {
		if !a.ran {
			if m.restored != nil && i < len(m.restored.Steps) {
				out[i] = m.restored.Steps[i].Pages
			}
			continue
		}
		for _, n := range m.checkSet(a, modified) {
			jobs = append(jobs, job{i, n})
		}
	}
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			files, err := python.ProjectFiles(ctx, m.o.HTTP, m.steps[j.step].step.Inputs.Index, j.name)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("cannot read what the index offers for %s, which decided %q: %v", j.name, m.steps[j.step].step.Name, err)
				}
				return
			}
			if out[j.step] == nil {
				out[j.step] = map[string]string{}
			}
			out[j.step][j.name] = python.FilesDigest(files)
		}()
	}
	wg.Wait()
	return out, firstErr
}

// verifyIndex asks the index whether every distribution it decided for a
// kept environment would be chosen again: why says what changed.
func (m *Manager) verifyIndex(ctx context.Context, c *record) (why string, err error) {
	type job struct {
		step       int
		name, want string
	}
	var jobs []job
	for i, s := range c.Steps {
		for n, d := range s.Pages {
			jobs = append(jobs, job{i, n, d})
		}
	}
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].name < jobs[j].name })
	var mu sync.Mutex
	var changed []string
	var firstErr error
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			files, err := python.ProjectFiles(ctx, m.o.HTTP, m.steps[j.step].step.Inputs.Index, j.name)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				if firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", j.name, err)
				}
			case python.FilesDigest(files) != j.want:
				changed = append(changed, j.name)
			}
		}()
	}
	wg.Wait()
	if len(changed) > 0 {
		sort.Strings(changed)
		return fmt.Sprintf("the index changed what it offers for %s since the kept environment was made", strings.Join(changed, ", ")), nil
	}
	return "", firstErr
}

// restore copies a kept environment into the job's paths.
func (m *Manager) restore(c *record) error {
	if err := m.takeBase(); err != nil {
		return err
	}
	ws, err := os.OpenRoot(m.o.Workspace)
	if err != nil {
		return err
	}
	defer ws.Close()
	for _, p := range c.Delta.roots() {
		rel, ok := cleanRel(p)
		if !ok {
			return fmt.Errorf("kept path %q is not inside the workspace", p)
		}
		if _, err := ws.Lstat(filepath.FromSlash(rel)); err == nil {
			return fmt.Errorf("%s already exists in the workspace", p)
		}
	}
	for p, want := range c.Bases {
		rel, ok := cleanRel(p)
		if !ok {
			return fmt.Errorf("kept path %q is not inside the workspace", p)
		}
		if got, err := rootDigest(ws, rel); err != nil || got != want {
			return fmt.Errorf("%s differs from the file the kept steps changed", p)
		}
	}
	if err := clearDir(m.o.Root); err != nil {
		return err
	}
	if !takeSpare(c.dir, m.o.Root) {
		envs, err := os.OpenRoot(m.o.Root)
		if err != nil {
			return err
		}
		defer envs.Close()
		src := filepath.Join(c.dir, "venvs")
		vm, err := plainManifest(src)
		if err != nil {
			return err
		}
		if err := (&copier{}).toJob(src, vm, envs); err != nil {
			return fmt.Errorf("copying the kept environments: %w", err)
		}
	}
	cp := &copier{}
	for _, p := range c.Delta.Deleted {
		if rel, ok := cleanRel(p); ok {
			if err := ws.RemoveAll(filepath.FromSlash(rel)); err != nil {
				return err
			}
		}
	}
	wsSrc := filepath.Join(c.dir, "ws")
	wm, err := plainManifest(wsSrc)
	if err != nil {
		return err
	}
	if err := cp.toJob(wsSrc, wm, ws); err != nil {
		return fmt.Errorf("copying what the kept steps wrote in the workspace: %w", err)
	}
	m.restampUV(c)
	now := m.o.Now()
	_ = os.Chtimes(c.dir, now, now)
	m.startSpare(c.dir)
	return nil
}

func rootDigest(r *os.Root, rel string) (string, error) {
	f, err := r.Open(filepath.FromSlash(rel))
	if err != nil {
		return "absent", nil
	}
	defer f.Close()
	return python.ReaderDigest(f)
}

// restampUV brings uv's build stamps of the workspace's projects up to date
// in the restored environments, where the kept steps' inputs prove the
// projects' files are those they were built from; otherwise every warm
// `uv run` would rebuild them (python.RestampUVBuilds says why). A stamp
// left alone only costs uv a rebuild, so a failure is noted, not fatal.
func (m *Manager) restampUV(c *record) {
	var envs []string
	seen := map[string]bool{}
	for _, a := range m.steps[:min(len(c.Steps), len(m.steps))] {
		for _, t := range a.step.Targets {
			if !seen[t] {
				seen[t] = true
				envs = append(envs, t)
			}
		}
	}
	keyed := make([]map[string]string, 0, len(c.Steps))
	for _, s := range c.Steps {
		keyed = append(keyed, s.Inputs)
	}
	done, err := python.RestampUVBuilds(envs, m.o.Workspace, keyed)
	if err != nil {
		m.o.Note("", fmt.Sprintf("environment: %v (uv will rebuild the project)", err))
	}
	if len(done) > 0 {
		m.o.Note("", fmt.Sprintf("environment: uv's build stamp of %s brought up to date (pyproject.toml, setup.py, setup.cfg and the file names unchanged since the build)", strings.Join(done, ", ")))
	}
}
