// Package metrics computes delivery figures for a repository from what the server recorded: the
// five DORA keys for an environment, the seeds' own figures (dependency incidents,
// reproducibility, emergency pins and rollbacks, pipeline durations), test health and splits by
// tool version.
//
// Everything is a query over the event log and the records it describes (DESIGN.md §2 rule 4)
// plus the repository mirror for commits; nothing is counted on the side. Compute reads the
// facts for one window through Source (the store), then derives every figure in memory, so the
// rules live here and can be checked with an injected clock.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/store"
)

// Source is what Compute reads: the store's metrics queries.
type Source interface {
	ListEnvironments(ctx context.Context, repoID int64) ([]cd.Environment, error)
	MetricsPromotions(ctx context.Context, repoID int64, env string, since time.Time) ([]store.PromotionFact, error)
	MetricsDeployedCommits(ctx context.Context, repoID int64, env string, before int64) ([]string, error)
	MetricsRuns(ctx context.Context, repoID int64, since time.Time) ([]store.RunFact, error)
	MetricsRunsBefore(ctx context.Context, repoID int64, ref string, t time.Time, limit int) ([]store.RunFact, error)
	MetricsRunLockHash(ctx context.Context, runID int64) (string, error)
	MetricsJobs(ctx context.Context, repoID int64, since time.Time) ([]store.JobFact, error)
	MetricsJobTools(ctx context.Context, repoID int64, since time.Time, tool string) (map[int64]string, error)
	MetricsToolNames(ctx context.Context, repoID int64, since time.Time) ([]string, error)
	MetricsTestFailures(ctx context.Context, repoID int64, since time.Time) ([]store.TestFact, error)
	MetricsTestPassed(ctx context.Context, repoID int64, since time.Time, pairs [][2]string) (map[[2]string]bool, error)
	MetricsTestJobs(ctx context.Context, repoID int64, since time.Time) ([]int64, error)
	MetricsSlowTests(ctx context.Context, repoID int64, since time.Time) ([]store.SlowTestFact, error)
	MetricsBuilds(ctx context.Context, repoID int64, since time.Time) ([]store.BuildFact, error)
	MetricsReproChecks(ctx context.Context, repoID int64, since time.Time) ([]store.ReproFact, error)
}

// Repo is the repository to measure.
type Repo struct {
	ID            int64
	Name          string
	URL           string // the clone URL; commit links are made from it when it is a forge's
	DefaultBranch string // "" means main
	// GitDir is the server's mirror of the repository (a bare clone); "" or missing leaves out
	// what needs commits (lead time, pins, dependency-only changes, before/after a commit).
	GitDir string
}

func (r Repo) defaultRef() string {
	if r.DefaultBranch == "" {
		return "refs/heads/main"
	}
	return "refs/heads/" + r.DefaultBranch
}

// Lead time starts.
const (
	FromCommit = "commit" // the commit's committer time
	FromPush   = "push"   // when a push webhook brought it to the default branch
)

// Options says what to compute.
type Options struct {
	// Env is the environment the DORA keys are about; "" picks the repository's environment of
	// tier production (the first declared, when several are).
	Env string
	// Since is where the window starts; zero means DefaultWindow before Now.
	Since time.Time
	// Now is the window's end and the clock; zero means time.Now().
	Now time.Time
	// HotfixWindow is how soon after a deployment a hotfix marks it failed (default 24 h).
	HotfixWindow time.Duration
	// LeadFrom is FromCommit (default) or FromPush.
	LeadFrom string
	// Compare, when set, splits pipeline figures before and after a commit (any commit-ish of
	// the mirror) or a date (2025-01-31 or RFC 3339).
	Compare string
	// SplitBy, when set, splits job figures by the version of this tool (python, pip, uv…).
	SplitBy string
	// DORAOnly computes the five keys and nothing else (what /metrics exports).
	DORAOnly bool
}

// ErrBadOption wraps the errors of options a caller got wrong.
var ErrBadOption = errors.New("bad metrics option")

// Report is every figure for one repository, environment and window.
type Report struct {
	Repo      string    `json:"repo"`
	Env       string    `json:"env"`
	EnvReason string    `json:"env_reason"` // how Env was chosen
	Since     time.Time `json:"since"`
	Until     time.Time `json:"until"`
	Window    string    `json:"window"`

	DORA            DORA            `json:"dora"`
	Dependencies    Dependencies    `json:"dependency_incidents"`
	Reproducibility Reproducibility `json:"reproducibility"`
	Pins            Pins            `json:"emergency_pins_and_rollbacks"`
	Pipelines       Pipelines       `json:"pipelines"`
	Tests           TestHealth      `json:"tests"`
	Tools           *ToolSplit      `json:"tool_split,omitempty"`

	// Notes say what could not be computed exactly, and why.
	Notes []string `json:"notes"`
}

// Empty reports whether the environment has had no deployment in the window.
func (r *Report) Empty() bool { return r.DORA.Frequency.Count == 0 }

// facts is what one computation read.
type facts struct {
	repo   Repo
	opts   Options
	since  time.Time
	until  time.Time
	git    *gitRepo // nil without a mirror
	memo   *gitMemo // what the mirror answered before (nil: ask it)
	promos []store.PromotionFact
	runs   []store.RunFact
	jobs   []store.JobFact
	runPos map[int64]int32 // f.runs' index by run ID
	// The window's jobs grouped by run: f.jobs[jobOrder[jobStart[i]:jobStart[i+1]]] are
	// f.runs[i]'s, in the order read. Built once, so that no figure rebuilds a map of them.
	jobOrder, jobStart []int32

	mu    sync.Mutex // guards notes: figures are computed concurrently
	notes []string
}

func (f *facts) note(format string, args ...any) {
	f.mu.Lock()
	f.notes = append(f.notes, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

// sortedNotes returns the notes in a stable order, whichever figure wrote first.
func (f *facts) sortedNotes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append([]string{}, f.notes...)
	slices.Sort(out)
	return out
}

// index builds the lookups every figure shares: runs by ID, and jobs by run (a counting sort,
// keeping the order read).
func (f *facts) index() {
	f.runPos = make(map[int64]int32, len(f.runs))
	for i := range f.runs {
		f.runPos[f.runs[i].ID] = int32(i)
	}
	f.jobStart = make([]int32, len(f.runs)+1)
	pos := make([]int32, len(f.jobs))
	for i := range f.jobs {
		p, ok := f.runPos[f.jobs[i].RunID]
		if !ok {
			pos[i] = -1 // a job of a run outside the window: no figure reads it
			continue
		}
		pos[i] = p
		f.jobStart[p+1]++
	}
	for i := 1; i < len(f.jobStart); i++ {
		f.jobStart[i] += f.jobStart[i-1]
	}
	next := slices.Clone(f.jobStart[:len(f.runs)])
	f.jobOrder = make([]int32, f.jobStart[len(f.runs)])
	for i, p := range pos {
		if p >= 0 {
			f.jobOrder[next[p]] = int32(i)
			next[p]++
		}
	}
}

// run returns the window's run id; nil when it is not in the window.
func (f *facts) run(id int64) *store.RunFact {
	if i, ok := f.runPos[id]; ok {
		return &f.runs[i]
	}
	return nil
}

// jobsOf returns the indexes in f.jobs of the jobs of f.runs[i].
func (f *facts) jobsOf(i int32) []int32 { return f.jobOrder[f.jobStart[i]:f.jobStart[i+1]] }

// Compute reads the repository's facts for the window and derives every figure.
func Compute(ctx context.Context, src Source, repo Repo, opts Options) (*Report, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	opts.Now = opts.Now.UTC()
	if opts.Since.IsZero() {
		opts.Since = opts.Now.Add(-DefaultWindow)
	}
	if !opts.Since.Before(opts.Now) {
		return nil, fmt.Errorf("the window must start before it ends (%s): %w", opts.Since.Format(time.RFC3339), ErrBadOption)
	}
	if opts.HotfixWindow <= 0 {
		opts.HotfixWindow = 24 * time.Hour
	}
	switch opts.LeadFrom {
	case "":
		opts.LeadFrom = FromCommit
	case FromCommit, FromPush:
	default:
		return nil, fmt.Errorf("lead time from %q: want %s or %s: %w", opts.LeadFrom, FromCommit, FromPush, ErrBadOption)
	}
	f := &facts{repo: repo, opts: opts, since: opts.Since.UTC(), until: opts.Now}
	rep := &Report{Repo: repo.Name, Since: f.since, Until: f.until, Window: windowLabel(f.until.Sub(f.since))}
	if m, ok := src.(interface{ gitMemo(int64) *gitMemo }); ok {
		f.memo = m.gitMemo(repo.ID)
	}
	if g, err := openGit(repo.GitDir); err == nil {
		f.git = &g
	} else {
		f.note("The repository mirror is missing (nothing was fetched yet): lead time, emergency pins, " +
			"dependency-only changes and before/after a commit need it.")
	}

	// The facts come in parallel (the store's readers and git are independent), then the figures:
	// one computation is as long as its slowest query, not their sum.
	var env string
	var pins []Pin
	var load group
	load.Go(func() error {
		var why string
		var err error
		if env, why, err = chooseEnv(ctx, src, repo, opts.Env); err != nil {
			return err
		}
		rep.Env, rep.EnvReason = env, why
		if env != "" {
			f.promos, err = src.MetricsPromotions(ctx, repo.ID, env, f.since)
		}
		return err
	})
	if !opts.DORAOnly || opts.LeadFrom == FromPush {
		load.Go(func() (err error) {
			f.runs, err = src.MetricsRuns(ctx, repo.ID, f.since)
			return err
		})
	}
	if !opts.DORAOnly {
		load.Go(func() (err error) {
			f.jobs, err = src.MetricsJobs(ctx, repo.ID, f.since)
			return err
		})
		if f.git != nil {
			load.Go(func() error {
				var err error
				if pins, err = f.pins(ctx); err != nil {
					f.note("Emergency pins could not be read from the repository mirror: %v", err)
				}
				return nil
			})
		}
	}
	if err := load.Wait(); err != nil {
		return nil, err
	}
	f.index()

	deps := f.deployments()
	var figures group
	figures.Go(func() error {
		rep.DORA = f.dora(ctx, src, env, deps)
		return nil
	})
	if opts.DORAOnly {
		figures.Wait()
		rep.Notes = f.sortedNotes()
		return rep, nil
	}
	figures.Go(func() (err error) {
		rep.Reproducibility, err = f.reproducibility(ctx, src)
		return err
	})
	figures.Go(func() (err error) {
		rep.Pipelines, err = f.pipelines(ctx)
		return err
	})
	figures.Go(func() (err error) {
		rep.Tests, err = f.testHealth(ctx, src)
		return err
	})
	if opts.SplitBy != "" {
		figures.Go(func() (err error) {
			rep.Tools, err = f.toolSplit(ctx, src, opts.SplitBy)
			return err
		})
	}
	if err := figures.Wait(); err != nil {
		return nil, err
	}
	var err error
	if rep.Dependencies, err = f.dependencyIncidents(ctx, src, deps, rep.DORA.ChangeFailRate.Failures); err != nil {
		return nil, err
	}
	rep.Pins = f.pinsAndRollbacks(deps, pins)
	rep.Notes = f.sortedNotes()
	return rep, nil
}

// group runs functions concurrently and joins their errors.
type group struct {
	wg  sync.WaitGroup
	mu  sync.Mutex
	err error
}

func (g *group) Go(fn func() error) {
	g.wg.Go(func() {
		if err := fn(); err != nil {
			g.mu.Lock()
			g.err = errors.Join(g.err, err)
			g.mu.Unlock()
		}
	})
}

func (g *group) Wait() error {
	g.wg.Wait()
	return g.err
}

// chooseEnv picks the environment the DORA keys are about.
func chooseEnv(ctx context.Context, src Source, repo Repo, named string) (string, string, error) {
	if named != "" {
		return named, "named", nil
	}
	envs, err := src.ListEnvironments(ctx, repo.ID)
	if err != nil {
		return "", "", err
	}
	for _, e := range envs {
		if e.Tier == cd.TierProduction {
			return e.Name, "the first environment of tier production", nil
		}
	}
	if len(envs) == 0 {
		return "", "the repository has no environments yet: declare one with tier: production in .sluice/environments.yml on " +
			"the default branch (the server reads it at each push), or name one", nil
	}
	return "", "no environment has tier production: mark one in .sluice/environments.yml (tier: production) or name one", nil
}
