package plan

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/workflow"
)

// GitHub's documentation, which the cases below follow.
const (
	docNeeds      = "https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#jobsjob_idneeds"
	docIf         = "https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#jobsjob_idif"
	docStatus     = "https://docs.github.com/en/actions/reference/workflows-and-actions/expressions#status-check-functions"
	docMatrix     = "https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#jobsjob_idstrategymatrix"
	docFailFast   = "https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#jobsjob_idstrategyfail-fast"
	docMaxPar     = "https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#jobsjob_idstrategymax-parallel"
	docJobCOE     = "https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#jobsjob_idcontinue-on-error"
	docReusable   = "https://docs.github.com/en/actions/how-tos/reuse-automations/reuse-workflows"
	docOutputs    = "https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#jobsjob_idoutputs"
	docName       = "https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#jobsjob_idname"
	docRunsOn     = "https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#jobsjob_idruns-on"
	docCancel     = "https://docs.github.com/en/actions/reference/workflows-and-actions/expressions#cancelled"
	docGitHubCtx  = "https://docs.github.com/en/actions/reference/workflows-and-actions/contexts#github-context"
	docConcurrent = "https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#concurrency"
)

func parse(t testing.TB, path, src string) *workflow.Workflow {
	t.Helper()
	wf, err := workflow.Parse(path, []byte(src))
	if err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	return wf
}

// newPlan plans wf (the file "ci.yml" of files) with the rest of files callable as
// ./.github/workflows/NAME.
func newPlan(t testing.TB, files map[string]string, tweak func(*Input)) *Plan {
	t.Helper()
	wfs := map[string]*workflow.Workflow{}
	for name, src := range files {
		wfs[name] = parse(t, ".github/workflows/"+name, src)
	}
	top := wfs["ci.yml"]
	called, errs := Resolve(context.Background(), top, LoaderFunc(func(_ context.Context, key string) (*workflow.Workflow, error) {
		name := strings.TrimPrefix(key, "./.github/workflows/")
		if wf, ok := wfs[name]; ok && strings.HasPrefix(key, "./") {
			return wf, nil
		}
		return nil, fmt.Errorf("no workflow %s here", key)
	}))
	in := Input{Run: jobspec.Run{ID: "7", Number: 3, Repository: "acme/app", SHA: "abc", Ref: "refs/heads/main", Event: "push"},
		Workflow: top, Called: called, CallErrors: errs}
	if tweak != nil {
		tweak(&in)
	}
	p, err := New(in)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// outcome says how a started job ends: its result and outputs.
type outcome func(spec *jobspec.Job) (string, map[string]string)

func succeed(*jobspec.Job) (string, map[string]string) { return jobspec.Success, nil }

// failing makes the jobs whose key is listed fail and the others succeed.
func failing(keys ...string) outcome {
	return func(s *jobspec.Job) (string, map[string]string) {
		for _, k := range keys {
			if s.Key == k {
				return jobspec.Failure, nil
			}
		}
		return jobspec.Success, nil
	}
}

// trace is what a simulated run did.
type trace struct {
	rows []Row
	// started lists keys in the order they started; most is the most legs of one job
	// running at once.
	started []string
	most    map[string]int
}

// simulate runs the plan as a caller would: advance, then end the first started row (a
// cancel request ends it as cancelled), until nothing is left.
func simulate(t testing.TB, p *Plan, out outcome) trace {
	t.Helper()
	tr := trace{most: map[string]int{}}
	rows := p.Rows()
	seen := map[string]bool{}
	for range 10000 {
		var changes []Change
		rows, changes = p.Advance(rows, false)
		for _, c := range changes {
			if c.Op == Start && !seen[c.Row.Key] {
				seen[c.Row.Key] = true
				tr.started = append(tr.started, c.Row.Key)
			}
		}
		running := map[string]int{}
		next := -1
		for i, r := range rows {
			if r.State == Active {
				running[r.Parent]++
				if next < 0 {
					next = i
				}
			}
		}
		for k, n := range running {
			tr.most[k] = max(tr.most[k], n)
		}
		if next < 0 {
			tr.rows = rows
			return tr
		}
		r := &rows[next]
		res, outs := out(r.Spec)
		if r.CancelRequested {
			res = jobspec.Cancelled
		}
		r.State, r.Result, r.Outputs = Done, res, outs
	}
	t.Fatal("the run never ended")
	return tr
}

// visible renders the rows a user sees (those not expanded into others) as
// "name: result [reason]" lines, sorted.
func visible(rows []Row) []string {
	parents := map[string]bool{}
	for _, r := range rows {
		if r.Parent != "" {
			parents[r.Parent] = true
		}
	}
	var out []string
	for _, r := range rows {
		if parents[r.Key] {
			continue
		}
		s := r.Name + ": " + r.Result
		if r.Tolerated {
			s += " (tolerated)"
		}
		if r.Reason != "" {
			s += " [" + r.Reason + "]"
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func rowByKey(t testing.TB, rows []Row, key string) Row {
	t.Helper()
	for _, r := range rows {
		if r.Key == key {
			return r
		}
	}
	t.Fatalf("no row %q", key)
	return Row{}
}

func TestGraphDecisions(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		files map[string]string
		out   outcome
		tweak func(*Input)
		want  []string
	}{
		{
			name: "a failed need skips its dependents, transitively",
			doc:  docNeeds,
			files: map[string]string{"ci.yml": `on: push
jobs:
  a: {runs-on: ubuntu-latest, steps: [{run: exit 1}]}
  b: {needs: a, runs-on: ubuntu-latest, steps: [{run: x}]}
  c: {needs: b, runs-on: ubuntu-latest, steps: [{run: x}]}
`},
			out:  failing("a"),
			want: []string{"a: failure", "b: skipped", "c: skipped"},
		},
		{
			name: "always() and failure() dependents run after a failure; success() does not",
			doc:  docStatus,
			files: map[string]string{"ci.yml": `on: push
jobs:
  a: {runs-on: ubuntu-latest, steps: [{run: exit 1}]}
  always: {needs: a, if: always(), runs-on: ubuntu-latest, steps: [{run: x}]}
  onfail: {needs: a, if: "${{ failure() }}", runs-on: ubuntu-latest, steps: [{run: x}]}
  onok: {needs: a, if: success(), runs-on: ubuntu-latest, steps: [{run: x}]}
`},
			out:  failing("a"),
			want: []string{"a: failure", "always: success", "onfail: success", "onok: skipped"},
		},
		{
			name: "failure() sees a failure anywhere up the chain, not only in direct needs",
			doc:  docStatus + " (failure(): 'returns true if any ancestor job fails')",
			files: map[string]string{"ci.yml": `on: push
jobs:
  a: {runs-on: ubuntu-latest, steps: [{run: exit 1}]}
  b: {needs: a, if: always(), runs-on: ubuntu-latest, steps: [{run: x}]}
  c: {needs: b, if: failure(), runs-on: ubuntu-latest, steps: [{run: x}]}
`},
			out:  failing("a"),
			want: []string{"a: failure", "b: success", "c: success"},
		},
		{
			name: "a skip anywhere up the chain skips a default-if job even when its direct need succeeded",
			doc:  docNeeds + " ('a failure or skip applies to all jobs in the dependency chain from the point of failure or skip onwards')",
			files: map[string]string{"ci.yml": `on: push
jobs:
  a: {if: "false", runs-on: ubuntu-latest, steps: [{run: x}]}
  b: {needs: a, if: always(), runs-on: ubuntu-latest, steps: [{run: x}]}
  c: {needs: b, runs-on: ubuntu-latest, steps: [{run: x}]}
  d: {needs: b, if: success(), runs-on: ubuntu-latest, steps: [{run: x}]}
  e: {needs: b, if: success() || failure(), runs-on: ubuntu-latest, steps: [{run: x}]}
  f: {needs: b, if: "!cancelled()", runs-on: ubuntu-latest, steps: [{run: x}]}
`},
			out:  succeed,
			want: []string{"a: skipped", "b: success", "c: skipped", "d: skipped", "e: skipped", "f: success"},
		},
		{
			name: "job if without ${{ }}, with contexts github, needs, vars and inputs",
			doc:  docIf,
			files: map[string]string{"ci.yml": `on: push
jobs:
  a:
    runs-on: ubuntu-latest
    outputs: {go: yes}
    steps: [{run: x}]
  b: {needs: a, if: "needs.a.outputs.go == 'yes' && github.ref == 'refs/heads/main'", runs-on: ubuntu-latest, steps: [{run: x}]}
  c: {if: "vars.FLAG == 'on'", runs-on: ubuntu-latest, steps: [{run: x}]}
  d: {if: "github.event_name == 'pull_request'", runs-on: ubuntu-latest, steps: [{run: x}]}
`},
			out: func(s *jobspec.Job) (string, map[string]string) {
				return jobspec.Success, map[string]string{"go": "yes"}
			},
			tweak: func(in *Input) { in.Run.Vars = map[string]string{"FLAG": "on"} },
			want:  []string{"a: success", "b: success", "c: success", "d: skipped"},
		},
		{
			name: "an if that does not evaluate fails the job, and its dependents skip",
			doc:  docIf,
			files: map[string]string{"ci.yml": `on: push
jobs:
  a: {if: "fromJSON('{')", runs-on: ubuntu-latest, steps: [{run: x}]}
  b: {needs: a, runs-on: ubuntu-latest, steps: [{run: x}]}
`},
			out:  succeed,
			want: []string{"a: failure [evaluating if: evaluating \"fromJSON('{')\": fromJSON: invalid JSON: unexpected EOF at column 1]", "b: skipped"},
		},
		{
			name: "a matrix becomes its legs, named by their values; no parent job is shown",
			doc:  docMatrix,
			files: map[string]string{"ci.yml": `on: push
jobs:
  m:
    runs-on: ubuntu-latest
    strategy:
      matrix: {py: ["3.10", "3.11"], os: [a, b]}
    steps: [{run: x}]
  after: {needs: m, runs-on: ubuntu-latest, steps: [{run: x}]}
`},
			out:  succeed,
			want: []string{"after: success", "m (3.10, a): success", "m (3.10, b): success", "m (3.11, a): success", "m (3.11, b): success"},
		},
		{
			name: "a matrix job whose name uses the matrix is not suffixed again",
			doc:  docName,
			files: map[string]string{"ci.yml": `on: push
jobs:
  m:
    name: "py ${{ matrix.py }}"
    runs-on: ubuntu-latest
    strategy: {matrix: {py: ["3.12"]}}
    steps: [{run: x}]
`},
			out:  succeed,
			want: []string{"py 3.12: success"},
		},
		{
			name: "fail-fast (the default) cancels the legs still running or waiting",
			doc:  docFailFast,
			files: map[string]string{"ci.yml": `on: push
jobs:
  m:
    runs-on: ubuntu-latest
    strategy: {max-parallel: 2, matrix: {v: [bad, slow, later]}}
    steps: [{run: x}]
`},
			out: failing("m (bad)"),
			want: []string{"m (bad): failure", "m (later): cancelled [another leg of the matrix failed (fail-fast)]",
				"m (slow): cancelled [another leg of the matrix failed (fail-fast)]"},
		},
		{
			name: "fail-fast: false lets the other legs finish, and the job fails",
			doc:  docFailFast,
			files: map[string]string{"ci.yml": `on: push
jobs:
  m:
    runs-on: ubuntu-latest
    strategy: {fail-fast: false, matrix: {v: [bad, good]}}
    steps: [{run: x}]
  after: {needs: m, runs-on: ubuntu-latest, steps: [{run: x}]}
`},
			out:  failing("m (bad)"),
			want: []string{"after: skipped", "m (bad): failure", "m (good): success"},
		},
		{
			name: "continue-on-error: a leg's failure neither cancels the others nor fails the job",
			doc:  docJobCOE,
			files: map[string]string{"ci.yml": `on: push
jobs:
  m:
    runs-on: ubuntu-latest
    continue-on-error: ${{ matrix.experimental }}
    strategy:
      matrix:
        v: [stable]
        experimental: [false]
        include: [{v: dev, experimental: true}]
    steps: [{run: x}]
  after: {needs: m, runs-on: ubuntu-latest, steps: [{run: x}]}
`},
			out:  failing("m (dev, true)"),
			want: []string{"after: success", "m (dev, true): failure (tolerated)", "m (stable, false): success"},
		},
		{
			name: "a called workflow's jobs are jobs of the run, named caller / callee",
			doc:  docReusable,
			files: map[string]string{"ci.yml": `on: push
jobs:
  call:
    uses: ./.github/workflows/r.yml
    with: {who: sluice}
  after: {needs: call, if: "needs.call.outputs.g == 'hi-sluice'", runs-on: ubuntu-latest, steps: [{run: x}]}
`, "r.yml": `on:
  workflow_call:
    inputs: {who: {type: string, required: true}}
    outputs: {g: {value: "${{ jobs.inner.outputs.g }}"}}
jobs:
  inner:
    runs-on: ubuntu-latest
    outputs: {g: "x"}
    steps: [{run: x}]
  second: {needs: inner, runs-on: ubuntu-latest, steps: [{run: x}]}
`},
			out: func(s *jobspec.Job) (string, map[string]string) {
				if s.JobID == "inner" {
					return jobspec.Success, map[string]string{"g": "hi-" + s.Inputs["who"].(string)}
				}
				return jobspec.Success, nil
			},
			want: []string{"after: success", "call / inner: success", "call / second: success"},
		},
		{
			name: "a failed job in a called workflow fails the caller and skips its dependents",
			doc:  docReusable,
			files: map[string]string{"ci.yml": `on: push
jobs:
  call: {uses: ./.github/workflows/r.yml}
  after: {needs: call, runs-on: ubuntu-latest, steps: [{run: x}]}
  cleanup: {needs: call, if: failure(), runs-on: ubuntu-latest, steps: [{run: x}]}
`, "r.yml": `on: workflow_call
jobs:
  inner: {runs-on: ubuntu-latest, steps: [{run: x}]}
`},
			out:  failing("call / inner"),
			want: []string{"after: skipped", "call / inner: failure", "cleanup: success"},
		},
		{
			name: "a matrix of calls gives each leg its own called jobs",
			doc:  docReusable + " (using a matrix strategy with a reusable workflow)",
			files: map[string]string{"ci.yml": `on: push
jobs:
  call:
    strategy: {matrix: {t: [a, b]}}
    uses: ./.github/workflows/r.yml
    with: {t: "${{ matrix.t }}"}
`, "r.yml": `on:
  workflow_call:
    inputs: {t: {type: string}}
jobs:
  inner:
    name: "inner ${{ inputs.t }}"
    runs-on: ubuntu-latest
    steps: [{run: x}]
`},
			out:  succeed,
			want: []string{"call (a) / inner a: success", "call (b) / inner b: success"},
		},
		{
			name: "nested calls name every level; a matrix inside a called workflow has legs",
			doc:  docReusable + " (nesting reusable workflows)",
			files: map[string]string{"ci.yml": `on: push
jobs:
  outer: {uses: ./.github/workflows/mid.yml}
`, "mid.yml": `on: workflow_call
jobs:
  mid: {uses: ./.github/workflows/leaf.yml}
`, "leaf.yml": `on: workflow_call
jobs:
  t:
    runs-on: ubuntu-latest
    strategy: {matrix: {n: [1, 2]}}
    steps: [{run: x}]
`},
			out:  succeed,
			want: []string{"outer / mid / t (1): success", "outer / mid / t (2): success"},
		},
		{
			name: "a call to a workflow that cannot be loaded fails only the caller, saying why",
			doc:  docReusable,
			files: map[string]string{"ci.yml": `on: push
jobs:
  call: {uses: ./.github/workflows/missing.yml}
  other: {runs-on: ubuntu-latest, steps: [{run: x}]}
`},
			out:  succeed,
			want: []string{"call: failure [calling ./.github/workflows/missing.yml: no workflow ./.github/workflows/missing.yml here]", "other: success"},
		},
		{
			name: "a required input the caller does not pass fails the caller",
			doc:  docReusable,
			files: map[string]string{"ci.yml": `on: push
jobs:
  call: {uses: ./.github/workflows/r.yml}
`, "r.yml": `on:
  workflow_call:
    inputs: {who: {type: string, required: true}}
jobs:
  inner: {runs-on: ubuntu-latest, steps: [{run: x}]}
`},
			out:  succeed,
			want: []string{"call: failure [calling ./.github/workflows/r.yml: input \"who\" is required]"},
		},
		{
			name: "a job's if with status functions runs after a skipped caller",
			doc:  docStatus,
			files: map[string]string{"ci.yml": `on: push
jobs:
  call: {if: "false", uses: ./.github/workflows/r.yml}
  after: {needs: call, if: always(), runs-on: ubuntu-latest, steps: [{run: x}]}
`, "r.yml": `on: workflow_call
jobs:
  inner: {runs-on: ubuntu-latest, steps: [{run: x}]}
`},
			out:  succeed,
			want: []string{"after: success", "call: skipped"},
		},
		{
			name: "Windows and macOS jobs and legs are skipped on this host, saying why",
			doc:  docRunsOn,
			files: map[string]string{"ci.yml": `on: push
jobs:
  win: {runs-on: windows-latest, steps: [{run: x}]}
  t:
    runs-on: ${{ matrix.os }}
    strategy: {matrix: {os: [ubuntu-latest, macos-14]}}
    steps: [{run: x}]
  after: {needs: t, runs-on: ubuntu-latest, steps: [{run: x}]}
`},
			out:   succeed,
			tweak: func(in *Input) { in.OtherOS = SkipOtherOS },
			want: []string{"after: success",
				"t (macos-14): skipped [runs-on macos-14 asks for a macOS runner and this host runs Linux (-P macos-14=-self-hosted runs it here anyway)]",
				"t (ubuntu-latest): success",
				"win: skipped [runs-on windows-latest asks for a Windows runner and this host runs Linux (-P windows-latest=-self-hosted runs it here anyway)]"},
		},
		{
			name: "-P LABEL=-self-hosted runs a Windows job here anyway",
			doc:  docRunsOn,
			files: map[string]string{"ci.yml": `on: push
jobs:
  win: {runs-on: windows-latest, steps: [{run: x}]}
`},
			out: succeed,
			tweak: func(in *Input) {
				in.OtherOS, in.Platforms = SkipOtherOS, map[string]string{"windows-latest": "-self-hosted"}
			},
			want: []string{"win: success"},
		},
		{
			name: "the server keeps Windows jobs for an agent with those labels",
			doc:  docRunsOn,
			files: map[string]string{"ci.yml": `on: push
jobs:
  win: {runs-on: [self-hosted, windows], steps: [{run: x}]}
`},
			out:  succeed,
			want: []string{"win: success"},
		},
		{
			name: "-j runs one job and what it needs, nothing else",
			doc:  "sluice run -j (act's -j)",
			files: map[string]string{"ci.yml": `on: push
jobs:
  a: {runs-on: ubuntu-latest, steps: [{run: x}]}
  b: {needs: a, runs-on: ubuntu-latest, steps: [{run: x}]}
  c: {runs-on: ubuntu-latest, steps: [{run: x}]}
`},
			out:   succeed,
			tweak: func(in *Input) { in.Only = "B" },
			want:  []string{"a: success", "b: success"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPlan(t, tt.files, tt.tweak)
			tr := simulate(t, p, tt.out)
			if diff := cmp.Diff(tt.want, visible(tr.rows)); diff != "" {
				t.Errorf("jobs (-want +got), following %s:\n%s", tt.doc, diff)
			}
		})
	}
}
