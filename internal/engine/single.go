package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/logs"
	"github.com/sluice-ci/sluice/internal/testreport"
	"github.com/sluice-ci/sluice/internal/workflow"
)

// JobResult is how one job ended.
type JobResult struct {
	Result  logs.Result
	Outputs map[string]string
	Summary logs.JobSummary
	Tests   *testreport.Report // the job's test results, when it ran tests
	// EnvironmentURL is a deployment job's environment.url, evaluated at its end.
	EnvironmentURL string
}

// RunJob runs one job as an agent does for the server: the plan already
// decided that it runs, as what, with which matrix values, needs and inputs;
// the spec says so. The job's result is what it did: a failure that
// continue-on-error tolerates is still a failure (the plan counts it as a
// success for the jobs that need it and for the run). Cancel (or ctx) stops
// it like Ctrl-C stops `sluice run`.
func (e *Engine) RunJob(ctx context.Context, spec jobspec.Spec) JobResult {
	start := time.Now()
	e.hard = ctx
	e.soft, e.softCancel = context.WithCancel(ctx)
	defer e.softCancel()
	e.clearTrash()
	defer e.settleTrash()
	e.emit(logs.Event{Kind: logs.RunStarted, Text: spec.Run.ID})
	var lr legResult
	wf, err := workflow.Parse(spec.Job.WorkflowPath, []byte(spec.Job.WorkflowSource))
	if err != nil {
		lr = e.failUnit(spec.Job.Name, fmt.Sprintf("reading %s: %v", spec.Job.WorkflowPath, err))
	} else {
		lr = e.runSpec(e.soft, spec.Run, wf, &spec.Job)
	}
	sum := e.summary(time.Since(start))
	e.emit(logs.Event{Kind: logs.RunFinished, Summary: &sum, Result: sum.Result, Duration: sum.Duration})
	res := JobResult{Result: lr.result, Outputs: lr.outputs, Tests: lr.tests, EnvironmentURL: lr.envURL}
	if len(sum.Jobs) > 0 {
		res.Summary = sum.Jobs[len(sum.Jobs)-1]
	}
	return res
}
