// Package localrun is `sluice run`: it reads the repository and the event,
// loads and validates the workflows, picks the ones the event triggers and
// hands them to the engine with terminal or plain output and saved logs.
package localrun

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/rhysd/actionlint"
	"github.com/sluice-ci/sluice/internal/actions"
	"github.com/sluice-ci/sluice/internal/artifacts"
	"github.com/sluice-ci/sluice/internal/engine"
	"github.com/sluice-ci/sluice/internal/event"
	"github.com/sluice-ci/sluice/internal/executor/container"
	"github.com/sluice-ci/sluice/internal/executor/host"
	"github.com/sluice-ci/sluice/internal/fslock"
	"github.com/sluice-ci/sluice/internal/gitrepo"
	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/logs"
	"github.com/sluice-ci/sluice/internal/plan"
	"github.com/sluice-ci/sluice/internal/python"
	"github.com/sluice-ci/sluice/internal/workflow"
	"golang.org/x/term"
)

// Exit codes of `sluice run`.
const (
	ExitOK          = 0
	ExitFailed      = 1
	ExitInvalid     = 2
	ExitInterrupted = 130
)

// Config is everything `sluice run` was asked.
type Config struct {
	Dir         string
	Event       string
	Workflows   string // file or directory; default .github/workflows
	Job         string
	EventPath   string
	Secrets     []string // NAME=VALUE
	SecretFile  string
	Vars        []string
	Inputs      []string
	Env         []string
	List        bool
	DryRun      bool
	Parallel    int
	WorkingTree bool
	Keep        bool
	Sandbox     bool
	// SandboxHelper says this program serves jobs' jails (it runs
	// host.HelperMain when given host.HelperArg): sandboxed steps then cost a
	// process inside the job's jail, not a jail each.
	SandboxHelper bool
	Verbose       bool
	NoEnvReuse    bool
	// Actions resolves actions and reusable workflows that are not built in; an empty CacheDir
	// means the state directory's actions/.
	Actions       actions.Resolver
	ContainerHost string   // Docker Engine API URL; "" = DOCKER_HOST or a found socket
	Platforms     []string // LABEL=IMAGE (act's -P); IMAGE "-self-hosted" keeps the host
	Version       string
	Stdout        io.Writer
	Stderr        io.Writer

	// FollowOutput streams a job's output lines above the live terminal
	// view: a job's name, "*" for every job ("" none). Plain output has
	// every line anyway.
	FollowOutput string
}

// UsageError is a problem with what the user asked; it exits 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usage(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// Run performs `sluice run` and returns the process exit code.
func Run(ctx context.Context, cfg Config) (int, error) {
	repo, head, err := gitrepo.OpenAt(ctx, cfg.Dir)
	if err != nil {
		return ExitInvalid, err
	}
	if cfg.Event == "" {
		cfg.Event = "push"
	}
	payload, err := readPayload(cfg.EventPath)
	if err != nil {
		return ExitInvalid, err
	}
	secrets, err := parseSecrets(cfg.Secrets, cfg.SecretFile)
	if err != nil {
		return ExitInvalid, err
	}
	vars, err := parsePairs("--var", cfg.Vars)
	if err != nil {
		return ExitInvalid, err
	}
	inputs, err := parsePairs("--input", cfg.Inputs)
	if err != nil {
		return ExitInvalid, err
	}
	extraEnv, err := parsePairs("--env", cfg.Env)
	if err != nil {
		return ExitInvalid, err
	}

	ident := repo.Identity(ctx)
	repository := ident.Repository
	ev := workflow.Event{Name: cfg.Event, Ref: head.Ref}
	ref := head.Ref
	// A push's payload lists its commits, which takes a git call: it runs while the workflows
	// are read and checked, and is waited for where the payload is first read (the paths
	// filters, else the run's description). Other events read their payload at once.
	type payloadResult struct {
		p   map[string]any
		err error
	}
	pushPayload := make(chan payloadResult, 1)
	if cfg.Event == "push" {
		go func(p map[string]any) {
			p, err := localPayload(ctx, repo, head, ident, cfg.Event, p, inputs)
			pushPayload <- payloadResult{p, err}
		}(payload)
		payload = nil
	} else if payload, err = localPayload(ctx, repo, head, ident, cfg.Event, payload, inputs); err != nil {
		return ExitInvalid, err
	}
	switch cfg.Event {
	case "pull_request", "pull_request_target":
		ev.BaseRef = repo.DefaultBranch(ctx, head.Ref)
		if pr, ok := payload["pull_request"].(map[string]any); ok {
			if b, ok := pr["base"].(map[string]any); ok {
				if s, ok := b["ref"].(string); ok && s != "" {
					ev.BaseRef = s
				}
			}
			if n, ok := pr["number"].(float64); ok {
				ref = fmt.Sprintf("refs/pull/%d/merge", int(n))
			}
		}
		if a, ok := payload["action"].(string); ok {
			ev.Action = a
		}
	case "workflow_run":
		ev.Workflow, ev.Ref = workflow.WorkflowRunFilter(payload)
		ev.Action, _ = payload["action"].(string)
	}
	// A pull request's base commit: its paths filters see the diff against it, and a
	// pull_request_target run works at it, with its workflow files.
	baseSHA, err := pullBase(ctx, repo, cfg.Event, ev.BaseRef, payload)
	if err != nil {
		return ExitInvalid, err
	}
	sha, wfRoot, checkoutSource := head.SHA, repo.Root, ""
	if cfg.Event == "pull_request_target" {
		// As on GitHub: the base branch's ref and commit, never the head's code unless a
		// step checks it out.
		sha, ref = baseSHA, "refs/heads/"+ev.BaseRef
	}
	if sha != head.SHA {
		tmp, err := os.MkdirTemp("", "sluice-base-")
		if err != nil {
			return ExitInvalid, fmt.Errorf("preparing to read the base's workflows: %w", err)
		}
		defer os.RemoveAll(tmp)
		has, err := repo.ExportDir(ctx, sha, ".github", tmp)
		if err != nil {
			return ExitInvalid, err
		}
		if !has && cfg.Workflows == "" {
			fmt.Fprintf(cfg.Stdout, "No workflow is triggered by the %s event on %s: its base %s has no .github/workflows.\n", cfg.Event, ref, sha[:12])
			return ExitOK, nil
		}
		wfRoot, checkoutSource = tmp, repo.Root
		if cfg.WorkingTree {
			fmt.Fprintf(cfg.Stderr, "sluice: note: --working-tree does not apply to %s: its checkouts are of the base commit %s\n", cfg.Event, sha[:12])
			cfg.WorkingTree = false
		}
	}

	wfPath := cfg.Workflows
	if wfPath == "" {
		wfPath = filepath.Join(wfRoot, ".github", "workflows")
	} else if !filepath.IsAbs(wfPath) {
		wfPath = filepath.Join(cfg.Dir, wfPath)
	}
	if _, err := os.Stat(wfPath); err != nil {
		if cfg.Workflows != "" {
			return ExitInvalid, usage("no workflows at %s: point -W at a workflow file or directory", wfPath)
		}
		if wfRoot != repo.Root {
			fmt.Fprintf(cfg.Stdout, "No workflow is triggered by the %s event on %s: its base %s has no .github/workflows.\n", cfg.Event, ref, sha[:12])
			return ExitOK, nil
		}
		inferred, err := inferWorkflow(repo.Root, cfg.Stdout)
		if err != nil {
			return ExitInvalid, err
		}
		wfPath = inferred
		defer os.RemoveAll(filepath.Dir(inferred))
	}
	wfs, invalid, err := workflow.LoadAll(ctx, wfRoot, wfPath)
	if err != nil {
		return ExitInvalid, err
	}
	for _, wf := range wfs {
		if len(wf.Warnings) > 0 {
			fmt.Fprintln(cfg.Stderr, wf.Warnings.Error())
		}
	}
	// Like GitHub, a file it would refuse fails on its own and the push's other workflows run.
	for _, inv := range invalid {
		fmt.Fprintln(cfg.Stderr, inv.Errors.Error())
	}
	if len(wfs) == 0 && len(invalid) > 0 {
		return ExitInvalid, fmt.Errorf("%s; nothing was run (see `sluice lint`)", describeInvalid(invalid))
	}

	awaitPayload := func() error {
		if cfg.Event != "push" || payload != nil {
			return nil
		}
		r := <-pushPayload
		payload = r.p
		return r.err
	}
	if needsChangedFiles(wfs) {
		if err := awaitPayload(); err != nil {
			return ExitInvalid, err
		}
		// A push's filters see what the push changes (before..HEAD, as in the payload).
		// A pull request's, everything it changes against its base (three-dot).
		var files []string
		if baseSHA != "" {
			files, err = repo.PullChangedFiles(ctx, baseSHA, head.SHA)
		} else {
			before := ""
			if cfg.Event == "push" {
				before, _ = payload["before"].(string)
			}
			files, err = repo.ChangedSince(ctx, before, head.SHA)
		}
		if err != nil {
			return ExitInvalid, err
		}
		ev.ChangedFiles = files
	}

	var run []*workflow.Workflow
	for _, wf := range wfs {
		ok, why := wf.Triggered(ev)
		if !ok {
			if cfg.Verbose {
				fmt.Fprintf(cfg.Stderr, "%s: not triggered: %s\n", wf.Path, why)
			}
			continue
		}
		if cfg.Job != "" && wf.Job(cfg.Job) == nil {
			continue
		}
		if cfg.Event == "workflow_dispatch" {
			if _, err := workflow.DispatchInputs(wf, inputs); err != nil {
				return ExitInvalid, usage("%s: %v", wf.Path, err)
			}
		}
		run = append(run, wf)
	}
	if cfg.Job != "" && len(run) == 0 {
		return ExitInvalid, usage("no workflow triggered by %q has a job %q", cfg.Event, cfg.Job)
	}
	// With -j the user asked for one job: invalid files elsewhere are reported, not failed on.
	failInvalid := len(invalid) > 0 && cfg.Job == ""
	if len(run) == 0 {
		if failInvalid {
			return ExitInvalid, fmt.Errorf("%s; nothing else is triggered by the %s event on %s", describeInvalid(invalid), cfg.Event, head.Ref)
		}
		fmt.Fprintf(cfg.Stdout, "No workflow is triggered by the %s event on %s.\n", cfg.Event, head.Ref)
		return ExitOK, nil
	}
	state, err := StateDir()
	if err != nil {
		return ExitInvalid, err
	}
	platforms := map[string]string{}
	for _, p := range cfg.Platforms {
		label, image, ok := strings.Cut(p, "=")
		if !ok || label == "" || image == "" {
			return ExitInvalid, usage("-P %q: expected LABEL=IMAGE (or LABEL=-self-hosted)", p)
		}
		platforms[strings.ToLower(label)] = image
	}
	resolver := cfg.Actions
	if resolver.CacheDir == "" {
		resolver.CacheDir = filepath.Join(state, "actions")
	}
	resolver.Note = func(msg string) { fmt.Fprintln(cfg.Stderr, "sluice: note:", msg) }
	resolver = resolver.Session()
	if cfg.List {
		return ExitOK, writeList(cfg.Stdout, run, cfg.Event, cfg.Job)
	}
	runInfo := jobspec.Run{Attempt: 1, Repository: repository, Actor: ident.Actor, SHA: sha, Ref: ref, Event: cfg.Event,
		Vars: vars, Inputs: inputs}
	if cfg.DryRun {
		if err := awaitPayload(); err != nil {
			return ExitInvalid, err
		}
		runInfo.Payload = payload
		return ExitOK, writeDryRun(ctx, cfg.Stdout, run, engine.Options{RepoRoot: wfRoot, CloneSource: checkoutSource, Run: runInfo, JobFilter: cfg.Job, Platforms: platforms})
	}
	// Every action and called workflow is resolved (fetched into the cache) before anything
	// runs, with the check `sluice lint` makes. As on GitHub, one that cannot be had fails the
	// jobs that use it (before their first step); the others run.
	var unresolved workflow.Errors
	for _, wf := range run {
		errs, err := workflow.CheckUses(ctx, wf, resolver)
		if err != nil {
			return ExitInvalid, err
		}
		unresolved = append(unresolved, errs...)
	}
	if len(unresolved) > 0 {
		fmt.Fprintln(cfg.Stderr, unresolved.Error())
		fmt.Fprintf(cfg.Stderr, "sluice: %d action(s) or called workflow(s) cannot be resolved: the jobs using them will fail\n", len(unresolved))
	}
	var policy *host.Policy
	if cfg.Sandbox {
		if policy, err = host.NewPolicy(ctx, StateDeny(state)); err != nil {
			return ExitInvalid, usage("--sandbox: %v", err)
		}
		if exe, err := os.Executable(); err == nil && cfg.SandboxHelper {
			policy = policy.WithHelper(exe)
		}
	}

	if err := awaitPayload(); err != nil {
		return ExitInvalid, err
	}
	runInfo.Payload = payload
	runID, runNumber, logDir, err := newRunDir(state)
	if err != nil {
		return ExitInvalid, err
	}
	files, err := logs.NewFileSink(logDir)
	if err != nil {
		return ExitInvalid, err
	}
	console := consoleSink(cfg.Stdout, cfg.Verbose, cfg.FollowOutput)
	masker := logs.NewMasker()
	eng := engine.New(engine.Options{
		// For a pull_request_target run at another commit than HEAD, RepoRoot holds that
		// commit's .github (its called workflows) and checkouts come from the repository.
		RepoRoot:     wfRoot,
		CloneSource:  checkoutSource,
		Run:          withRunID(runInfo, runID, runNumber),
		RepoIdentity: RepoIdentity(ident, repo.Root),
		// Asked only by a job that uses a cache and only when the event
		// does not say: it costs a git call or two.
		DefaultBranch: sync.OnceValue(func() string { return repo.DefaultBranch(ctx, head.Ref) }),
		Secrets:       secrets,
		Env:           extraEnv,
		JobFilter:     cfg.Job,
		Parallel:      cfg.Parallel,
		WorkRoot:      filepath.Join(os.TempDir(), "sluice-work"),
		// The prompt comes back while the disk removes the ended jobs' directories.
		DetachRemovals: true,
		ToolCache:      filepath.Join(state, "toolcache"),
		StateDir:       state,
		Keep:           cfg.Keep,
		Sandbox:        policy,
		WorkingTree:    cfg.WorkingTree,
		Verbose:        cfg.Verbose,
		LogDir:         logDir,
		BaseEnv:        WithCaches(BaseEnv(os.Environ()), state),
		EnvReuse:       !cfg.NoEnvReuse,
		Version:        cfg.Version,
		Actions:        resolver,
		Platforms:      platforms,
		Containers: func(ctx context.Context) (*container.Engine, error) {
			return container.Connect(ctx, cfg.ContainerHost)
		},
		Sink:   logs.Multi(files, console),
		Masker: masker,
	})

	hardCtx, hardCancel := context.WithCancel(ctx)
	defer hardCancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	interrupted := make(chan struct{})
	go func() {
		select {
		case <-sigs:
		case <-hardCtx.Done():
			return
		}
		close(interrupted)
		fmt.Fprintln(cfg.Stderr, "sluice: cancelling the run (press Ctrl-C again to kill it now)")
		eng.Cancel()
		select {
		case <-sigs:
			hardCancel()
		case <-hardCtx.Done():
		}
	}()
	sum := eng.Run(hardCtx, run)
	if err := files.Close(); err != nil {
		fmt.Fprintf(cfg.Stderr, "sluice: saving logs: %v\n", err)
	}
	if cfg.Keep {
		fmt.Fprintf(cfg.Stdout, "Workspaces kept under %s\n", filepath.Join(os.TempDir(), "sluice-work"))
	}
	listArtifacts(cfg.Stdout, state, runID)
	select {
	case <-interrupted:
		return ExitInterrupted, nil
	default:
	}
	if failInvalid {
		fmt.Fprintf(cfg.Stdout, "Failed: %s, which did not run (printed above; see `sluice lint`)\n", describeInvalid(invalid))
		return ExitFailed, nil
	}
	if sum.Result != logs.Success {
		return ExitFailed, nil
	}
	return ExitOK, nil
}

// describeInvalid names the workflow files GitHub would refuse.
func describeInvalid(invalid []workflow.Invalid) string {
	names := make([]string, len(invalid))
	n := 0
	for i, inv := range invalid {
		names[i] = inv.Path
		n += len(inv.Errors)
	}
	return fmt.Sprintf("%d problem(s) in invalid workflow file(s) %s", n, strings.Join(names, ", "))
}

// consoleSink is the live view on a terminal, plain lines otherwise. What a
// job prints reaches a terminal without its control sequences (colours
// kept): a job must not drive the user's terminal.
func consoleSink(w io.Writer, verbose bool, follow string) logs.Sink {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if os.Getenv("TERM") == "dumb" {
			return logs.TerminalSafe(logs.NewPlain(w, verbose))
		}
		width := func() int {
			if cols, _, err := term.GetSize(int(f.Fd())); err == nil {
				return cols
			}
			return 80
		}
		height := func() int {
			if _, rows, err := term.GetSize(int(f.Fd())); err == nil {
				return rows
			}
			return 0
		}
		return logs.TerminalSafe(logs.NewTTYWith(w, logs.TTYConfig{Width: width, Height: height, Verbose: verbose, Follow: follow}))
	}
	return logs.NewPlain(w, verbose)
}

// RepoIdentity keeps a repository's kept environments and caches apart
// from every other's: its origin remote's URL, else its absolute path (two
// repositories in directories of the same name are not the same).
func RepoIdentity(id gitrepo.Identity, root string) string {
	if id.OriginURL != "" {
		return "url:" + id.OriginURL
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		abs = root
	}
	return "path:" + abs
}

// StateDir is where sluice keeps run logs and caches: $SLUICE_STATE_DIR,
// else $XDG_STATE_HOME/sluice, else ~/.local/state/sluice.
func StateDir() (string, error) {
	if d := os.Getenv("SLUICE_STATE_DIR"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "sluice"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the state directory (set SLUICE_STATE_DIR): %w", err)
	}
	return filepath.Join(home, ".local", "state", "sluice"), nil
}

func newRunDir(state string) (id string, number int, dir string, err error) {
	runs := filepath.Join(state, "runs")
	if err := os.MkdirAll(runs, 0o700); err != nil {
		return "", 0, "", fmt.Errorf("creating %s: %w", runs, err)
	}
	number, err = nextRunNumber(filepath.Join(runs, ".number"))
	if err != nil {
		return "", 0, "", err
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	id = time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
	dir = filepath.Join(runs, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", 0, "", fmt.Errorf("creating %s: %w", dir, err)
	}
	return id, number, dir, nil
}

// nextRunNumber counts runs in a small file under a lock, so that
// github.run_number grows by one per run, also for runs started at once.
func nextRunNumber(path string) (int, error) {
	unlock, err := fslock.Lock(path + ".lock")
	if err != nil {
		return 0, fmt.Errorf("numbering the run: %w", err)
	}
	defer unlock()
	n := 0
	if b, err := os.ReadFile(path); err == nil {
		n, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	n++
	if err := os.WriteFile(path, []byte(strconv.Itoa(n)+"\n"), 0o600); err != nil {
		return 0, fmt.Errorf("numbering the run: %w", err)
	}
	return n, nil
}

// inferWorkflow writes the zero-config pipeline of a Python repository
// without workflows to a temporary file, saying what it inferred.
func inferWorkflow(root string, w io.Writer) (string, error) {
	plan, err := python.Infer(root)
	if err != nil {
		return "", usage("no workflows in %s/.github/workflows, and no pipeline could be inferred (%v): add a workflow", root, err)
	}
	fmt.Fprintln(w, "No .github/workflows here: running the pipeline inferred for this Python project (`sluice init` writes it as .github/workflows/ci.yml):")
	for _, n := range plan.Notes {
		fmt.Fprintln(w, "  "+n)
	}
	dir, err := os.MkdirTemp("", "sluice-inferred-")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "ci.yml")
	if err := os.WriteFile(p, []byte(plan.Workflow(python.PythonVersionFor(root))), 0o644); err != nil {
		return "", fmt.Errorf("writing the inferred workflow: %w", err)
	}
	return p, nil
}

// StateDeny are the parts of a state directory (sluice run's, or an
// agent's) a job's sandbox must never reach: other runs' logs and
// artifacts, the shared caches, a server's data, an agent's state and
// credential. Kept environments, tools, fetched actions and the job's own
// repository mirror are mounted one by one where a job needs them.
func StateDeny(state string) []string {
	var out []string
	for _, d := range []string{"runs", "artifacts", "cache", "server", "agent", "credentials"} {
		out = append(out, filepath.Join(state, d))
	}
	return out
}

// WithCaches points pip and uv at caches in sluice's state directory, shared
// by every run and job, so a warm install downloads nothing. A cache the
// caller configured is kept.
func WithCaches(env map[string]string, state string) map[string]string {
	for k, dir := range map[string]string{"PIP_CACHE_DIR": "pip", "UV_CACHE_DIR": "uv"} {
		if _, ok := env[k]; !ok {
			env[k] = filepath.Join(state, "cache", dir)
		}
	}
	return env
}

func listArtifacts(w io.Writer, state, runID string) {
	store, err := artifacts.Open(actions.ArtifactDir(state))
	if err != nil {
		return
	}
	list, err := store.List(runID)
	if err != nil || len(list) == 0 {
		return
	}
	fmt.Fprintln(w, "Artifacts:")
	for _, a := range list {
		fmt.Fprintf(w, "  %d  %s  %d files, %d bytes  %s\n", a.ID, a.Name, a.Files, a.Size, a.Digest)
	}
}

// allowedEnv are the caller's variables a job inherits; everything else
// starts clean so that a laptop's environment does not leak into the run.
func allowedEnv(name string) bool {
	switch name {
	case "PATH", "HOME", "LANG", "LANGUAGE", "TZ", "USER", "LOGNAME", "SHELL", "TERM", "TMPDIR",
		"PYENV_ROOT", "GOPATH", "GOROOT", "GOCACHE", "GOMODCACHE", "SSL_CERT_FILE", "SSL_CERT_DIR",
		"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
		// Where setup-python fetches interpreters the machine lacks (uv's mirrors), or not at all.
		"UV_PYTHON_INSTALL_MIRROR", "UV_PYPY_INSTALL_MIRROR", "UV_PYTHON_DOWNLOADS_JSON_URL", "SLUICE_PYTHON_DOWNLOADS":
		return true
	}
	return strings.HasPrefix(name, "LC_")
}

// BaseEnv filters the caller's environment to the allow-list.
func BaseEnv(environ []string) map[string]string {
	m := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && allowedEnv(k) {
			m[k] = v
		}
	}
	if _, ok := m["PATH"]; !ok {
		m["PATH"] = "/usr/local/bin:/usr/bin:/bin"
	}
	return m
}

func readPayload(path string) (map[string]any, error) {
	if path == "" {
		return map[string]any{}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usage("reading the event payload: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, usage("%s: the event payload must be a JSON object: %v", path, err)
	}
	return m, nil
}

// localPayload completes the event payload (from -e, or empty) with what GitHub would send for
// this repository and HEAD: the repository with its default branch and URLs, the sender, and
// for a push the commits a `git push` of HEAD would bring; for a pull request, one from HEAD's
// branch into the default branch.
func localPayload(ctx context.Context, repo *gitrepo.Repo, head gitrepo.Head, ident gitrepo.Identity, name string, p map[string]any, inputs map[string]string) (map[string]any, error) {
	origin := ident.OriginURL
	if origin == "" {
		origin = repo.Root
	}
	f := event.Facts{Event: name, Ref: head.Ref, After: head.SHA, Sender: ident.Actor,
		Repo: event.RepositoryFromURL(origin, ident.Repository, repo.DefaultBranch(ctx, head.Ref))}
	switch name {
	case "push":
		if _, given := p["commits"]; !given {
			before, commits, err := repo.PushOf(ctx, head, maxPushCommits)
			if err != nil {
				return nil, err
			}
			f.Before, f.Commits = before, commits
		}
	case "workflow_dispatch":
		if _, ok := p["ref"]; !ok {
			p["ref"] = head.Ref
		}
		if _, ok := p["inputs"]; !ok {
			in := map[string]any{}
			for k, v := range inputs {
				in[k] = v
			}
			p["inputs"] = in
		}
	case "pull_request", "pull_request_target":
		base := f.Repo.DefaultBranch
		if pr, ok := p["pull_request"].(map[string]any); ok {
			if b, ok := pr["base"].(map[string]any); ok {
				if s, ok := b["ref"].(string); ok && s != "" {
					base = s
				}
			}
		}
		number := 1
		if n, ok := p["number"].(float64); ok && n > 0 {
			number = int(n)
		}
		headRef := strings.TrimPrefix(head.Ref, "refs/heads/")
		_, commits, err := repo.PushOf(ctx, head, 1)
		if err != nil {
			return nil, err
		}
		pr := &event.PullRequest{Number: number, HeadRef: headRef, HeadSHA: head.SHA, BaseRef: base,
			BaseSHA: repo.Resolve(ctx, "refs/heads/"+base)}
		if len(commits) > 0 {
			pr.Title, pr.Body, _ = strings.Cut(commits[len(commits)-1].Message, "\n")
			pr.Body = strings.TrimSpace(pr.Body)
		}
		f.PR = pr
	}
	return event.Fill(p, f), nil
}

// pullBase is a pull request event's base commit: pull_request.base.sha of the payload (from
// -e, else the tip of the base branch, as localPayload fills it in), checked to be a commit of
// the repository. It is "" for other events, and for a pull_request whose base branch is not
// here (its paths filters then see HEAD's own files); a pull_request_target run needs it, since
// it runs the base's workflows and never HEAD's.
func pullBase(ctx context.Context, repo *gitrepo.Repo, event, baseRef string, payload map[string]any) (string, error) {
	if event != "pull_request" && event != "pull_request_target" {
		return "", nil
	}
	given := ""
	if pr, ok := payload["pull_request"].(map[string]any); ok {
		if b, ok := pr["base"].(map[string]any); ok {
			given, _ = b["sha"].(string)
		}
	}
	if given == "" {
		if event == "pull_request" {
			return "", nil
		}
		return "", usage("pull_request_target runs the workflows of the pull request's base branch %q, which is not in this repository: create it, or give its commit as pull_request.base.sha in the -e event file", baseRef)
	}
	// rev-parse reads it after --end-of-options: a value such as "--output=x" is no option.
	sha := repo.Resolve(ctx, given)
	if sha == "" || strings.HasPrefix(given, "-") {
		if event == "pull_request" {
			return "", nil // only its paths filters need it
		}
		return "", usage("pull_request.base.sha %q of the event is not a commit of this repository: fetch it, or leave it out to use the tip of %s", given, baseRef)
	}
	return sha, nil
}

// maxPushCommits is how many commits a push payload lists at most (GitHub lists up to 2048;
// sluice keeps the newest 20, which is what actions look at).
const maxPushCommits = 20

func needsChangedFiles(wfs []*workflow.Workflow) bool {
	for _, wf := range wfs {
		for _, ev := range wf.AST.On {
			if w, ok := ev.(*actionlint.WebhookEvent); ok && (w.Paths != nil || w.PathsIgnore != nil) {
				return true
			}
		}
	}
	return false
}

func parsePairs(flag string, kvs []string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usage("%s %q: expected NAME=VALUE", flag, kv)
		}
		m[k] = v
	}
	return m, nil
}

func parseSecrets(kvs []string, file string) (map[string]string, error) {
	m := map[string]string{}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, usage("reading --secret-file: %v", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		n := 0
		for sc.Scan() {
			n++
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			line = strings.TrimPrefix(line, "export ")
			k, v, ok := strings.Cut(line, "=")
			if !ok || strings.TrimSpace(k) == "" {
				return nil, usage("%s:%d: expected NAME=VALUE", file, n)
			}
			v = strings.TrimSpace(v)
			if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
				// Only double quotes expand \n, as in dotenv files.
				double := v[0] == '"'
				v = v[1 : len(v)-1]
				if double {
					v = strings.ReplaceAll(v, `\n`, "\n")
				}
			}
			m[strings.TrimSpace(k)] = v
		}
		if err := sc.Err(); err != nil {
			return nil, usage("reading --secret-file: %v", err)
		}
	}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usage("-s %q: expected NAME=VALUE", kv)
		}
		m[k] = v
	}
	return m, nil
}

// stages assigns each job the length of its longest needs chain.
func stages(wf *workflow.Workflow) map[string]int {
	st := map[string]int{}
	var depth func(id string, seen map[string]bool) int
	depth = func(id string, seen map[string]bool) int {
		key := strings.ToLower(id)
		if d, ok := st[key]; ok {
			return d
		}
		if seen[key] {
			return 0
		}
		seen[key] = true
		j := wf.Job(id)
		d := 0
		if j != nil {
			for _, n := range j.Needs {
				if nd := depth(n.Value, seen) + 1; nd > d {
					d = nd
				}
			}
		}
		st[key] = d
		return d
	}
	for _, id := range wf.JobIDs() {
		depth(id, map[string]bool{})
	}
	return st
}

// selectedJobs are the top-level jobs of wf that a run with -j filter plans, in file
// order: the plan decides, as it does for the run itself.
func selectedJobs(wf *workflow.Workflow, filter string) []string {
	p, err := plan.New(plan.Input{Run: jobspec.Run{Event: "push"}, Workflow: wf, Only: filter})
	if err != nil {
		return nil
	}
	var out []string
	for _, r := range p.Rows() {
		out = append(out, r.JobID)
	}
	return out
}

func writeList(w io.Writer, wfs []*workflow.Workflow, event, filter string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STAGE\tJOB\tNAME\tNEEDS\tWORKFLOW\tFILE\tEVENTS")
	type row struct {
		stage int
		cols  string
	}
	var rows []row
	for _, wf := range wfs {
		st := stages(wf)
		var events []string
		for _, e := range wf.AST.On {
			events = append(events, e.EventName())
		}
		for _, id := range selectedJobs(wf, filter) {
			j := wf.Job(id)
			name := id
			if j.Name != nil {
				name = j.Name.Value
			}
			var needs []string
			for _, n := range j.Needs {
				needs = append(needs, n.Value)
			}
			nd := strings.Join(needs, ",")
			if nd == "" {
				nd = "-"
			}
			rows = append(rows, row{st[strings.ToLower(id)], fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s\t%s", st[strings.ToLower(id)], id, name, nd, wf.Name(), wf.Path, strings.Join(events, ","))})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].stage < rows[j].stage })
	for _, r := range rows {
		fmt.Fprintln(tw, r.cols)
	}
	return tw.Flush()
}

// writeDryRun prints what the plan decides when every job that runs succeeds: the jobs
// (legs, called workflows' jobs) that would run with their steps, and those skipped with
// why (a Windows or macOS runner). Nothing runs.
func writeDryRun(ctx context.Context, w io.Writer, wfs []*workflow.Workflow, opts engine.Options) error {
	for _, wf := range wfs {
		p, err := engine.Plan(ctx, opts, wf)
		if err != nil {
			return err
		}
		rows := p.Rows()
		for range 10000 {
			var n int
			rows, _ = p.Advance(rows, false)
			for i := range rows {
				if rows[i].State == plan.Active {
					rows[i].State, rows[i].Result = plan.Done, jobspec.Success
					n++
				}
			}
			if n == 0 {
				break
			}
		}
		parents := map[string]bool{}
		for _, r := range rows {
			parents[r.Parent] = true
		}
		for _, r := range rows {
			switch {
			case parents[r.Key]:
			case r.Spec != nil && r.Result == jobspec.Success:
				fmt.Fprintf(w, "[%s] job planned\n", r.Key)
				if cw := p.Workflow(r.Spec.WorkflowPath); cw != nil {
					for _, st := range cw.Job(r.Spec.JobID).Steps {
						fmt.Fprintf(w, "[%s] step planned: %s\n", r.Key, plannedStepName(st))
					}
				}
			case r.Reason != "":
				fmt.Fprintf(w, "[%s] job %s - %s\n", r.Key, r.Result, r.Reason)
			default:
				fmt.Fprintf(w, "[%s] job %s\n", r.Key, r.Result)
			}
		}
	}
	return nil
}

// withRunID is run with the run's ID and number.
func withRunID(run jobspec.Run, id string, number int) jobspec.Run {
	run.ID, run.Number = id, int64(number)
	return run
}

func plannedStepName(st *actionlint.Step) string {
	if st.Name != nil && st.Name.Value != "" {
		return st.Name.Value
	}
	switch x := st.Exec.(type) {
	case *actionlint.ExecRun:
		line, _, _ := strings.Cut(strings.TrimSpace(x.Run.Value), "\n")
		return "Run " + strings.TrimSpace(line)
	case *actionlint.ExecAction:
		return "Run " + x.Uses.Value
	}
	return "step"
}
