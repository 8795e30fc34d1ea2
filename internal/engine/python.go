package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-ci/sluice/internal/actions"
	"github.com/sluice-ci/sluice/internal/executor/host"
	"github.com/sluice-ci/sluice/internal/lazyre"
	"github.com/sluice-ci/sluice/internal/logs"
	"github.com/sluice-ci/sluice/internal/python"
	"github.com/sluice-ci/sluice/internal/testreport"
	"github.com/sluice-ci/sluice/internal/venvs"
)

func (s *nativeStep) PythonEnvs() actions.PythonEnvs { return s.jr.py }

func (s *nativeStep) RecordVersion(tool, version string) {
	s.jr.mu.Lock()
	defer s.jr.mu.Unlock()
	s.jr.versions[tool] = version
}

// newPythonEnvs prepares the job's Python environments in its slot.
func (jr *jobRun) newPythonEnvs(slot *jobSlot) *venvs.Manager {
	e := jr.wr.e
	return venvs.New(venvs.Options{
		StateDir: e.opts.StateDir, Slot: slot.name, Root: slot.envs, Workspace: slot.workspace,
		Reuse: e.opts.EnvReuse,
		Note:  func(_, text string) { jr.notice(jr.currentStep(), text) },
	})
}

func (jr *jobRun) currentStep() string {
	jr.mu.Lock()
	defer jr.mu.Unlock()
	return jr.curStep
}

func (jr *jobRun) setCurrentStep(display string) {
	jr.mu.Lock()
	defer jr.mu.Unlock()
	jr.curStep = display
}

// closePythonEnvs ends the job's environment-changing prefix if its steps
// never did: before post steps (which may read the environments) their
// deferred state is brought to disk, else what ran here is kept.
func (jr *jobRun) closePythonEnvs(ctx context.Context) {
	if jr.py == nil {
		return
	}
	jr.mu.Lock()
	posts := len(jr.posts)
	jr.mu.Unlock()
	if ctx.Err() != nil {
		ctx = context.WithoutCancel(ctx)
	}
	if posts > 0 {
		if err := jr.py.Barrier(ctx); err != nil {
			jr.notice("", fmt.Sprintf("preparing the Python environment for post steps: %v", err))
		}
	}
	// After a barrier Close keeps nothing more; it waits for the copy
	// made for the next run's restore.
	jr.py.Close(ctx)
}

// pythonBarrier ends the environment-changing prefix before a step sluice
// cannot reason about.
func (jr *jobRun) pythonBarrier(ctx context.Context, display string) (stepOutcome, bool) {
	if jr.py == nil || !jr.py.Open() {
		return stepOutcome{}, true
	}
	if err := jr.py.Barrier(ctx); err != nil {
		return jr.fail(display, err.Error()), false
	}
	return stepOutcome{}, true
}

// actionNeedsBarrier says whether an action step must see the job's
// environments and workspace as the deferred steps leave them. Only
// actions sluice implements and knows to leave them alone go on without.
func (jr *jobRun) actionNeedsBarrier(ref actions.Ref, with map[string]string) bool {
	if jr.py == nil || !jr.py.Open() || ref.Kind != actions.Builtin {
		return true
	}
	switch strings.ToLower(ref.NativeName()) {
	case "actions/setup-python", "astral-sh/setup-uv":
		return false // they apply their own steps
	case "actions/checkout":
		return jr.py.Touched()
	case "actions/cache", "actions/cache/restore":
		home := jr.wr.e.opts.BaseEnv["HOME"]
		for _, l := range strings.Split(with["path"], "\n") {
			p := strings.TrimSpace(l)
			if p == "" || strings.HasPrefix(p, "!") {
				continue
			}
			if rest, ok := strings.CutPrefix(p, "~"); ok && home != "" {
				p = home + rest
			}
			if !filepath.IsAbs(p) || jr.py.Managed(filepath.Clean(p)) || strings.ContainsAny(p, "*?[") {
				return true
			}
		}
		return false
	}
	return true
}

// envStep takes a `run:` step through the job's environments when it is an
// install sluice can key: deferred to a kept environment, or run and
// recorded. handled is false when the step is to run as any other.
func (jr *jobRun) envStep(ctx context.Context, sc *scope, id, display string, stepEnv map[string]string, body, shellName string, sh host.Shell, dir string) (o stepOutcome, handled bool) {
	if jr.py == nil || !jr.py.Open() || (jr.ctr != nil && jr.ctr.inside) || sc.depth > 0 {
		return stepOutcome{}, false
	}
	env := jr.processEnv(sc, id, stepEnv, jr.files)
	envMap := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		envMap[k] = v
	}
	in, err := python.Recognize(python.Command{Script: body, Shell: shellName, Dir: dir, Workspace: jr.workspace, Env: envMap, Managed: jr.py.Managed})
	if err == nil && in.Echo {
		return stepOutcome{}, false
	}
	if err == nil && in.Query {
		// It only looks: at the environment as the steps so far left it.
		if rerr := jr.py.Read(ctx); rerr != nil {
			return jr.fail(display, rerr.Error()), true
		}
		return stepOutcome{}, false
	}
	if err != nil {
		if !python.NotInstall(err) {
			jr.wr.e.emit(logs.Event{Kind: logs.Debug, Job: jr.name, Step: display, Text: "environment: " + err.Error()})
		}
		if o, ok := jr.pythonBarrier(ctx, display); !ok {
			return o, true
		}
		return stepOutcome{}, false
	}
	var out stepOutcome
	ran := false
	run := func(ctx context.Context) error {
		d := display
		if ran {
			d = jr.currentStep() // a replay logs under the step that needs it
		}
		ran = true
		out = jr.runBody(ctx, sc, d, env, body, sh, dir)
		if out.outcome != logs.Success {
			return errors.New(firstNonEmpty(out.why, "failed"))
		}
		return nil
	}
	deferred, err := jr.py.Apply(ctx, venvs.Step{Name: commandName(body), Inputs: in, Targets: in.Targets, Workspace: true, Run: run})
	switch {
	case deferred:
		return stepOutcome{outcome: logs.Success, outputs: map[string]string{}}, true
	case ran:
		return out, true
	case err != nil:
		return jr.fail(display, err.Error()), true
	}
	return out, true
}

// commandName names a script in the log: its command, or its first line.
func commandName(body string) string {
	body = strings.TrimSpace(body)
	if first, _, multi := strings.Cut(body, "\n"); multi {
		return strings.TrimSpace(first) + " …"
	}
	return body
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// runBody runs a script body with a fixed process environment (the one
// its step had when it was reached).
func (jr *jobRun) runBody(ctx context.Context, sc *scope, display string, env []string, body string, sh host.Shell, dir string) stepOutcome {
	script, err := host.WriteScript(jr.temp, randomName(), body, sh)
	if err != nil {
		return jr.fail(display, err.Error())
	}
	defer os.Remove(script)
	return jr.runProcessEnv(ctx, sc, display, env, sh.Argv(script), dir, "", true)
}

var junitFlag = lazyre.New(`--junit-?xml[= ]+("[^"]+"|'[^']+'|\S+)`)

// junitFiles are where a step's JUnit reports come from: the file sluice asks
// pytest to write, in the job's junit directory (through PYTEST_ADDOPTS, see
// withPytestJUnit and junitCapture), and the files the script names itself.
func (jr *jobRun) junitFiles(id, dir, body string) (ours string, named []string) {
	ours = filepath.Join(jr.temp, "junit", id+"-"+randomName()+".xml")
	for _, m := range junitFlag.FindAllStringSubmatch(body, -1) {
		p := strings.Trim(m[1], `"'`)
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		named = append(named, p)
	}
	return ours, named
}

// maxJUnitBytes bounds one JUnit report sluice reads.
const maxJUnitBytes = 64 << 20

// collectTests adds the JUnit reports a step's pytest runs wrote (one per
// run, see junitCapture) to the job's results; without any, the files the
// script named itself.
func (jr *jobRun) collectTests(display string, written [][]byte, named []string, since int64) {
	// Only inside the job's directories: a path the script names is the
	// job's to choose, and sluice reads it outside any sandbox.
	if len(written) == 0 && len(named) > 0 {
		jroots := jr.roots() // a few dozen lstat calls: only for a step that names a report
		for _, f := range named {
			fi, err := jroots.Stat(f)
			if err != nil || fi.ModTime().UnixNano() < since {
				continue
			}
			fh, err := jroots.OpenFile(f)
			if err != nil {
				continue
			}
			b, err := io.ReadAll(io.LimitReader(fh, maxJUnitBytes))
			fh.Close()
			if err == nil {
				written = append(written, b)
				break // the first report the step wrote
			}
		}
	}
	var reports []*testreport.Report
	for _, b := range written {
		r, err := testreport.ParseJUnit(bytes.NewReader(b))
		if err != nil {
			jr.notice(display, fmt.Sprintf("reading test results: %v", err))
			continue
		}
		reports = append(reports, r)
	}
	if len(reports) == 0 {
		return
	}
	r := testreport.Merge(reports...)
	line := "tests: " + r.Summary()
	if len(reports) > 1 {
		line += fmt.Sprintf(" (%d pytest runs)", len(reports))
	}
	jr.notice(display, line)
	jr.mu.Lock()
	defer jr.mu.Unlock()
	if jr.tests == nil {
		jr.tests = r
	} else {
		jr.tests = testreport.Merge(jr.tests, r)
	}
}

func (jr *jobRun) testSummary() *logs.TestSummary {
	jr.mu.Lock()
	defer jr.mu.Unlock()
	r := jr.tests
	if r == nil {
		return nil
	}
	ts := &logs.TestSummary{Passed: r.Passed, Failed: r.Failed + r.Errors, Skipped: r.Skipped, Line: r.Summary()}
	for _, c := range r.Cases {
		if c.Status != "failed" && c.Status != "error" {
			continue
		}
		msg, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
		ts.Failures = append(ts.Failures, c.ID()+": "+msg)
	}
	return ts
}

// repoCaches gives a sandboxed job pip and uv caches of its repository
// identity alone (forks apart): a cache is a download a later job trusts,
// so one repository's job must not be able to write another's. Without the
// sandbox a job can write anything sluice can, and the machine's shared
// caches serve.
func (jr *jobRun) repoCaches() map[string]string {
	e := jr.wr.e
	if e.opts.Sandbox == nil || e.opts.StateDir == "" {
		return nil
	}
	fork := ""
	if e.opts.Run.Fork {
		fork = "fork"
	}
	sum := sha256.Sum256([]byte(e.repoIdentity() + "\x00" + fork))
	// Not under the state directory's cache/, which no sandbox may reach.
	dir := filepath.Join(e.opts.StateDir, "repo-caches", hex.EncodeToString(sum[:8]))
	env := map[string]string{"PIP_CACHE_DIR": filepath.Join(dir, "pip"), "UV_CACHE_DIR": filepath.Join(dir, "uv")}
	for _, d := range env {
		if err := os.MkdirAll(d, 0o755); err != nil {
			jr.notice("", fmt.Sprintf("making the job's caches: %v", err))
			return nil
		}
	}
	return env
}
