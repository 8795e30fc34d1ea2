package metrics

import (
	"context"
	"slices"
	"time"

	"github.com/sluice-ci/sluice/internal/store"
)

// TestHealth is the window's flaky tests and slowest tests.
type TestHealth struct {
	Definition        string      `json:"definition"`
	SlowestDefinition string      `json:"slowest_definition"`
	Reported          int         `json:"reported"` // jobs that reported test results
	Flaky             []FlakyTest `json:"flaky"`
	Slowest           []SlowTest  `json:"slowest"`
}

// FlakyTest is a test that failed and passed on the same commit.
type FlakyTest struct {
	Name string `json:"name"`
	Job  string `json:"job"` // the job it flaked in (workflow / job)
	// Flakes is the number of commits it flaked on; Commits the number its job reported tests on.
	Flakes   int       `json:"flakes"`
	Commits  int       `json:"commits"`
	Rate     Rate      `json:"rate"`
	LastSeen time.Time `json:"last_seen"`
	Examples []string  `json:"examples"` // commits it flaked on, newest first (at most 5)
}

// SlowTest is one of the slowest tests and its trend.
type SlowTest struct {
	Name  string     `json:"name"`
	Runs  int        `json:"runs"`
	Mean  Seconds    `json:"mean"`
	Max   Seconds    `json:"max"`
	Weeks []WeekMean `json:"weeks"`
}

// WeekMean is a test's mean duration in one ISO week.
type WeekMean struct {
	Week string  `json:"week"`
	Runs int     `json:"runs"`
	Mean Seconds `json:"mean"`
}

const (
	defFlaky = "A test is flaky on a commit when, in runs of the window, it failed there and also passed on the same " +
		"commit, or the job it failed in succeeded on that commit in another run (a re-run cleared it). Flake rate: the " +
		"commits it flaked on / the commits its job reported test results on, in the window; last seen: the flaky failure's end."
	defSlowest = "The tests with the longest mean duration over the window, from each job's 20 slowest passing tests " +
		"(what the server keeps besides failures), with their mean per ISO week."
	maxFlaky    = 20
	maxSlowest  = 10
	maxExamples = 5
)

func (f *facts) testHealth(ctx context.Context, src Source) (TestHealth, error) {
	out := TestHealth{Definition: defFlaky, SlowestDefinition: defSlowest, Flaky: []FlakyTest{}, Slowest: []SlowTest{}}
	fails, err := src.MetricsTestFailures(ctx, f.repo.ID, f.since)
	if err != nil {
		return out, err
	}
	reported, err := src.MetricsTestJobs(ctx, f.repo.ID, f.since)
	if err != nil {
		return out, err
	}
	slow, err := src.MetricsSlowTests(ctx, f.repo.ID, f.since)
	if err != nil {
		return out, err
	}
	jobPos := make(map[int64]int32, len(f.jobs))
	for i := range f.jobs {
		jobPos[f.jobs[i].ID] = int32(i)
	}
	// job returns a job of the window and its run; nil, nil when it is not one.
	job := func(id int64) (*store.JobFact, *store.RunFact) {
		i, ok := jobPos[id]
		if !ok {
			return nil, nil
		}
		j := &f.jobs[i]
		r := f.run(j.RunID)
		if r == nil {
			return nil, nil
		}
		return j, r
	}
	// jobKey names a job across runs of its workflow.
	type jobKey struct{ workflow, key string }
	// Commits each job reported tests on: the flake rate's denominator.
	ranOnCommits := map[jobKey]map[string]bool{}
	for _, id := range reported {
		j, r := job(id)
		if j == nil {
			continue
		}
		out.Reported++
		k := jobKey{r.Workflow, j.Key}
		if ranOnCommits[k] == nil {
			ranOnCommits[k] = map[string]bool{}
		}
		ranOnCommits[k][r.SHA] = true
	}
	type shaKey struct {
		sha string
		jobKey
	}
	// The commits and jobs tests failed in: only those need to know whether their job also
	// succeeded there.
	type failure struct {
		TestFact store.TestFact
		job      *store.JobFact
		run      *store.RunFact
	}
	var failed []failure
	var pairs [][2]string
	type successes struct {
		n  int   // successful jobs of that job on that commit
		id int64 // one of them
	}
	cleared := map[shaKey]successes{}
	for _, t := range fails {
		if j, r := job(t.JobID); j != nil {
			failed = append(failed, failure{t, j, r})
			pairs = append(pairs, [2]string{r.SHA, t.Name})
			cleared[shaKey{r.SHA, jobKey{r.Workflow, j.Key}}] = successes{} // counted below
		}
	}
	if len(cleared) > 0 {
		for i := range f.jobs {
			j := &f.jobs[i]
			if j.Conclusion != store.ConclusionSuccess {
				continue
			}
			r := f.run(j.RunID)
			if r == nil {
				continue
			}
			k := shaKey{r.SHA, jobKey{r.Workflow, j.Key}}
			if c, want := cleared[k]; want {
				c.n++
				c.id = j.ID
				cleared[k] = c
			}
		}
	}
	passed, err := src.MetricsTestPassed(ctx, f.repo.ID, f.since, pairs)
	if err != nil {
		return out, err
	}
	type flaky struct {
		FlakyTest
		key  jobKey
		shas map[string]time.Time
	}
	type flakyKey struct {
		name string
		jobKey
	}
	byName := map[flakyKey]*flaky{}
	for _, fl := range failed {
		t, j, r := fl.TestFact, fl.job, fl.run
		key := jobKey{r.Workflow, j.Key}
		// A re-run cleared it: the job succeeded on that commit in another attempt.
		c := cleared[shaKey{r.SHA, key}]
		if !passed[[2]string{r.SHA, t.Name}] && !(c.n > 1 || c.n == 1 && c.id != j.ID) {
			continue
		}
		fk := flakyKey{t.Name, key}
		fy, ok := byName[fk]
		if !ok {
			fy = &flaky{FlakyTest: FlakyTest{Name: t.Name, Job: key.workflow + " / " + key.key}, key: key, shas: map[string]time.Time{}}
			byName[fk] = fy
		}
		at := r.QueuedAt
		if !j.FinishedAt.IsZero() {
			at = j.FinishedAt
		}
		if at.After(fy.shas[r.SHA]) {
			fy.shas[r.SHA] = at
		}
		if at.After(fy.LastSeen) {
			fy.LastSeen = at
		}
	}
	for _, fl := range byName {
		fl.Flakes, fl.Commits = len(fl.shas), len(ranOnCommits[fl.key])
		fl.Rate = rateOf(fl.Flakes, fl.Commits)
		for sha := range fl.shas {
			fl.Examples = append(fl.Examples, sha)
		}
		slices.SortFunc(fl.Examples, func(a, b string) int {
			if c := fl.shas[b].Compare(fl.shas[a]); c != 0 {
				return c
			}
			return compareStrings(a, b)
		})
		fl.Examples = fl.Examples[:min(len(fl.Examples), maxExamples)]
		out.Flaky = append(out.Flaky, fl.FlakyTest)
	}
	slices.SortFunc(out.Flaky, func(a, b FlakyTest) int {
		switch {
		case a.Flakes != b.Flakes:
			return b.Flakes - a.Flakes
		case !a.LastSeen.Equal(b.LastSeen):
			return b.LastSeen.Compare(a.LastSeen)
		}
		return compareStrings(a.Name+a.Job, b.Name+b.Job)
	})
	out.Flaky = out.Flaky[:min(len(out.Flaky), maxFlaky)]
	out.Slowest = slowest(slow)
	return out, nil
}

// slowest ranks tests by their mean passing duration over the window, from weekly sums.
func slowest(facts []store.SlowTestFact) []SlowTest {
	type acc struct {
		sum, max time.Duration
		n        int
		weeks    []WeekMean
	}
	byName := map[string]*acc{}
	for _, f := range facts {
		a, ok := byName[f.Name]
		if !ok {
			a = &acc{}
			byName[f.Name] = a
		}
		a.sum += f.Sum
		a.n += f.N
		a.max = max(a.max, f.Max)
		a.weeks = append(a.weeks, WeekMean{Week: isoWeek(f.Week), Runs: f.N, Mean: Seconds(f.Sum / time.Duration(f.N))})
	}
	out := []SlowTest{}
	for name, a := range byName {
		slices.SortFunc(a.weeks, func(x, y WeekMean) int { return compareStrings(x.Week, y.Week) })
		out = append(out, SlowTest{Name: name, Runs: a.n, Mean: Seconds(a.sum / time.Duration(a.n)), Max: Seconds(a.max), Weeks: a.weeks})
	}
	slices.SortFunc(out, func(a, b SlowTest) int {
		if a.Mean != b.Mean {
			return compareDur(time.Duration(b.Mean), time.Duration(a.Mean))
		}
		return compareStrings(a.Name, b.Name)
	})
	return out[:min(len(out), maxSlowest)]
}

func compareDur(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
