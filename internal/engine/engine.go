// Package engine runs jobs: each job's steps with their runner files,
// workflow commands, timeouts and cancellation, composite, JavaScript and
// Docker actions, through an executor (host or container). Which jobs run,
// when and as what (needs, if:, matrices, reusable workflows) is
// internal/plan's to decide; Run only drives the plan in memory for `sluice
// run`, and RunJob runs one job an agent leased. Every job runs through here.
package engine

import (
	"context"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluice-ci/sluice/internal/actions"
	"github.com/sluice-ci/sluice/internal/executor/container"
	"github.com/sluice-ci/sluice/internal/executor/host"
	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/logs"
	"github.com/sluice-ci/sluice/internal/plan"
)

// Options describe one run.
type Options struct {
	RepoRoot string // the user's repository: source of checkouts, never written
	// CloneSource is the git repository checkouts fetch from when it is not
	// RepoRoot (an agent's bare mirror; RepoRoot then holds only the files
	// the engine reads itself, such as local actions).
	CloneSource string
	// Run is the run's identity and event (github context, runner variables); Run runs
	// each workflow with its own path and name in it. Run.Fork keeps a fork's pull
	// request's environments apart from the repository's own runs'.
	Run jobspec.Run
	// RepoIdentity keeps one repository's kept environments and caches
	// apart from every other's: the server's repository id, or the origin
	// URL (else the absolute path) for `sluice run`. Empty means RepoRoot.
	RepoIdentity string
	// DefaultBranch gives the repository's default branch when the event
	// does not say (caches of other branches fall back to it); nil is
	// Run.DefaultBranch, else main.
	DefaultBranch func() string
	Secrets       map[string]string
	Env           map[string]string // --env: the lowest layer of every job's env
	JobFilter     string            // run only this job (and the jobs it needs)
	Parallel      int               // jobs at once; 0 means the CPU count
	WorkRoot      string            // per-job workspaces are made below it
	// DetachRemovals lets Run and RunJob return before ended jobs' directories are
	// removed: what is left is handed to a detached `rm`, as `git gc --auto` detaches.
	// For `sluice run`, whose user waits for the prompt, not for the disk (under load
	// removing a few directories takes tens of milliseconds); an agent waits instead.
	DetachRemovals bool
	ToolCache      string // RUNNER_TOOL_CACHE, shared between runs
	StateDir       string // sluice's state: caches, environments, artifacts
	ArtifactDir    string // artifacts, when not under StateDir (a server's store)
	Keep           bool   // keep workspaces after the run
	// Sandbox, when set, runs every process of a job (steps, actions,
	// natives' processes) in its own bubblewrap jail (DESIGN.md §5a).
	Sandbox     *host.Policy
	WorkingTree bool // checkout overlays uncommitted changes
	Verbose     bool
	LogDir      string
	BaseEnv     map[string]string // the clean environment every process starts from
	Sink        logs.Sink
	Masker      *logs.Masker
	// StepGrace is the time between SIGINT and SIGKILL when a step is cancelled.
	StepGrace time.Duration
	// EnvReuse lets a job keep its Python environment between runs when its
	// inputs are unchanged.
	EnvReuse bool
	Version  string // sluice's version, for job logs
	// Actions finds remote actions that are not built in.
	Actions actions.Resolver
	// Cache keeps actions/cache entries when they are not under StateDir
	// (the server's store, for an agent); nil means the store under StateDir.
	Cache actions.CacheBackend
	// Containers connects to a container engine for jobs that ask for one
	// (container:, services:, docker actions); nil means none is available.
	Containers func(ctx context.Context) (*container.Engine, error)
	// Platforms maps runs-on labels to images (-P ubuntu-latest=IMAGE);
	// "-self-hosted" or no entry keeps a label on the host.
	Platforms map[string]string
	// Workflows loads reusable workflows that are not in this repository
	// (owner/repo/path@ref); nil refuses them with a clear reason.
	Workflows plan.Loader
}

// Engine runs workflows with one set of Options.
type Engine struct {
	opts Options
	sem  chan struct{}
	// soft is cancelled by Cancel: running steps are interrupted, then only
	// steps that ask for always() or cancelled() run.
	soft       context.Context
	softCancel context.CancelFunc
	hard       context.Context

	// osName is the distribution's name ("Debian GNU/Linux 12 (bookworm)"),
	// read when the first job starts.
	osName func() string
	ctrs   *containers
	// machineRO are the machine's tool directories a sandboxed process
	// reads (see machineReadOnly).
	machineRO []string

	// groups are the job-level concurrency groups of this run's jobs (groups.go).
	groups jobGroups

	// trash counts the removals of ended jobs' directories still under way (see discard):
	// Run and RunJob return only when they are done.
	trash sync.WaitGroup
	// removing are the directories being removed in the background, for DetachRemovals.
	trashMu  sync.Mutex
	removing []string

	mu          sync.Mutex
	jobs        []logs.JobSummary
	annotations []logs.Annotation
	seq         int
}

// New prepares an engine; call Run once.
func New(opts Options) *Engine {
	if opts.Parallel <= 0 {
		opts.Parallel = runtime.NumCPU()
	}
	if opts.Masker == nil {
		opts.Masker = logs.NewMasker()
	}
	for _, v := range opts.Secrets {
		opts.Masker.Add(v)
	}
	return &Engine{opts: opts, sem: make(chan struct{}, opts.Parallel), osName: sync.OnceValue(osName), ctrs: &containers{connect: opts.Containers},
		machineRO: machineReadOnly(opts.BaseEnv)}
}

// osName reads the distribution's name from os-release.
func osName() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return runtime.GOOS
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return runtime.GOOS
}

// Cancel interrupts the run as Ctrl-C does: running steps get SIGINT, and
// the rest of each job runs only its always()/cancelled() steps.
func (e *Engine) Cancel() {
	if e.softCancel != nil {
		e.softCancel()
	}
}

func (e *Engine) cancelled() bool { return e.soft.Err() != nil }

func (e *Engine) summary(d time.Duration) logs.RunSummary {
	e.mu.Lock()
	defer e.mu.Unlock()
	res := logs.Success
	for _, j := range e.jobs {
		switch {
		case j.ContinueOnError:
		case j.Result == logs.Failure:
			res = logs.Failure
		case j.Result == logs.Cancelled:
			if res != logs.Failure {
				res = logs.Cancelled
			}
		}
	}
	if e.cancelled() && res != logs.Failure {
		res = logs.Cancelled
	}
	return logs.RunSummary{
		RunID:       e.opts.Run.ID,
		Result:      res,
		Duration:    d,
		Jobs:        append([]logs.JobSummary(nil), e.jobs...),
		Annotations: append([]logs.Annotation(nil), e.annotations...),
		LogDir:      e.opts.LogDir,
	}
}

func (e *Engine) emit(ev logs.Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if e.opts.Sink != nil {
		e.opts.Sink.Emit(ev)
	}
}

func (e *Engine) recordJob(j logs.JobSummary) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.jobs = append(e.jobs, j)
}

func (e *Engine) recordAnnotation(a logs.Annotation) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.annotations = append(e.annotations, a)
}

// sortedKeys returns m's keys in order, so environments are built
// deterministically.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
