package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rhysd/actionlint"
	"github.com/sluice-ci/sluice/internal/actions"
	"github.com/sluice-ci/sluice/internal/executor"
	"github.com/sluice-ci/sluice/internal/executor/host"
	"github.com/sluice-ci/sluice/internal/expr"
	"github.com/sluice-ci/sluice/internal/logs"
	"github.com/sluice-ci/sluice/internal/plan"
	"github.com/sluice-ci/sluice/internal/testreport"
	"github.com/sluice-ci/sluice/internal/venvs"
)

// defaultJobTimeout is GitHub's: six hours.
const defaultJobTimeout = 360 * time.Minute

// jobRun is one matrix leg of one job while it runs.
type jobRun struct {
	wr        *workflowRun
	node      *jobNode
	name      string
	ctx       context.Context
	dirs      jobDirs
	workspace string
	temp      string
	root      string // the job's slot: workspace, temp and Python environments
	curStep   string // the step running now, for lines of work done on its behalf
	eventPath string
	matrix    map[string]any
	strategy  map[string]any
	needs     map[string]any
	jobEnv    map[string]string
	shell     string // defaults.run.shell (job over workflow)
	workDir   string // defaults.run.working-directory

	// junit watches the job's JUnit reports; made at its first run step, used by the
	// job's own goroutine only.
	junit *junitWatch

	mu      sync.Mutex
	shells  map[string]string // shells found on PATH (lookShell)
	fileEnv map[string]string // set through GITHUB_ENV
	path    []string          // added through GITHUB_PATH, newest first
	summary strings.Builder
	status  logs.Result // job.status as steps see it
	stepSeq int
	// lastScope is the job's own scope, whose steps context job outputs read.
	lastScope *scope
	posts     []postStep
	files     *runnerFiles
	py        *venvs.Manager    // the job's Python environments
	cacheEnv  map[string]string // the job's own pip/uv caches, under the sandbox
	// rwRoots and roRoots are what natives added to the job's sandbox:
	// its own environments (writable), interpreters and tools (read-only);
	// actionRoots the files of actions the job ran.
	rwRoots, roRoots, actionRoots []string
	// jobJailRun is the job's long-lived jail (see jobJail), for the spec
	// jobJailKey describes.
	jailMu     sync.Mutex
	jobJailRun *host.Jail
	jobJailKey string
	// stepJailRun serves one native step's processes that read more than
	// the job's jail holds.
	stepJailRun *host.Jail
	stepJailKey string
	ctr         *ctrJob // the job's containers, when it has any
	// steps is where the job's `run:` steps run: the host (hostExec: its
	// jail under --sandbox) or the job's container; actions' own processes
	// run on the host. The engine never asks which one it has.
	steps    executor.Executor
	versions map[string]string
	tests    *testreport.Report
}

// key identifies this job leg across runs (same repository, workflow, job
// and matrix values), for state that carries over.
func (jr *jobRun) key() string {
	return jr.wr.e.repoIdentity() + "|" + jr.wr.wf.Path + "|" + jr.name
}

func runnerArch() string {
	switch runtime.GOARCH {
	case "arm64":
		return "ARM64"
	case "arm":
		return "ARM"
	case "386":
		return "X86"
	}
	return "X64"
}

// legResult is how one job ended, as the graph and RunJob see it.
type legResult struct {
	result          logs.Result
	continueOnError bool
	outputs         map[string]string
	tests           *testreport.Report
	envURL          string // a deployment job's environment.url
}

// runLeg runs the job the spec describes: it waits for a job slot, sets the
// job up, runs its steps and tears it down.
func (wr *workflowRun) runLeg(legCtx context.Context) legResult {
	e := wr.e
	spec := wr.spec
	name := spec.Name
	j := wr.wf.Job(spec.JobID)
	if j == nil {
		return e.failUnit(name, fmt.Sprintf("%s has no job %q", wr.wf.Path, spec.JobID))
	}
	n := &jobNode{id: spec.JobID, job: j}
	strategy := plan.StrategyContext(spec.Strategy)
	matrix := map[string]any{}
	for k, v := range spec.Matrix {
		matrix[k] = v
	}
	needs := plan.NeedsContext(spec.Needs)
	ev := wr.evaluator(map[string]any{"needs": needs, "matrix": matrix, "strategy": strategy}, expr.Status{Cancelled: e.cancelled()})
	continueOnError := spec.ContinueOnError

	// Job slots: wait for one unless the job was cancelled meanwhile.
	select {
	case e.sem <- struct{}{}:
	case <-legCtx.Done():
		e.recordJob(logs.JobSummary{Job: name, Result: logs.Cancelled})
		e.emit(logs.Event{Kind: logs.JobFinished, Job: name, Result: logs.Cancelled, Text: "cancelled before it started"})
		return legResult{result: logs.Cancelled}
	}
	defer func() { <-e.sem }()

	start := time.Now()
	e.emit(logs.Event{Kind: logs.JobStarted, Job: name})
	jr := &jobRun{wr: wr, node: n, name: name, matrix: matrix, strategy: strategy, needs: needs,
		fileEnv: map[string]string{}, status: logs.Success,
		versions: map[string]string{"sluice": e.opts.Version, "os": e.osName()}}
	e.emit(logs.Event{Kind: logs.Line, Job: name, Step: "Set up job", Text: fmt.Sprintf("sluice %s on %s (%s)", e.opts.Version, e.osName(), runnerArch())})
	res, why := jr.run(legCtx, ev)
	outputs, envURL := map[string]string{}, ""
	if res == logs.Success || res == logs.Failure {
		outputs, envURL = jr.outputs(), jr.environmentURL()
	}
	d := time.Since(start)
	e.recordJob(logs.JobSummary{Job: name, Result: res, Duration: d, StepSummary: jr.summary.String(),
		ContinueOnError: continueOnError && res == logs.Failure, Versions: jr.versions, Tests: jr.testSummary(), Outputs: outputs})
	text := why
	if continueOnError && res == logs.Failure {
		text = strings.TrimPrefix(text+"; continue-on-error", "; ")
	}
	e.emit(logs.Event{Kind: logs.JobFinished, Job: name, Result: res, Duration: d, Text: text, ContinueOnError: continueOnError && res == logs.Failure})
	return legResult{result: res, continueOnError: continueOnError, outputs: outputs, tests: jr.tests, envURL: envURL}
}

// run sets the job up, runs its steps and tears it down.
func (jr *jobRun) run(legCtx context.Context, ev *expr.Evaluator) (logs.Result, string) {
	e := jr.wr.e
	slot, err := e.jobSlot(jr)
	if err != nil {
		return logs.Failure, err.Error()
	}
	defer slot.unlock()
	if !e.opts.Keep {
		defer e.discard(slot.root)
	}
	defer func() {
		if jr.junit != nil {
			jr.junit.close()
		}
	}()
	defer jr.closeJail()
	dirs, err := e.jobDirs(slot)
	if err != nil {
		return logs.Failure, err.Error()
	}
	root, ws, temp := slot.root, slot.workspace, slot.temp
	jr.dirs, jr.workspace, jr.temp, jr.root = dirs, ws, temp, root
	jr.py = jr.newPythonEnvs(slot)
	jr.cacheEnv = jr.repoCaches()
	jr.steps = hostExec{jr: jr}
	if jr.files, err = newRunnerFiles(filepath.Join(temp, "_runner_file_commands")); err != nil {
		return logs.Failure, err.Error()
	}
	jr.eventPath = filepath.Join(temp, "_github_workflow", "event.json")
	if err := writeJSON(jr.eventPath, jr.wr.run.Payload); err != nil {
		return logs.Failure, err.Error()
	}
	ev.Contexts["github"] = jr.githubContext("")
	ev.Contexts["runner"] = jr.runnerContext()
	jr.jobEnv, err = evalEnv(ev, jr.node.job.Env, jr.wr.env)
	if err != nil {
		return logs.Failure, fmt.Sprintf("job env: %v", err)
	}
	for _, d := range []*actionlint.Defaults{jr.wr.wf.AST.Defaults, jr.node.job.Defaults} {
		if d != nil && d.Run != nil {
			if d.Run.Shell != nil {
				jr.shell = d.Run.Shell.Value
			}
			if d.Run.WorkingDirectory != nil {
				jr.workDir = d.Run.WorkingDirectory.Value
			}
		}
	}
	timeout, err := minutes(ev, jr.node.job.TimeoutMinutes)
	if err != nil {
		return logs.Failure, err.Error()
	}
	if timeout <= 0 {
		timeout = defaultJobTimeout
	}
	ctx, cancel := context.WithTimeout(legCtx, timeout)
	defer cancel()
	jr.ctx = ctx
	if err := jr.resolveActions(ctx); err != nil {
		jr.annotate("Set up job", logs.Annotation{Level: "error", Message: err.Error()})
		return logs.Failure, err.Error()
	}
	stopContainers, err := jr.startContainers(ctx, ev, root)
	if err != nil {
		jr.annotate("Initialize containers", logs.Annotation{Level: "error", Message: err.Error()})
		return logs.Failure, err.Error()
	}
	defer stopContainers()

	jr.providePipx(ctx)
	sc := &scope{steps: map[string]any{}, env: jr.jobEnv}
	jr.runSteps(sc, jr.node.job.Steps)
	jr.closePythonEnvs(ctx)
	jr.runPosts()

	jr.mu.Lock()
	defer jr.mu.Unlock()
	switch {
	case ctx.Err() == context.DeadlineExceeded && legCtx.Err() == nil:
		return logs.Failure, fmt.Sprintf("timed out after %s (timeout-minutes)", logs.FormatDuration(timeout))
	case sc.failed:
		return logs.Failure, ""
	case legCtx.Err() != nil:
		return logs.Cancelled, ""
	}
	return logs.Success, ""
}

// outputs evaluates the job's `outputs:` once its steps are done.
func (jr *jobRun) outputs() map[string]string {
	out := map[string]string{}
	if len(jr.node.job.Outputs) == 0 {
		return out
	}
	ev := jr.evaluator(jr.lastScope, nil, expr.Status{})
	for _, o := range jr.node.job.Outputs {
		v, err := ev.Interpolate(o.Value.Value)
		if err != nil {
			jr.notice("", fmt.Sprintf("evaluating output %s: %v", o.Name.Value, err))
			continue
		}
		out[o.Name.Value] = v
	}
	return out
}

// environmentURL evaluates a deployment job's environment.url once its
// steps are done, since it usually names a step's output.
func (jr *jobRun) environmentURL() string {
	env := jr.node.job.Environment
	if env == nil || env.URL == nil {
		return ""
	}
	v, err := jr.evaluator(jr.lastScope, nil, expr.Status{}).Interpolate(env.URL.Value)
	if err != nil {
		jr.notice("", fmt.Sprintf("evaluating environment.url: %v", err))
		return ""
	}
	return v
}

func (jr *jobRun) notice(step, text string) {
	jr.wr.e.emit(logs.Event{Kind: logs.Notice, Job: jr.name, Step: step, Text: jr.wr.e.opts.Masker.Mask(text)})
}

func (jr *jobRun) githubContext(action string) map[string]any {
	g := jr.wr.githubContext()
	g["job"] = jr.node.id
	g["workspace"] = jr.workspace
	g["action"] = action
	g["event_path"] = jr.eventPath
	return g
}

func (jr *jobRun) jobContext() map[string]any {
	jr.mu.Lock()
	status := jr.status
	jr.mu.Unlock()
	if status != logs.Failure && jr.ctx != nil && jr.jobCancelled() {
		status = logs.Cancelled
	}
	ctr := map[string]any{"id": "", "network": ""}
	if jr.ctr != nil {
		ctr = map[string]any{"id": jr.ctr.job.ContainerID(), "network": jr.ctr.job.Network()}
	}
	return map[string]any{
		"status":    string(status),
		"container": ctr,
		"services":  jr.ctr.servicesContext(),
	}
}

// evaluator gives a step's expressions every context a step can see.
func (jr *jobRun) evaluator(sc *scope, stepEnv map[string]string, st expr.Status) *expr.Evaluator {
	env := map[string]any{}
	if sc != nil {
		for k, v := range sc.env {
			env[k] = v
		}
	}
	jr.mu.Lock()
	for k, v := range jr.fileEnv {
		env[k] = v
	}
	jr.mu.Unlock()
	for k, v := range stepEnv {
		env[k] = v
	}
	extra := map[string]any{
		"needs":    jr.needs,
		"matrix":   jr.matrix,
		"strategy": jr.strategy,
		"job":      jr.jobContext(),
		"runner":   jr.runnerContext(),
		"github":   jr.githubContext(""),
		"env":      env,
		"steps":    map[string]any{},
	}
	if sc != nil {
		extra["steps"] = sc.steps
		if sc.inputs != nil {
			extra["inputs"] = sc.inputs
		}
		if sc.actionPath != "" {
			g := extra["github"].(map[string]any)
			g["action_path"] = sc.actionPath
		}
	}
	ev := jr.wr.evaluator(extra, st)
	ev.Workspace = jr.workspace
	return ev
}

func writeJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	if v == nil {
		v = map[string]any{}
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding event payload: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// sortByPos orders AST items by where they stand in the file.
func sortByPos[T any](items []T, pos func(T) *actionlint.Pos) {
	sort.SliceStable(items, func(i, j int) bool {
		a, b := pos(items[i]), pos(items[j])
		if a == nil || b == nil {
			return a != nil
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// resolveActions fetches every remote action the job's steps name before any step runs, as
// GitHub's runner downloads them while it sets the job up: one that cannot be had fails this
// job alone, and its steps never start.
func (jr *jobRun) resolveActions(ctx context.Context) error {
	for _, st := range jr.node.job.Steps {
		x, ok := st.Exec.(*actionlint.ExecAction)
		if !ok || x.Uses == nil || x.Uses.ContainsExpression() {
			continue
		}
		ref, err := actions.Parse(x.Uses.Value)
		if err != nil || ref.Kind != actions.Remote {
			continue // a malformed uses: fails its step, with the parser's words
		}
		if _, err := jr.wr.e.opts.Actions.Resolve(ctx, ref); err != nil {
			return err
		}
	}
	return nil
}

// runnerContext is the runner context of this job: its temp and its tool
// cache (the job's own under a sandbox).
func (jr *jobRun) runnerContext() map[string]any {
	c := jr.wr.e.runnerContext(jr.temp, jr.workspace)
	c["tool_cache"] = jr.dirs.toolCache
	return c
}
