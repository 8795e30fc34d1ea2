package engine

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/logs"
	"github.com/sluice-ci/sluice/internal/plan"
	"github.com/sluice-ci/sluice/internal/workflow"
)

// recorder keeps a run's events.
type recorder struct {
	mu     sync.Mutex
	events []logs.Event
}

func (r *recorder) Emit(e logs.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// lines are "job/step: text" for every Line event.
func (r *recorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.Kind == logs.Line && e.Step != "Set up job" {
			out = append(out, e.Job+"/"+e.Step+": "+e.Text)
		}
	}
	sort.Strings(out)
	return out
}

// repo writes files into a fresh directory standing in for a repository.
func repo(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func testOptions(t *testing.T, root string, rec *recorder) Options {
	return Options{RepoRoot: root, WorkRoot: t.TempDir(), StateDir: t.TempDir(), Parallel: 4,
		Run:     jobspec.Run{ID: "41", Number: 7, Repository: "acme/app", SHA: "abc123", Ref: "refs/heads/main", Event: "push", Actor: "ann"},
		BaseEnv: map[string]string{"PATH": os.Getenv("PATH"), "HOME": t.TempDir()}, Sink: rec, Version: "test",
		StepGrace: time.Second}
}

// jobRow is a job as the run's summary has it.
type jobRow struct {
	Name    string
	Result  logs.Result
	Reason  string
	Outputs map[string]string
}

func summaryRows(s logs.RunSummary) []jobRow {
	var out []jobRow
	for _, j := range s.Jobs {
		out = append(out, jobRow{Name: j.Job, Result: j.Result, Reason: j.Reason, Outputs: j.Outputs})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// TestRunGraph runs small workflows through the engine's in-process graph with real shells:
// the plan decides, the graph runs what it starts and reports how it ended.
func TestRunGraph(t *testing.T) {
	tests := []struct {
		name      string
		files     map[string]string
		tweak     func(*Options)
		want      []jobRow
		wantLines []string
		wantRun   logs.Result
	}{
		{
			name: "needs and outputs",
			files: map[string]string{".github/workflows/ci.yml": `on: push
jobs:
  a:
    runs-on: ubuntu-latest
    outputs: {v: "${{ steps.s.outputs.v }}"}
    steps:
      - {id: s, name: s, run: 'echo "v=from-a" >> "$GITHUB_OUTPUT"'}
  b:
    needs: a
    runs-on: ubuntu-latest
    steps:
      - {name: s, run: 'echo "got ${{ needs.a.outputs.v }} ${{ needs.a.result }}"'}
`},
			want: []jobRow{{Name: "a", Result: logs.Success, Outputs: map[string]string{"v": "from-a"}},
				{Name: "b", Result: logs.Success, Outputs: map[string]string{}}},
			wantLines: []string{"b/s: got from-a success"},
			wantRun:   logs.Success,
		},
		{
			name: "a skip up the chain skips default-if jobs, fail-fast cancels legs, continue-on-error tolerates",
			files: map[string]string{".github/workflows/ci.yml": `on: push
jobs:
  gate: {if: "github.event_name == 'schedule'", runs-on: ubuntu-latest, steps: [{run: echo gate}]}
  middle: {needs: gate, if: always(), runs-on: ubuntu-latest, steps: [{name: s, run: echo middle}]}
  plain: {needs: middle, runs-on: ubuntu-latest, steps: [{run: echo plain}]}
  flaky:
    runs-on: ubuntu-latest
    continue-on-error: true
    steps: [{run: exit 3}]
  m:
    runs-on: ubuntu-latest
    strategy: {max-parallel: 1, matrix: {v: [bad, later]}}
    steps: [{run: 'test "${{ matrix.v }}" != bad'}]
`},
			want: []jobRow{{Name: "flaky", Result: logs.Failure, Outputs: map[string]string{}},
				{Name: "gate", Result: logs.Skipped}, {Name: "m (bad)", Result: logs.Failure, Outputs: map[string]string{}},
				{Name: "m (later)", Result: logs.Cancelled, Reason: "another leg of the matrix failed (fail-fast)"},
				{Name: "middle", Result: logs.Success, Outputs: map[string]string{}}, {Name: "plain", Result: logs.Skipped}},
			wantLines: []string{"middle/s: middle"},
			wantRun:   logs.Failure,
		},
		{
			name: "a called workflow's jobs run as jobs of their own, with the caller's inputs and mapped secrets only",
			files: map[string]string{".github/workflows/ci.yml": `on: push
env: {CALLER_ENV: leaks}
jobs:
  call:
    uses: ./.github/workflows/r.yml
    with: {n: 2}
    secrets: {tok: "${{ secrets.TOKEN }}"}
  after:
    needs: call
    runs-on: ubuntu-latest
    steps: [{name: s, run: 'echo "after ${{ needs.call.outputs.o }}"'}]
`, ".github/workflows/r.yml": `on:
  workflow_call:
    inputs: {n: {type: number}}
    secrets: {tok: {required: true}}
    outputs: {o: {value: "${{ jobs.inner.outputs.o }}"}}
env: {CALLEE_ENV: mine}
jobs:
  inner:
    runs-on: ubuntu-latest
    outputs: {o: "${{ steps.s.outputs.o }}"}
    steps:
      - id: s
        name: s
        run: |
          echo "n=${{ inputs.n }} tok=${{ secrets.tok }} caller=${CALLER_ENV:-none} callee=$CALLEE_ENV wf=${{ github.workflow }} run=$GITHUB_RUN_ID"
          echo "o=out-${{ inputs.n }}" >> "$GITHUB_OUTPUT"
`},
			tweak: func(o *Options) { o.Secrets = map[string]string{"TOKEN": "t0k", "OTHER": "nope"} },
			want: []jobRow{{Name: "after", Result: logs.Success, Outputs: map[string]string{}},
				{Name: "call / inner", Result: logs.Success, Outputs: map[string]string{"o": "out-2"}}},
			wantLines: []string{"after/s: after out-2",
				"call / inner/s: n=2 tok=*** caller=none callee=mine wf=.github/workflows/ci.yml run=41"},
			wantRun: logs.Success,
		},
		{
			name: "Windows jobs are skipped here unless -P maps their label; -j selects",
			files: map[string]string{".github/workflows/ci.yml": `on: push
jobs:
  win: {runs-on: windows-latest, steps: [{name: s, run: echo win}]}
  mac: {runs-on: macos-latest, steps: [{name: s, run: echo mac}]}
  other: {runs-on: ubuntu-latest, steps: [{run: echo other}]}
  both: {needs: [win, mac], if: always(), runs-on: ubuntu-latest, steps: [{name: s, run: 'echo "${{ needs.win.result }} ${{ needs.mac.result }}"'}]}
`},
			tweak: func(o *Options) {
				o.Platforms, o.JobFilter = map[string]string{"windows-latest": "-self-hosted"}, "both"
			},
			want: []jobRow{{Name: "both", Result: logs.Success, Outputs: map[string]string{}},
				{Name: "mac", Result: logs.Skipped, Reason: "runs-on macos-latest asks for a macOS runner and this host runs Linux (-P macos-latest=-self-hosted runs it here anyway)"},
				{Name: "win", Result: logs.Success, Outputs: map[string]string{}}},
			wantLines: []string{"both/s: success skipped", "win/s: win"},
			wantRun:   logs.Success,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := repo(t, tt.files)
			rec := &recorder{}
			opts := testOptions(t, root, rec)
			if tt.tweak != nil {
				tt.tweak(&opts)
			}
			wf, err := workflow.Load(context.Background(), root, filepath.Join(root, ".github/workflows/ci.yml"))
			if err != nil {
				t.Fatal(err)
			}
			sum := New(opts).Run(context.Background(), []*workflow.Workflow{wf})
			if diff := cmp.Diff(tt.want, summaryRows(sum)); diff != "" {
				t.Errorf("jobs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantLines, filterLines(rec.lines(), tt.wantLines)); diff != "" {
				t.Errorf("lines (-want +got):\n%s\nall lines: %q", diff, rec.lines())
			}
			if sum.Result != tt.wantRun {
				t.Errorf("run result %s, want %s", sum.Result, tt.wantRun)
			}
		})
	}
}

// filterLines keeps the lines of the jobs and steps the wanted lines name.
func filterLines(got, want []string) []string {
	keep := map[string]bool{}
	for _, w := range want {
		k, _, _ := strings.Cut(w, ": ")
		keep[k] = true
	}
	var out []string
	for _, g := range got {
		k, _, _ := strings.Cut(g, ": ")
		if keep[k] {
			out = append(out, g)
		}
	}
	return out
}

// TestRunJob runs one job as an agent does, from the spec the plan made on the server.
func TestRunJob(t *testing.T) {
	files := map[string]string{".github/workflows/ci.yml": `name: CI
on: push
jobs:
  call:
    strategy: {matrix: {py: ["3.12"]}}
    uses: ./.github/workflows/r.yml
    with: {py: "${{ matrix.py }}"}
    secrets: {tok: "${{ secrets.TOKEN }}-${{ matrix.py }}"}
`, ".github/workflows/r.yml": `on:
  workflow_call:
    inputs: {py: {type: string}}
    secrets: {tok: {}}
jobs:
  t:
    runs-on: ubuntu-latest
    continue-on-error: true
    strategy: {matrix: {k: [x]}}
    steps:
      - name: s
        run: |
          echo "py=${{ inputs.py }} k=${{ matrix.k }} idx=${{ strategy.job-index }}/${{ strategy.job-total }} tok=${{ secrets.tok }} job=$GITHUB_JOB wf=${{ github.workflow }}"
          exit 4
`}
	root := repo(t, files)
	wf, err := workflow.Load(context.Background(), root, filepath.Join(root, ".github/workflows/ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	called, errs := plan.Resolve(context.Background(), wf, loader(Options{RepoRoot: root}))
	p, err := plan.New(plan.Input{Run: jobspec.Run{ID: "9", Number: 3, Repository: "acme/app", Event: "push", Ref: "refs/heads/main"},
		Workflow: wf, Called: called, CallErrors: errs})
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := p.Advance(p.Rows(), false)
	var spec *jobspec.Job
	for _, r := range rows {
		if r.State == plan.Active {
			spec = r.Spec
		}
	}
	if spec == nil || spec.Name != "call (3.12) / t (x)" {
		t.Fatalf("the plan started %+v, want call (3.12) / t (x)", spec)
	}
	rec := &recorder{}
	opts := testOptions(t, root, rec)
	opts.Secrets = map[string]string{"TOKEN": "s3cr3t"}
	res := New(opts).RunJob(context.Background(), jobspec.Spec{Run: p.Run(), Job: *spec})
	// The job failed; continue-on-error is the plan's to apply (Tolerated), the job
	// reports what happened.
	if res.Result != logs.Failure || !res.Summary.ContinueOnError {
		t.Errorf("result %s (continue-on-error %v), want a failure continue-on-error tolerates", res.Result, res.Summary.ContinueOnError)
	}
	want := []string{"call (3.12) / t (x)/s: py=3.12 k=x idx=0/1 tok=*** job=t wf=CI"}
	if diff := cmp.Diff(want, rec.lines()); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	// The mapped secret's value was s3cr3t-3.12: masked, as every secret is.
	for _, l := range rec.lines() {
		if strings.Contains(l, "s3cr3t") {
			t.Errorf("a secret leaked: %q", l)
		}
	}
}

// TestCancelRunsAlwaysJobs: Cancel stops what runs, a job not started yet whose if asks
// for always() still runs (GitHub: "A job or step with always() will run even if the
// workflow is cancelled"), the others do not.
func TestCancelRunsAlwaysJobs(t *testing.T) {
	root := repo(t, map[string]string{".github/workflows/ci.yml": `on: push
jobs:
  long:
    runs-on: ubuntu-latest
    steps: [{name: s, run: 'touch "$MARK"; sleep 30'}]
  plain: {needs: long, runs-on: ubuntu-latest, steps: [{name: s, run: echo plain}]}
  cleanup: {needs: long, if: always(), runs-on: ubuntu-latest, steps: [{name: s, run: echo cleanup}]}
`})
	rec := &recorder{}
	opts := testOptions(t, root, rec)
	mark := filepath.Join(t.TempDir(), "started")
	opts.Env = map[string]string{"MARK": mark}
	wf, err := workflow.Load(context.Background(), root, filepath.Join(root, ".github/workflows/ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	e := New(opts)
	done := make(chan logs.RunSummary)
	go func() { done <- e.Run(context.Background(), []*workflow.Workflow{wf}) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(mark); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the long job never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.Cancel()
	sum := <-done
	got := map[string]logs.Result{}
	for _, j := range sum.Jobs {
		got[j.Job] = j.Result
	}
	want := map[string]logs.Result{"long": logs.Cancelled, "plain": logs.Cancelled, "cleanup": logs.Success}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("jobs (-want +got):\n%s", diff)
	}
	if sum.Result != logs.Cancelled {
		t.Errorf("run %s, want cancelled", sum.Result)
	}
}

// An ended job's directories are gone when Run returns, although they are removed in the
// background (discard), and what a killed run left in the trash goes too. A chain of jobs
// reuses the leg's slot while the last one's files are still being removed.
func TestJobDirectoriesGoneWhenRunReturns(t *testing.T) {
	root := repo(t, map[string]string{".github/workflows/ci.yml": `on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: mkdir -p deep/er && for i in 1 2 3; do echo x > deep/er/f$i; done
  b:
    needs: a
    runs-on: ubuntu-latest
    steps:
      - run: test ! -e deep && echo fresh
`})
	rec := &recorder{}
	opts := testOptions(t, root, rec)
	stale := filepath.Join(opts.WorkRoot, ".trash", "left-by-a-killed-run", "work")
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	wf, err := workflow.Load(context.Background(), root, filepath.Join(root, ".github/workflows/ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	sum := New(opts).Run(context.Background(), []*workflow.Workflow{wf})
	if sum.Result != logs.Success {
		t.Fatalf("run %s, lines %q", sum.Result, rec.lines())
	}
	var left []string
	_ = filepath.WalkDir(opts.WorkRoot, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(opts.WorkRoot, p)
		if err == nil && rel != "." && rel != ".trash" && rel != ".locks" && !strings.HasPrefix(rel, ".locks"+string(filepath.Separator)) {
			left = append(left, rel)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("left in the work root after Run returned: %q", left)
	}
}
