// Package plan makes every decision about a workflow run's job graph, and nothing else: which
// jobs exist (a called reusable workflow's jobs become jobs of the run, named `caller /
// callee`; a matrix becomes its legs), when each is ready (its needs done), whether it runs
// (its `if:` with the status functions over the whole chain of jobs it needs), with which
// values, name, labels and strategy, what fail-fast cancels, how many legs max-parallel lets
// run, which jobs another operating system skips, and how each expanded job ends (the
// combined result and outputs of its legs, or of the called workflow).
//
// It is pure: it reads no files and runs nothing. Callers hold the state as rows (the server
// in its database, `sluice run` in memory), report how the jobs they started ended, and apply
// the changes Advance returns. Both paths call it, so they cannot decide differently.
package plan

import (
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/rhysd/actionlint"
	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/workflow"
)

// maxCallDepth is GitHub's limit on nested reusable workflows: "you can connect a maximum of
// ten levels of workflows" (the top-level caller counts as one).
const maxCallDepth = 10

// OtherOS says what becomes of a job whose runs-on asks for Windows or macOS.
type OtherOS int

const (
	// WaitForAgent leaves such a job queued for an agent with those labels (the server).
	WaitForAgent OtherOS = iota
	// SkipOtherOS skips it, saying why (`sluice run` on a Linux host).
	SkipOtherOS
)

// Input is everything a plan is made from.
type Input struct {
	// Run is the run's identity and event; its WorkflowPath and WorkflowName are the
	// triggered workflow's.
	Run      jobspec.Run
	Workflow *workflow.Workflow
	// Called holds every reusable workflow the run may call, by CalledKey; CallErrors says
	// why one could not be loaded (its caller fails with that reason). See Resolve.
	Called     map[string]*workflow.Workflow
	CallErrors map[string]string
	// Only limits the run to one top-level job and the jobs it needs (`sluice run -j`).
	Only string
	// OtherOS decides Windows and macOS jobs; Platforms (-P LABEL=IMAGE, lower-case
	// labels) names labels the user maps to this host, which then run whatever they say.
	OtherOS   OtherOS
	Platforms map[string]string
}

// Plan is one workflow run's job graph. It is safe for concurrent use; it only caches what
// it derived (called workflows' frames), so it may be rebuilt from the same Input at any time.
type Plan struct {
	in     Input
	top    *frame
	github map[string]any
	vars   map[string]any

	mu        sync.Mutex
	frames    map[string]*frame         // a call's frame, by the key of the row that calls
	jobGitHub map[string]map[string]any // the github context of each job id (githubOf)
}

// frame is one workflow's jobs in the run: the top-level workflow, or a reusable workflow
// called by one job (or one matrix leg of a job).
type frame struct {
	wf     *workflow.Workflow
	source string
	// origin is where ./ paths in the workflow point: "" for the repository's own
	// workflows, the `uses:` of a workflow fetched from elsewhere.
	origin string
	key    string // prefix of its jobs' keys: "" or "call / "
	name   string // prefix of its jobs' names
	parent string // the calling row's key ("" for the top)
	inputs map[string]any
	// secrets is how its jobs see secrets (see jobspec.SecretLevel).
	secrets []jobspec.SecretLevel
	depth   int
	order   []string // job ids in file order
	byID    map[string]string
}

// New prepares the plan of one workflow run.
func New(in Input) (*Plan, error) {
	if in.Workflow == nil || in.Workflow.AST == nil {
		return nil, fmt.Errorf("planning: no workflow")
	}
	if in.Run.WorkflowPath == "" {
		in.Run.WorkflowPath = in.Workflow.Path
	}
	if in.Run.WorkflowName == "" {
		in.Run.WorkflowName = in.Workflow.Name()
	}
	var inputs map[string]any
	if in.Run.Event == "workflow_dispatch" {
		var err error
		if inputs, err = workflow.DispatchInputs(in.Workflow, in.Run.Inputs); err != nil {
			return nil, fmt.Errorf("%s: %w", in.Workflow.Path, err)
		}
	}
	if inputs == nil {
		inputs = map[string]any{}
	}
	vars := map[string]any{}
	for k, v := range in.Run.Vars {
		vars[k] = v
	}
	p := &Plan{in: in, github: GitHub(in.Run), vars: vars, frames: map[string]*frame{}, jobGitHub: map[string]map[string]any{}}
	p.top = newFrame(in.Workflow, "", "", "", "", inputs, nil, 1)
	return p, nil
}

func newFrame(wf *workflow.Workflow, origin, parent, key, name string, inputs map[string]any, secrets []jobspec.SecretLevel, depth int) *frame {
	f := &frame{wf: wf, source: string(wf.Source), origin: origin, parent: parent, key: key, name: name,
		inputs: inputs, secrets: secrets, depth: depth, order: wf.JobIDs(), byID: map[string]string{}}
	for _, id := range f.order {
		f.byID[strings.ToLower(id)] = id
	}
	return f
}

// Run is the run's identity, with the workflow's path and name filled in.
func (p *Plan) Run() jobspec.Run { return p.in.Run }

// GitHub is the run's github context (a copy).
func (p *Plan) GitHub() map[string]any { return maps.Clone(p.github) }

// Workflow returns the workflow a job's spec names, by path: the top-level one or a called
// one (nil when the plan has none by that path).
func (p *Plan) Workflow(path string) *workflow.Workflow {
	if path == p.in.Workflow.Path {
		return p.in.Workflow
	}
	for _, wf := range p.in.Called {
		if wf != nil && wf.Path == path {
			return wf
		}
	}
	return nil
}

// Rows are the run's first rows: one waiting row per top-level job that may run (all, or
// Input.Only and what it needs), in file order. Their names are the literal names (or ids);
// a name with an expression is evaluated when the job is decided.
func (p *Plan) Rows() []Row {
	f := p.top
	sel := p.selected()
	var rows []Row
	for _, id := range f.order {
		if !sel[strings.ToLower(id)] {
			continue
		}
		rows = append(rows, p.nodeRow(f, id))
	}
	return rows
}

// nodeRow is the waiting row of job id of frame f.
func (p *Plan) nodeRow(f *frame, id string) Row {
	j := f.wf.Job(id)
	r := Row{Key: f.key + id, Parent: f.parent, JobID: id, Name: f.name + literalName(j, id), State: Waiting}
	for _, n := range j.Needs {
		if nid, ok := f.byID[strings.ToLower(n.Value)]; ok {
			r.Needs = append(r.Needs, f.key+nid)
		}
	}
	return r
}

// literalName is a job's name as written when it has no expression, else its id.
func literalName(j *actionlint.Job, id string) string {
	if j != nil && j.Name != nil && j.Name.Value != "" && !j.Name.ContainsExpression() {
		return j.Name.Value
	}
	return id
}

// selected is the set of top-level jobs (lower-case ids) that may run.
func (p *Plan) selected() map[string]bool {
	f := p.top
	sel := map[string]bool{}
	if p.in.Only == "" {
		for _, id := range f.order {
			sel[strings.ToLower(id)] = true
		}
		return sel
	}
	var add func(string)
	add = func(id string) {
		k := strings.ToLower(id)
		if sel[k] {
			return
		}
		j := f.wf.Job(id)
		if j == nil {
			return
		}
		sel[k] = true
		for _, n := range j.Needs {
			add(n.Value)
		}
	}
	add(p.in.Only)
	return sel
}

// CalledKey names a called workflow: its `uses:` as written, except that a ./ path inside a
// workflow fetched from another repository points into that repository (at the same ref).
func CalledKey(origin, uses string) string {
	if origin == "" || !strings.HasPrefix(uses, "./") {
		return uses
	}
	repoPath, ref, _ := strings.Cut(origin, "@")
	parts := strings.SplitN(repoPath, "/", 3)
	if len(parts) < 2 {
		return uses
	}
	return parts[0] + "/" + parts[1] + "/" + strings.TrimPrefix(uses, "./") + "@" + ref
}
