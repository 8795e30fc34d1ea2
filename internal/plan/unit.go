package plan

import (
	"fmt"
	"maps"
	"strings"

	"github.com/rhysd/actionlint"
	"github.com/sluice-ci/sluice/internal/expr"
	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/workflow"
)

// evaluator gives a job-level expression the contexts GitHub documents for it: github,
// vars, inputs and needs everywhere; matrix and strategy once a leg is known. (secrets, env,
// runner, steps and job do not exist at this level.)
func (p *Plan) evaluator(f *frame, jobID string, needs map[string]jobspec.Need, m map[string]any, st *jobspec.Strategy) *expr.Evaluator {
	c := expr.Contexts{
		"github": p.githubOf(jobID),
		"vars":   p.vars,
		"inputs": f.inputs,
		"needs":  NeedsContext(needs),
	}
	if m != nil {
		c["matrix"] = m
	} else {
		c["matrix"] = map[string]any{}
	}
	if st != nil {
		c["strategy"] = StrategyContext(*st)
	}
	return &expr.Evaluator{Contexts: c}
}

// githubOf is the github context a job's expressions see (github.job is its id), made once
// per job: expressions only read it, and a 256-leg matrix evaluates it 256 times.
func (p *Plan) githubOf(jobID string) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	if g, ok := p.jobGitHub[jobID]; ok {
		return g
	}
	g := maps.Clone(p.github)
	g["job"] = jobID
	p.jobGitHub[jobID] = g
	return g
}

// NeedsContext is the needs context made of job results.
func NeedsContext(needs map[string]jobspec.Need) map[string]any {
	out := make(map[string]any, len(needs))
	for id, n := range needs {
		outs := make(map[string]any, len(n.Outputs))
		for k, v := range n.Outputs {
			outs[k] = v
		}
		out[id] = map[string]any{"result": n.Result, "outputs": outs}
	}
	return out
}

// StrategyContext is the strategy context of a leg.
func StrategyContext(st jobspec.Strategy) map[string]any {
	return map[string]any{
		"fail-fast":    st.FailFast,
		"job-index":    float64(st.JobIndex),
		"job-total":    float64(st.JobTotal),
		"max-parallel": float64(st.MaxParallel),
	}
}

// unit is the spec of one job (or leg) of frame f. runnable is false for a call's leg,
// which only needs its name, matrix and strategy.
func (p *Plan) unit(f *frame, key, jobID string, needs map[string]jobspec.Need, m map[string]any, keys []string, st jobspec.Strategy, runnable bool) (*jobspec.Job, error) {
	j := f.wf.Job(jobID)
	ev := p.evaluator(f, jobID, needs, m, &st)
	spec := &jobspec.Job{Key: key, JobID: jobID, Name: f.name + legName(j, jobID, ev, m, keys),
		WorkflowPath: f.wf.Path, WorkflowSource: f.source, Matrix: m, MatrixKeys: keys, Strategy: st, Needs: needs}
	if !runnable {
		return spec, nil
	}
	spec.Inputs, spec.Secrets = f.inputs, f.secrets
	labels, err := runsOn(ev, j.RunsOn)
	if err != nil {
		return nil, fmt.Errorf("runs-on: %w", err)
	}
	spec.Labels = labels
	spec.ContinueOnError = boolValue(ev, j.ContinueOnError, false)
	if e := j.Environment; e != nil && e.Name != nil {
		spec.Environment = e.Name.Value
		if e.Name.ContainsExpression() {
			if s, err := ev.Interpolate(e.Name.Value); err == nil {
				spec.Environment = s
			}
		}
	}
	if c := j.Concurrency; c != nil && c.Group != nil {
		cc, err := concurrency(ev, c)
		if err != nil {
			return nil, fmt.Errorf("concurrency: %w", err)
		}
		spec.Concurrency = cc
	}
	return spec, nil
}

// legName is a job's display name: its evaluated `name:`, or its id, with the leg's matrix
// values appended unless the name already uses them ("test (3.11, ubuntu-latest)").
func legName(j *actionlint.Job, id string, ev *expr.Evaluator, m map[string]any, keys []string) string {
	base, usesMatrix := id, false
	if j != nil && j.Name != nil && j.Name.Value != "" {
		base = j.Name.Value
		if j.Name.ContainsExpression() {
			usesMatrix = strings.Contains(strings.ToLower(base), "matrix")
			if s, err := ev.Interpolate(base); err == nil {
				base = s
			}
		}
	}
	if m != nil && !usesMatrix {
		base = workflow.LegName(base, keys, m)
	}
	return base
}

// runsOn evaluates a job's runs-on into labels: a label, a list of labels, or an expression
// giving either (or an object with labels).
func runsOn(ev *expr.Evaluator, r *actionlint.Runner) ([]string, error) {
	if r == nil {
		return nil, nil
	}
	var out []string
	add := func(v any) error {
		switch t := v.(type) {
		case string:
			if t != "" {
				out = append(out, t)
			}
		case []any:
			for _, x := range t {
				if s, ok := x.(string); ok && s != "" {
					out = append(out, s)
				}
			}
		case map[string]any:
			switch l := t["labels"].(type) {
			case string:
				out = append(out, l)
			case []any:
				for _, x := range l {
					if s, ok := x.(string); ok {
						out = append(out, s)
					}
				}
			}
		case nil:
		default:
			return fmt.Errorf("%v is not a label or a list of labels", t)
		}
		return nil
	}
	if r.LabelsExpr != nil {
		v, err := ev.Value(r.LabelsExpr.Value)
		if err != nil {
			return nil, err
		}
		if err := add(v); err != nil {
			return nil, err
		}
	}
	for _, l := range r.Labels {
		if !l.ContainsExpression() {
			out = append(out, l.Value)
			continue
		}
		v, err := ev.Value(l.Value)
		if err != nil {
			return nil, err
		}
		if err := add(v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// concurrency evaluates a concurrency block: group and cancel-in-progress may both be
// expressions.
func concurrency(ev *expr.Evaluator, c *actionlint.Concurrency) (*jobspec.Concurrency, error) {
	if c == nil || c.Group == nil {
		return nil, nil
	}
	g := c.Group.Value
	if c.Group.ContainsExpression() {
		s, err := ev.Interpolate(g)
		if err != nil {
			return nil, err
		}
		g = s
	}
	if g == "" {
		return nil, nil
	}
	out := &jobspec.Concurrency{Group: g}
	if b := c.CancelInProgress; b != nil {
		if b.Expression != nil {
			v, err := ev.Value(b.Expression.Value)
			if err != nil {
				return nil, fmt.Errorf("cancel-in-progress: %w", err)
			}
			out.CancelInProgress = expr.Truthy(v)
		} else {
			out.CancelInProgress = b.Value
		}
	}
	return out, nil
}

// Concurrency is the run's workflow-level concurrency group (nil: none), evaluated with the
// contexts GitHub allows there: github, inputs and vars.
func (p *Plan) Concurrency() (*jobspec.Concurrency, error) {
	ev := &expr.Evaluator{Contexts: expr.Contexts{"github": p.github, "inputs": p.top.inputs, "vars": p.vars}}
	return concurrency(ev, p.in.Workflow.AST.Concurrency)
}

// otherOS says why a job with these labels is skipped here ("" when it is not): `sluice run`
// on Linux cannot run a Windows or macOS job, unless -P maps one of its labels to this host.
func (p *Plan) otherOS(labels []string) string {
	if p.in.OtherOS != SkipOtherOS {
		return ""
	}
	for _, l := range labels {
		if _, ok := p.in.Platforms[strings.ToLower(l)]; ok {
			return ""
		}
	}
	for _, l := range labels {
		if os := OtherOSName(l); os != "" {
			return fmt.Sprintf("runs-on %s asks for a %s runner and this host runs Linux (-P %s=-self-hosted runs it here anyway)", l, os, l)
		}
	}
	return ""
}

// OtherOSName is "Windows" or "macOS" for a runner label that asks for one of them
// (windows-latest, windows-2022, macos-14, macos-latest-xlarge, a self-hosted `windows` or
// `macOS`), else "".
func OtherOSName(label string) string {
	l := strings.ToLower(label)
	switch {
	case strings.HasPrefix(l, "windows"), l == "win":
		return "Windows"
	case strings.HasPrefix(l, "macos"), l == "osx", l == "darwin":
		return "macOS"
	}
	return ""
}
