package plan

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"

	"github.com/rhysd/actionlint"
	"github.com/sluice-ci/sluice/internal/expr"
	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/workflow"
)

// Loader reads a called reusable workflow: `./.github/workflows/x.yml` from the repository at
// the run's commit, `owner/repo/.github/workflows/x.yml@ref` from wherever the caller fetches
// workflows and actions. key is a CalledKey.
type Loader interface {
	LoadWorkflow(ctx context.Context, key string) (*workflow.Workflow, error)
}

// LoaderFunc is a Loader made of a function.
type LoaderFunc func(ctx context.Context, key string) (*workflow.Workflow, error)

// LoadWorkflow calls f.
func (f LoaderFunc) LoadWorkflow(ctx context.Context, key string) (*workflow.Workflow, error) {
	return f(ctx, key)
}

// Resolve loads every reusable workflow wf may call, directly or through other called
// workflows, for Input.Called; what cannot be loaded is in the errors (its callers fail with
// that reason; the rest of the run is unaffected). Loading ahead keeps planning pure, and
// lets the server store the exact sources a run was planned with.
func Resolve(ctx context.Context, wf *workflow.Workflow, l Loader) (map[string]*workflow.Workflow, map[string]string) {
	called, errs := map[string]*workflow.Workflow{}, map[string]string{}
	var walk func(wf *workflow.Workflow, origin string, depth int)
	walk = func(wf *workflow.Workflow, origin string, depth int) {
		if wf == nil || wf.AST == nil || depth >= maxCallDepth {
			return
		}
		for _, id := range wf.JobIDs() {
			j := wf.Job(id)
			if j.WorkflowCall == nil || j.WorkflowCall.Uses == nil {
				continue
			}
			key := CalledKey(origin, j.WorkflowCall.Uses.Value)
			if _, ok := called[key]; ok {
				continue
			}
			if _, ok := errs[key]; ok {
				continue
			}
			cw, err := l.LoadWorkflow(ctx, key)
			if err != nil {
				errs[key] = err.Error()
				continue
			}
			called[key] = cw
			next := origin
			if !strings.HasPrefix(key, "./") {
				next = key
			}
			walk(cw, next, depth+1)
		}
	}
	walk(wf, "", 1)
	return called, errs
}

// expandCall turns a job (or matrix leg) that calls a reusable workflow into that workflow's
// jobs, which become jobs of the run named "caller / callee" and are scheduled like any other
// (GitHub shows them so, and runs each on its own runner).
func (g *graph) expandCall(f *frame, r *Row) {
	cf, err := g.p.frameFor(f, r)
	if err != nil {
		g.finish(r, jobspec.Failure, nil, err.Error())
		return
	}
	g.record(Expand, r)
	for _, id := range cf.order {
		g.add(g.p.nodeRow(cf, id))
	}
}

// callFrame advances the jobs of the workflow row r calls, and ends r when they have all
// ended: its result combines theirs, its outputs are the called workflow's outputs.
func (g *graph) callFrame(f *frame, r *Row) {
	cf, err := g.p.frameFor(f, r)
	if err != nil {
		// It was expanded, so its frame was made before; only a changed input gets here.
		g.finish(r, jobspec.Failure, nil, err.Error())
		return
	}
	g.frame(cf)
	kids := g.children(r)
	for _, k := range kids {
		if k.State != Done {
			return
		}
	}
	outputs, why := g.p.callOutputs(cf, kids)
	res := combine(kids)
	if why != "" && res == jobspec.Success {
		res = jobspec.Failure
	}
	g.finish(r, res, outputs, why)
}

// callOutputs evaluates on.workflow_call.outputs over the called jobs (the jobs context).
func (p *Plan) callOutputs(cf *frame, kids []*Row) (map[string]string, string) {
	wcall, ok := cf.wf.AST.FindWorkflowCallEvent()
	if !ok || len(wcall.Outputs) == 0 {
		return map[string]string{}, ""
	}
	jobs := map[string]any{}
	for _, k := range kids {
		outs := map[string]any{}
		for n, v := range k.Outputs {
			outs[n] = v
		}
		jobs[k.JobID] = map[string]any{"result": k.result(), "outputs": outs}
	}
	ev := &expr.Evaluator{Contexts: expr.Contexts{"github": p.github, "vars": p.vars, "inputs": cf.inputs, "jobs": jobs}}
	outs := make([]*actionlint.WorkflowCallEventOutput, 0, len(wcall.Outputs))
	for _, o := range wcall.Outputs {
		outs = append(outs, o)
	}
	sort.Slice(outs, func(a, b int) bool { return outs[a].Name.Value < outs[b].Name.Value })
	out := map[string]string{}
	for _, o := range outs {
		if o.Value == nil {
			continue
		}
		v, err := ev.Interpolate(o.Value.Value)
		if err != nil {
			return out, fmt.Sprintf("output %s: %v", o.Name.Value, err)
		}
		out[o.Name.Value] = v
	}
	return out, ""
}

// frameFor is the frame of the workflow row r (a calling job, or one leg of it) calls:
// which workflow, with which inputs and secrets, named and keyed under r.
func (p *Plan) frameFor(f *frame, r *Row) (*frame, error) {
	p.mu.Lock()
	cf, ok := p.frames[r.Key]
	p.mu.Unlock()
	if ok {
		return cf, nil
	}
	cf, err := p.makeFrame(f, r)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.frames[r.Key] = cf
	p.mu.Unlock()
	return cf, nil
}

func (p *Plan) makeFrame(f *frame, r *Row) (*frame, error) {
	j := f.wf.Job(r.JobID)
	if j == nil || j.WorkflowCall == nil || j.WorkflowCall.Uses == nil {
		return nil, fmt.Errorf("job %s calls no workflow", r.JobID)
	}
	call := j.WorkflowCall
	uses := call.Uses.Value
	key := CalledKey(f.origin, uses)
	if f.depth >= maxCallDepth {
		return nil, fmt.Errorf("calling %s: reusable workflows are nested more than %d deep", uses, maxCallDepth)
	}
	wf := p.in.Called[key]
	if wf == nil {
		why := p.in.CallErrors[key]
		if why == "" {
			why = "it was not loaded"
		}
		return nil, fmt.Errorf("calling %s: %s", uses, why)
	}
	wcall, ok := wf.AST.FindWorkflowCallEvent()
	if !ok {
		return nil, fmt.Errorf("%s has no `on: workflow_call` trigger, so it cannot be called", uses)
	}
	var spec jobspec.Job
	if r.Spec != nil {
		spec = *r.Spec
	}
	name := r.Name
	if spec.Name != "" {
		name = spec.Name
	}
	st := spec.Strategy
	if st.JobTotal == 0 {
		st = jobspec.Strategy{FailFast: true, JobTotal: 1, MaxParallel: 1}
	}
	ev := p.evaluator(f, r.JobID, spec.Needs, spec.Matrix, &st)
	given := map[string]any{}
	for _, in := range call.Inputs {
		if in.Value == nil {
			continue
		}
		v, err := ev.Value(in.Value.Value)
		if err != nil {
			return nil, fmt.Errorf("calling %s: with.%s: %w", uses, in.Name.Value, err)
		}
		if !in.Value.ContainsExpression() {
			v = literalInput(wcall, in.Name.Value, in.Value.Value)
		}
		given[in.Name.Value] = v
	}
	inputs, err := workflow.CallInputs(wcall, given)
	if err != nil {
		return nil, fmt.Errorf("calling %s: %w", uses, err)
	}
	if inputs == nil {
		inputs = map[string]any{}
	}
	level := jobspec.SecretLevel{Inherit: call.InheritSecrets}
	if !call.InheritSecrets {
		level.Map = map[string]string{}
		for _, s := range call.Secrets {
			if s.Value != nil {
				level.Map[s.Name.Value] = s.Value.Value
			}
		}
		for k, s := range wcall.Secrets {
			if s.Required == nil || !s.Required.Value {
				continue
			}
			found := false
			for n := range level.Map {
				found = found || strings.EqualFold(n, k)
			}
			if !found {
				return nil, fmt.Errorf("calling %s: required secret %s was not passed", uses, s.Name.Value)
			}
		}
		level.Context = map[string]any{"inputs": f.inputs, "matrix": spec.Matrix, "needs": NeedsContext(spec.Needs)}
	}
	origin := f.origin
	if !strings.HasPrefix(key, "./") {
		origin = key
	}
	secrets := append(append([]jobspec.SecretLevel(nil), f.secrets...), level)
	return newFrame(wf, origin, r.Key, r.Key+" / ", name+" / ", inputs, secrets, f.depth+1), nil
}

// literalInput types a plain `with:` value the way its YAML was written: actionlint keeps
// scalars as text, but `level: 2` passes a number and `debug: true` a boolean to inputs
// declared with those types.
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

// ResolveSecrets is the secrets context of a job: the run's secrets, passed down through the
// calls on the way to it (levels from jobspec.Job.Secrets). github is the run's github
// context, which the mapping templates may read.
func ResolveSecrets(secrets map[string]string, levels []jobspec.SecretLevel, github map[string]any) (map[string]string, error) {
	cur := secrets
	for _, lv := range levels {
		if lv.Inherit {
			continue
		}
		sc := map[string]any{"GITHUB_TOKEN": ""}
		for k, v := range cur {
			sc[k] = v
		}
		c := expr.Contexts{"secrets": sc, "github": github}
		maps.Copy(c, lv.Context)
		ev := &expr.Evaluator{Contexts: c}
		next := make(map[string]string, len(lv.Map))
		for name, tmpl := range lv.Map {
			v, err := ev.Interpolate(tmpl)
			if err != nil {
				return nil, fmt.Errorf("secrets.%s: %w", name, err)
			}
			next[name] = v
		}
		cur = next
	}
	return cur, nil
}
