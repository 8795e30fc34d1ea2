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
)

// withInputs evaluates a step's `with:` in file order.
func withInputs(ev *expr.Evaluator, x *actionlint.ExecAction) (map[string]string, error) {
	ins := make([]*actionlint.Input, 0, len(x.Inputs))
	for _, in := range x.Inputs {
		ins = append(ins, in)
	}
	sortByPos(ins, func(in *actionlint.Input) *actionlint.Pos { return in.Name.Pos })
	out := map[string]string{}
	for _, in := range ins {
		v := ""
		if in.Value != nil {
			s, err := ev.Interpolate(in.Value.Value)
			if err != nil {
				return nil, fmt.Errorf("with.%s: %w", in.Name.Value, err)
			}
			v = s
		}
		out[strings.ToLower(in.Name.Value)] = v
	}
	return out, nil
}

func (jr *jobRun) runAction(ctx context.Context, sc *scope, x *actionlint.ExecAction, id, display string, stepEnv map[string]string, ev *expr.Evaluator) stepOutcome {
	ref, err := actions.Parse(x.Uses.Value)
	if err != nil {
		return jr.fail(display, err.Error())
	}
	with, err := withInputs(ev, x)
	if err != nil {
		return jr.fail(display, err.Error())
	}
	switch ref.Kind {
	case actions.Builtin:
		native, _ := actions.LookupNative(ref.NativeName())
		return jr.runNative(ctx, sc, native, id, display, stepEnv, with)
	case actions.Local:
		dir := filepath.Join(jr.workspace, ref.Path)
		md, err := actions.LoadMetadata(dir)
		if err != nil {
			return jr.fail(display, err.Error())
		}
		return jr.runComposite(ctx, sc, md, display, stepEnv, with, ev)
	}
	return jr.fail(display, actions.Unresolvable(ref).Error())
}

// runComposite runs a local composite action's steps in their own scope and
// maps its declared outputs.
func (jr *jobRun) runComposite(ctx context.Context, parent *scope, md *actions.Metadata, display string, stepEnv map[string]string, with map[string]string, ev *expr.Evaluator) stepOutcome {
	if md.Using != "composite" {
		return jr.fail(display, fmt.Sprintf("%s: actions using %q cannot run yet; only composite local actions are supported", md.File, md.Using))
	}
	if parent.depth >= 10 {
		return jr.fail(display, "composite actions nested more than 10 deep")
	}
	inputs := map[string]any{}
	for _, in := range md.Inputs {
		key := strings.ToLower(in.Name)
		v, given := with[key]
		if !given {
			if in.Required && in.Default == "" {
				jr.notice(display, fmt.Sprintf("input %q is required by %s but was not given", in.Name, md.File))
			}
			d, err := ev.Interpolate(in.Default)
			if err != nil {
				return jr.fail(display, fmt.Sprintf("default of input %s: %v", in.Name, err))
			}
			v = d
		}
		inputs[in.Name] = v
	}
	env := map[string]string{}
	for k, v := range parent.env {
		env[k] = v
	}
	for k, v := range stepEnv {
		env[k] = v
	}
	sc := &scope{steps: map[string]any{}, inputs: inputs, env: env, actionPath: md.Dir, display: display, depth: parent.depth + 1}
	for i, st := range md.Steps {
		jr.runStep(sc, st, i)
	}
	outs := map[string]string{}
	oev := jr.evaluator(sc, nil, expr.Status{})
	for _, o := range md.Outputs {
		v, err := oev.Interpolate(o.Value)
		if err != nil {
			return jr.fail(display, fmt.Sprintf("output %s: %v", o.Name, err))
		}
		outs[o.Name] = v
	}
	res := logs.Success
	if sc.failed {
		res = logs.Failure
	}
	return stepOutcome{outcome: res, outputs: outs}
}

// Preflight names every action the workflows use that sluice cannot run
// here, before anything starts.
func Preflight(repoRoot string, jobs []*actionlint.Job) error {
	var problems []string
	for _, j := range jobs {
		for _, st := range j.Steps {
			x, ok := st.Exec.(*actionlint.ExecAction)
			if !ok || x.Uses == nil || x.Uses.ContainsExpression() {
				continue
			}
			ref, err := actions.Parse(x.Uses.Value)
			if err != nil {
				problems = append(problems, fmt.Sprintf("line %d: %v", x.Uses.Pos.Line, err))
				continue
			}
			if err := actions.Unresolvable(ref); err != nil {
				problems = append(problems, fmt.Sprintf("job %s, line %d: %v", j.ID.Value, x.Uses.Pos.Line, err))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return nil
}
