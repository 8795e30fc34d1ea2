package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/expr"
	"github.com/sluice-ci/sluice/internal/logs"
	"github.com/sluice-ci/sluice/internal/testreport"
	"github.com/sluice-ci/sluice/internal/workflow"
)

// NeedResult is a finished job as jobs that need it see it.
type NeedResult struct {
	Result  string            `json:"result"`
	Outputs map[string]string `json:"outputs,omitempty"`
}

// Leg is one matrix combination of a job (or the job itself, without a
// matrix) as the server schedules it.
type Leg struct {
	Name   string         `json:"name"` // display name, "test (3.11)"
	Matrix map[string]any `json:"matrix,omitempty"`
	Keys   []string       `json:"matrix_keys,omitempty"`
	Index  int            `json:"index"`
	Total  int            `json:"total"`
}

// PlanJob decides, once the jobs a job needs have finished, whether it runs
// (its `if:` with the needs results; a failed or skipped need skips it
// unless the condition says otherwise) and expands its matrix. It is the
// same decision the engine makes for `sluice run`.
func PlanJob(opts Options, wf *workflow.Workflow, jobID string, needs map[string]NeedResult, anyFailed, cancelled bool) (bool, []Leg, error) {
	e := New(opts)
	e.soft, e.softCancel = context.WithCancel(context.Background())
	defer e.softCancel()
	wr, err := e.newWorkflowRun(wf, "", nil, nil)
	if err != nil {
		return false, nil, err
	}
	n := wr.nodes[strings.ToLower(jobID)]
	if n == nil {
		return false, nil, fmt.Errorf("%s has no job %q", wf.Path, jobID)
	}
	nctx := needsMap(needs)
	allOK := !anyFailed && !cancelled
	for _, r := range needs {
		if r.Result != string(logs.Success) {
			allOK = false
		}
	}
	ev := wr.evaluator(map[string]any{"needs": nctx}, expr.Status{Failed: anyFailed, Cancelled: cancelled})
	cond := ""
	if n.job.If != nil {
		cond = n.job.If.Value
	}
	run, err := ev.Condition(cond)
	if err != nil {
		return false, nil, fmt.Errorf("job %s: evaluating if: %w", jobID, err)
	}
	if run && !statusCall.MatchString(cond) && !allOK {
		run = false
	}
	if !run {
		return false, nil, nil
	}
	if n.job.Strategy == nil || n.job.Strategy.Matrix == nil {
		return true, []Leg{{Name: wr.legName(n, legSpec{}, ev), Index: 0, Total: 1}}, nil
	}
	combos, err := workflow.ExpandMatrix(n.job.Strategy.Matrix, ev.Value)
	if err != nil {
		return false, nil, fmt.Errorf("job %s: expanding the matrix: %w", jobID, err)
	}
	keys := workflow.MatrixKeys(n.job.Strategy.Matrix, combos)
	legs := make([]Leg, len(combos))
	for i, m := range combos {
		// The leg's name may use its matrix values (name: py ${{ matrix.v }}).
		ev.Contexts["matrix"] = m
		legs[i] = Leg{Matrix: m, Keys: keys, Index: i, Total: len(combos),
			Name: wr.legName(n, legSpec{matrix: m, keys: keys}, ev)}
	}
	return true, legs, nil
}

func needsMap(needs map[string]NeedResult) map[string]any {
	out := map[string]any{}
	for id, r := range needs {
		outs := map[string]any{}
		for k, v := range r.Outputs {
			outs[k] = v
		}
		out[id] = map[string]any{"result": r.Result, "outputs": outs}
	}
	return out
}

// JobResult is how one job leg ended.
type JobResult struct {
	Result  logs.Result
	Outputs map[string]string
	Summary logs.JobSummary
	Tests   *testreport.Report // the job's test results, when it ran tests
	// EnvironmentURL is a deployment job's environment.url, evaluated at its end.
	EnvironmentURL string
}

// RunJob runs one leg of one job, as an agent does for the server: the
// scheduler already decided it runs and which matrix values it has.
// Cancel (or ctx) stops it like Ctrl-C stops `sluice run`.
func (e *Engine) RunJob(ctx context.Context, wf *workflow.Workflow, jobID string, leg Leg, needs map[string]NeedResult, inputs map[string]any) JobResult {
	start := time.Now()
	e.hard = ctx
	e.soft, e.softCancel = context.WithCancel(ctx)
	defer e.softCancel()
	e.emit(logs.Event{Kind: logs.RunStarted, Text: e.opts.RunID})
	fail := func(msg string) JobResult {
		e.emit(logs.Event{Kind: logs.JobFinished, Job: jobID, Result: logs.Failure, Text: msg})
		return JobResult{Result: logs.Failure, Summary: logs.JobSummary{Job: jobID, Result: logs.Failure}}
	}
	wr, err := e.newWorkflowRun(wf, "", inputs, nil)
	if err != nil {
		return fail(err.Error())
	}
	n := wr.nodes[strings.ToLower(jobID)]
	if n == nil {
		return fail(fmt.Sprintf("%s has no job %q", wf.Path, jobID))
	}
	anyFailed := false
	for _, r := range needs {
		if r.Result == string(logs.Failure) {
			anyFailed = true
		}
	}
	failFast := true
	lr := wr.runLeg(e.soft, n, legSpec{matrix: leg.Matrix, keys: leg.Keys, index: leg.Index, total: max(leg.Total, 1),
		failFast: failFast, needs: needsMap(needs), anyFailed: anyFailed})
	sum := e.summary(time.Since(start))
	e.emit(logs.Event{Kind: logs.RunFinished, Summary: &sum, Result: sum.Result, Duration: sum.Duration})
	res := JobResult{Result: lr.result, Outputs: lr.outputs, Tests: lr.tests, EnvironmentURL: lr.envURL}
	if len(sum.Jobs) > 0 {
		res.Summary = sum.Jobs[len(sum.Jobs)-1]
	}
	if lr.continueOnError && lr.result == logs.Failure {
		res.Result = logs.Success
	}
	return res
}
