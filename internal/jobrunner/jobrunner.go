// Package jobrunner is what an agent runs for each leased job: a checkout
// of the repository at the job's commit, then the job through the same
// engine `sluice run` uses, its events turned into the agent's log lines
// and step records.
package jobrunner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sluice-ci/sluice/internal/actions"
	"github.com/sluice-ci/sluice/internal/agent"
	"github.com/sluice-ci/sluice/internal/cache"
	"github.com/sluice-ci/sluice/internal/engine"
	"github.com/sluice-ci/sluice/internal/executor/container"
	"github.com/sluice-ci/sluice/internal/executor/host"
	"github.com/sluice-ci/sluice/internal/fslock"
	"github.com/sluice-ci/sluice/internal/gitrepo"
	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/localrun"
	"github.com/sluice-ci/sluice/internal/logs"
	"github.com/sluice-ci/sluice/internal/workdirs"
)

// Config is where an agent keeps its work.
type Config struct {
	WorkDir     string // per-job checkouts and workspaces
	StateDir    string // caches and environments, kept between jobs
	ArtifactDir string // the server's artifact store when it is on this machine
	// Cache is the server's cache store when it is on this machine; nil
	// sends a remote agent's caches to the server over the agent API.
	Cache   actions.CacheBackend
	Token   string // the agent's token, for fetching from the server's git
	Version string
	// Sandbox, when set, runs every process of a job in its own bubblewrap
	// jail (DESIGN.md §5a): nothing of the agent's state or the server's
	// data is mounted there.
	Sandbox *host.Policy
	Actions actions.Resolver
	// Containers connects to a container engine for jobs that ask for one
	// (container:, services:, docker actions); nil means none is available.
	Containers func(ctx context.Context) (*container.Engine, error)
	// LocalRepo maps a job's repository URL to a path on this machine to
	// fetch from instead (the embedded agent reads the server's mirrors
	// directly); "" keeps the URL.
	LocalRepo func(url string) string
}

// Sweep removes the job directories under cfg.WorkDir that jobs of a dead
// agent (or server) left behind; it returns how many.
func Sweep(cfg Config) (int, error) {
	removed, err := workdirs.Sweep(orTemp(cfg.WorkDir), "job*-*")
	n, serr := sweepSlots(filepath.Join(orTemp(cfg.WorkDir), "slots"))
	return len(removed) + n, errors.Join(err, serr)
}

// sweepSlots removes the job slots (see engine's jobSlot) no job holds: a
// job removes its slot when it ends, so one left is a dead job's.
func sweepSlots(dir string) (int, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("reading %s: %w", dir, err)
	}
	n := 0
	var errs []error
	for _, d := range des {
		if !d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			continue
		}
		unlock, ok, err := fslock.TryLock(filepath.Join(dir, ".locks", d.Name()+".lock"))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue // in use
		}
		if err := os.RemoveAll(filepath.Join(dir, d.Name())); err != nil {
			errs = append(errs, err)
		} else {
			n++
		}
		unlock()
	}
	return n, errors.Join(errs...)
}

// New returns the agent's JobRunner.
func New(cfg Config) agent.JobRunner {
	m := &mirrors{dir: filepath.Join(orTemp(cfg.StateDir), "mirrors")}
	return func(ctx context.Context, lease agent.Lease, emit func(jobspec.LogLine), step func(jobspec.Step)) (string, map[string]string, string) {
		return run(ctx, cfg, m, lease, emit, step)
	}
}

func run(ctx context.Context, cfg Config, m *mirrors, lease agent.Lease, emit func(jobspec.LogLine), step func(jobspec.Step)) (string, map[string]string, string) {
	fail := func(format string, args ...any) (string, map[string]string, string) {
		emit(jobspec.LogLine{Time: time.Now(), Kind: "error", Text: fmt.Sprintf(format, args...)})
		return "failure", nil, ""
	}
	spec, err := jobspec.Parse(lease.Spec)
	if err != nil {
		return fail("%v", err)
	}
	// Held while the job runs: if this agent dies, the next start of any
	// agent here sweeps it (Sweep).
	dir, release, err := workdirs.Make(orTemp(cfg.WorkDir), fmt.Sprintf("job%d-", lease.Job.ID))
	if err != nil {
		return fail("creating the job directory: %v", err)
	}
	defer release()
	defer os.RemoveAll(dir)
	var gitConfig []string
	if cfg.Token != "" {
		gitConfig = append(gitConfig, "http.extraHeader=Authorization: Bearer "+cfg.Token)
	}
	source := spec.Run.RepoURL
	if cfg.LocalRepo != nil {
		if p := cfg.LocalRepo(source); p != "" {
			source = p
		}
	}
	mirror, err := m.ensure(ctx, source, spec.Run.SHA, gitConfig)
	if err != nil {
		return fail("fetching %s at %s: %v", spec.Run.Repository, spec.Run.SHA, err)
	}
	src, err := m.tree(ctx, mirror, spec.Run.SHA)
	if err != nil {
		return fail("%v", err)
	}
	if head := prTargetHead(spec.Run); head != "" {
		// A pull_request_target run is at the base's commit; its steps may check out the
		// pull request's head (ref: github.event.pull_request.head.sha), as on GitHub.
		if _, err := m.ensure(ctx, source, head, gitConfig); err != nil {
			emit(jobspec.LogLine{Time: time.Now(), Kind: "warning", Text: fmt.Sprintf("the pull request's head cannot be checked out here: %v", err)})
		}
	}
	secrets := lease.Secrets
	if spec.Run.Fork {
		secrets = nil
	}
	if len(lease.Vars) > 0 {
		// The environment's variables (the job deploys there, its gates
		// passed) over the run's.
		vars := map[string]string{}
		for k, v := range spec.Run.Vars {
			vars[k] = v
		}
		for k, v := range lease.Vars {
			vars[k] = v
		}
		spec.Run.Vars = vars
	}
	sink := &lineSink{emit: emit, step: step}
	state := orTemp(cfg.StateDir)
	eng := engine.New(engine.Options{
		RepoRoot: src, CloneSource: mirror, Run: spec.Run, RepoIdentity: repoIdentity(spec), Secrets: secrets,
		// Jobs run in slots under the agent's work directory that each job
		// leg finds again on its next run (see engine's jobSlot).
		Parallel: 1, WorkRoot: filepath.Join(orTemp(cfg.WorkDir), "slots"), ToolCache: filepath.Join(state, "toolcache"),
		StateDir: state, ArtifactDir: artDirFor(cfg, lease, dir), Sandbox: cfg.Sandbox,
		BaseEnv: localrun.WithCaches(localrun.BaseEnv(os.Environ()), state),
		Sink:    sink, EnvReuse: true, Version: cfg.Version, Actions: cfg.Actions.Session(), Cache: cacheFor(cfg, lease, dir),
		Containers: cfg.Containers,
	})
	// The lease's context ending (cancel from the server, lost lease) stops
	// the job the way Ctrl-C stops `sluice run`: always() steps still run.
	hard, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	go func() {
		select {
		case <-ctx.Done():
			eng.Cancel()
			select {
			case <-time.After(2 * time.Minute):
				stop()
			case <-hard.Done():
			}
		case <-hard.Done():
		}
	}()
	remote := cfg.ArtifactDir == "" && lease.Server != nil
	runID := lease.Job.RunID
	artDir := cfg.ArtifactDir
	if remote {
		artDir = filepath.Join(dir, "artifacts")
	}
	// Only a job that downloads artifacts needs the run's copied here.
	if remote && strings.Contains(spec.Job.WorkflowSource, "download-artifact") {
		if err := pullArtifacts(ctx, lease.Server, runID, artDir); err != nil {
			emit(jobspec.LogLine{Time: time.Now(), Kind: "warning", Text: "fetching the run's artifacts from the server: " + err.Error()})
		}
	}
	res := eng.RunJob(hard, *spec)
	if remote {
		if err := pushArtifacts(context.WithoutCancel(ctx), lease.Server, runID, artDir); err != nil {
			emit(jobspec.LogLine{Time: time.Now(), Kind: "error", Text: "sending artifacts to the server: " + err.Error()})
		}
	}
	if res.EnvironmentURL != "" && lease.ReportEnvironmentURL != nil {
		lease.ReportEnvironmentURL(res.EnvironmentURL)
	}
	if len(res.Summary.Versions) > 0 && lease.ReportVersions != nil {
		lease.ReportVersions(res.Summary.Versions)
	}
	if res.Tests != nil && lease.ReportTests != nil {
		if b, err := json.Marshal(res.Tests); err == nil {
			lease.ReportTests(b)
		}
	}
	summary := res.Summary.StepSummary
	if t := res.Summary.Tests; t != nil {
		summary += "\n**Tests:** " + t.Line + "\n"
		for _, f := range t.Failures {
			summary += "- ❌ " + f + "\n"
		}
	}
	conclusion := string(res.Result)
	if ctx.Err() != nil && res.Result != logs.Success {
		conclusion = string(logs.Cancelled)
	}
	return conclusion, res.Outputs, strings.TrimSpace(summary)
}

// repoIdentity is the server's repository id, which keys the job's kept
// environments and caches on this agent (a spec from an older server
// carries only the repository's URL).
func repoIdentity(spec *jobspec.Spec) string {
	return cache.ServerIdentity(spec.Run.RepoID, spec.Run.RepoURL)
}

func orTemp(d string) string {
	if d == "" {
		return os.TempDir()
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		return os.TempDir()
	}
	return d
}

// lineSink turns engine events into the agent's log lines and steps.
type lineSink struct {
	emit func(jobspec.LogLine)
	step func(jobspec.Step)

	mu      sync.Mutex
	number  int
	started map[string]time.Time
	numbers map[string]int
}

// num is the number of the step named name; lines of a step that has not
// been announced (composite steps, set-up lines) belong to the job (0).
func (s *lineSink) num(name string) int {
	return s.numbers[name]
}

func (s *lineSink) Emit(e logs.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started == nil {
		s.started, s.numbers = map[string]time.Time{}, map[string]int{}
	}
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	switch e.Kind {
	case logs.StepStarted:
		s.number++
		s.numbers[e.Step] = s.number
		s.started[e.Step] = t
		st := t
		s.step(jobspec.Step{Number: s.number, Name: e.Step, Status: "in_progress", StartedAt: &st})
		s.emit(jobspec.LogLine{Time: t, Step: s.num(e.Step), Kind: "step", Text: "step started: " + e.Step})
	case logs.StepFinished:
		n, ok := s.numbers[e.Step]
		if !ok {
			// A step that never started (skipped) is a step of its own too.
			s.number++
			n = s.number
			s.numbers[e.Step] = n
		}
		var startedAt *time.Time
		if st, ok := s.started[e.Step]; ok {
			startedAt = &st
		}
		ft := t
		s.step(jobspec.Step{Number: n, Name: e.Step, Status: "completed", Conclusion: string(e.Result), StartedAt: startedAt, FinishedAt: &ft})
		s.emit(jobspec.LogLine{Time: t, Step: s.num(e.Step), Kind: "step", Text: logs.StepFinishedText(e)})
	case logs.Line:
		s.emit(jobspec.LogLine{Time: t, Step: s.num(e.Step), Kind: "line", Text: e.Text})
	case logs.GroupStart:
		s.emit(jobspec.LogLine{Time: t, Step: s.num(e.Step), Kind: "group", Text: e.Text})
	case logs.GroupEnd:
		s.emit(jobspec.LogLine{Time: t, Step: s.num(e.Step), Kind: "endgroup"})
	case logs.Debug:
		s.emit(jobspec.LogLine{Time: t, Step: s.num(e.Step), Kind: "debug", Text: e.Text})
	case logs.Notice:
		// sluice's own note about the step (a deprecation, an environment kept): not
		// an annotation, whose kinds are their levels (error, warning, notice).
		s.emit(jobspec.LogLine{Time: t, Step: s.num(e.Step), Kind: "sluice", Text: e.Text})
	case logs.AnnotationAdded:
		if a := e.Annotation; a != nil {
			s.emit(jobspec.LogLine{Time: t, Step: s.num(e.Step), Kind: a.Level, Text: logs.AnnotationText(*a)})
		}
	case logs.JobFinished:
		s.emit(jobspec.LogLine{Time: t, Kind: "job", Text: logs.JobFinishedText(e)})
	}
}

// prTargetHead is the pull request's head commit of a pull_request_target run (which runs at
// its base), "" for other runs or when the payload names none.
func prTargetHead(r jobspec.Run) string {
	if r.Event != "pull_request_target" {
		return ""
	}
	pr, _ := r.Payload["pull_request"].(map[string]any)
	h, _ := pr["head"].(map[string]any)
	sha, _ := h["sha"].(string)
	if !gitrepo.IsSHA(sha) || sha == r.SHA {
		return ""
	}
	return sha
}
