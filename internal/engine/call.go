package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/rhysd/actionlint"
	"github.com/sluice-ci/sluice/internal/actions"
	"github.com/sluice-ci/sluice/internal/expr"
	"github.com/sluice-ci/sluice/internal/logs"
	"github.com/sluice-ci/sluice/internal/workflow"
)

// maxCallDepth is GitHub's limit on nested reusable workflows.
const maxCallDepth = 10

// runCall runs a job that calls a local reusable workflow: the called
// workflow's jobs become jobs of this run, shown as "caller / job".
func (wr *workflowRun) runCall(ctx context.Context, n *jobNode, name string, ev *expr.Evaluator, continueOnError bool) legResult {
	e := wr.e
	fail := func(msg string) legResult {
		e.recordJob(logs.JobSummary{Job: name, Result: logs.Failure})
		e.emit(logs.Event{Kind: logs.JobFinished, Job: name, Result: logs.Failure, Text: msg})
		return legResult{result: logs.Failure, continueOnError: continueOnError}
	}
	call := n.job.WorkflowCall
	uses := call.Uses.Value
	if strings.Count(wr.prefix, " / ") >= maxCallDepth {
		return fail(fmt.Sprintf("reusable workflows nested more than %d deep", maxCallDepth))
	}
	wf, err := e.loadCalled(ctx, uses)
	if err != nil {
		return fail(err.Error())
	}
	wcall, ok := wf.AST.FindWorkflowCallEvent()
	if !ok {
		return fail(fmt.Sprintf("%s has no `on: workflow_call` trigger, so it cannot be called", uses))
	}
	given := map[string]any{}
	for _, in := range call.Inputs {
		if in.Value == nil {
			continue
		}
		v, err := ev.Value(in.Value.Value)
		if err != nil {
			return fail(fmt.Sprintf("with.%s: %v", in.Name.Value, err))
		}
		if !in.Value.ContainsExpression() {
			v = literalInput(wcall, in.Name.Value, in.Value.Value)
		}
		given[in.Name.Value] = v
	}
	inputs, err := workflow.CallInputs(wcall, given)
	if err != nil {
		return fail(fmt.Sprintf("calling %s: %v", uses, err))
	}
	if inputs == nil {
		inputs = map[string]any{}
	}
	secrets := map[string]string{}
	if call.InheritSecrets {
		for k, v := range wr.secrets {
			secrets[k] = v
		}
	} else {
		for _, s := range call.Secrets {
			v, err := ev.Interpolate(s.Value.Value)
			if err != nil {
				return fail(fmt.Sprintf("secrets.%s: %v", s.Name.Value, err))
			}
			secrets[s.Name.Value] = v
		}
	}
	for k, s := range wcall.Secrets {
		if s.Required != nil && s.Required.Value {
			if _, ok := lookupFold(secrets, k); !ok {
				return fail(fmt.Sprintf("calling %s: required secret %s was not passed", uses, s.Name.Value))
			}
		}
	}
	nested, err := e.newWorkflowRun(wf, name+" / ", inputs, secrets)
	if err != nil {
		return fail(err.Error())
	}
	nested.run("")

	res := logs.Success
	jobs := map[string]any{}
	for _, k := range nested.order {
		jn := nested.nodes[k]
		outs := map[string]any{}
		for ok, ov := range jn.outputs {
			outs[ok] = ov
		}
		jobs[jn.id] = map[string]any{"result": string(jn.result), "outputs": outs}
		switch jn.result {
		case logs.Failure:
			res = logs.Failure
		case logs.Cancelled:
			if res != logs.Failure {
				res = logs.Cancelled
			}
		}
	}
	outputs := map[string]string{}
	oev := nested.evaluator(map[string]any{"jobs": jobs}, expr.Status{})
	for _, o := range sortedOutputs(wcall.Outputs) {
		if o.Value == nil {
			continue
		}
		v, err := oev.Interpolate(o.Value.Value)
		if err != nil {
			e.emit(logs.Event{Kind: logs.Notice, Job: name, Text: fmt.Sprintf("output %s: %v", o.Name.Value, err)})
			continue
		}
		outputs[o.Name.Value] = v
	}
	return legResult{result: res, continueOnError: continueOnError, outputs: outputs}
}

func sortedOutputs(m map[string]*actionlint.WorkflowCallEventOutput) []*actionlint.WorkflowCallEventOutput {
	out := make([]*actionlint.WorkflowCallEventOutput, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	sortByPos(out, func(o *actionlint.WorkflowCallEventOutput) *actionlint.Pos { return o.Name.Pos })
	return out
}

func lookupFold(m map[string]string, key string) (string, bool) {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

// literalInput types a plain `with:` value the way its YAML was written:
// actionlint keeps scalars as text, but `level: 2` passes a number and
// `debug: true` a boolean to inputs declared with those types.
func literalInput(call *actionlint.WorkflowCallEvent, name, text string) any {
	for _, in := range call.Inputs {
		if !strings.EqualFold(in.Name.Value, name) {
			continue
		}
		switch in.Type {
		case actionlint.WorkflowCallEventInputTypeNumber:
			var f float64
			if _, err := fmt.Sscan(text, &f); err == nil {
				return f
			}
		case actionlint.WorkflowCallEventInputTypeBoolean:
			switch strings.ToLower(text) {
			case "true":
				return true
			case "false":
				return false
			}
		}
	}
	return text
}

// loadCalled reads a called workflow: ./.github/workflows/x.yml from this repository, or
// owner/repo/.github/workflows/x.yml@ref fetched like an action.
func (e *Engine) loadCalled(ctx context.Context, uses string) (*workflow.Workflow, error) {
	ref, err := actions.ParseCall(uses)
	if err != nil {
		return nil, err
	}
	if ref.Kind == actions.Local {
		path := filepath.Join(e.opts.RepoRoot, filepath.FromSlash(strings.TrimPrefix(uses, "./")))
		wf, err := workflow.Load(ctx, e.opts.RepoRoot, path)
		if err != nil {
			return nil, fmt.Errorf("loading %s: %w", uses, err)
		}
		return wf, nil
	}
	f, err := e.opts.Actions.WorkflowFile(ctx, ref)
	if err != nil {
		return nil, err
	}
	wf, err := workflow.LoadSource(ctx, f.Root, filepath.Join(f.Root, filepath.FromSlash(ref.Path)), f.Display, f.Source)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", uses, err)
	}
	return wf, nil
}
