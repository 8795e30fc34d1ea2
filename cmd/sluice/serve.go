package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluice-ci/sluice/internal/actions"
	"github.com/sluice-ci/sluice/internal/agent"
	"github.com/sluice-ci/sluice/internal/artifacts"
	"github.com/sluice-ci/sluice/internal/blob"
	"github.com/sluice-ci/sluice/internal/cache"
	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/creds"
	"github.com/sluice-ci/sluice/internal/duty"
	"github.com/sluice-ci/sluice/internal/executor/container"
	"github.com/sluice-ci/sluice/internal/executor/host"
	"github.com/sluice-ci/sluice/internal/jobrunner"
	"github.com/sluice-ci/sluice/internal/localrun"
	"github.com/sluice-ci/sluice/internal/notify"
	"github.com/sluice-ci/sluice/internal/scheduler"
	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/serverconfig"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/spf13/cobra"
)

func serveCmd() *cobra.Command {
	var configPath string
	var check bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the CI server: API, webhooks, queue, web UI and an embedded agent",
		Long: `Start the server. On embedded defaults it keeps SQLite and local blobs under --data (0700, the
database 0600) and runs an embedded agent with --agents jobs at once, in a sandbox (--sandbox). The
first start creates an admin token and prints it once, or takes one from --admin-token-file or
SLUICE_ADMIN_TOKEN; the UI's admin password comes from --admin-password-file ("-" prompts) or
SLUICE_ADMIN_PASSWORD. Credentials found in the environment (those two, SLUICE_SECRET_KEY and the
S3 keys) are taken and dropped from it (the server re-executes itself without them), so no job and
no process listing can read them. Point a forge's webhook at /hooks/github, /hooks/gitea or
/hooks/gitlab; more machines join with 'sluice agent'.

Every setting comes from the TOML file --config names, an environment variable or a flag; a flag
beats the environment, which beats the file. Secrets are read from files. With --db on Postgres,
--blob on S3 and a shared --secret-key-file, any number of replicas serve the same CI.

` + "Settings:\n" + settingsHelp(),
		Example: `  sluice serve
  sluice serve --config /etc/sluice/sluice.toml
  sluice serve --config sluice.toml --check-config
  sluice serve --db postgres://sluice@db/sluice --blob 's3://ci?endpoint=s3:9000&access_key_file=/run/ak&secret_key_file=/run/sk'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// First: credentials in the environment are taken and the process
			// re-executes itself without them (a check starts nothing).
			given := map[string]string{}
			if !check {
				var err error
				if given, err = creds.TakeFromEnv(envCredentials...); err != nil {
					return err
				}
			}
			flags := map[string]string{}
			for _, s := range serverconfig.Settings() {
				f := cmd.Flags().Lookup(s.Flag)
				switch {
				case f == nil || !f.Changed:
				case f.Value.Type() == "stringArray":
					// A list setting given as a repeated flag: every value counts.
					vs, _ := cmd.Flags().GetStringArray(s.Flag)
					flags[s.Flag] = strings.Join(vs, string(os.PathListSeparator))
				default:
					flags[s.Flag] = f.Value.String()
				}
			}
			if configPath == "" {
				configPath = os.Getenv("SLUICE_CONFIG")
			}
			cfg, err := serverconfig.Load(configPath, os.Getenv, flags)
			if err == nil {
				var warnings []string
				warnings, err = cfg.Check()
				for _, w := range warnings {
					fmt.Fprintln(cmd.ErrOrStderr(), "sluice serve: warning:", w)
				}
			}
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "sluice serve: invalid configuration:\n%s\n", indent(err.Error()))
				return &exitError{code: localrun.ExitInvalid}
			}
			if check {
				printConfig(cmd.OutOrStdout(), cfg)
				return nil
			}
			return serve(cmd.Context(), cfg, given)
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "TOML file of settings ($SLUICE_CONFIG)")
	cmd.Flags().BoolVar(&check, "check-config", false, "check the settings, print them with where each came from, and exit")
	for _, s := range serverconfig.Settings() {
		if s.Key == "sandbox_readonly" {
			// Repeatable, as on `sluice agent`: a second flag must not drop the first.
			cmd.Flags().StringArray(s.Flag, nil, s.Help+"; repeatable ($"+s.Env+")")
			continue
		}
		cmd.Flags().String(s.Flag, s.Default, s.Help+" ($"+s.Env+")")
	}
	return cmd
}

func settingsHelp() string {
	var b strings.Builder
	for _, s := range serverconfig.Settings() {
		fmt.Fprintf(&b, "  %-18s $%-24s --%s\n", s.Key, s.Env, s.Flag)
	}
	return b.String()
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

// printConfig shows the effective settings and where each came from; secrets are files, so
// nothing secret is printed.
func printConfig(w io.Writer, c *serverconfig.Config) {
	for _, s := range serverconfig.Settings() {
		v := c.Value(s.Key)
		if v == "" {
			v = "(unset)"
		}
		if s.Key == "db" {
			v = redactURL(v)
		}
		fmt.Fprintf(w, "%-18s %-40s %s\n", s.Key, v, c.Sources[s.Key])
	}
	fmt.Fprintln(w, "configuration OK")
}

func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

// serverCacheBytes bounds the server's cache store, shared by every
// repository; least recently used entries go first.
const serverCacheBytes = 10 << 30

// envCredentials are the environment variables holding credentials the server takes and drops
// from its environment at start.
var envCredentials = []string{server.AdminTokenEnv, server.AdminPasswordEnv, secrets.KeyEnv, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}

func serve(ctx context.Context, cfg *serverconfig.Config, given map[string]string) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if cfg.Replica != "" {
		log = log.With("replica", cfg.Replica)
	}
	state, err := localrun.StateDir()
	if err != nil {
		return err
	}
	if cfg.Data == "" {
		cfg.Data = filepath.Join(state, "server")
	}
	dsn, err := cfg.DSN()
	if err != nil {
		return err
	}
	// The default database lives in the data directory and is made the server's alone; one
	// elsewhere is where its owner put it.
	sqlite := ""
	if dsn == "" {
		dsn = filepath.Join(cfg.Data, "sluice.db")
		sqlite = dsn
	}
	if err := secureDataDir(cfg.Data, sqlite); err != nil {
		return err
	}
	getenv, err := secretEnv(cfg, given)
	if err != nil {
		return err
	}
	keys, err := secrets.LoadKey(cfg.Data, getenv)
	if err != nil {
		return err
	}
	if cfg.Blob == "" {
		cfg.Blob = filepath.Join(cfg.Data, "blobs")
	}
	blobs, err := blob.Open(ctx, cfg.Blob, getenv)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, dsn, store.WithBlobs(blobs))
	if err != nil {
		return err
	}
	defer db.Close()
	// On Postgres, replicas share artifacts (and so releases) and caches through the blob
	// store, their indexes updated under locks of the database; one SQLite server keeps them
	// in its data directory.
	shared := db.Dialect() == "postgres"
	var arts *artifacts.Store
	var caches *cache.Store
	if shared {
		lock := func(name string) func(ctx context.Context) (func(), error) {
			return func(ctx context.Context) (func(), error) { return db.Lock(ctx, name) }
		}
		if arts, err = artifacts.OpenShared(filepath.Join(cfg.Data, "artifacts"), blobs, lock("artifact-index")); err != nil {
			return err
		}
		if caches, err = cache.OpenShared(filepath.Join(cfg.Data, "cache"), serverCacheBytes, blobs, lock("cache-index")); err != nil {
			return err
		}
	} else {
		if arts, err = artifacts.Open(filepath.Join(cfg.Data, "artifacts")); err != nil {
			return err
		}
		if caches, err = cache.Open(filepath.Join(cfg.Data, "cache"), serverCacheBytes); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "http://" + ln.Addr().String()
	}
	if err := server.Bootstrap(ctx, db, cfg.Data, getenv, os.Stdout); err != nil {
		return err
	}
	agentState := filepath.Join(state, "agent")
	policy, note, err := host.PolicyFor(ctx, cfg.Sandbox, sandboxDeny(cfg, agentState), cfg.SandboxReadOnly)
	if err != nil {
		return err
	}
	logStartup(ctx, log, cfg, db, policy != nil)
	var srv *server.Server
	sched := scheduler.New(scheduler.Config{
		DB: db, DataDir: cfg.Data, GitURL: cfg.BaseURL + "/git/%d.git", Log: log, Artifacts: arts, BuilderID: cfg.BaseURL,
		// Other repositories' reusable workflows are planned with the run, fetched and cached
		// by commit like the agents' actions.
		Workflows: actions.Resolver{Store: cfg.ActionStore, Mirror: cfg.ActionMirror, BaseURL: cfg.GitHubURL, CacheDir: filepath.Join(cfg.Data, "actions")},
		CloneURL:  func(r *store.Repo) string { return server.CloneURL(keys, r) },
		Status: func(ctx context.Context, run *store.Run) {
			if err := srv.ReportStatus(ctx, run); err != nil {
				log.Warn("reporting a commit status", "run", run.ID, "err", err)
			}
		},
		Deployment: func(ctx context.Context, repo *store.Repo, p *cd.Promotion) {
			if err := srv.ReportDeployment(ctx, repo, p); err != nil {
				log.Warn("reporting a deployment", "promotion", p.ID, "err", err)
			}
		},
	})
	var resultBlobs blob.Store
	if shared {
		resultBlobs = blobs
	}
	bot := newDepsBot(db, sched, &srv, keys, cfg, state, policy, log)
	notifier := notify.New(notify.Config{Store: db, Keys: keys, BaseURL: cfg.BaseURL, Log: log,
		Sender: notify.Sender{HTTP: &http.Client{Timeout: 30 * time.Second}}})
	srv, err = server.New(server.Config{DB: db, Keys: keys, Scheduler: sched, Deployer: sched, Artifacts: arts, Cache: caches,
		DataDir: cfg.Data, Blobs: resultBlobs, BaseURL: cfg.BaseURL, Deps: bot, Notifier: notifier, Log: log})
	if err != nil {
		return err
	}
	// A restart after a crash: jobs whose agents died are recorded lost and
	// retried, runs move on, webhooks acknowledged but not planned are.
	rec, err := db.RecoverAfterCrash(ctx, time.Now())
	if err != nil {
		return fmt.Errorf("recovering: %w", err)
	}
	for _, j := range rec.Lost {
		_ = sched.JobFinished(ctx, j.ID)
	}
	if err := sched.Resume(ctx); err != nil {
		log.Warn("resuming runs", "err", err)
	}
	if err := srv.ReplayDeliveries(ctx); err != nil {
		log.Warn("replaying webhook deliveries", "err", err)
	}
	// Background work runs once across every replica on this database, each duty under a
	// lease; the scheduler's own goroutines stop with ctx too. Both are waited for at exit.
	duties := []duty.Duty{
		{Name: "lease-reaper", Run: func(ctx context.Context) { srv.RunLeaseReaper(ctx, 5*time.Second) }},
		{Name: "cron", Run: sched.Schedules},
		// At once when taken, then every 30 s: a replica takes this duty over when the one
		// holding it dies, and the runs that one left half-advanced move on then, not a whole
		// interval later.
		{Name: "reconcile", Run: func(ctx context.Context) {
			reconcile := func(ctx context.Context) {
				if err := sched.Reconcile(ctx); err != nil && ctx.Err() == nil {
					log.Warn("reconciling runs", "err", err)
				}
			}
			reconcile(ctx)
			duty.Every(30*time.Second, reconcile)(ctx)
		}},
		{Name: "promotions", Run: func(ctx context.Context) { sched.WatchDeployments(ctx, 5*time.Second) }},
		{Name: "log-archive", Run: duty.Every(2*time.Second, func(ctx context.Context) { archiveLogs(ctx, db, log) })},
		{Name: "retention", Run: duty.Every(time.Hour, func(ctx context.Context) {
			// Artifacts past their retention-days go, with the files no other artifact shares.
			if n, err := arts.Prune(time.Now()); err != nil {
				log.Warn("pruning expired artifacts", "err", err)
			} else if n > 0 {
				log.Info("pruned expired artifacts", "count", n)
			}
		})},
		{Name: "webhook-replay", Run: duty.Every(10*time.Second, func(ctx context.Context) {
			if err := srv.ReplayUnattempted(ctx); err != nil && ctx.Err() == nil {
				log.Warn("replaying webhook deliveries", "err", err)
			}
		})},
		{Name: "delivery-retention", Run: func(ctx context.Context) { srv.RunDeliveryPruner(ctx, time.Hour, cfg.DeliveryRetention) }},
	}
	// Notifications follow the event log once across replicas, so none is sent twice.
	duties = append(duties, duty.Duty{Name: "notify", Run: func(ctx context.Context) {
		if err := notifier.Run(ctx); err != nil && ctx.Err() == nil {
			log.Warn("sending notifications", "err", err)
		}
	}})
	if cfg.DepsEvery > 0 {
		duties = append(duties, duty.Duty{Name: "deps", Run: func(ctx context.Context) { bot.Loop(ctx, cfg.DepsEvery) }})
	}
	if cfg.Poll > 0 {
		duties = append(duties, duty.Duty{Name: "poll", Run: func(ctx context.Context) { sched.Poll(ctx, cfg.Poll) }})
	}
	var background sync.WaitGroup
	defer background.Wait()
	defer stop() // runs first: ends the background work waited for above
	background.Go(func() { duty.Run(ctx, db, duty.Options{Log: log}, duties...) })
	background.Go(func() { sched.Run(ctx) })
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Printf("sluice serving on %s (data %s, %s database, blobs %s)\n", cfg.BaseURL, cfg.Data, db.Dialect(), blobs)
	fmt.Printf("sandbox: %s\n", note)
	if cfg.Agents > 0 {
		// Sharing the server's disk, the embedded agent writes artifacts into its store
		// directly; a shared store it reaches over HTTP like any agent.
		artDir := filepath.Join(cfg.Data, "artifacts")
		if shared {
			artDir = ""
		}
		if err := startEmbeddedAgent(ctx, db, cfg, agentState, artDir, policy, caches, log); err != nil {
			return err
		}
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return hs.Shutdown(shut)
}

// secretEnv is the environment the server's start reads secrets from: the files the
// configuration names stand in for SLUICE_ADMIN_TOKEN, SLUICE_ADMIN_PASSWORD and
// SLUICE_SECRET_KEY; given holds the credentials taken from the environment at start (see
// creds.TakeFromEnv), which is no longer read for them.
func secretEnv(cfg *serverconfig.Config, given map[string]string) (func(string) string, error) {
	files := map[string]string{}
	for env, path := range map[string]string{server.AdminTokenEnv: cfg.AdminTokenFile, server.AdminPasswordEnv: cfg.AdminPasswordFile,
		secrets.KeyEnv: cfg.SecretKeyFile} {
		if path == "" {
			continue
		}
		var v string
		var err error
		if path == "-" {
			v, err = creds.ReadFile(path, "admin password for the web UI: ")
		} else {
			v, err = serverconfig.ReadSecret(path)
		}
		if err != nil {
			return nil, err
		}
		files[env] = v
	}
	return func(k string) string {
		if v, ok := files[k]; ok {
			return v
		}
		if v, ok := given[k]; ok {
			return v
		}
		return os.Getenv(k)
	}, nil
}

// sandboxDeny are the paths no job's sandbox may mount: the data directory, a local blob
// store, the files holding the server's secrets and the agent's own state.
func sandboxDeny(cfg *serverconfig.Config, agentState string) []string {
	deny := []string{cfg.Data}
	if cfg.Blob != "" && !strings.Contains(cfg.Blob, "://") {
		deny = append(deny, cfg.Blob)
	}
	for _, f := range []string{cfg.AdminTokenFile, cfg.AdminPasswordFile, cfg.SecretKeyFile, cfg.DBPasswordFile} {
		if f != "" && f != "-" {
			deny = append(deny, f)
		}
	}
	if db := strings.TrimPrefix(strings.TrimPrefix(cfg.DB, "sqlite://"), "file:"); db != "" && !strings.Contains(db, "://") {
		deny = append(deny, db) // a SQLite database outside the data directory
	}
	return append(deny, localrun.StateDeny(agentState)...)
}

// secureDataDir makes the data directory 0700 and a SQLite database in it (db, "" for none)
// 0600 (its -wal and -shm files take the database's mode).
func secureDataDir(dir, db string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the data directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("securing the data directory: %w", err)
	}
	if db == "" {
		return nil
	}
	f, err := os.OpenFile(db, os.O_CREATE|os.O_RDONLY, 0o600)
	if err != nil {
		return fmt.Errorf("creating the database: %w", err)
	}
	f.Close()
	for _, p := range []string{db, db + "-wal", db + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("securing %s: %w", p, err)
		}
	}
	return nil
}

// archiveLogs moves the logs of jobs that ended a few seconds ago to the blob store.
// logArchiver is the store archiveLogs moves finished jobs' logs with.
type logArchiver interface {
	LogsToArchive(ctx context.Context, before time.Time, limit int) ([]int64, error)
	ArchiveLogs(ctx context.Context, jobID int64) (int, error)
}

func archiveLogs(ctx context.Context, db logArchiver, log *slog.Logger) {
	ids, err := db.LogsToArchive(ctx, time.Now().Add(-2*time.Second), 100)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("finding logs to archive", "err", err)
		}
		return
	}
	for _, id := range ids {
		if _, err := db.ArchiveLogs(ctx, id); err != nil && ctx.Err() == nil {
			log.Warn("archiving a log", "job", id, "err", err)
		}
	}
}

// startEmbeddedAgent registers this machine's agent directly in the store
// (it shares the process) and runs it through the same HTTP protocol as a
// remote one, so both take one path.
func startEmbeddedAgent(ctx context.Context, db interface {
	RegisterAgent(ctx context.Context, a store.Agent) (*store.Agent, error)
}, cfg *serverconfig.Config, agentState, artDir string, sandbox *host.Policy, caches *cache.Store, log *slog.Logger) error {
	token, hash, err := secrets.NewToken()
	if err != nil {
		return err
	}
	// Replicas sharing a database each register their own embedded agent.
	name := "embedded"
	if cfg.Replica != "" {
		name += "-" + cfg.Replica
	}
	if _, err := db.RegisterAgent(ctx, store.Agent{Name: name, Labels: []string{"default", "embedded"}, TokenHash: hash, Parallel: cfg.Agents, Version: version}); err != nil {
		return fmt.Errorf("registering the embedded agent: %w", err)
	}
	jcfg := jobrunner.Config{
		WorkDir: filepath.Join(os.TempDir(), "sluice-agent"), StateDir: agentState,
		ArtifactDir: artDir, Cache: caches, Token: token, Version: version,
		Sandbox: sandbox,
		Actions: actions.Resolver{Store: cfg.ActionStore, Mirror: cfg.ActionMirror, BaseURL: cfg.GitHubURL, CacheDir: filepath.Join(agentState, "actions")},
		// Container jobs, services and docker actions, as `sluice run` runs them:
		// $DOCKER_HOST, else a Podman or Docker socket found here.
		Containers: func(ctx context.Context) (*container.Engine, error) { return container.Connect(ctx, "") },
		// The embedded agent shares the server's disk: it fetches commits
		// from the mirrors themselves, not over /git/.
		LocalRepo: func(url string) string {
			if rest, ok := strings.CutPrefix(url, cfg.BaseURL+"/git/"); ok && !strings.Contains(rest, "/") {
				return filepath.Join(cfg.Data, "repos", rest)
			}
			return ""
		},
	}
	sweepWorkspaces(jcfg)
	run := jobrunner.New(jcfg)
	go func() {
		err := agent.Run(ctx, agent.Config{Server: cfg.BaseURL, Token: token, Name: name, Labels: []string{"default", "embedded"},
			Parallel: cfg.Agents, WorkDir: filepath.Join(os.TempDir(), "sluice-agent"), StateDir: agentState, Version: version, Run: run, Log: log})
		if err != nil && ctx.Err() == nil {
			log.Error("embedded agent stopped", "err", err)
		}
	}()
	return nil
}
