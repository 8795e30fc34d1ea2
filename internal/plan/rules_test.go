package plan

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/jobspec"
)

func TestMaxParallel(t *testing.T) {
	// docMaxPar: "The maximum number of jobs that can run simultaneously when using a matrix job
	// strategy." Legs start in matrix order as others end.
	tests := []struct {
		src       string
		wantMost  int
		wantFirst []string
	}{
		{src: "max-parallel: 2", wantMost: 2, wantFirst: []string{"m (1)", "m (2)"}},
		{src: "max-parallel: ${{ fromJSON('1') }}", wantMost: 1, wantFirst: []string{"m (1)"}},
		{src: "fail-fast: true", wantMost: 4, wantFirst: []string{"m (1)", "m (2)", "m (3)", "m (4)"}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			p := newPlan(t, map[string]string{"ci.yml": `on: push
jobs:
  m:
    runs-on: ubuntu-latest
    strategy:
      ` + tt.src + `
      matrix: {n: [1, 2, 3, 4]}
    steps: [{run: x}]
`}, nil)
			rows, changes := p.Advance(p.Rows(), false)
			var first []string
			for _, c := range changes {
				if c.Op == Start {
					first = append(first, c.Row.Key)
				}
			}
			if diff := cmp.Diff(tt.wantFirst, first); diff != "" {
				t.Errorf("legs started first (-want +got), following %s:\n%s", docMaxPar, diff)
			}
			tr := simulate(t, p, succeed)
			if got := tr.most["m"]; got != tt.wantMost {
				t.Errorf("at most %d legs ran at once, want %d (%s)", got, tt.wantMost, docMaxPar)
			}
			if got := rowByKey(t, rows, "m (1)").Spec.Strategy; got.MaxParallel != tt.wantMost || got.JobTotal != 4 {
				t.Errorf("strategy context = %+v, want max-parallel %d of 4", got, tt.wantMost)
			}
		})
	}
}

func TestMatrixFromNeedsOutputs(t *testing.T) {
	// docMatrix ("Using contextual information to create a matrix"): a matrix built from
	// fromJSON(needs.x.outputs.y) is known only when x has finished, so the legs are made then.
	p := newPlan(t, map[string]string{"ci.yml": `on: push
jobs:
  gen:
    runs-on: ubuntu-latest
    outputs: {m: "${{ steps.s.outputs.m }}"}
    steps: [{id: s, run: x}]
  use:
    needs: gen
    runs-on: ubuntu-latest
    strategy: {matrix: "${{ fromJSON(needs.gen.outputs.m) }}"}
    steps: [{run: x}]
`}, nil)
	rows, _ := p.Advance(p.Rows(), false)
	for _, r := range rows {
		if r.Parent == "use" {
			t.Fatalf("leg %s made before gen finished", r.Key)
		}
	}
	gen := rowIndex(rows, "gen")
	rows[gen].State, rows[gen].Result, rows[gen].Outputs = Done, jobspec.Success, map[string]string{"m": `{"py":["3.11","3.12"],"include":[{"py":"3.13","exp":true}]}`}
	rows, _ = p.Advance(rows, false)
	var legs []string
	for _, r := range rows {
		if r.Parent == "use" {
			legs = append(legs, r.Name+" "+string(r.State))
		}
	}
	want := []string{"use (3.11) active", "use (3.12) active", "use (3.13, true) active"}
	if diff := cmp.Diff(want, legs); diff != "" {
		t.Errorf("legs (-want +got):\n%s", diff)
	}
}

func rowIndex(rows []Row, key string) int {
	for i, r := range rows {
		if r.Key == key {
			return i
		}
	}
	return -1
}

func TestCancelledRun(t *testing.T) {
	// docCancel: cancelled() "Returns true if the workflow was canceled"; a job whose if uses
	// always() or cancelled() still runs after a cancel, the others do not start.
	p := newPlan(t, map[string]string{"ci.yml": `on: push
jobs:
  a: {runs-on: ubuntu-latest, steps: [{run: x}]}
  plain: {needs: a, runs-on: ubuntu-latest, steps: [{run: x}]}
  always: {needs: a, if: always(), runs-on: ubuntu-latest, steps: [{run: x}]}
  oncancel: {needs: a, if: cancelled(), runs-on: ubuntu-latest, steps: [{run: x}]}
  m:
    runs-on: ubuntu-latest
    strategy: {max-parallel: 1, matrix: {n: [1, 2]}}
    steps: [{run: x}]
`}, nil)
	rows, _ := p.Advance(p.Rows(), false)
	// The user cancels: the runner stops what runs, and reports it cancelled.
	for i := range rows {
		if rows[i].State == Active {
			rows[i].State, rows[i].Result = Done, jobspec.Cancelled
		}
	}
	rows, _ = p.Advance(rows, true)
	got := map[string]string{}
	for _, r := range rows {
		got[r.Key] = string(r.State) + " " + r.Result
	}
	want := map[string]string{
		"a": "done cancelled", "plain": "done cancelled", "always": "active ", "oncancel": "active ",
		"m": "done cancelled", "m (1)": "done cancelled", "m (2)": "done cancelled",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after cancel (-want +got), following %s:\n%s", docCancel, diff)
	}
}

func TestCalledJobSpecs(t *testing.T) {
	// docReusable: a called workflow's jobs see the inputs the caller passed (typed as the
	// called workflow declares them), the secrets it passed or inherited, and the caller's
	// github context; the caller's env does not carry over (the engine reads env from the
	// called workflow's own file, which the spec names).
	p := newPlan(t, map[string]string{"ci.yml": `name: CI
on: push
jobs:
  call:
    uses: ./.github/workflows/r.yml
    with: {n: 2, debug: true, who: "${{ github.ref_name }}"}
    secrets: {token: "${{ secrets.TOKEN }}-x"}
  inherit:
    uses: ./.github/workflows/r.yml
    with: {n: 1, debug: false, who: b}
    secrets: inherit
`, "r.yml": `on:
  workflow_call:
    inputs:
      n: {type: number}
      debug: {type: boolean}
      who: {type: string}
      dflt: {type: string, default: d}
    secrets:
      token: {required: false}
jobs:
  inner: {runs-on: ubuntu-latest, steps: [{run: x}]}
`}, nil)
	rows, _ := p.Advance(p.Rows(), false)
	spec := rowByKey(t, rows, "call / inner").Spec
	if spec == nil {
		t.Fatal("call / inner has no spec: it did not start")
	}
	wantInputs := map[string]any{"n": 2.0, "debug": true, "who": "main", "dflt": "d"}
	if diff := cmp.Diff(wantInputs, spec.Inputs); diff != "" {
		t.Errorf("inputs (-want +got):\n%s", diff)
	}
	if spec.WorkflowPath != ".github/workflows/r.yml" || !strings.Contains(spec.WorkflowSource, "workflow_call") || spec.JobID != "inner" {
		t.Errorf("spec names %s %s, want the called workflow's job", spec.WorkflowPath, spec.JobID)
	}
	got, err := ResolveSecrets(map[string]string{"TOKEN": "t0k", "OTHER": "o"}, spec.Secrets, p.GitHub())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"token": "t0k-x"}, got); diff != "" {
		t.Errorf("mapped secrets (-want +got):\n%s", diff)
	}
	inh := rowByKey(t, rows, "inherit / inner").Spec
	got, err = ResolveSecrets(map[string]string{"TOKEN": "t0k", "OTHER": "o"}, inh.Secrets, p.GitHub())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"TOKEN": "t0k", "OTHER": "o"}, got); diff != "" {
		t.Errorf("inherited secrets (-want +got):\n%s", diff)
	}
	if p.GitHub()["workflow"] != "CI" {
		t.Errorf("github.workflow = %v, want the caller's name CI", p.GitHub()["workflow"])
	}
}

func TestRequiredSecretNotPassed(t *testing.T) {
	p := newPlan(t, map[string]string{"ci.yml": `on: push
jobs:
  call: {uses: ./.github/workflows/r.yml}
`, "r.yml": `on:
  workflow_call:
    secrets: {token: {required: true}}
jobs:
  inner: {runs-on: ubuntu-latest, steps: [{run: x}]}
`}, nil)
	tr := simulate(t, p, succeed)
	want := []string{"call: failure [calling ./.github/workflows/r.yml: required secret token was not passed]"}
	if diff := cmp.Diff(want, visible(tr.rows)); diff != "" {
		t.Errorf("(-want +got), following %s:\n%s", docReusable, diff)
	}
}

func TestCallFailFast(t *testing.T) {
	// docFailFast applies to a matrix of reusable workflow calls too: a failed call cancels
	// the other calls' jobs that have not ended.
	p := newPlan(t, map[string]string{"ci.yml": `on: push
jobs:
  call:
    strategy: {matrix: {t: [a, b]}}
    uses: ./.github/workflows/r.yml
`, "r.yml": `on: workflow_call
jobs:
  one: {runs-on: ubuntu-latest, steps: [{run: x}]}
  two: {needs: one, runs-on: ubuntu-latest, steps: [{run: x}]}
`}, nil)
	tr := simulate(t, p, failing("call (a) / one"))
	want := []string{
		"call (a) / one: failure", "call (a) / two: skipped",
		"call (b) / one: cancelled [another leg of the matrix failed (fail-fast)]",
		"call (b) / two: cancelled [another leg of the matrix failed (fail-fast)]",
	}
	if diff := cmp.Diff(want, visible(tr.rows)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestRowsAndChanges(t *testing.T) {
	// The rows a caller persists: keys unique in the run, parents, needs as keys, and the
	// order of changes (a row is added before it starts or ends).
	p := newPlan(t, map[string]string{"ci.yml": `on: push
jobs:
  build: {runs-on: ubuntu-latest, steps: [{run: x}]}
  call:
    needs: BUILD
    uses: ./.github/workflows/r.yml
  t:
    needs: [call]
    runs-on: ubuntu-latest
    strategy: {matrix: {v: [x, x]}}
    steps: [{run: x}]
`, "r.yml": `on: workflow_call
jobs:
  a: {runs-on: ubuntu-latest, steps: [{run: x}]}
  b: {needs: a, runs-on: ubuntu-latest, steps: [{run: x}]}
`}, nil)
	first := p.Rows()
	var got []string
	for _, r := range first {
		got = append(got, r.Key+" needs "+strings.Join(r.Needs, ","))
	}
	if diff := cmp.Diff([]string{"build needs ", "call needs build", "t needs call"}, got); diff != "" {
		t.Errorf("first rows (-want +got):\n%s", diff)
	}
	tr := simulate(t, p, succeed)
	var rows []string
	for _, r := range tr.rows {
		rows = append(rows, r.Key+" <- "+r.Parent+" needs "+strings.Join(r.Needs, ","))
	}
	want := []string{
		"build <-  needs ", "call <-  needs build", "t <-  needs call",
		"call / a <- call needs ", "call / b <- call needs call / a",
		"t (x) <- t needs call", "t (x) #2 <- t needs call",
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"build", "call / a", "call / b", "t (x)", "t (x) #2"}, tr.started); diff != "" {
		t.Errorf("start order (-want +got):\n%s", diff)
	}
}

func TestChangesAddBeforeUse(t *testing.T) {
	p := newPlan(t, map[string]string{"ci.yml": `on: push
jobs:
  t:
    runs-on: ${{ matrix.os }}
    strategy: {matrix: {os: [ubuntu-latest, windows-latest]}}
    steps: [{run: x}]
`}, func(in *Input) { in.OtherOS = SkipOtherOS })
	_, changes := p.Advance(p.Rows(), false)
	var got []string
	for _, c := range changes {
		got = append(got, string(c.Op)+" "+c.Row.Key)
	}
	want := []string{"expand t", "add t (ubuntu-latest)", "add t (windows-latest)", "finish t (windows-latest)", "start t (ubuntu-latest)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

func TestLabelsAndEnvironment(t *testing.T) {
	// docRunsOn: runs-on may be a label, a list, or an expression over matrix and needs; the
	// server matches agents on the evaluated labels.
	p := newPlan(t, map[string]string{"ci.yml": `on: push
jobs:
  a:
    runs-on: ${{ matrix.os }}
    environment: "deploy-${{ matrix.os }}"
    strategy: {matrix: {os: [gpu-box]}}
    steps: [{run: x}]
  b: {runs-on: [self-hosted, "${{ github.ref_name }}"], steps: [{run: x}]}
  c:
    runs-on: {labels: [big]}
    concurrency: {group: "c-${{ github.run_id }}", cancel-in-progress: "${{ github.ref == 'refs/heads/main' }}"}
    steps: [{run: x}]
`}, nil)
	rows, _ := p.Advance(p.Rows(), false)
	got := map[string][]string{}
	for _, r := range rows {
		if r.Spec != nil {
			got[r.Key] = r.Spec.Labels
		}
	}
	want := map[string][]string{"a (gpu-box)": {"gpu-box"}, "b": {"self-hosted", "main"}, "c": {"big"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if env := rowByKey(t, rows, "a (gpu-box)").Spec.Environment; env != "deploy-gpu-box" {
		t.Errorf("environment = %q, want deploy-gpu-box", env)
	}
	if c := rowByKey(t, rows, "c").Spec.Concurrency; c == nil || *c != (jobspec.Concurrency{Group: "c-7", CancelInProgress: true}) {
		t.Errorf("job concurrency = %+v, want group c-7 cancelling (%s)", c, docConcurrent)
	}
}

func TestWorkflowConcurrency(t *testing.T) {
	// docConcurrent with docGitHubCtx: the group sees run_id, run_number, head_ref and the
	// workflow's name, and cancel-in-progress may be an expression.
	tests := []struct {
		on, conc string
		payload  map[string]any
		want     *jobspec.Concurrency
	}{
		{on: "push", conc: "ci-${{ github.run_id }}", want: &jobspec.Concurrency{Group: "ci-7"}},
		{on: "push", conc: "{group: \"${{ github.workflow }}-${{ github.run_number }}\", cancel-in-progress: true}",
			want: &jobspec.Concurrency{Group: "Build-3", CancelInProgress: true}},
		{on: "pull_request", conc: "{group: \"pr-${{ github.head_ref }}\", cancel-in-progress: \"${{ github.event_name == 'pull_request' }}\"}",
			payload: map[string]any{"pull_request": map[string]any{"head": map[string]any{"ref": "feature"}, "base": map[string]any{"ref": "main"}}},
			want:    &jobspec.Concurrency{Group: "pr-feature", CancelInProgress: true}},
		// A group that evaluates to nothing is no group (GitHub refuses an empty group name).
		{on: "push", conc: "\"${{ github.head_ref }}\"", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.conc, func(t *testing.T) {
			p := newPlan(t, map[string]string{"ci.yml": "name: Build\non: " + tt.on + "\nconcurrency: " + tt.conc + `
jobs:
  a: {runs-on: ubuntu-latest, steps: [{run: x}]}
`}, func(in *Input) { in.Run.Event, in.Run.Payload = tt.on, tt.payload })
			got, err := p.Concurrency()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestGitHubContext(t *testing.T) {
	// docGitHubCtx: the fields a concurrency group, job if or name may read on the server
	// are the ones a step sees.
	g := GitHub(jobspec.Run{ID: "42", Number: 9, Attempt: 2, Repository: "acme/app", SHA: "abc", Ref: "refs/pull/5/merge",
		Event: "pull_request", Actor: "ann", WorkflowPath: ".github/workflows/ci.yml", WorkflowName: "CI",
		Payload: map[string]any{"pull_request": map[string]any{"head": map[string]any{"ref": "feat"}, "base": map[string]any{"ref": "main"}},
			"repository": map[string]any{"id": 17.0, "owner": map[string]any{"id": 3.0}}}})
	want := map[string]any{"run_id": "42", "run_number": "9", "run_attempt": "2", "head_ref": "feat", "base_ref": "main",
		"workflow": "CI", "ref_name": "5/merge", "ref_type": "branch", "repository_owner": "acme",
		"workflow_ref": "acme/app/.github/workflows/ci.yml@refs/pull/5/merge", "repository_id": "17", "repository_owner_id": "3"}
	got := map[string]any{}
	for k := range want {
		got[k] = g[k]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	push := GitHub(jobspec.Run{Ref: "refs/tags/v1", Event: "push", WorkflowPath: "w.yml"})
	if push["head_ref"] != "" || push["ref_name"] != "v1" || push["ref_type"] != "tag" || push["workflow"] != "w.yml" || push["run_attempt"] != "1" {
		t.Errorf("push context = %v", push)
	}
}

func TestCyclesNeverHang(t *testing.T) {
	// actionlint refuses cyclic needs; a plan must still end if one slips through.
	p := newPlan(t, map[string]string{"ci.yml": `on: push
jobs:
  a: {needs: b, runs-on: ubuntu-latest, steps: [{run: x}]}
  b: {needs: a, runs-on: ubuntu-latest, steps: [{run: x}]}
  c: {runs-on: ubuntu-latest, steps: [{run: x}]}
`}, nil)
	tr := simulate(t, p, succeed)
	want := []string{"a: failure [its needs can never finish (do they form a cycle?)]",
		"b: failure [its needs can never finish (do they form a cycle?)]", "c: success"}
	if diff := cmp.Diff(want, visible(tr.rows)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestDeepCallsStop(t *testing.T) {
	// docReusable: "You can connect a maximum of ten levels of workflows".
	p := newPlan(t, map[string]string{"ci.yml": `on: push
jobs:
  go: {uses: ./.github/workflows/loop.yml}
`, "loop.yml": `on: workflow_call
jobs:
  again: {uses: ./.github/workflows/loop.yml}
`}, nil)
	tr := simulate(t, p, succeed)
	got := visible(tr.rows)
	if len(got) != 1 || !strings.Contains(got[0], "nested more than 10 deep") || strings.Count(got[0], "again") != 9 {
		t.Errorf("got %q, want one failure nine calls down", got)
	}
}

func TestCalledKey(t *testing.T) {
	tests := []struct{ origin, uses, want string }{
		{"", "./.github/workflows/a.yml", "./.github/workflows/a.yml"},
		{"", "o/r/.github/workflows/a.yml@v1", "o/r/.github/workflows/a.yml@v1"},
		{"o/r/.github/workflows/a.yml@v1", "./.github/workflows/b.yml", "o/r/.github/workflows/b.yml@v1"},
		{"o/r/.github/workflows/a.yml@v1", "x/y/.github/workflows/c.yml@main", "x/y/.github/workflows/c.yml@main"},
	}
	for _, tt := range tests {
		if got := CalledKey(tt.origin, tt.uses); got != tt.want {
			t.Errorf("CalledKey(%q, %q) = %q, want %q", tt.origin, tt.uses, got, tt.want)
		}
	}
}

func TestOtherOSName(t *testing.T) {
	for label, want := range map[string]string{"windows-latest": "Windows", "windows-2022": "Windows", "Windows": "Windows",
		"macos-14": "macOS", "macOS": "macOS", "macos-latest-xlarge": "macOS", "ubuntu-latest": "", "self-hosted": "", "linux": ""} {
		if got := OtherOSName(label); got != want {
			t.Errorf("OtherOSName(%q) = %q, want %q", label, got, want)
		}
	}
}
