package engine

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/rhysd/actionlint"
	"github.com/sluice-ci/sluice/internal/expr"
	"github.com/sluice-ci/sluice/internal/logs"
	"github.com/sluice-ci/sluice/internal/testreport"
	"github.com/sluice-ci/sluice/internal/workflow"
)

// workflowRun is one workflow's job graph: the top-level workflows of a run,
// or a reusable workflow called by a job.
type workflowRun struct {
	e       *Engine
	wf      *workflow.Workflow
	prefix  string // "caller / " for the jobs of a called workflow
	inputs  map[string]any
	secrets map[string]string
	env     map[string]string // workflow-level env, evaluated
	nodes   map[string]*jobNode
	order   []string // lower-case job ids in file order
}

// jobNode is one job of the graph and, once done, its result.
type jobNode struct {
	id     string // as written
	job    *actionlint.Job
	needs  []string // lower-case ids
	done   chan struct{}
	result logs.Result // what needs.<id>.result shows
	// outputs are the job's evaluated outputs, merged over matrix legs.
	outputs map[string]string
}

func (e *Engine) newWorkflowRun(wf *workflow.Workflow, prefix string, inputs map[string]any, secrets map[string]string) (*workflowRun, error) {
	wr := &workflowRun{e: e, wf: wf, prefix: prefix, nodes: map[string]*jobNode{}}
	if secrets == nil {
		secrets = e.opts.Secrets
	}
	wr.secrets = secrets
	if inputs == nil && e.opts.EventName == "workflow_dispatch" {
		var err error
		if inputs, err = workflow.DispatchInputs(wf, e.opts.Inputs); err != nil {
			return nil, fmt.Errorf("%s: %w", wf.Path, err)
		}
	}
	wr.inputs = inputs
	for _, id := range wf.JobIDs() {
		j := wf.Job(id)
		n := &jobNode{id: id, job: j, done: make(chan struct{}), outputs: map[string]string{}}
		for _, nd := range j.Needs {
			n.needs = append(n.needs, strings.ToLower(nd.Value))
		}
		key := strings.ToLower(id)
		wr.nodes[key] = n
		wr.order = append(wr.order, key)
	}
	var base map[string]string
	if prefix == "" {
		base = e.opts.Env
	}
	ev := wr.evaluator(nil, expr.Status{})
	env, err := evalEnv(ev, wf.AST.Env, base)
	if err != nil {
		return nil, fmt.Errorf("%s: workflow env: %w", wf.Path, err)
	}
	wr.env = env
	return wr, nil
}

// selected returns the jobs to run: all, or the filtered job and what it needs.
func (wr *workflowRun) selected(filter string) map[string]bool {
	sel := map[string]bool{}
	if filter == "" {
		for _, k := range wr.order {
			sel[k] = true
		}
		return sel
	}
	var add func(string)
	add = func(k string) {
		if sel[k] {
			return
		}
		n, ok := wr.nodes[k]
		if !ok {
			return
		}
		sel[k] = true
		for _, d := range n.needs {
			add(d)
		}
	}
	add(strings.ToLower(filter))
	return sel
}

// run starts every selected job as soon as the jobs it needs are done, and
// waits for all of them.
func (wr *workflowRun) run(filter string) {
	sel := wr.selected(filter)
	wr.announceWaiting(sel)
	var wg sync.WaitGroup
	for _, k := range wr.order {
		n := wr.nodes[k]
		if !sel[k] {
			n.result = logs.Skipped
			close(n.done)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(n.done)
			for _, d := range n.needs {
				if dn, ok := wr.nodes[d]; ok {
					<-dn.done
				}
			}
			wr.runNode(n)
		}()
	}
	wg.Wait()
}

// ancestors reports over every job n needs, directly or not.
func (wr *workflowRun) ancestors(n *jobNode) (allSucceeded, anyFailed bool) {
	allSucceeded = true
	seen := map[string]bool{}
	var walk func(*jobNode)
	walk = func(n *jobNode) {
		for _, d := range n.needs {
			if seen[d] {
				continue
			}
			seen[d] = true
			dn := wr.nodes[d]
			if dn == nil {
				continue
			}
			switch dn.result {
			case logs.Success:
			case logs.Failure:
				anyFailed = true
				allSucceeded = false
			default:
				allSucceeded = false
			}
			walk(dn)
		}
	}
	walk(n)
	return allSucceeded, anyFailed
}

func (wr *workflowRun) needsContext(n *jobNode) map[string]any {
	ctx := map[string]any{}
	for _, d := range n.needs {
		dn := wr.nodes[d]
		if dn == nil {
			continue
		}
		outs := map[string]any{}
		for k, v := range dn.outputs {
			outs[k] = v
		}
		ctx[dn.id] = map[string]any{"result": string(dn.result), "outputs": outs}
	}
	return ctx
}

var statusCall = regexp.MustCompile(`(?i)\b(success|failure|cancelled|always)\s*\(`)

// runNode decides whether a job runs, expands its matrix and runs its legs.
func (wr *workflowRun) runNode(n *jobNode) {
	e := wr.e
	display := wr.prefix + n.id
	if n.job.Name != nil && !n.job.Name.ContainsExpression() {
		display = wr.prefix + n.job.Name.Value
	}
	needs := wr.needsContext(n)
	allOK, anyFailed := wr.ancestors(n)
	ev := wr.evaluator(map[string]any{"needs": needs}, expr.Status{Failed: anyFailed, Cancelled: e.cancelled()})

	if e.cancelled() {
		n.result = logs.Cancelled
		wr.finishUnrun(display, logs.Cancelled, "the run was cancelled")
		return
	}
	cond := ""
	if n.job.If != nil {
		cond = n.job.If.Value
	}
	run, err := ev.Condition(cond)
	if err != nil {
		n.result = logs.Failure
		wr.finishUnrun(display, logs.Failure, fmt.Sprintf("evaluating if: %v", err))
		return
	}
	if run && !statusCall.MatchString(cond) && !allOK {
		run = false
	}
	if !run {
		n.result = logs.Skipped
		wr.finishUnrun(display, logs.Skipped, "")
		return
	}

	var matrix *actionlint.Matrix
	failFast, maxParallel := true, 0
	if s := n.job.Strategy; s != nil {
		matrix = s.Matrix
		if s.FailFast != nil {
			failFast = boolValue(ev, s.FailFast, true)
		}
		if s.MaxParallel != nil {
			maxParallel = intValue(ev, s.MaxParallel, 0)
		}
	}
	legs := []map[string]any{nil}
	var keys []string
	if matrix != nil {
		legs, err = workflow.ExpandMatrix(matrix, ev.Value)
		if err != nil {
			n.result = logs.Failure
			wr.finishUnrun(display, logs.Failure, fmt.Sprintf("expanding the matrix: %v", err))
			return
		}
		keys = workflow.MatrixKeys(matrix, legs)
	}

	legCtx, cancelLegs := context.WithCancel(e.soft)
	defer cancelLegs()
	var par chan struct{}
	if maxParallel > 0 {
		par = make(chan struct{}, maxParallel)
	}
	results := make([]legResult, len(legs))
	var wg sync.WaitGroup
	for i, leg := range legs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if par != nil {
				select {
				case par <- struct{}{}:
					defer func() { <-par }()
				case <-legCtx.Done():
				}
			}
			lr := wr.runLeg(legCtx, n, legSpec{
				matrix: leg, keys: keys, index: i, total: len(legs),
				failFast: failFast, maxParallel: maxParallel, needs: needs,
				anyFailed: anyFailed,
			})
			results[i] = lr
			if lr.result == logs.Failure && !lr.continueOnError && failFast && len(legs) > 1 {
				cancelLegs()
			}
		}()
	}
	wg.Wait()

	n.result = logs.Success
	for _, lr := range results {
		for k, v := range lr.outputs {
			if v != "" || n.outputs[k] == "" {
				n.outputs[k] = v
			}
		}
		switch {
		case lr.result == logs.Failure && !lr.continueOnError:
			n.result = logs.Failure
		case lr.result == logs.Cancelled && n.result != logs.Failure:
			n.result = logs.Cancelled
		}
	}
}

// finishUnrun records a job that did not start.
func (wr *workflowRun) finishUnrun(display string, res logs.Result, why string) {
	wr.e.recordJob(logs.JobSummary{Job: display, Result: res})
	wr.e.emit(logs.Event{Kind: logs.JobFinished, Job: display, Result: res, Text: why})
}

type legSpec struct {
	matrix      map[string]any
	keys        []string
	index       int
	total       int
	failFast    bool
	maxParallel int
	needs       map[string]any
	anyFailed   bool
}

type legResult struct {
	result          logs.Result
	continueOnError bool
	outputs         map[string]string
	tests           *testreport.Report
	envURL          string // a deployment job's environment.url
}

// evaluator builds an expression evaluator with the workflow-level contexts
// and the given extra ones.
func (wr *workflowRun) evaluator(extra map[string]any, st expr.Status) *expr.Evaluator {
	e := wr.e
	secrets := map[string]any{"GITHUB_TOKEN": ""}
	for k, v := range wr.secrets {
		secrets[k] = v
	}
	vars := map[string]any{}
	for k, v := range e.opts.Vars {
		vars[k] = v
	}
	inputs := map[string]any{}
	for k, v := range wr.inputs {
		inputs[k] = v
	}
	env := map[string]any{}
	for k, v := range wr.env {
		env[k] = v
	}
	c := expr.Contexts{
		"github":  wr.githubContext(),
		"secrets": secrets,
		"vars":    vars,
		"inputs":  inputs,
		"env":     env,
		"runner":  e.runnerContext("", ""),
	}
	for k, v := range extra {
		c[k] = v
	}
	return &expr.Evaluator{Contexts: c, Status: st}
}

func (wr *workflowRun) githubContext() map[string]any {
	o := wr.e.opts
	refName, refType := o.Ref, "branch"
	switch {
	case strings.HasPrefix(o.Ref, "refs/heads/"):
		refName = strings.TrimPrefix(o.Ref, "refs/heads/")
	case strings.HasPrefix(o.Ref, "refs/tags/"):
		refName, refType = strings.TrimPrefix(o.Ref, "refs/tags/"), "tag"
	case strings.HasPrefix(o.Ref, "refs/pull/"):
		refName = strings.TrimPrefix(o.Ref, "refs/pull/")
	}
	owner, _, _ := strings.Cut(o.Repository, "/")
	g := map[string]any{
		"event_name":        o.EventName,
		"event":             o.Payload,
		"sha":               o.SHA,
		"ref":               o.Ref,
		"ref_name":          refName,
		"ref_type":          refType,
		"ref_protected":     false,
		"head_ref":          "",
		"base_ref":          "",
		"repository":        o.Repository,
		"repository_owner":  owner,
		"actor":             o.Actor,
		"triggering_actor":  o.Actor,
		"run_id":            o.RunID,
		"run_number":        fmt.Sprint(o.RunNumber),
		"run_attempt":       fmt.Sprint(max(o.RunAttempt, 1)),
		"retention_days":    "90",
		"server_url":        "https://github.com",
		"api_url":           "https://api.github.com",
		"graphql_url":       "https://api.github.com/graphql",
		"workflow":          wr.wf.Name(),
		"workflow_ref":      o.Repository + "/" + wr.wf.Path + "@" + o.Ref,
		"workflow_sha":      o.SHA,
		"token":             "",
		"secret_source":     "None",
		"action_repository": "",
	}
	if o.EventName == "pull_request" || o.EventName == "pull_request_target" {
		if pr, ok := o.Payload["pull_request"].(map[string]any); ok {
			if h, ok := pr["head"].(map[string]any); ok {
				g["head_ref"] = h["ref"]
			}
			if b, ok := pr["base"].(map[string]any); ok {
				g["base_ref"] = b["ref"]
			}
		}
	}
	return g
}

func (e *Engine) runnerContext(temp, workspace string) map[string]any {
	debug := ""
	if e.opts.Verbose {
		debug = "1"
	}
	_ = workspace
	return map[string]any{
		"name":        "sluice",
		"os":          "Linux",
		"arch":        runnerArch(),
		"temp":        temp,
		"tool_cache":  e.opts.ToolCache,
		"environment": "self-hosted",
		"debug":       debug,
	}
}

// evalEnv evaluates an `env:` block over base; a whole-block expression
// (env: ${{ fromJSON(...) }}) is supported.
func evalEnv(ev *expr.Evaluator, env *actionlint.Env, base map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	if env == nil {
		return out, nil
	}
	if env.Expression != nil {
		v, err := ev.Value(env.Expression.Value)
		if err != nil {
			return nil, err
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("env expression %q is not an object", env.Expression.Value)
		}
		for k, val := range m {
			out[k] = expr.Format(val)
		}
		return out, nil
	}
	vars := make([]*actionlint.EnvVar, 0, len(env.Vars))
	for _, v := range env.Vars {
		vars = append(vars, v)
	}
	sortByPos(vars, func(v *actionlint.EnvVar) *actionlint.Pos { return v.Name.Pos })
	for _, v := range vars {
		s, err := ev.Interpolate(v.Value.Value)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", v.Name.Value, err)
		}
		out[v.Name.Value] = s
	}
	return out, nil
}

func boolValue(ev *expr.Evaluator, b *actionlint.Bool, def bool) bool {
	if b == nil {
		return def
	}
	if b.Expression != nil {
		v, err := ev.Value(b.Expression.Value)
		if err != nil {
			return def
		}
		return expr.Truthy(v)
	}
	return b.Value
}

func intValue(ev *expr.Evaluator, i *actionlint.Int, def int) int {
	if i == nil {
		return def
	}
	if i.Expression != nil {
		v, err := ev.Value(i.Expression.Value)
		if err != nil {
			return def
		}
		if f, ok := v.(float64); ok {
			return int(f)
		}
		return def
	}
	return i.Value
}

// minutes turns timeout-minutes into a duration; zero means none given.
func minutes(ev *expr.Evaluator, f *actionlint.Float) (time.Duration, error) {
	if f == nil {
		return 0, nil
	}
	val := f.Value
	if f.Expression != nil {
		v, err := ev.Value(f.Expression.Value)
		if err != nil {
			return 0, fmt.Errorf("timeout-minutes: %w", err)
		}
		switch t := v.(type) {
		case float64:
			val = t
		case string:
			if _, err := fmt.Sscan(t, &val); err != nil {
				return 0, fmt.Errorf("timeout-minutes %q is not a number", t)
			}
		default:
			return 0, fmt.Errorf("timeout-minutes %v is not a number", v)
		}
	}
	return time.Duration(val * float64(time.Minute)), nil
}
