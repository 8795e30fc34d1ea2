package metrics

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/python"
	"github.com/sluice-ci/sluice/internal/store"
)

// Dependencies lists the incidents dependency changes caused and how long they lasted.
type Dependencies struct {
	Definition string     `json:"definition"`
	Incidents  []Incident `json:"incidents"`
	MTTR       Stats      `json:"mttr"`
	Open       int        `json:"open"`
}

// Incident is a default-branch pipeline or a deployment that broke on a dependency-only change.
type Incident struct {
	Kind         string     `json:"kind"` // pipeline or deployment
	Workflow     string     `json:"workflow,omitempty"`
	WorkflowName string     `json:"workflow_name,omitempty"`
	Env          string     `json:"env,omitempty"`
	Run          int64      `json:"run,omitempty"`        // the failed run (pipeline)
	RunNumber    int64      `json:"run_number,omitempty"` // its number in the repository
	Promotion    int64      `json:"promotion,omitempty"`  // the failed deployment
	Commit       string     `json:"commit"`               // the change that broke it
	Before       string     `json:"before"`               // the last green commit before it
	Files        []string   `json:"files"`                // the dependency files the change touched
	Start        time.Time  `json:"start"`
	FixedBy      int64      `json:"fixed_by,omitempty"` // the green run, or the restoring promotion
	FixedCommit  string     `json:"fixed_commit,omitempty"`
	FixedAt      *time.Time `json:"fixed_at,omitempty"`
	Duration     *Seconds   `json:"duration,omitempty"`
	// Lock is set when the incident was found by its resolved dependency set: the change
	// touched only dependency files, pyproject.toml beyond its dependency tables (a package
	// index, a source), and the lock hash the server recorded changed.
	Lock *LockChange `json:"lock,omitempty"`
}

// LockChange is the lock hash (the dependency set locked in the tree) the server planned the last
// green run with, and the failed one.
type LockChange struct {
	Before string `json:"before"`
	After  string `json:"after"`
}

const defDependencies = "A default-branch run that failed after the workflow's previous run there succeeded (deployment " +
	"runs of promotions and rollbacks left out), or a " +
	"failed change deployment, when the change since the last green commit touched only dependency files " +
	"(requirements and constraints files, lock files, Pipfile, the dependency tables of pyproject.toml), or touched " +
	"only dependency files and came with a changed resolved dependency set (the lock hash sluice recorded for the " +
	"run changed, even where pyproject.toml changed beyond its dependency tables); from " +
	"the failure to the workflow's next successful run on the default branch (or the environment's restoring " +
	"deployment). MTTR is the median, with the 90th percentile."

// runsLookback is how many default-branch runs before the window are read to find the last
// green one before a failure.
const runsLookback = 200

func (f *facts) dependencyIncidents(ctx context.Context, src Source, deps []deployment, failures []Failure) (Dependencies, error) {
	out := Dependencies{Definition: defDependencies, Incidents: []Incident{}}
	if f.git == nil {
		return out, nil
	}
	ref := f.repo.defaultRef()
	before, err := src.MetricsRunsBefore(ctx, f.repo.ID, ref, f.since, runsLookback)
	if err != nil {
		return out, err
	}
	byWorkflow := map[string][]store.RunFact{}
	for _, r := range append(before, f.runs...) {
		if r.Ref != ref || r.Status != store.StatusCompleted || r.FinishedAt.IsZero() || r.Trigger == store.TriggerPromotion ||
			r.Conclusion != store.ConclusionSuccess && r.Conclusion != store.ConclusionFailure {
			continue
		}
		byWorkflow[r.Workflow] = append(byWorkflow[r.Workflow], r)
	}
	names := make([]string, 0, len(byWorkflow))
	for w := range byWorkflow {
		names = append(names, w)
	}
	slices.Sort(names)
	// Candidates first (a green run then a red one; a failed deployment after a good one), then
	// one git process for all their changes.
	var candidates []candidate
	for _, w := range names {
		runs := byWorkflow[w]
		slices.SortFunc(runs, func(a, b store.RunFact) int {
			if c := a.QueuedAt.Compare(b.QueuedAt); c != 0 {
				return c
			}
			return int(a.ID - b.ID)
		})
		for i := 1; i < len(runs); i++ {
			prev, r := runs[i-1], runs[i]
			if r.Conclusion != store.ConclusionFailure || prev.Conclusion != store.ConclusionSuccess || !f.inWindow(r.FinishedAt) ||
				prev.SHA == r.SHA {
				continue
			}
			in := Incident{Kind: "pipeline", Workflow: r.Workflow, WorkflowName: r.WorkflowName, Run: r.ID, RunNumber: r.Number,
				Commit: r.SHA, Before: prev.SHA, Start: r.FinishedAt}
			for _, g := range runs[i+1:] {
				if g.Conclusion == store.ConclusionSuccess {
					at, d := g.FinishedAt, Seconds(g.FinishedAt.Sub(r.FinishedAt))
					in.FixedBy, in.FixedCommit, in.FixedAt, in.Duration = g.ID, g.SHA, &at, &d
					break
				}
			}
			candidates = append(candidates, candidate{Incident: in, greenRun: prev.ID, redRun: r.ID})
		}
	}
	// Failed deployments: the change is from the environment's last successful deployment.
	byID := make(map[int64]*deployment, len(deps))
	var good []*deployment // successful deployments in the order they ended
	for i := range deps {
		byID[deps[i].ID] = &deps[i]
		if deps[i].succeeded() {
			good = append(good, &deps[i])
		}
	}
	slices.SortStableFunc(good, func(a, b *deployment) int { return a.ended.Compare(b.ended) })
	for _, fl := range failures {
		d := byID[fl.Promotion]
		if d == nil {
			continue
		}
		// The latest success to end before it started (of those ending together, the first in
		// the promotions' order).
		i, _ := slices.BinarySearchFunc(good, d.started, func(p *deployment, t time.Time) int {
			if p.ended.Before(t) {
				return -1
			}
			return 1
		})
		if i == 0 {
			continue
		}
		last := good[i-1]
		for i > 1 && good[i-2].ended.Equal(last.ended) {
			i--
			last = good[i-1]
		}
		if last.Commit == d.Commit {
			continue
		}
		in := Incident{Kind: "deployment", Env: d.Env, Promotion: d.ID, Commit: d.Commit, Before: last.Commit,
			Start: fl.At, FixedBy: fl.RecoveredBy, FixedAt: fl.RecoveredAt, Duration: fl.Recovery}
		if p := byID[fl.RecoveredBy]; fl.RecoveredBy != 0 && p != nil {
			in.FixedCommit = p.Commit
		}
		candidates = append(candidates, candidate{Incident: in, greenRun: last.RunID, redRun: d.RunID})
	}
	changes, err := f.dependencyOnly(ctx, candidates)
	if err != nil {
		f.note("Dependency-only changes could not be read from the repository mirror: %v", err)
		return out, nil
	}
	var durations []time.Duration
	for _, c := range candidates {
		in := c.Incident
		change, ok := changes[[2]string{in.Before, in.Commit}]
		if !ok {
			continue
		}
		if !change.depOnly {
			// Only dependency files, but pyproject.toml beyond its dependency tables: a
			// dependency incident when the resolved set changed with it.
			if in.Lock, err = lockChange(ctx, src, c.greenRun, c.redRun); err != nil {
				return out, err
			}
			if in.Lock == nil {
				continue
			}
		}
		in.Files = change.files
		if in.Duration != nil {
			durations = append(durations, time.Duration(*in.Duration))
		} else {
			out.Open++
		}
		out.Incidents = append(out.Incidents, in)
	}
	slices.SortStableFunc(out.Incidents, func(a, b Incident) int { return a.Start.Compare(b.Start) })
	out.MTTR = statsOf(durations)
	return out, nil
}

// candidate is a failure after a success that may be a dependency incident: the runs (or the
// deployments' runs; 0: none) that were green and red.
type candidate struct {
	Incident
	greenRun, redRun int64
}

// lockChange returns the lock hashes the server planned runs green and red with when they
// differ; nil when they are the same, or a run is unknown (a deployment with no run).
func lockChange(ctx context.Context, src Source, green, red int64) (*LockChange, error) {
	if green == 0 || red == 0 {
		return nil, nil
	}
	before, err := src.MetricsRunLockHash(ctx, green)
	if err != nil {
		return nil, err
	}
	after, err := src.MetricsRunLockHash(ctx, red)
	if err != nil {
		return nil, err
	}
	if before == after {
		return nil, nil
	}
	return &LockChange{Before: before, After: after}, nil
}

// dependencyOnly returns, of the candidates' changes (Before → Commit), those that touched
// only dependency files, with the files and whether pyproject.toml changed only in its
// dependency tables. No change at all (the same tree) is no dependency change.
func (f *facts) dependencyOnly(ctx context.Context, candidates []candidate) (map[[2]string]depChange, error) {
	out := map[[2]string]depChange{}
	var pairs [][2]string
	for _, in := range candidates {
		pair := [2]string{in.Before, in.Commit}
		if c, ok := f.memo.change(pair); ok {
			if c.depFiles {
				out[pair] = c
			}
			continue
		}
		pairs = append(pairs, pair)
	}
	if len(pairs) == 0 {
		return out, nil
	}
	changed, err := f.git.changedFiles(ctx, pairs)
	if err != nil {
		return nil, err
	}
	fresh := map[[2]string][]string{}
	var blobNames []string
	for pair, files := range changed {
		if len(files) == 0 || slices.ContainsFunc(files, func(p string) bool { return !python.DependencyFile(p) }) {
			f.memo.rememberChange(pair, depChange{files: files})
			continue
		}
		fresh[pair] = files
		for _, p := range files {
			if strings.HasSuffix(p, "pyproject.toml") {
				blobNames = append(blobNames, pair[0]+":"+p, pair[1]+":"+p)
			}
		}
	}
	var blobs map[string][]byte
	if len(blobNames) > 0 {
		if blobs, err = f.git.blobs(ctx, blobNames, maxBlob); err != nil {
			return nil, err
		}
	}
	for pair, files := range fresh {
		only := true
		for _, p := range files {
			if strings.HasSuffix(p, "pyproject.toml") && !python.OnlyDependencyTablesDiffer(blobs[pair[0]+":"+p], blobs[pair[1]+":"+p]) {
				only = false
				break
			}
		}
		c := depChange{files: files, depFiles: true, depOnly: only}
		f.memo.rememberChange(pair, c)
		out[pair] = c
	}
	return out, nil
}

// maxBlob bounds a dependency file read from history.
const maxBlob = 4 << 20

// maxPinHistory bounds the default-branch commits read for pins.
const maxPinHistory = 20_000

// Pins lists emergency pins and rollbacks.
type Pins struct {
	Definition string          `json:"definition"`
	Pins       []Pin           `json:"pins"`
	Rollbacks  []RollbackEntry `json:"rollbacks"`
	Months     []MonthCount    `json:"months"`
}

// Pin is a default-branch commit that pinned, capped or downgraded a dependency outside a
// scheduled dependency update.
type Pin struct {
	Commit  string             `json:"commit"`
	Subject string             `json:"subject"`
	Author  string             `json:"author"`
	At      time.Time          `json:"at"` // committer time
	Link    string             `json:"link,omitempty"`
	Trailer []string           `json:"trailer,omitempty"` // Sluice-Pin values
	Reason  string             `json:"reason,omitempty"`  // Sluice-Pin-Reason
	Changes []python.PinChange `json:"changes"`
}

// RollbackEntry is a successful rollback of the environment.
type RollbackEntry struct {
	Promotion int64     `json:"promotion"`
	Release   string    `json:"release"`
	Commit    string    `json:"commit"`
	At        time.Time `json:"at"`
	Auto      bool      `json:"auto,omitempty"`
	StartedBy string    `json:"started_by"`
}

// MonthCount is one calendar month (UTC) of pins and rollbacks.
type MonthCount struct {
	Month     string `json:"month"` // 2025-03
	Pins      int    `json:"pins"`
	Rollbacks int    `json:"rollbacks"`
}

const defPins = "Emergency pins: default-branch commits in the window carrying a Sluice-Pin trailer, or, unless " +
	"they carry Sluice-Update (a scheduled dependency update), adding an exact pin or an upper bound to a declared " +
	"dependency, or a downgrade to a pinned or locked one. Rollbacks: successful rollback promotions into the " +
	"environment. Counted per calendar month (UTC)."

func (f *facts) pinsAndRollbacks(deps []deployment, pins []Pin) Pins {
	out := Pins{Definition: defPins, Pins: []Pin{}, Rollbacks: []RollbackEntry{}}
	for _, d := range f.successes(deps) {
		if d.Kind == cd.KindRollback {
			out.Rollbacks = append(out.Rollbacks, RollbackEntry{Promotion: d.ID, Release: d.ReleaseID, Commit: d.Commit,
				At: d.ended, Auto: d.Auto, StartedBy: d.StartedBy})
		}
	}
	out.Pins = append(out.Pins, pins...)
	counts := map[string]*MonthCount{}
	for m := time.Date(f.since.Year(), f.since.Month(), 1, 0, 0, 0, 0, time.UTC); !m.After(f.until); m = m.AddDate(0, 1, 0) {
		out.Months = append(out.Months, MonthCount{Month: m.Format("2006-01")})
	}
	for i := range out.Months {
		counts[out.Months[i].Month] = &out.Months[i]
	}
	for _, p := range out.Pins {
		if c := counts[p.At.Format("2006-01")]; c != nil {
			c.Pins++
		}
	}
	for _, r := range out.Rollbacks {
		if c := counts[r.At.Format("2006-01")]; c != nil {
			c.Rollbacks++
		}
	}
	return out
}

func (f *facts) pins(ctx context.Context) ([]Pin, error) {
	ref := f.repo.defaultRef()
	tip, err := f.git.resolve(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("the default branch %s is not in the mirror", strings.TrimPrefix(ref, "refs/heads/"))
	}
	hist, ok := f.memo.historySince(tip, f.since)
	if !ok {
		if hist, err = f.git.history(ctx, ref, f.since, maxPinHistory); err != nil {
			return nil, err
		}
		f.memo.rememberHistory(tip, f.since, hist)
	}
	skip := func(c logCommit) bool {
		return len(c.Trailers["sluice-update"]) > 0 && len(c.Trailers["sluice-pin"]) == 0
	}
	var names []string
	for _, c := range hist {
		if _, known := f.memo.pin(c.SHA); known || skip(c) {
			continue
		}
		for _, p := range c.Files {
			if python.DependencyFile(p) {
				if c.Parent != "" {
					names = append(names, c.Parent+":"+p)
				}
				names = append(names, c.SHA+":"+p)
			}
		}
	}
	blobs, err := f.git.blobs(ctx, names, maxBlob)
	if err != nil {
		return nil, err
	}
	var out []Pin
	for _, c := range hist {
		pin, known := f.memo.pin(c.SHA)
		if !known {
			pin = pinOf(c, blobs, skip(c))
			f.memo.rememberPin(c.SHA, pin)
		}
		if pin != nil {
			p := *pin
			p.Link = commitLink(f.repo.URL, c.SHA)
			out = append(out, p)
		}
	}
	slices.Reverse(out) // oldest first, like every list of the report
	return out, nil
}

// pinOf says whether commit c is an emergency pin (nil: not one), from the dependency files it
// changed (blobs holds them before and after).
func pinOf(c logCommit, blobs map[string][]byte, scheduled bool) *Pin {
	trailer := c.Trailers["sluice-pin"]
	if scheduled {
		return nil
	}
	pin := Pin{Commit: c.SHA, Subject: c.Subject, Author: c.Author, At: c.Time, Trailer: trailer, Changes: []python.PinChange{}}
	if r := c.Trailers["sluice-pin-reason"]; len(r) > 0 {
		pin.Reason = r[0]
	}
	for _, p := range c.Files {
		if !python.DependencyFile(p) {
			continue
		}
		var old []byte
		if c.Parent != "" {
			old = blobs[c.Parent+":"+p]
		}
		pin.Changes = append(pin.Changes, python.PinChanges(p, old, blobs[c.SHA+":"+p])...)
	}
	if len(trailer) == 0 && len(pin.Changes) == 0 {
		return nil
	}
	return &pin
}

// commitLink is the forge's page of commit sha, made from the repository's clone URL when it is
// a web forge's (https), without any credentials the URL holds; "" otherwise.
func commitLink(clone, sha string) string {
	u, err := url.Parse(clone)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), ".git")
	sep := "/commit/"
	if strings.Contains(u.Host, "gitlab") {
		sep = "/-/commit/"
	}
	return u.String() + sep + sha
}
