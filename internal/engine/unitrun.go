package engine

import (
	"fmt"
	"maps"
	"time"

	"github.com/rhysd/actionlint"
	"github.com/sluice-ci/sluice/internal/expr"
	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/workflow"
)

// workflowRun is what one job sees of its workflow run: the workflow it is
// written in (a called workflow's, for the jobs of one), the plan's spec of
// the job, the run's github context, and the inputs, secrets and
// workflow-level env of its workflow.
type workflowRun struct {
	e       *Engine
	run     jobspec.Run
	wf      *workflow.Workflow
	spec    *jobspec.Job
	github  map[string]any
	inputs  map[string]any
	secrets map[string]string
	env     map[string]string // workflow-level env, evaluated
}

// jobNode is the job's definition.
type jobNode struct {
	id  string // as written
	job *actionlint.Job
}

func (e *Engine) newWorkflowRun(run jobspec.Run, wf *workflow.Workflow, spec *jobspec.Job, github map[string]any, secrets map[string]string) (*workflowRun, error) {
	inputs := spec.Inputs
	if inputs == nil {
		inputs = map[string]any{}
	}
	wr := &workflowRun{e: e, run: run, wf: wf, spec: spec, github: github, inputs: inputs, secrets: secrets}
	// --env is the lowest layer of the triggered workflow's jobs; a called
	// workflow gets none of its caller's env, as on GitHub.
	var base map[string]string
	if len(spec.Secrets) == 0 && wf.Path == run.WorkflowPath {
		base = e.opts.Env
	}
	env, err := evalEnv(wr.evaluator(nil, expr.Status{}), wf.AST.Env, base)
	if err != nil {
		return nil, fmt.Errorf("%s: workflow env: %w", wf.Path, err)
	}
	wr.env = env
	return wr, nil
}

// githubContext is the run's github context, a copy the caller may change.
func (wr *workflowRun) githubContext() map[string]any { return maps.Clone(wr.github) }

// evaluator builds an expression evaluator with the workflow-level contexts
// and the given extra ones.
func (wr *workflowRun) evaluator(extra map[string]any, st expr.Status) *expr.Evaluator {
	e := wr.e
	secrets := map[string]any{"GITHUB_TOKEN": ""}
	for k, v := range wr.secrets {
		secrets[k] = v
	}
	vars := map[string]any{}
	for k, v := range wr.run.Vars {
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
