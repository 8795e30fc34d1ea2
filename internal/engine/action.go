package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rhysd/actionlint"
	"github.com/sluice-ci/sluice/internal/actions"
	"github.com/sluice-ci/sluice/internal/expr"
	"github.com/sluice-ci/sluice/internal/gitrepo"
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
	case actions.Native:
		switch ref.Name() {
		case "actions/checkout":
			return jr.checkout(ctx, display, with)
		}
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

// checkout is the native actions/checkout: a clone of the user's repository
// (or another local repository) at the run's commit into the workspace.
func (jr *jobRun) checkout(ctx context.Context, display string, with map[string]string) stepOutcome {
	e := jr.wr.e
	o := gitrepo.CheckoutOptions{Source: e.opts.RepoRoot, SHA: e.opts.SHA, Ref: e.opts.Ref, Depth: 1, Clean: true}
	overlay := e.opts.WorkingTree
	if r := with["repository"]; r != "" && !strings.EqualFold(r, e.opts.Repository) {
		o.Source, o.SHA, o.Ref, overlay = r, "", "", false
	}
	if r := with["ref"]; r != "" {
		o.Ref, o.SHA, overlay = r, "", false
		if !strings.HasPrefix(r, "refs/") && !isHexSHA(r) {
			o.Ref = "refs/heads/" + r
			if tagExists(ctx, o.Source, r) {
				o.Ref = "refs/tags/" + r
			}
		}
		if isHexSHA(r) {
			o.SHA, o.Ref = r, ""
		}
	}
	if o.Ref == "" && o.SHA == "" {
		o.Ref = "HEAD"
	}
	if d := with["fetch-depth"]; d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return jr.fail(display, fmt.Sprintf("fetch-depth %q is not a whole number", d))
		}
		o.Depth = n
	}
	o.FetchTags = with["fetch-tags"] == "true"
	if c := with["clean"]; c == "false" {
		o.Clean = false
	}
	for _, l := range strings.Split(with["sparse-checkout"], "\n") {
		if l = strings.TrimSpace(l); l != "" {
			o.Sparse = append(o.Sparse, l)
		}
	}
	dest := jr.workspace
	if p := with["path"]; p != "" {
		dest = filepath.Join(jr.workspace, p)
		if rel, err := filepath.Rel(jr.workspace, dest); err != nil || strings.HasPrefix(rel, "..") {
			return jr.fail(display, fmt.Sprintf("checkout path %q is outside the workspace", p))
		}
	}
	jr.lineOut(display, fmt.Sprintf("Checking out %s at %s into %s", o.Source, firstNonEmpty(o.SHA, o.Ref), dest))
	if err := gitrepo.Checkout(ctx, dest, o); err != nil {
		return jr.fail(display, err.Error())
	}
	if overlay {
		if err := gitrepo.OverlayWorkingTree(ctx, e.opts.RepoRoot, dest); err != nil {
			return jr.fail(display, err.Error())
		}
		jr.lineOut(display, "Applied uncommitted changes from the working tree (--working-tree)")
	}
	return stepOutcome{outcome: logs.Success, outputs: map[string]string{"ref": o.Ref, "commit": o.SHA}}
}

func (jr *jobRun) lineOut(step, text string) {
	e := jr.wr.e
	e.emit(logs.Event{Kind: logs.Line, Job: jr.name, Step: step, Text: e.opts.Masker.Mask(text)})
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func isHexSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

func tagExists(ctx context.Context, repo, tag string) bool {
	r := &gitrepo.Repo{Root: repo}
	return r.HasRef(ctx, "refs/tags/"+tag)
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
