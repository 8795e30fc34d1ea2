// Package depsbot is the server's scheduled dependency update: per repository that has a
// .sluice/deps.yml, on its schedule, it updates each group on a branch (a commit with the
// Sluice-Update trailer), runs the repository's own workflows on it, and then opens a
// pull/merge request with the diff and the runs' results, or merges when every job is green.
// A failing group is bisected to the package that breaks it. All state is in the store, so
// one Tick is safe to run from any replica holding the background-work lease.
package depsbot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/deps"
	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/lazyre"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

// Store is what the bot reads and writes.
type Store interface {
	ListRepos(ctx context.Context) ([]store.Repo, error)
	GetRun(ctx context.Context, id int64) (*store.Run, error)
	ListDepUpdates(ctx context.Context, repoID int64, activeOnly bool, limit int) ([]store.DepUpdate, error)
	CreateDepUpdate(ctx context.Context, u store.DepUpdate) (*store.DepUpdate, error)
	SaveDepUpdate(ctx context.Context, u store.DepUpdate) (*store.DepUpdate, error)
	PutDepStatus(ctx context.Context, s store.DepStatus) error
	GetDepStatus(ctx context.Context, repoID int64) (*store.DepStatus, error)
}

// Config is what a bot needs.
type Config struct {
	DB Store
	// Trigger starts the repository's workflows for a push (the scheduler's Trigger).
	Trigger func(ctx context.Context, repo *store.Repo, t server.Trigger) ([]store.Run, error)
	// CloneURL is the URL to clone and push with (credentials included).
	CloneURL func(*store.Repo) string
	// Forge is the repository's forge API client and full name there; nil when none.
	Forge func(*store.Repo) (*forge.Client, string, error)
	// DefaultFile reads a file at the head of the default branch, false when absent.
	DefaultFile func(ctx context.Context, repo *store.Repo, path string) ([]byte, bool)
	// WorkDir holds the bot's clones; ToolsDir and CacheDir the lock tools and their caches
	// (none of them inside the data directory, which the tools never see).
	WorkDir, ToolsDir, CacheDir string
	// Run runs a lock tool (sandboxed on a server); nil runs it as a child process.
	Run     func(ctx context.Context, argv []string, dir string, env []string) (string, error)
	BaseURL string
	Now     func() time.Time
	Log     *slog.Logger
}

// Bot makes scheduled dependency updates.
type Bot struct{ cfg Config }

// New makes a bot.
func New(cfg Config) *Bot {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Bot{cfg: cfg}
}

// BranchPrefix starts every branch the bot pushes.
const BranchPrefix = "sluice/deps/"

// Loop runs Tick every interval until ctx ends. Under a cluster-wide lease, call Tick from
// the lease holder instead.
func (b *Bot) Loop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		b.Tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick moves every active update along, then starts the updates that are due.
func (b *Bot) Tick(ctx context.Context) {
	active, err := b.cfg.DB.ListDepUpdates(ctx, 0, true, 1000)
	if err != nil {
		b.cfg.Log.Warn("deps: listing updates", "err", err)
		return
	}
	for i := range active {
		if err := b.advance(ctx, &active[i]); err != nil {
			b.cfg.Log.Warn("deps: advancing an update", "update", active[i].ID, "err", err)
		}
	}
	repos, err := b.cfg.DB.ListRepos(ctx)
	if err != nil {
		return
	}
	for i := range repos {
		if due, _ := b.due(ctx, &repos[i]); due {
			if _, err := b.Start(ctx, &repos[i]); err != nil {
				b.cfg.Log.Warn("deps: scheduled update", "repo", repos[i].Name, "err", err)
			}
		}
	}
}

// config reads the repository's deps.yml from its default branch; nil without one.
func (b *Bot) config(ctx context.Context, repo *store.Repo) (*deps.Config, error) {
	data, ok := b.cfg.DefaultFile(ctx, repo, deps.ConfigPath)
	if !ok {
		return nil, nil
	}
	return deps.ParseConfig(data)
}

// due reports whether a repository's schedule fired since its last look.
func (b *Bot) due(ctx context.Context, repo *store.Repo) (bool, error) {
	cfg, err := b.config(ctx, repo)
	if err != nil || cfg == nil {
		return false, err
	}
	sched, err := cfg.Cron()
	if err != nil || sched == nil {
		return false, err
	}
	last := repo.CreatedAt
	if st, err := b.cfg.DB.GetDepStatus(ctx, repo.ID); err == nil {
		last = st.Checked
	}
	return !sched.Next(last).After(b.cfg.Now()), nil
}

// work is one clone of a repository for the bot.
type work struct {
	b       *Bot
	dir     string
	project deps.Project
	cfg     *deps.Config
	index   *deps.Index
	tools   *deps.Tools
	env     []string
	base    string
	branch  string // the default branch
}

func (w *work) git(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = w.dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "LC_ALL=C",
		"GIT_AUTHOR_NAME=sluice", "GIT_AUTHOR_EMAIL=sluice@localhost", "GIT_COMMITTER_NAME=sluice", "GIT_COMMITTER_EMAIL=sluice@localhost")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		// git's message may quote the remote URL; its credentials never reach a record.
		return "", fmt.Errorf("git %s: %s", args[0], redactCreds(strings.TrimSpace(errb.String())))
	}
	return strings.TrimSpace(out.String()), nil
}

var credsRe = lazyre.New(`://[^/@\s]+@`)

func redactCreds(s string) string { return credsRe.ReplaceAllString(s, "://***@") }

// open clones the default branch into a fresh directory and reads the project there.
func (b *Bot) open(ctx context.Context, repo *store.Repo) (*work, func(), error) {
	if err := os.MkdirAll(b.cfg.WorkDir, 0o755); err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp(b.cfg.WorkDir, fmt.Sprintf("repo%d-", repo.ID))
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	branch := repo.DefaultBranch
	if branch == "" {
		branch = "main"
	}
	w := &work{b: b, dir: dir, branch: branch}
	if _, err := w.git(ctx, "clone", "-q", "--branch", branch, "--", b.cfg.CloneURL(repo), "."); err != nil {
		cleanup()
		return nil, nil, err
	}
	// The configuration is the default branch's, as cloned now.
	if w.cfg, err = deps.LoadConfig(dir); err != nil {
		cleanup()
		return nil, nil, err
	}
	cfg := w.cfg
	if w.base, err = w.git(ctx, "rev-parse", "HEAD"); err != nil {
		cleanup()
		return nil, nil, err
	}
	if w.project, err = deps.Detect(filepath.Join(dir, filepath.FromSlash(cfg.Dir))); err != nil {
		cleanup()
		return nil, nil, err
	}
	cache := b.cfg.CacheDir
	w.env = append(os.Environ(), "UV_CACHE_DIR="+filepath.Join(cache, "uv"), "POETRY_CACHE_DIR="+filepath.Join(cache, "poetry"),
		"PDM_CACHE_DIR="+filepath.Join(cache, "pdm"), "PIP_CACHE_DIR="+filepath.Join(cache, "pip"), "PDM_CHECK_UPDATE=false",
		"POETRY_VIRTUALENVS_CREATE=false", "UV_PYTHON_DOWNLOADS=never", "TMPDIR="+b.cfg.WorkDir)
	w.tools = &deps.Tools{Dir: b.cfg.ToolsDir, Env: w.env}
	w.index = &deps.Index{URL: deps.IndexURLFor(w.project, w.env), CacheDir: filepath.Join(cache, "index")}
	return w, cleanup, nil
}

func (w *work) update(ctx context.Context, only map[string]string) (*deps.Result, error) {
	return deps.Update(ctx, w.project, deps.Options{Config: w.cfg, Only: only, Index: w.index, Tools: w.tools, Env: w.env,
		Now: w.b.cfg.Now(), Run: w.b.cfg.Run})
}

// commitAndPush commits the lock on branch and pushes it, returning the commit.
func (w *work) commitAndPush(ctx context.Context, branch, group string, res *deps.Result) (string, error) {
	lock, _ := filepath.Rel(w.dir, filepath.Join(w.project.Dir, w.project.Lock))
	if _, err := w.git(ctx, "checkout", "-q", "-B", branch); err != nil {
		return "", err
	}
	if _, err := w.git(ctx, "add", "--", lock); err != nil {
		return "", err
	}
	if _, err := w.git(ctx, "commit", "-q", "-m", deps.CommitMessage(group, res)); err != nil {
		return "", err
	}
	sha, err := w.git(ctx, "rev-parse", "HEAD")
	if err != nil {
		return "", err
	}
	if _, err := w.git(ctx, "push", "-q", "--force", "origin", "HEAD:refs/heads/"+branch); err != nil {
		return "", err
	}
	_, err = w.git(ctx, "checkout", "-q", "-f", "--detach", w.base)
	return sha, err
}

// Start looks at a repository now: records its lock's status, and for each group with
// updates (and no update of that group still running) pushes a branch and starts its runs.
func (b *Bot) Start(ctx context.Context, repo *store.Repo) ([]store.DepUpdate, error) {
	status := store.DepStatus{RepoID: repo.ID, Checked: b.cfg.Now()}
	w, cleanup, err := b.open(ctx, repo)
	if err != nil {
		status.Error = err.Error()
		_ = b.cfg.DB.PutDepStatus(ctx, status)
		return nil, err
	}
	defer cleanup()
	locked, err := deps.ReadLock(w.project)
	if err != nil {
		status.Error = err.Error()
		_ = b.cfg.DB.PutDepStatus(ctx, status)
		return nil, err
	}
	status.LockFile, status.Packages = w.project.Lock, len(locked)
	oldest, at := deps.Oldest(ctx, w.index, locked)
	status.OldestName, status.OldestVersion, status.OldestUploaded = oldest.Name, oldest.Version, at
	all, err := w.update(ctx, nil)
	if err != nil {
		status.Error = err.Error()
		_ = b.cfg.DB.PutDepStatus(ctx, status)
		return nil, err
	}
	_ = b.cfg.DB.PutDepStatus(ctx, status)
	if _, err := w.git(ctx, "checkout", "-q", "-f", "--detach", w.base); err != nil {
		return nil, err
	}
	active, err := b.cfg.DB.ListDepUpdates(ctx, repo.ID, true, 1000)
	if err != nil {
		return nil, err
	}
	busy := map[string]bool{}
	for _, u := range active {
		busy[u.Group] = true
	}
	var started []store.DepUpdate
	for _, g := range all.Groups() {
		if busy[g] {
			continue
		}
		only := map[string]string{}
		for _, c := range all.Changes {
			if c.Group == g && c.New != "" {
				only[c.Name] = c.New
			}
		}
		if len(only) == 0 {
			continue
		}
		u, err := b.startGroup(ctx, repo, w, w.cfg, g, only)
		if err != nil {
			b.cfg.Log.Warn("deps: updating a group", "repo", repo.Name, "group", g, "err", err)
			continue
		}
		started = append(started, *u)
	}
	return started, nil
}

func (b *Bot) startGroup(ctx context.Context, repo *store.Repo, w *work, cfg *deps.Config, group string, only map[string]string) (*store.DepUpdate, error) {
	res, err := w.update(ctx, only)
	if err != nil {
		return nil, err
	}
	if len(res.Changes) == 0 {
		return nil, errors.New("nothing moved")
	}
	branch := BranchPrefix + group
	sha, err := w.commitAndPush(ctx, branch, group, res)
	if err != nil {
		return nil, err
	}
	changes, _ := json.Marshal(res)
	u := store.DepUpdate{RepoID: repo.ID, Group: group, Branch: branch, BaseSHA: w.base, HeadSHA: sha, Mode: cfg.Mode, State: store.DepRunning, Changes: changes}
	runs, err := b.trigger(ctx, repo, branch, sha)
	if err != nil {
		u.State, u.Detail = store.DepError, "starting the runs: "+err.Error()
	}
	u.Runs = runs
	return b.cfg.DB.CreateDepUpdate(ctx, u)
}

func (b *Bot) trigger(ctx context.Context, repo *store.Repo, branch, sha string) ([]int64, error) {
	ref := "refs/heads/" + branch
	runs, err := b.cfg.Trigger(ctx, repo, server.Trigger{Event: "push", Ref: ref, SHA: sha, Source: "deps", Actor: "sluice-deps",
		Payload: map[string]any{"ref": ref, "after": sha}})
	ids := []int64{}
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	return ids, err
}

// bisection is the state of a failing group's split, kept in DepUpdate.Bisect.
type bisection struct {
	Suspects []string `json:"suspects"`
	Trying   []string `json:"trying"`
	Runs     []int64  `json:"runs"`
	Steps    []string `json:"steps"`
}

// runsResult says whether runs are done and whether all of them succeeded.
func (b *Bot) runsResult(ctx context.Context, ids []int64) (done, ok bool, lines []string, err error) {
	done, ok = true, len(ids) > 0
	for _, id := range ids {
		r, err := b.cfg.DB.GetRun(ctx, id)
		if err != nil {
			return false, false, nil, err
		}
		if r.Status != store.StatusCompleted {
			done = false
			continue
		}
		good := r.Conclusion == store.ConclusionSuccess || r.Conclusion == store.ConclusionSkipped
		ok = ok && good
		lines = append(lines, fmt.Sprintf("- [%s #%d](%s/runs/%d): %s", firstNonEmpty(r.WorkflowName, r.Workflow), r.Number, strings.TrimSuffix(b.cfg.BaseURL, "/"), r.ID, r.Conclusion))
	}
	return done, ok, lines, nil
}

func (b *Bot) advance(ctx context.Context, u *store.DepUpdate) error {
	var res deps.Result
	_ = json.Unmarshal(u.Changes, &res)
	switch u.State {
	case store.DepRunning:
		if len(u.Runs) == 0 {
			// No workflow runs on the branch: nothing says the update is good or bad.
			u.Finding = "No workflow ran on the update's branch, so nothing was verified."
			return b.deliver(ctx, u, &res, false)
		}
		done, ok, _, err := b.runsResult(ctx, u.Runs)
		if err != nil || !done {
			return err
		}
		if ok {
			return b.deliver(ctx, u, &res, true)
		}
		var names []string
		for _, c := range res.Changes {
			if c.New != "" && c.Old != "" {
				names = append(names, c.Name)
			}
		}
		sort.Strings(names)
		if len(names) <= 1 {
			if len(names) == 1 {
				u.Finding = fmt.Sprintf("%s breaks the build: the group's only update fails.", describe(&res, names[0]))
			}
			return b.deliver(ctx, u, &res, false)
		}
		bs := bisection{Suspects: names}
		return b.nextTrial(ctx, u, &res, &bs)
	case store.DepBisecting:
		var bs bisection
		if err := json.Unmarshal(u.Bisect, &bs); err != nil {
			return err
		}
		done, ok, _, err := b.runsResult(ctx, bs.Runs)
		if err != nil || !done {
			return err
		}
		verdict := "fails"
		if ok {
			verdict = "passes"
			bs.Suspects = minus(bs.Suspects, bs.Trying)
		} else {
			bs.Suspects = bs.Trying
		}
		bs.Steps = append(bs.Steps, fmt.Sprintf("%s alone %s (runs %v)", strings.Join(bs.Trying, ", "), verdict, bs.Runs))
		switch len(bs.Suspects) {
		case 0:
			u.Finding = "Each part of the group passes on its own; only the whole group fails (packages that break only together). Steps: " + strings.Join(bs.Steps, "; ") + "."
			u.Bisect, _ = json.Marshal(bs)
			return b.deliver(ctx, u, &res, false)
		case 1:
			u.Finding = fmt.Sprintf("%s breaks the build (found by bisection: %s).", describe(&res, bs.Suspects[0]), strings.Join(bs.Steps, "; "))
			u.Bisect, _ = json.Marshal(bs)
			return b.deliver(ctx, u, &res, false)
		}
		return b.nextTrial(ctx, u, &res, &bs)
	}
	return nil
}

func describe(res *deps.Result, name string) string {
	for _, c := range res.Changes {
		if c.Name == name {
			return fmt.Sprintf("%s %s → %s", c.Name, c.Old, c.New)
		}
	}
	return name
}

func minus(a, b []string) []string {
	drop := map[string]bool{}
	for _, x := range b {
		drop[x] = true
	}
	var out []string
	for _, x := range a {
		if !drop[x] {
			out = append(out, x)
		}
	}
	return out
}

// nextTrial updates the first half of the suspects alone on a bisection branch and runs it.
func (b *Bot) nextTrial(ctx context.Context, u *store.DepUpdate, res *deps.Result, bs *bisection) error {
	repo, err := b.repo(ctx, u.RepoID)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		u.State, u.Detail = store.DepError, "bisecting: "+err.Error()
		_, serr := b.cfg.DB.SaveDepUpdate(ctx, *u)
		return errors.Join(err, serr)
	}
	bs.Trying = bs.Suspects[:len(bs.Suspects)/2]
	only := map[string]string{}
	for _, c := range res.Changes {
		for _, n := range bs.Trying {
			if c.Name == n {
				only[n] = c.New
			}
		}
	}
	w, cleanup, err := b.open(ctx, repo)
	if err != nil {
		return fail(err)
	}
	defer cleanup()
	part, err := w.update(ctx, only)
	if err != nil {
		return fail(err)
	}
	sha, err := w.commitAndPush(ctx, u.Branch+"-bisect", u.Group+" (bisect)", part)
	if err != nil {
		return fail(err)
	}
	if bs.Runs, err = b.trigger(ctx, repo, u.Branch+"-bisect", sha); err != nil {
		return fail(err)
	}
	u.State = store.DepBisecting
	u.Bisect, _ = json.Marshal(bs)
	_, err = b.cfg.DB.SaveDepUpdate(ctx, *u)
	return err
}

func (b *Bot) repo(ctx context.Context, id int64) (*store.Repo, error) {
	repos, err := b.cfg.DB.ListRepos(ctx)
	if err != nil {
		return nil, err
	}
	for i := range repos {
		if repos[i].ID == id {
			return &repos[i], nil
		}
	}
	return nil, fmt.Errorf("repository %d: %w", id, store.ErrNotFound)
}

// deliver ends an update as its mode says: a pull request (whatever the result, stating it),
// a merge of a green update, or nothing beyond the record.
func (b *Bot) deliver(ctx context.Context, u *store.DepUpdate, res *deps.Result, green bool) error {
	repo, err := b.repo(ctx, u.RepoID)
	if err != nil {
		return err
	}
	_, _, lines, _ := b.runsResult(ctx, u.Runs)
	u.State = store.DepFailed
	if green {
		u.State = store.DepPassed
	}
	switch {
	case u.Mode == deps.ModePullRequest:
		c, full, err := b.cfg.Forge(repo)
		if err == nil && c == nil {
			err = errors.New("the repository has no forge and status token: add them (sluice repo add --forge ... --status-token ...) or set mode: merge")
		}
		if err == nil {
			var pr *forge.OpenedPull
			branch := repo.DefaultBranch
			if branch == "" {
				branch = "main"
			}
			pr, err = c.OpenPullRequest(ctx, full, forge.PullRequest{Title: prTitle(u, res, green), Body: prBody(u, res, lines, green), Head: u.Branch, Base: branch})
			if err == nil {
				u.PRURL, u.State = pr.URL, store.DepPROpen
			}
		}
		if err != nil {
			u.State, u.Detail = store.DepError, "opening the pull request: "+err.Error()
		}
	case u.Mode == deps.ModeMerge && green:
		if err := b.merge(ctx, repo, u); err != nil {
			u.State, u.Detail = store.DepError, "merging: "+err.Error()
		} else {
			u.State = store.DepMerged
		}
	}
	_, err = b.cfg.DB.SaveDepUpdate(ctx, *u)
	return err
}

// merge pushes the update's commit to the default branch when that branch still stands where
// the update started (a fast-forward); otherwise the next scheduled update redoes it.
func (b *Bot) merge(ctx context.Context, repo *store.Repo, u *store.DepUpdate) error {
	if err := os.MkdirAll(b.cfg.WorkDir, 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(b.cfg.WorkDir, "merge-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	w := &work{b: b, dir: dir}
	branch := firstNonEmpty(repo.DefaultBranch, "main")
	if _, err := w.git(ctx, "init", "-q"); err != nil {
		return err
	}
	if _, err := w.git(ctx, "fetch", "-q", "--", b.cfg.CloneURL(repo), "refs/heads/"+branch+":refs/remotes/origin/"+branch, "refs/heads/"+u.Branch+":refs/remotes/origin/update"); err != nil {
		return err
	}
	tip, err := w.git(ctx, "rev-parse", "refs/remotes/origin/"+branch)
	if err != nil {
		return err
	}
	if tip != u.BaseSHA {
		return fmt.Errorf("%s moved from %.12s to %.12s since the update was made; the next scheduled update redoes it", branch, u.BaseSHA, tip)
	}
	_, err = w.git(ctx, "push", "-q", "--", b.cfg.CloneURL(repo), u.HeadSHA+":refs/heads/"+branch)
	return err
}

func prTitle(u *store.DepUpdate, res *deps.Result, green bool) string {
	t := fmt.Sprintf("build(deps): update %s (%d package", u.Group, len(res.Changes))
	if len(res.Changes) != 1 {
		t += "s"
	}
	t += ")"
	if !green {
		t += " — failing"
	}
	return t
}

func prBody(u *store.DepUpdate, res *deps.Result, runs []string, green bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "sluice updated the dependency group **%s** in `%s`.\n\n", u.Group, res.Lock)
	b.WriteString(res.Markdown(""))
	b.WriteString("\n### Runs\n\n")
	if len(runs) == 0 {
		b.WriteString("No workflow ran on this branch.\n")
	} else {
		b.WriteString(strings.Join(runs, "\n") + "\n")
	}
	if green {
		b.WriteString("\nEvery run succeeded.\n")
	} else {
		b.WriteString("\n**The update fails.**")
		if u.Finding != "" {
			b.WriteString(" " + u.Finding)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\n<sub>%s: %s</sub>\n", deps.TrailerUpdate, u.Group)
	return b.String()
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
