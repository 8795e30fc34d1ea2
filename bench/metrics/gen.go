package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/store"
)

// genVersion changes whenever the generated history does, so that a kept one is made again.
const genVersion = 5

// spec is the size of the history to generate.
type spec struct {
	Runs, Deployments, Commits int
	Days                       int
	Seed                       uint64
}

// dataset is a generated history: the server's database and the repository's mirror.
type dataset struct {
	spec
	Version int
	Dir     string
	DB      string
	Mirror  string
	RepoID  int64
	End     time.Time // the history's last instant: the "now" the figures are computed at
	Events  int64
	Jobs    int64
	Tests   int64
}

// genOrLoad returns the history under dir, generating it when missing or of another size.
func genOrLoad(ctx context.Context, dir string, sp spec, log func(string, ...any)) (*dataset, error) {
	meta := filepath.Join(dir, "dataset.json")
	if b, err := os.ReadFile(meta); err == nil {
		var d dataset
		if json.Unmarshal(b, &d) == nil && d.spec == sp && d.Version == genVersion {
			log("using the history generated in %s", dir)
			return &d, nil
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	d := &dataset{spec: sp, Version: genVersion, Dir: dir, DB: filepath.Join(dir, "sluice.db"), Mirror: filepath.Join(dir, "mirror.git")}
	start := time.Now()
	if err := generate(ctx, d, log); err != nil {
		return nil, err
	}
	log("generated in %s", time.Since(start).Round(time.Second))
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return d, os.WriteFile(meta, b, 0o644)
}

type commit struct {
	sha string
	at  time.Time
}

// generate writes the history. Its shape is a busy repository over Days days: Commits commits
// on main (a dependency file change every 50th, a Sluice-Pin every 500th, a scheduled update
// every 200th), Runs runs of three workflows over them (two jobs each, the test job reporting
// tests and tool versions, 6% failing, 2% cancelled), and Deployments promotions into
// production with a rollback after every failed one, hotfixes and redeploys.
func generate(ctx context.Context, d *dataset, log func(string, ...any)) error {
	rng := rand.New(rand.NewPCG(d.Seed, 14))
	d.End = time.Now().UTC().Truncate(time.Second)
	begin := d.End.Add(-time.Duration(d.Days) * 24 * time.Hour)
	span := d.End.Sub(begin)

	log("writing %d commits into the mirror", d.Commits)
	commits, err := makeMirror(ctx, d, begin, span)
	if err != nil {
		return err
	}
	// Open with the store once: the schema is its migrations'.
	db0, err := store.Open(ctx, d.DB)
	if err != nil {
		return err
	}
	repo, err := db0.CreateRepo(ctx, store.Repo{Name: "busy/app", URL: "https://forge.example/busy/app.git", DefaultBranch: "main"})
	if err != nil {
		return err
	}
	d.RepoID = repo.ID
	if err := db0.PutEnvironment(ctx, repo.ID, cd.Environment{Name: "production", Tier: cd.TierProduction, AutoRollback: true}); err != nil {
		return err
	}
	db0.Close()

	db, err := sql.Open("sqlite", "file:"+d.DB+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)&_pragma=foreign_keys(0)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	prep := func(q string) *sql.Stmt {
		st, err2 := tx.PrepareContext(ctx, q)
		if err2 != nil && err == nil {
			err = err2
		}
		return st
	}
	insEvent := prep(`INSERT INTO events (time, kind, repo_id, run_id, job_id, data) VALUES (?, ?, ?, ?, ?, ?)`)
	insRun := prep(`INSERT INTO runs (id, repo_id, number, workflow, workflow_name, event, ref, sha, run_trigger, status, conclusion,
		queued_at, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'completed', ?, ?, ?, ?)`)
	insJob := prep(`INSERT INTO jobs (id, run_id, job_key, name, status, conclusion, created_at, queued_at, started_at, finished_at)
		VALUES (?, ?, ?, ?, 'completed', ?, ?, ?, ?, ?)`)
	insTool := prep(`INSERT INTO job_tools (job_id, name, version) VALUES (?, ?, ?)`)
	insTest := prep(`INSERT INTO test_cases (job_id, name, outcome, duration, run_id, repo_id, queued) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	insArt := prep(`INSERT INTO artifacts (digest, name, size, created) VALUES (?, ?, 1, ?)`)
	insRel := prep(`INSERT INTO releases (id, repo_id, run_id, version, commit_sha, ref, artifacts, created) VALUES (?, ?, ?, ?, ?, 'refs/heads/main', ?, ?)`)
	insProm := prep(`INSERT INTO promotions (id, repo_id, environment, release_id, kind, state, started_by, auto, created, updated, run_id, reason)
		VALUES (?, ?, 'production', ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	insRepro := prep(`INSERT INTO repro_checks (release_id, identical, differ, by_name, created) VALUES (?, ?, ?, 'bench', ?)`)
	if err != nil {
		return err
	}
	type event struct {
		at       time.Time
		kind     string
		run, job int64
		data     map[string]any
	}
	var events []event
	ev := func(at time.Time, kind string, run, job int64, data map[string]any) {
		events = append(events, event{at, kind, run, job, data})
	}
	nullID := func(id int64) any {
		if id == 0 {
			return nil
		}
		return id
	}
	ns := func(t time.Time) int64 { return t.UnixNano() }

	workflows := []struct{ path, name, job1, job2 string }{
		{".github/workflows/ci.yml", "ci", "build", "test"},
		{".github/workflows/lint.yml", "lint", "ruff", "mypy"},
		{".github/workflows/release.yml", "release", "build", "publish"},
	}
	log("writing %d runs", d.Runs)
	type runInfo struct {
		id       int64
		sha      string
		finished time.Time
		ok       bool
	}
	var ciRuns []runInfo
	runsBySHA := map[string][]int64{}
	ci := 0
	var jobID int64
	for k := 0; k < d.Runs; k++ {
		id := int64(k + 1)
		queued := begin.Add(time.Duration(float64(span) * (float64(k) + rng.Float64()*0.5) / float64(d.Runs)))
		wf := workflows[0]
		switch m := k % 20; {
		case m >= 17:
			wf = workflows[2]
		case m >= 12:
			wf = workflows[1]
		}
		// The commit: the newest one at the time (a search over the sorted commits).
		lo, hi := 0, len(commits)-1
		for lo < hi {
			mid := (lo + hi + 1) / 2
			if commits[mid].at.After(queued) {
				hi = mid - 1
			} else {
				lo = mid
			}
		}
		sha := commits[lo].sha
		ref := "refs/heads/main"
		if k%20 == 3 {
			ref = "refs/heads/feature/" + fmt.Sprint(k%7)
		}
		conclusion := store.ConclusionSuccess
		switch r := rng.IntN(100); {
		case r < 6:
			conclusion = store.ConclusionFailure
		case r < 8:
			conclusion = store.ConclusionCancelled
		}
		// Slowly longer builds over the history, and a faster ci after its middle.
		drift := 1 + 0.5*float64(k)/float64(d.Runs)
		if wf.name == "ci" && k > d.Runs/2 {
			drift *= 0.7
		}
		start := queued.Add(time.Duration(2+rng.IntN(58)) * time.Second)
		d1 := time.Duration(float64(30+rng.IntN(90))*drift) * time.Second
		d2 := time.Duration(float64(60+rng.IntN(240))*drift) * time.Second
		mid := start.Add(d1)
		end := mid.Add(d2)
		if _, err := insRun.ExecContext(ctx, id, d.RepoID, id, wf.path, wf.name, "push", ref, sha, store.TriggerWebhook, conclusion,
			ns(queued), ns(start), ns(end)); err != nil {
			return fmt.Errorf("run %d: %w", id, err)
		}
		ev(queued, store.EventRunQueued, id, 0, map[string]any{"number": id, "workflow": wf.path, "workflow_name": wf.name, "event": "push",
			"trigger": store.TriggerWebhook, "ref": ref, "sha": sha})
		ev(start, store.EventRunStarted, id, 0, map[string]any{"attempt": 1})
		for i, j := range []struct {
			key        string
			from, to   time.Time
			conclusion string
		}{{wf.job1, start, mid, store.ConclusionSuccess}, {wf.job2, mid, end, conclusion}} {
			jobID++
			if _, err := insJob.ExecContext(ctx, jobID, id, j.key, j.key, j.conclusion, ns(queued), ns(queued), ns(j.from), ns(j.to)); err != nil {
				return err
			}
			ev(queued, store.EventJobQueued, id, jobID, map[string]any{"key": j.key, "name": j.key, "attempt": 1, "labels": []string{"ubuntu-latest"}})
			if i == 0 {
				ev(j.from, store.EventJobLeased, id, jobID, map[string]any{"key": j.key, "attempt": 1, "agent_id": 1})
			}
			ev(j.from, store.EventJobStarted, id, jobID, map[string]any{"key": j.key, "attempt": 1, "agent_id": 1})
			ev(j.to, store.EventJobCompleted, id, jobID, map[string]any{"key": j.key, "attempt": 1, "conclusion": j.conclusion})
			if i == 1 && wf.name == "ci" {
				python := fmt.Sprintf("3.12.%d", 1+6*k/d.Runs)
				pip := "24.2"
				if k > d.Runs*2/3 {
					pip = "25.0"
				}
				for _, tl := range [][2]string{{"python", python}, {"pip", pip}, {"sluice", "bench"}} {
					if _, err := insTool.ExecContext(ctx, jobID, tl[0], tl[1]); err != nil {
						return err
					}
				}
				tests := map[string]time.Duration{
					"tests/test_api.py::test_upload":  time.Duration(float64(8+rng.IntN(4))*drift) * time.Second,
					"tests/test_db.py::test_migrate":  time.Duration(float64(20+rng.IntN(10))*drift) * time.Second,
					"tests/test_e2e.py::test_browser": time.Duration(float64(50+rng.IntN(20))*drift) * time.Second,
					"tests/test_net.py::test_flaky":   time.Duration(1+rng.IntN(2)) * time.Second,
				}
				failed := 0
				for name, dur := range tests {
					outcome := store.TestPassed
					if j.conclusion == store.ConclusionFailure && strings.HasSuffix(name, "flaky") {
						outcome, failed = store.TestFailed, 1
					}
					if _, err := insTest.ExecContext(ctx, jobID, name, outcome, int64(dur), id, d.RepoID, ns(queued)); err != nil {
						return err
					}
				}
				d.Tests += int64(len(tests))
				ev(j.to, store.EventJobResults, id, jobID, map[string]any{"tools": map[string]string{"python": python, "pip": pip, "sluice": "bench"},
					"passed": len(tests) - failed, "failed": failed, "errors": 0, "skipped": 0, "kept": len(tests)})
			}
		}
		ev(end, store.EventRunCompleted, id, 0, map[string]any{"attempt": 1, "conclusion": conclusion})
		if wf.name == "ci" {
			ci++
			ciRuns = append(ciRuns, runInfo{id, sha, end, conclusion == store.ConclusionSuccess && ref == "refs/heads/main"})
			runsBySHA[sha] = append(runsBySHA[sha], id)
		}
	}
	d.Jobs = jobID

	log("writing %d deployments", d.Deployments)
	type rel struct {
		id  string
		run int64
	}
	releases := map[int64]rel{} // by run
	release := func(r runInfo) (rel, error) {
		if x, ok := releases[r.id]; ok {
			return x, nil
		}
		digest := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(r.sha)))
		a := cd.Artifact{Name: "app/app.whl", Digest: digest, Size: 1}
		id := cd.ReleaseID([]cd.Artifact{a})
		if _, err := insArt.ExecContext(ctx, digest, a.Name, ns(r.finished)); err != nil {
			return rel{}, err
		}
		if _, err := insRel.ExecContext(ctx, id, d.RepoID, r.id, "", r.sha, `["`+digest+`"]`, ns(r.finished)); err != nil {
			return rel{}, err
		}
		ev(r.finished, store.EventReleaseCreated, r.id, 0, map[string]any{"release": id, "version": "", "commit": r.sha, "ref": "refs/heads/main"})
		// Another run of the same commit built it again, the same bytes.
		if others := runsBySHA[r.sha]; len(releases)%7 == 3 && len(others) > 1 && others[len(others)-1] != r.id {
			ev(r.finished.Add(time.Hour), store.EventReleaseRebuilt, others[len(others)-1], 0, map[string]any{"release": id, "commit": r.sha,
				"run": others[len(others)-1]})
		}
		if len(releases)%10 == 5 {
			identical := len(releases)%50 != 5
			differ := "[]"
			if !identical {
				differ = `["app.whl"]`
			}
			if _, err := insRepro.ExecContext(ctx, id, map[bool]int{true: 1}[identical], differ, ns(r.finished.Add(2*time.Hour))); err != nil {
				return rel{}, err
			}
			ev(r.finished.Add(2*time.Hour), store.EventReproChecked, 0, 0, map[string]any{"release": id, "check": len(releases),
				"identical": identical, "differ": json.RawMessage(differ), "by": "bench"})
		}
		x := rel{id, r.id}
		releases[r.id] = x
		return x, nil
	}
	var current, previous rel // what production runs, and ran before
	var lastSuccess int64     // the promotion to deactivate on the next success
	promo := int64(0)
	ri := 0
	failedLast := false
	for i := 0; i < d.Deployments; i++ {
		at := begin.Add(time.Duration(float64(span) * (float64(i) + 0.6) / float64(d.Deployments)))
		for ri+1 < len(ciRuns) && !ciRuns[ri+1].finished.After(at) {
			ri++
		}
		kind, by, auto := cd.KindForward, "alice", false
		r, err := release(ciRuns[ri])
		if err != nil {
			return err
		}
		state, reason := cd.StateSuccess, "deployed and verified"
		switch {
		case failedLast && current.id != "":
			kind, by, auto, r = cd.KindRollback, "sluice", true, current
		case i%25 == 7 && previous.id != "":
			kind, by, r = cd.KindRollback, "bob", previous
		case i%33 == 5:
			kind = cd.KindHotfix
		case i%40 == 3 && current.id != "":
			kind, r = cd.KindRedeploy, current
		case i%20 == 11:
			state, reason = cd.StateFailure, "verification failed: /health answered 503"
		}
		failedLast = state == cd.StateFailure
		promo++
		started, done := at.Add(time.Minute), at.Add(5*time.Minute)
		if _, err := insProm.ExecContext(ctx, promo, d.RepoID, r.id, string(kind), string(state), by, map[bool]int{true: 1}[auto],
			ns(at), ns(done), r.run, reason); err != nil {
			return err
		}
		ev(at, store.EventPromotionCreated, 0, 0, map[string]any{"promotion": promo, "env": "production", "release": r.id, "kind": kind,
			"state": cd.StateQueued, "started_by": by, "auto": auto, "run": r.run, "reason": ""})
		ev(started, store.EventPromotionState, 0, 0, map[string]any{"promotion": promo, "from": cd.StateQueued, "to": cd.StateInProgress})
		ev(done, store.EventPromotionState, 0, 0, map[string]any{"promotion": promo, "from": cd.StateInProgress, "to": state})
		ev(done, store.EventPromotionUpdated, 0, 0, map[string]any{"promotion": promo, "reason": reason})
		if state == cd.StateSuccess {
			if lastSuccess != 0 {
				if _, err := tx.ExecContext(ctx, `UPDATE promotions SET state = 'inactive', updated = ? WHERE id = ?`, ns(done), lastSuccess); err != nil {
					return err
				}
				ev(done, store.EventPromotionState, 0, 0, map[string]any{"promotion": lastSuccess, "from": cd.StateSuccess, "to": cd.StateInactive})
			}
			lastSuccess = promo
			if r.id != current.id {
				previous, current = current, r
			}
		}
	}

	log("writing %d events", len(events))
	// Events go in time order, as the server writes them.
	sortEvents := func() {
		slices.SortStableFunc(events, func(a, b event) int { return a.at.Compare(b.at) })
	}
	sortEvents()
	for _, e := range events {
		b, err := json.Marshal(e.data)
		if err != nil {
			return err
		}
		if _, err := insEvent.ExecContext(ctx, ns(e.at), e.kind, d.RepoID, nullID(e.run), nullID(e.job), string(b)); err != nil {
			return err
		}
	}
	d.Events = int64(len(events))
	if _, err := tx.ExecContext(ctx, `UPDATE repos SET next_run_number = ? WHERE id = ?`, d.Runs+1, d.RepoID); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `ANALYZE`)
	return err
}

// makeMirror writes the repository's history into a bare repository with git fast-import and
// returns its commits, oldest first.
func makeMirror(ctx context.Context, d *dataset, begin time.Time, span time.Duration) ([]commit, error) {
	if out, err := exec.CommandContext(ctx, "git", "init", "-q", "--bare", "-b", "main", d.Mirror).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("git init: %v: %s", err, out)
	}
	marks := filepath.Join(d.Dir, "marks")
	cmd := exec.CommandContext(ctx, "git", "--git-dir", d.Mirror, "fast-import", "--quiet", "--export-marks="+marks)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if out, err := os.Create(filepath.Join(d.Dir, "fast-import.log")); err == nil {
		cmd.Stdout, cmd.Stderr = out, out
		defer out.Close()
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := bufio.NewWriter(in)
	times := make([]time.Time, d.Commits)
	reqs := []string{"requests>=2.31\n", "requests>=2.31\nurllib3<2\n", "requests==2.31.0\nurllib3<2\n", "requests>=2.32\nurllib3\n"}
	for i := 0; i < d.Commits; i++ {
		at := begin.Add(time.Duration(math.Floor(float64(span) * float64(i) / float64(d.Commits))))
		times[i] = at
		msg := fmt.Sprintf("change %d", i)
		files := map[string]string{"app.py": fmt.Sprintf("VERSION = %d\n", i)}
		if i%50 == 0 {
			files = map[string]string{"requirements.txt": reqs[(i/50)%len(reqs)]}
			switch {
			case i%500 == 0:
				msg += "\n\nSluice-Pin: urllib3<2\nSluice-Pin-Reason: bench"
			case i%200 == 0:
				msg += "\n\nSluice-Update: weekly"
			}
		}
		fmt.Fprintf(w, "commit refs/heads/main\nmark :%d\ncommitter Dev <dev@example.com> %d +0000\ndata %d\n%s\n", i+1, at.Unix(), len(msg), msg)
		if i > 0 {
			fmt.Fprintf(w, "from :%d\n", i)
		}
		for name, content := range files {
			fmt.Fprintf(w, "M 644 inline %s\ndata %d\n%s\n", name, len(content), content)
		}
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("git fast-import: %w", err)
	}
	b, err := os.ReadFile(marks)
	if err != nil {
		return nil, err
	}
	out := make([]commit, d.Commits)
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var n int
		var sha string
		if _, err := fmt.Sscanf(line, ":%d %s", &n, &sha); err != nil {
			return nil, fmt.Errorf("marks line %q: %w", line, err)
		}
		out[n-1] = commit{sha: sha, at: times[n-1]}
	}
	return out, nil
}
