package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rhysd/actionlint"
	"github.com/sluice-ci/sluice/internal/executor"
	"github.com/sluice-ci/sluice/internal/executor/host"
	"github.com/sluice-ci/sluice/internal/expr"
	"github.com/sluice-ci/sluice/internal/logs"
)

// scope is where steps run: the job itself, or the inside of a composite
// action, each with its own steps context and inputs.
type scope struct {
	steps      map[string]any
	inputs     map[string]any // nil: the workflow's inputs
	env        map[string]string
	actionPath string
	failed     bool
	// display is the outer step's name when running a composite's steps:
	// their lines are shown under the step that used the action.
	display string
	depth   int
}

// stepOutcome is what one step did.
type stepOutcome struct {
	outcome    logs.Result
	conclusion logs.Result
	outputs    map[string]string
	why        string
	state      map[string]string // saved through GITHUB_STATE, for the action's post
}

func (jr *jobRun) runSteps(sc *scope, steps []*actionlint.Step) {
	jr.lastScope = sc
	for i, st := range steps {
		jr.runStep(sc, st, i)
	}
}

func (jr *jobRun) stepID(st *actionlint.Step) string {
	if st.ID != nil && st.ID.Value != "" {
		return st.ID.Value
	}
	jr.mu.Lock()
	defer jr.mu.Unlock()
	jr.stepSeq++
	if jr.stepSeq == 1 {
		return "__run"
	}
	return fmt.Sprintf("__run_%d", jr.stepSeq)
}

func stepName(st *actionlint.Step, ev *expr.Evaluator) string {
	if st.Name != nil && st.Name.Value != "" {
		if s, err := ev.Interpolate(st.Name.Value); err == nil {
			return s
		}
		return st.Name.Value
	}
	switch x := st.Exec.(type) {
	case *actionlint.ExecRun:
		if x.Run != nil {
			line, _, _ := strings.Cut(strings.TrimSpace(x.Run.Value), "\n")
			return "Run " + strings.TrimSpace(line)
		}
	case *actionlint.ExecAction:
		if x.Uses != nil {
			return "Run " + x.Uses.Value
		}
	}
	return "step"
}

// jobCancelled is true once the job must stop running ordinary steps: the
// run was cancelled, the matrix legs were cancelled, or the job timed out.
func (jr *jobRun) jobCancelled() bool { return jr.ctx.Err() != nil }

func (jr *jobRun) runStep(sc *scope, st *actionlint.Step, _ int) {
	e := jr.wr.e
	id := jr.stepID(st)
	cancelled := jr.jobCancelled()
	ev := jr.evaluator(sc, nil, expr.Status{Failed: sc.failed, Cancelled: cancelled})
	ev.Contexts["github"].(map[string]any)["action"] = id
	name := stepName(st, ev)
	display := name
	if sc.display != "" {
		display = sc.display
	}
	record := func(o stepOutcome) {
		outs := map[string]any{}
		for k, v := range o.outputs {
			outs[k] = v
		}
		if st.ID != nil && st.ID.Value != "" {
			sc.steps[st.ID.Value] = map[string]any{"outputs": outs, "outcome": string(o.outcome), "conclusion": string(o.conclusion)}
		}
		if o.conclusion == logs.Failure {
			sc.failed = true
			jr.mu.Lock()
			jr.status = logs.Failure
			jr.mu.Unlock()
		}
	}

	cond := ""
	if st.If != nil {
		cond = st.If.Value
	}
	run, err := ev.Condition(cond)
	if err != nil {
		jr.annotate(display, logs.Annotation{Level: "error", Message: fmt.Sprintf("evaluating if: %v", err)})
		record(stepOutcome{outcome: logs.Failure, conclusion: logs.Failure})
		e.emit(logs.Event{Kind: logs.StepFinished, Job: jr.name, Step: display, Result: logs.Failure, Text: "if: " + err.Error()})
		return
	}
	if !run {
		record(stepOutcome{outcome: logs.Skipped, conclusion: logs.Skipped})
		if sc.display == "" {
			e.emit(logs.Event{Kind: logs.StepFinished, Job: jr.name, Step: display, Result: logs.Skipped})
		}
		return
	}

	// A step that runs after cancellation (always(), cancelled()) must not
	// be killed by the cancellation it is cleaning up after.
	base := jr.ctx
	if cancelled {
		base = e.hard
	}
	timeout, err := minutes(ev, st.TimeoutMinutes)
	if err != nil {
		timeout = 0
	}
	ctx, cancel := base, context.CancelFunc(func() {})
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(base, timeout)
	}
	defer cancel()

	start := time.Now()
	if sc.display == "" {
		e.emit(logs.Event{Kind: logs.StepStarted, Job: jr.name, Step: display})
	}
	o := jr.execStep(ctx, sc, st, id, display, ev)
	if o.outcome == logs.Failure && ctx.Err() == context.DeadlineExceeded && timeout > 0 && base.Err() == nil {
		o.why = fmt.Sprintf("timed out after %s (timeout-minutes)", logs.FormatDuration(timeout))
	}
	if o.outcome == logs.Failure && base.Err() != nil {
		o.outcome = logs.Cancelled
	}
	o.conclusion = o.outcome
	coe := false
	if o.outcome == logs.Failure && st.ContinueOnError != nil {
		ev2 := jr.evaluator(sc, nil, expr.Status{Failed: sc.failed, Cancelled: cancelled})
		if boolValue(ev2, st.ContinueOnError, false) {
			o.conclusion = logs.Success
			coe = true
		}
	}
	if o.outcome == logs.Cancelled {
		o.conclusion = logs.Cancelled
	}
	record(o)
	if sc.display == "" {
		e.emit(logs.Event{Kind: logs.StepFinished, Job: jr.name, Step: display, Result: o.outcome, Duration: time.Since(start), Text: o.why, ContinueOnError: coe})
	} else if o.outcome == logs.Failure && o.why != "" {
		jr.notice(display, fmt.Sprintf("%s: %s", name, o.why))
	}
}

// execStep runs one step's body and reports its outcome.
func (jr *jobRun) execStep(ctx context.Context, sc *scope, st *actionlint.Step, id, display string, ev *expr.Evaluator) stepOutcome {
	stepEnv, err := evalEnv(ev, st.Env, nil)
	if err != nil {
		return jr.fail(display, fmt.Sprintf("step env: %v", err))
	}
	// Expressions in run: and with: see the step's own env.
	ev = jr.evaluator(sc, stepEnv, ev.Status)
	ev.Contexts["github"].(map[string]any)["action"] = id
	switch x := st.Exec.(type) {
	case *actionlint.ExecRun:
		return jr.runScript(ctx, sc, x, id, display, stepEnv, ev)
	case *actionlint.ExecAction:
		return jr.runAction(ctx, sc, x, id, display, stepEnv, ev)
	}
	return jr.fail(display, "step has neither run nor uses")
}

func (jr *jobRun) fail(display, msg string) stepOutcome {
	jr.annotate(display, logs.Annotation{Level: "error", Message: msg})
	return stepOutcome{outcome: logs.Failure, why: msg}
}

func (jr *jobRun) annotate(step string, a logs.Annotation) {
	e := jr.wr.e
	a.Job, a.Step = jr.name, step
	a.Message = e.opts.Masker.Mask(a.Message)
	a.Title = e.opts.Masker.Mask(a.Title)
	e.recordAnnotation(a)
	e.emit(logs.Event{Kind: logs.AnnotationAdded, Job: jr.name, Step: step, Annotation: &a})
}

func (jr *jobRun) runScript(ctx context.Context, sc *scope, x *actionlint.ExecRun, id, display string, stepEnv map[string]string, ev *expr.Evaluator) stepOutcome {
	e := jr.wr.e
	body, err := ev.Interpolate(x.Run.Value)
	if err != nil {
		return jr.fail(display, fmt.Sprintf("run: %v", err))
	}
	shellName := jr.shell
	if x.Shell != nil && x.Shell.Value != "" {
		shellName = x.Shell.Value
	}
	if sc.depth > 0 && x.Shell != nil {
		shellName = x.Shell.Value
	}
	// The default shell is bash where the job runs when it has bash, as on GitHub.
	sh, err := host.ResolveShell(shellName, jr.steps.LookPath)
	if err != nil {
		return jr.fail(display, err.Error())
	}
	dir := jr.workspace
	wd := jr.workDir
	if sc.depth > 0 {
		wd = ""
	}
	if x.WorkingDirectory != nil && x.WorkingDirectory.Value != "" {
		wd, err = ev.Interpolate(x.WorkingDirectory.Value)
		if err != nil {
			return jr.fail(display, fmt.Sprintf("working-directory: %v", err))
		}
	}
	if wd != "" {
		if filepath.IsAbs(wd) {
			dir = wd
		} else {
			dir = filepath.Join(jr.workspace, wd)
		}
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return jr.fail(display, fmt.Sprintf("working-directory %s does not exist", dir))
	}
	script, err := host.WriteScript(jr.temp, randomName(), body, sh)
	if err != nil {
		return jr.fail(display, err.Error())
	}
	defer os.Remove(script)
	for _, l := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		e.emit(logs.Event{Kind: logs.Debug, Job: jr.name, Step: display, Text: e.opts.Masker.Mask(l)})
	}
	e.emit(logs.Event{Kind: logs.Debug, Job: jr.name, Step: display, Text: "shell: " + strings.Join(sh.Template, " ")})
	jr.setCurrentStep(display)
	if o, handled := jr.envStep(ctx, sc, id, display, stepEnv, body, shellName, sh, dir); handled {
		return o
	}
	report, named := jr.junitFiles(id, dir, body)
	if jr.junit == nil {
		jr.junit = newJUnitWatch(filepath.Dir(report))
	}
	jr.junit.start(filepath.Base(report))
	started := time.Now().UnixNano()
	stepEnv = withPytestJUnit(stepEnv, sc.env, report)
	o := jr.runProcess(ctx, sc, id, display, stepEnv, sh.Argv(script), dir, report, true)
	jr.collectTests(display, jr.junit.stop(), named, started)
	return o
}

// withPytestJUnit asks pytest, through PYTEST_ADDOPTS, to write its results
// where sluice reads them; options the user set there come first.
func withPytestJUnit(stepEnv, scopeEnv map[string]string, path string) map[string]string {
	out := make(map[string]string, len(stepEnv)+1)
	for k, v := range stepEnv {
		out[k] = v
	}
	prev := stepEnv["PYTEST_ADDOPTS"]
	if prev == "" {
		prev = scopeEnv["PYTEST_ADDOPTS"]
	}
	out["PYTEST_ADDOPTS"] = strings.TrimSpace(prev + " --junitxml=" + path)
	return out
}

// runProcess runs argv as a step with the runner files wired up, and reads
// back what the process wrote to them. inContainer runs it where the job's
// steps run (the job's container, when it has one: `run:` steps do);
// otherwise it runs on the host next to sluice (actions' own processes).
func (jr *jobRun) runProcess(ctx context.Context, sc *scope, id, display string, stepEnv map[string]string, argv []string, dir, hide string, inContainer bool) stepOutcome {
	return jr.runProcessEnv(ctx, sc, display, jr.processEnv(sc, id, stepEnv, jr.files), argv, dir, hide, inContainer)
}

// runProcessEnv is runProcess with the process environment already made.
func (jr *jobRun) runProcessEnv(ctx context.Context, sc *scope, display string, env []string, argv []string, dir, hide string, inContainer bool) stepOutcome {
	e := jr.wr.e
	files := jr.files
	p := &lineProcessor{jr: jr, step: display, outputs: map[string]string{}, hide: hide}
	var x executor.Executor = hostExec{jr: jr, sc: sc}
	if inContainer && jr.ctr != nil && jr.ctr.inside {
		x = jr.steps
	}
	res, err := x.Run(ctx, executor.Process{Argv: argv, Dir: dir, Env: env, Line: p.line, Grace: e.opts.StepGrace})
	if err != nil {
		return jr.fail(display, fmt.Sprintf("%s (is it installed and on PATH?)", err))
	}
	o := stepOutcome{outcome: logs.Success, outputs: p.outputs}
	if o.state, err = jr.applyFiles(files, o.outputs); err != nil {
		return jr.fail(display, err.Error())
	}
	for k, v := range p.state {
		if _, ok := o.state[k]; !ok {
			o.state[k] = v
		}
	}
	if p.failure != "" {
		o.outcome, o.why = logs.Failure, p.failure
	}
	if res.ExitCode != 0 {
		o.outcome = logs.Failure
		o.why = fmt.Sprintf("exit code %d", res.ExitCode)
	}
	if res.Interrupted && ctx.Err() != nil {
		o.outcome = logs.Failure
		if o.why == "" {
			o.why = "interrupted"
		}
	}
	return o
}

// processEnv is the environment of a step's process, lowest precedence
// first: the clean base, the job's env (workflow < job < GITHUB_ENV), the
// step's env, then the runner's own variables, which steps cannot override.
func (jr *jobRun) processEnv(sc *scope, id string, stepEnv map[string]string, files *runnerFiles) []string {
	e := jr.wr.e
	m := map[string]string{}
	for k, v := range e.opts.BaseEnv {
		m[k] = v
	}
	for k, v := range jr.cacheEnv {
		m[k] = v
	}
	for k, v := range sc.env {
		m[k] = v
	}
	jr.mu.Lock()
	for k, v := range jr.fileEnv {
		m[k] = v
	}
	path := append([]string(nil), jr.path...)
	jr.mu.Unlock()
	for k, v := range stepEnv {
		m[k] = v
	}
	for k, v := range jr.runnerEnv(sc, id, files) {
		m[k] = v
	}
	jr.sandboxEnv(m)
	if len(path) > 0 {
		m["PATH"] = strings.Join(append(path, m["PATH"]), string(os.PathListSeparator))
	}
	out := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, k+"="+m[k])
	}
	return out
}

func (jr *jobRun) runnerEnv(sc *scope, id string, files *runnerFiles) map[string]string {
	g := jr.githubContext(id)
	str := func(k string) string { s, _ := g[k].(string); return s }
	env := map[string]string{
		"CI":                      "true",
		"GITHUB_ACTIONS":          "true",
		"GITHUB_WORKSPACE":        jr.workspace,
		"GITHUB_EVENT_PATH":       jr.eventPath,
		"GITHUB_EVENT_NAME":       str("event_name"),
		"GITHUB_SHA":              str("sha"),
		"GITHUB_REF":              str("ref"),
		"GITHUB_REF_NAME":         str("ref_name"),
		"GITHUB_REF_TYPE":         str("ref_type"),
		"GITHUB_REF_PROTECTED":    "false",
		"GITHUB_HEAD_REF":         fmt.Sprint(g["head_ref"]),
		"GITHUB_BASE_REF":         fmt.Sprint(g["base_ref"]),
		"GITHUB_REPOSITORY":       str("repository"),
		"GITHUB_REPOSITORY_OWNER": str("repository_owner"),
		"GITHUB_ACTOR":            str("actor"),
		"GITHUB_TRIGGERING_ACTOR": str("triggering_actor"),
		"GITHUB_RUN_ID":           str("run_id"),
		"GITHUB_RUN_NUMBER":       str("run_number"),
		"GITHUB_RUN_ATTEMPT":      str("run_attempt"),
		"GITHUB_RETENTION_DAYS":   "90",
		"GITHUB_JOB":              jr.node.id,
		"GITHUB_ACTION":           id,
		"GITHUB_WORKFLOW":         str("workflow"),
		"GITHUB_WORKFLOW_REF":     str("workflow_ref"),
		"GITHUB_WORKFLOW_SHA":     str("workflow_sha"),
		"GITHUB_SERVER_URL":       str("server_url"),
		"GITHUB_API_URL":          str("api_url"),
		"GITHUB_GRAPHQL_URL":      str("graphql_url"),
		"GITHUB_OUTPUT":           files.output,
		"GITHUB_ENV":              files.env,
		"GITHUB_PATH":             files.path,
		"GITHUB_STEP_SUMMARY":     files.summary,
		"GITHUB_STATE":            files.state,
		"RUNNER_OS":               "Linux",
		"RUNNER_ARCH":             runnerArch(),
		"RUNNER_NAME":             "sluice",
		"RUNNER_ENVIRONMENT":      "self-hosted",
		"RUNNER_TEMP":             jr.temp,
		"RUNNER_TOOL_CACHE":       jr.dirs.toolCache,
		"RUNNER_WORKSPACE":        filepath.Dir(jr.workspace),
	}
	if g["head_ref"] == nil || g["head_ref"] == "" {
		env["GITHUB_HEAD_REF"] = ""
	}
	if g["base_ref"] == nil || g["base_ref"] == "" {
		env["GITHUB_BASE_REF"] = ""
	}
	if sc.actionPath != "" {
		env["GITHUB_ACTION_PATH"] = sc.actionPath
	}
	if jr.wr.e.opts.Verbose {
		env["RUNNER_DEBUG"] = "1"
	}
	return env
}

func randomName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// lineProcessor handles a step's output lines: workflow commands, masking,
// stop-commands, and emitting what is left as log lines.
type lineProcessor struct {
	jr       *jobRun
	step     string
	commands logs.CommandParser
	outputs  map[string]string
	state    map[string]string // from the deprecated ::save-state
	failure  string
	// hide is a path whose mention pytest prints only because sluice asked
	// for its JUnit file ("- generated xml file: PATH -"); that line is noise.
	hide string
}

func (p *lineProcessor) line(text string) {
	e := p.jr.wr.e
	emit := func(kind logs.Kind, s string) {
		e.emit(logs.Event{Kind: kind, Job: p.jr.name, Step: p.step, Text: e.opts.Masker.Mask(s)})
	}
	cmd, ok := p.commands.Parse(text)
	if !ok {
		if p.hide != "" && strings.Contains(text, p.hide) && strings.Contains(text, "generated xml file") {
			return
		}
		emit(logs.Line, text)
		if name, hint, missing := missingTool(text); missing {
			p.jr.annotate(p.step, logs.Annotation{Level: "error", Title: name + " is not on this machine",
				Message: fmt.Sprintf("%s is on GitHub's ubuntu-latest image but not found here: %s", name, hint)})
		}
		return
	}
	switch cmd.Name {
	case logs.ResumeCommands:
	case "add-mask":
		e.opts.Masker.Add(cmd.Value)
	case "group":
		emit(logs.GroupStart, cmd.Value)
	case "endgroup":
		emit(logs.GroupEnd, "")
	case "debug":
		emit(logs.Debug, cmd.Value)
	case "error", "warning", "notice":
		a, _ := cmd.Annotation()
		p.jr.annotate(p.step, a)
	case "stop-commands":
		if !logs.ValidStopToken(cmd.Value) {
			p.jr.annotate(p.step, logs.Annotation{Level: "error", Message: fmt.Sprintf("Invalid stop-commands token %q: it must not be empty or the name of a workflow command", cmd.Value)})
			p.failure = "invalid stop-commands token"
		}
	case "set-output":
		emit(logs.Notice, "The `set-output` command is deprecated and will be disabled soon. Please upgrade to using Environment Files (GITHUB_OUTPUT).")
		if n := cmd.Params["name"]; n != "" {
			p.outputs[n] = cmd.Value
		}
	case "save-state":
		if n := cmd.Params["name"]; n != "" {
			if p.state == nil {
				p.state = map[string]string{}
			}
			p.state[n] = cmd.Value
		}
		emit(logs.Notice, "The `save-state` command is deprecated and will be disabled soon. Please upgrade to using Environment Files (GITHUB_STATE).")
	case "set-env", "add-path":
		msg := fmt.Sprintf("Unable to process command '%s' successfully. The `%s` command is disabled. Please upgrade to using Environment Files.", text, cmd.Name)
		p.jr.annotate(p.step, logs.Annotation{Level: "error", Message: msg})
		p.failure = "the " + cmd.Name + " command is disabled"
	default:
		// echo, add-matcher, remove-matcher: accepted and not needed here.
	}
}
