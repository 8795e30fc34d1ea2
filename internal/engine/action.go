package engine

import (
	"context"
	"fmt"
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
	// actionlint keeps a step's with.args and with.entrypoint apart (they
	// are a Docker action's).
	for name, v := range map[string]*actionlint.String{"args": x.Args, "entrypoint": x.Entrypoint} {
		if v != nil {
			if with[name], err = ev.Interpolate(v.Value); err != nil {
				return jr.fail(display, fmt.Sprintf("with.%s: %v", name, err))
			}
		}
	}
	jr.setCurrentStep(display)
	if jr.actionNeedsBarrier(ref, with) {
		if o, ok := jr.pythonBarrier(ctx, display); !ok {
			return o
		}
	}
	switch ref.Kind {
	case actions.Builtin:
		native, _ := actions.LookupNative(ref.NativeName())
		return jr.runNative(ctx, sc, native, id, display, stepEnv, with)
	case actions.Docker:
		return jr.runDocker(ctx, sc, ref.Path, nil, ref, id, display, stepEnv, with, ev)
	case actions.Local, actions.Remote:
		var dir string
		if ref.Kind == actions.Local {
			// uses: ./x is the repository's own: it must stay inside the
			// checkout, symlinks included.
			if dir, err = jr.inWorkspace(ref.Path); err != nil {
				return jr.fail(display, err.Error())
			}
		} else {
			if dir, err = jr.wr.e.opts.Actions.Resolve(ctx, ref); err != nil {
				return jr.fail(display, err.Error())
			}
		}
		md, err := actions.LoadMetadata(dir)
		if err != nil {
			return jr.fail(display, err.Error())
		}
		switch {
		case md.Using == "composite":
			return jr.runComposite(ctx, sc, md, display, stepEnv, with, ev)
		case strings.HasPrefix(md.Using, "node"):
			return jr.runNode(ctx, sc, md, ref, id, display, stepEnv, with, ev)
		case md.Using == "docker":
			return jr.runDocker(ctx, sc, "", md, ref, id, display, stepEnv, with, ev)
		}
		return jr.fail(display, fmt.Sprintf("%s: runs.using %q is not something sluice can run (composite, node16/20/24 or docker)", md.File, md.Using))
	}
	return jr.fail(display, fmt.Sprintf("%q cannot run as a step", ref.Raw))
}

// actionInputs resolves an action's inputs: given values, else evaluated
// defaults; a required input with neither is named in a warning, as GitHub
// does.
func (jr *jobRun) actionInputs(md *actions.Metadata, display string, with map[string]string, ev *expr.Evaluator) (map[string]string, error) {
	out := map[string]string{}
	for _, in := range md.Inputs {
		v, given := with[strings.ToLower(in.Name)]
		if !given {
			if in.Required && in.Default == "" {
				jr.notice(display, fmt.Sprintf("input %q is required by %s but was not given", in.Name, md.File))
			}
			d, err := ev.Interpolate(in.Default)
			if err != nil {
				return nil, fmt.Errorf("default of input %s: %w", in.Name, err)
			}
			v = d
		}
		out[in.Name] = v
	}
	for k, v := range with {
		if !md.HasInput(k) {
			jr.notice(display, fmt.Sprintf("unexpected input %q: %s declares no such input", k, md.File))
			out[k] = v
		}
	}
	return out, nil
}

// runComposite runs a local composite action's steps in their own scope and
// maps its declared outputs.
func (jr *jobRun) runComposite(ctx context.Context, parent *scope, md *actions.Metadata, display string, stepEnv map[string]string, with map[string]string, ev *expr.Evaluator) stepOutcome {
	if parent.depth >= 10 {
		return jr.fail(display, "composite actions nested more than 10 deep")
	}
	given, err := jr.actionInputs(md, display, with, ev)
	if err != nil {
		return jr.fail(display, err.Error())
	}
	inputs := map[string]any{}
	for k, v := range given {
		inputs[k] = v
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
