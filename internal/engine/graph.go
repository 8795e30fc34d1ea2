package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/logs"
	"github.com/sluice-ci/sluice/internal/plan"
	"github.com/sluice-ci/sluice/internal/workflow"
)

// Run executes the workflows (each as its own workflow run, sharing the job
// slots) and returns the run's summary. Every decision about which jobs run,
// when and as what is internal/plan's; Run only keeps the rows in memory,
// starts the jobs the plan starts and reports how they ended. ctx ending
// kills everything at once; use Cancel for a graceful stop.
func (e *Engine) Run(ctx context.Context, wfs []*workflow.Workflow) logs.RunSummary {
	start := time.Now()
	e.hard = ctx
	e.soft, e.softCancel = context.WithCancel(ctx)
	defer e.softCancel()
	e.clearTrash()
	defer e.settleTrash()
	e.emit(logs.Event{Kind: logs.RunStarted, Text: e.opts.Run.ID})

	var wg sync.WaitGroup
	for _, wf := range wfs {
		p, err := e.plan(ctx, wf)
		if err != nil {
			e.recordJob(logs.JobSummary{Job: wf.Name(), Result: logs.Failure})
			e.emit(logs.Event{Kind: logs.JobFinished, Job: wf.Name(), Result: logs.Failure, Text: err.Error()})
			continue
		}
		wg.Go(func() { e.drive(p) })
	}
	wg.Wait()

	sum := e.summary(time.Since(start))
	e.emit(logs.Event{Kind: logs.RunFinished, Summary: &sum, Result: sum.Result, Duration: sum.Duration})
	return sum
}

func (e *Engine) plan(ctx context.Context, wf *workflow.Workflow) (*plan.Plan, error) {
	return Plan(ctx, e.opts, wf)
}

// Plan plans one workflow of a `sluice run` (and its --dryrun): reusable workflows are
// read from the repository (./ paths) or through Options.Workflows, and Windows and macOS
// jobs are skipped unless -P maps their labels here.
func Plan(ctx context.Context, opts Options, wf *workflow.Workflow) (*plan.Plan, error) {
	run := opts.Run
	run.WorkflowPath, run.WorkflowName = wf.Path, wf.Name()
	called, errs := plan.Resolve(ctx, wf, loader(opts))
	return plan.New(plan.Input{Run: run, Workflow: wf, Called: called, CallErrors: errs, Only: opts.JobFilter,
		OtherOS: plan.SkipOtherOS, Platforms: opts.Platforms})
}

// loader reads called workflows: ./ paths from the repository, others through
// Options.Workflows, else fetched by Options.Actions.
func loader(opts Options) plan.Loader {
	remote := opts.Workflows
	if remote == nil {
		remote = opts.Actions // fetched and cached like actions, as GitHub's runner does
	}
	return plan.RepoLoader(opts.RepoRoot, remote)
}

// finished is a started job's end, as drive learns it.
type finished struct {
	key string
	res legResult
}

// drive runs one workflow run: it applies the plan's changes (starting jobs, reporting
// the ones that ended without running) and feeds back how started jobs ended, until the
// plan has nothing left.
func (e *Engine) drive(p *plan.Plan) {
	rows := p.Rows()
	e.announceWaiting(rows)
	ended := make(chan finished)
	running := map[string]context.CancelFunc{}
	members := map[string]func(){} // leaving its concurrency group, by job key
	expanded := map[string]bool{}
	for {
		var changes []plan.Change
		rows, changes = p.Advance(rows, e.cancelled())
		for _, c := range changes {
			switch c.Op {
			case plan.Expand:
				expanded[c.Row.Key] = true
			case plan.Start:
				// A job the plan starts after a cancel asked for it (if: always(),
				// cancelled()): the cancel it cleans up after must not stop it.
				base := e.soft
				if e.cancelled() {
					base = e.hard
				}
				ctx, cancel := context.WithCancel(base)
				key, spec := c.Row.Key, c.Row.Spec
				run := func() { ended <- finished{key: key, res: e.runUnit(ctx, p, spec)} }
				if gc := spec.Concurrency; gc != nil && gc.Group != "" {
					// The job's own concurrency group decides when it starts, or that it
					// never does (a newer job took its place).
					gj := &groupJob{}
					stop := func(reason string) {
						if gj.stop() {
							e.finishUnrun(spec.Name, logs.Cancelled, reason)
							// Not from drive's own goroutine: it is the one that reads ended.
							go func() { ended <- finished{key: key, res: legResult{result: logs.Cancelled}} }()
							return
						}
						cancel()
					}
					m := e.groups.enter(gc, spec.Name, func() {
						if gj.begin() {
							run()
						}
					}, stop)
					members[key] = func() { e.groups.leave(gc, m) }
					running[key] = func() { stop("cancelled") }
					continue
				}
				running[key] = cancel
				go run()
			case plan.Cancel:
				if cancel := running[c.Row.Key]; cancel != nil {
					cancel()
				}
			case plan.Finish:
				// An expanded row ends when its legs or called jobs have; those were
				// reported themselves.
				if !expanded[c.Row.Key] {
					e.finishUnrun(c.Row.Name, logs.Result(c.Row.Result), c.Row.Reason)
				}
			}
		}
		if len(running) == 0 {
			return
		}
		f := <-ended
		running[f.key]()
		delete(running, f.key)
		if leave := members[f.key]; leave != nil {
			leave()
			delete(members, f.key)
		}
		for i := range rows {
			if rows[i].Key == f.key {
				rows[i].State, rows[i].Result, rows[i].Outputs = plan.Done, string(f.res.result), f.res.outputs
				break
			}
		}
	}
}

// groupJob is a job waiting in its concurrency group: it either begins (the group let it
// start) or is stopped first (cancelled while pending), never both.
type groupJob struct {
	mu      sync.Mutex
	started bool
	stopped bool
}

// begin says whether the job may start: it was not stopped while pending.
func (g *groupJob) begin() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return false
	}
	g.started = true
	return true
}

// stop says whether the job ends here without running (it had not started, and was not
// stopped already); false means it runs (cancel its context) or has ended.
func (g *groupJob) stop() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started || g.stopped {
		return false
	}
	g.stopped = true
	return true
}

// finishUnrun records a job that did not start.
func (e *Engine) finishUnrun(display string, res logs.Result, why string) {
	e.recordJob(logs.JobSummary{Job: display, Result: res, Reason: why})
	e.emit(logs.Event{Kind: logs.JobFinished, Job: display, Result: res, Text: why})
}

// runUnit runs one job the plan started, from the workflow the plan read.
func (e *Engine) runUnit(ctx context.Context, p *plan.Plan, spec *jobspec.Job) legResult {
	wf := p.Workflow(spec.WorkflowPath)
	if wf == nil {
		return e.failUnit(spec.Name, fmt.Sprintf("the plan has no workflow %s", spec.WorkflowPath))
	}
	return e.runSpec(ctx, p.Run(), wf, spec)
}

// runSpec runs one job: `sluice run`'s and an agent's way in.
func (e *Engine) runSpec(ctx context.Context, run jobspec.Run, wf *workflow.Workflow, spec *jobspec.Job) legResult {
	github := plan.GitHub(run)
	secrets, err := plan.ResolveSecrets(e.opts.Secrets, spec.Secrets, github)
	if err != nil {
		return e.failUnit(spec.Name, err.Error())
	}
	// A secret a caller passes a called workflow may be made of the run's secrets
	// (tok: ${{ secrets.A }}-suffix): the whole value is a secret too.
	for _, v := range secrets {
		e.opts.Masker.Add(v)
	}
	wr, err := e.newWorkflowRun(run, wf, spec, github, secrets)
	if err != nil {
		return e.failUnit(spec.Name, err.Error())
	}
	return wr.runLeg(ctx)
}

func (e *Engine) failUnit(name, msg string) legResult {
	e.finishUnrun(name, logs.Failure, msg)
	return legResult{result: logs.Failure}
}
