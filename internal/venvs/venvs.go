// Package venvs keeps each job's Python virtual environment between runs
// and decides when an install step may be skipped: when the environment is
// exactly what the same install commands, over the same inputs (interpreter,
// requirement and lock file contents), produced last time, and nothing else
// has touched it since.
package venvs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sluice-ci/sluice/internal/fslock"
	"github.com/sluice-ci/sluice/internal/python"
)

// Install is one install command applied to an environment.
type Install struct {
	Key     string `json:"key"`
	Command string `json:"command"`
	Dir     string `json:"dir"` // working directory relative to the workspace
}

// record is what an environment remembers of how it was made.
type record struct {
	Interpreter python.Interpreter `json:"interpreter"`
	Installs    []Install          `json:"installs"`
	Fingerprint string             `json:"fingerprint"`
	// Clean is false when something other than a recognised install changed
	// the environment, or a run stopped before replaying all installs.
	Clean bool `json:"clean"`
}

// Env is a job's environment for the length of one job.
type Env struct {
	Dir    string
	Bin    string
	Python string
	// Reused says the environment was kept from an earlier run.
	Reused bool

	interp    python.Interpreter
	workspace string
	unlockFn  func() // releases the environment's lock
	temporary bool
	prev      []Install
	applied   []Install
	clean     bool
	// set by BeforeRun for AfterRun
	pending  *Install
	fpBefore string
	uvPath   string
	diverged bool
}

// Options say where environments live and whether they may be reused.
type Options struct {
	StateDir  string
	JobKey    string
	Workspace string
	UVPath    string // use uv to create environments when set
	Reuse     bool
}

// Acquire returns the job's environment: the kept one when it is intact and
// made from the same interpreter, else a fresh one. A job that finds its
// environment in use by a concurrent run gets a temporary one instead.
func Acquire(ctx context.Context, interp python.Interpreter, o Options) (*Env, error) {
	sum := sha256.Sum256([]byte(o.JobKey + "\x00" + interp.Path + "\x00" + interp.Version))
	base := filepath.Join(o.StateDir, "envs")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", base, err)
	}
	name := hex.EncodeToString(sum[:8])
	e := &Env{interp: interp, workspace: o.Workspace, uvPath: o.UVPath, clean: true}
	unlock, ok, err := fslock.TryLock(filepath.Join(base, name+".lock"))
	if err != nil {
		return nil, fmt.Errorf("locking the environment: %w", err)
	}
	if !ok {
		dir, err := os.MkdirTemp(base, "tmp-")
		if err != nil {
			return nil, fmt.Errorf("creating a temporary environment: %w", err)
		}
		e.Dir, e.temporary = dir, true
		return e, e.create(ctx)
	}
	e.unlockFn = unlock
	e.Dir = filepath.Join(base, name)
	if o.Reuse {
		if rec, ok := readRecord(e.Dir); ok && rec.Clean && rec.Interpreter == interp {
			if fp, err := fingerprint(e.Dir); err == nil && fp == rec.Fingerprint {
				e.prev = rec.Installs
				e.Reused = true
				e.Bin = filepath.Join(e.Dir, "bin")
				e.Python = filepath.Join(e.Bin, "python")
				return e, nil
			}
		}
	}
	if err := e.create(ctx); err != nil {
		e.unlock()
		return nil, err
	}
	return e, nil
}

func (e *Env) create(ctx context.Context) error {
	_ = os.Remove(filepath.Join(e.Dir, recordFile))
	bin, py, err := python.CreateVenv(ctx, e.interp, e.Dir, e.uvPath)
	if err != nil {
		return err
	}
	e.Bin, e.Python = bin, py
	e.prev, e.Reused = nil, false
	return nil
}

// Exec runs an install command again when an environment is rebuilt.
type Exec func(ctx context.Context, command, dir string) (int, error)

// BeforeRun is called with a `run:` step's script before it runs. skip
// means the environment already holds exactly what this install produces;
// note says why, for the log.
func (e *Env) BeforeRun(ctx context.Context, dir, script string, run Exec) (skip bool, note string, err error) {
	e.pending = nil
	rel := e.relDir(dir)
	key, ok, kerr := python.InputsKey(dir, e.interp, strings.TrimSpace(script))
	if kerr != nil || !ok {
		// Not an install we can reason about: watch whether it changes the
		// environment.
		e.fpBefore, _ = fingerprint(e.Dir)
		return false, "", nil
	}
	in := Install{Key: key, Command: strings.TrimSpace(script), Dir: rel}
	n := len(e.applied)
	if n < len(e.prev) {
		if e.prev[n].Key == key && !e.diverged {
			e.applied = append(e.applied, in)
			return true, fmt.Sprintf("environment restored: %q already applied with the same inputs (key %s); run with --no-env-reuse to install anyway", in.Command, key[:12]), nil
		}
		// The kept environment holds more than this run has asked for so
		// far: rebuild it and replay this run's earlier installs.
		if err := e.rebuild(ctx, run); err != nil {
			return false, "", err
		}
		note = "environment inputs changed: rebuilt it"
	}
	e.pending = &in
	return false, note, nil
}

// AfterRun records what the step did to the environment.
func (e *Env) AfterRun(succeeded bool) {
	if e.pending != nil {
		if succeeded {
			e.applied = append(e.applied, *e.pending)
		} else {
			e.clean = false
		}
		e.pending = nil
		return
	}
	if fp, err := fingerprint(e.Dir); err != nil || fp != e.fpBefore {
		e.clean = false
	}
}

func (e *Env) rebuild(ctx context.Context, run Exec) error {
	e.diverged = true
	applied := e.applied
	if err := e.create(ctx); err != nil {
		return err
	}
	e.applied = nil
	for _, in := range applied {
		dir := in.Dir
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(e.workspace, dir)
		}
		code, err := run(ctx, in.Command, dir)
		if err != nil || code != 0 {
			e.clean = false
			return fmt.Errorf("replaying %q while rebuilding the environment failed (exit %d): %v", in.Command, code, err)
		}
		e.applied = append(e.applied, in)
	}
	return nil
}

// Release records the environment for the next run and unlocks it. An
// environment is kept for reuse only when the job succeeded and every
// change to it came from a recognised install.
func (e *Env) Release(jobSucceeded bool) error {
	defer e.unlock()
	if e.temporary {
		return os.RemoveAll(e.Dir)
	}
	clean := e.clean && jobSucceeded && len(e.applied) >= len(e.prev)
	fp, err := fingerprint(e.Dir)
	if err != nil {
		clean = false
	}
	rec := record{Interpreter: e.interp, Installs: e.applied, Fingerprint: fp, Clean: clean}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding environment record: %w", err)
	}
	// The environment is the job's to write: a link it left in the record's
	// place is replaced, never written through.
	p := filepath.Join(e.Dir, recordFile)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("writing environment record: %w", err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("writing environment record: %w", err)
	}
	_, werr := f.Write(b)
	if err := errors.Join(werr, f.Close()); err != nil {
		return fmt.Errorf("writing environment record: %w", err)
	}
	return nil
}

func (e *Env) unlock() {
	if e.unlockFn != nil {
		e.unlockFn()
		e.unlockFn = nil
	}
}

func (e *Env) relDir(dir string) string {
	rel, err := filepath.Rel(e.workspace, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return dir
	}
	return rel
}

const recordFile = "sluice-env.json"

func readRecord(dir string) (record, bool) {
	b, err := os.ReadFile(filepath.Join(dir, recordFile))
	if err != nil {
		return record{}, false
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return record{}, false
	}
	return r, true
}

// fingerprint summarises what is installed: every distribution's metadata
// directory with its RECORD's size and time, and the names in bin/. pip and
// uv rewrite these on every install, uninstall or upgrade.
func fingerprint(dir string) (string, error) {
	var entries []string
	sites, _ := filepath.Glob(filepath.Join(dir, "lib", "*", "site-packages"))
	for _, sp := range sites {
		des, err := os.ReadDir(sp)
		if err != nil {
			return "", err
		}
		for _, d := range des {
			name := d.Name()
			line := name
			if strings.HasSuffix(name, ".dist-info") || strings.HasSuffix(name, ".egg-info") || strings.HasSuffix(name, ".pth") || strings.HasSuffix(name, ".egg-link") {
				fi, err := os.Stat(filepath.Join(sp, name, "RECORD"))
				if errors.Is(err, fs.ErrNotExist) {
					fi, err = os.Stat(filepath.Join(sp, name))
				}
				if err == nil {
					line = fmt.Sprintf("%s %d %d", name, fi.Size(), fi.ModTime().UnixNano())
				}
			}
			entries = append(entries, line)
		}
	}
	bins, _ := os.ReadDir(filepath.Join(dir, "bin"))
	for _, b := range bins {
		entries = append(entries, "bin/"+b.Name())
	}
	sort.Strings(entries)
	h := sha256.Sum256([]byte(strings.Join(entries, "\n")))
	return hex.EncodeToString(h[:]), nil
}
