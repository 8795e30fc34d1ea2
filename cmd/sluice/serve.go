package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/sluice-ci/sluice/internal/cd"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sluice-ci/sluice/internal/actions"
	"github.com/sluice-ci/sluice/internal/agent"
	"github.com/sluice-ci/sluice/internal/artifacts"
	"github.com/sluice-ci/sluice/internal/cache"
	"github.com/sluice-ci/sluice/internal/creds"
	"github.com/sluice-ci/sluice/internal/executor/host"
	"github.com/sluice-ci/sluice/internal/jobrunner"
	"github.com/sluice-ci/sluice/internal/localrun"
	"github.com/sluice-ci/sluice/internal/scheduler"
	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/spf13/cobra"
)

type serveFlags struct {
	data, addr, baseURL string
	agents              int
	poll                time.Duration
	sandbox             string
	deliveryRetention   time.Duration
	adminTokenFile      string
	adminPasswordFile   string
	sandboxReadOnly     []string
}

func serveCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the CI server: API, webhooks, queue, web UI and an embedded agent",
		Long: `Start the server on embedded defaults: SQLite and local disk under --data (0700, the
database 0600), and an embedded agent running --agents jobs at once, in a sandbox (--sandbox).
The first start creates an admin token and prints it once, or takes one from --admin-token-file
or SLUICE_ADMIN_TOKEN; the UI's admin password comes from --admin-password-file ("-" prompts) or
SLUICE_ADMIN_PASSWORD. Credentials found in the environment are taken and dropped from it (the
server re-executes itself without them), so no job and no process listing can read them. Point
a forge's webhook at /hooks/github, /hooks/gitea or /hooks/gitlab; more machines join with
'sluice agent'.`,
		Example: "  sluice serve\n  sluice serve --data /var/lib/sluice --addr 0.0.0.0:8080 --agents 4 --poll 60s\n  sluice serve --admin-token-file /etc/sluice/admin-token --admin-password-file -",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), f)
		},
	}
	cmd.Flags().StringVar(&f.data, "data", "", "data directory (default: the state directory's server/)")
	cmd.Flags().StringVar(&f.addr, "addr", "127.0.0.1:8080", "address to listen on")
	cmd.Flags().StringVar(&f.baseURL, "base-url", "", "URL browsers, forges and agents use to reach the server (default http://ADDR)")
	cmd.Flags().IntVar(&f.agents, "agents", 2, "jobs the embedded agent runs at once (0: no embedded agent)")
	cmd.Flags().DurationVar(&f.poll, "poll", 0, "poll repositories for new commits this often (0: webhooks only)")
	cmd.Flags().StringArrayVar(&f.sandboxReadOnly, "sandbox-readonly", nil, "a directory of tools every sandboxed job may read (repeatable)")
	cmd.Flags().StringVar(&f.adminTokenFile, "admin-token-file", "", "read the admin API token from this file (first line)")
	cmd.Flags().StringVar(&f.adminPasswordFile, "admin-password-file", "", "read the UI's admin password from this file (first line); - prompts for it")
	cmd.Flags().DurationVar(&f.deliveryRetention, "delivery-retention", server.DefaultDeliveryRetention, "keep processed and rejected webhook deliveries this long")
	cmd.Flags().StringVar(&f.sandbox, "sandbox", "auto", "run the embedded agent's jobs and verification commands in a bubblewrap sandbox that never mounts the data directory: auto (when this machine can), on or off")
	return cmd
}

// serverCacheBytes bounds the server's cache store, shared by every
// repository; least recently used entries go first.
const serverCacheBytes = 10 << 30

func serve(ctx context.Context, f serveFlags) error {
	// First: credentials in the environment are taken and the process
	// re-executes itself without them.
	given, err := creds.TakeFromEnv(server.AdminTokenEnv, server.AdminPasswordEnv, secrets.KeyEnv)
	if err != nil {
		return err
	}
	if f.adminTokenFile != "" {
		if given[server.AdminTokenEnv], err = creds.ReadFile(f.adminTokenFile, "admin token: "); err != nil {
			return fmt.Errorf("--admin-token-file: %w", err)
		}
	}
	if f.adminPasswordFile != "" {
		if given[server.AdminPasswordEnv], err = creds.ReadFile(f.adminPasswordFile, "admin password for the web UI: "); err != nil {
			return fmt.Errorf("--admin-password-file: %w", err)
		}
	}
	getCred := func(k string) string { return given[k] }
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	state, err := localrun.StateDir()
	if err != nil {
		return err
	}
	if f.data == "" {
		f.data = filepath.Join(state, "server")
	}
	if err := secureDataDir(f.data); err != nil {
		return err
	}
	keys, err := secrets.LoadKey(f.data, getCred)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, filepath.Join(f.data, "sluice.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	arts, err := artifacts.Open(filepath.Join(f.data, "artifacts"))
	if err != nil {
		return err
	}
	caches, err := cache.Open(filepath.Join(f.data, "cache"), serverCacheBytes)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", f.addr, err)
	}
	if f.baseURL == "" {
		f.baseURL = "http://" + ln.Addr().String()
	}
	if err := server.Bootstrap(ctx, db, f.data, getCred, os.Stdout); err != nil {
		return err
	}
	agentState := filepath.Join(state, "agent")
	policy, note, err := host.PolicyFor(ctx, f.sandbox, append([]string{f.data}, localrun.StateDeny(agentState)...), f.sandboxReadOnly)
	if err != nil {
		return err
	}
	var srv *server.Server
	sched := scheduler.New(scheduler.Config{
		DB: db, DataDir: f.data, GitURL: f.baseURL + "/git/%d.git", Log: log, Artifacts: arts, BuilderID: f.baseURL,
		CloneURL: func(r *store.Repo) string { return server.CloneURL(keys, r) },
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
	srv, err = server.New(server.Config{DB: db, Keys: keys, Scheduler: sched, Deployer: sched, Artifacts: arts, Cache: caches, DataDir: f.data, BaseURL: f.baseURL, Log: log})
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
	go srv.RunLeaseReaper(ctx, 5*time.Second)
	go srv.RunDeliveryPruner(ctx, time.Hour, f.deliveryRetention)
	go sched.Schedules(ctx)
	go sched.WatchDeployments(ctx, 5*time.Second)
	if f.poll > 0 {
		go sched.Poll(ctx, f.poll)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Printf("sluice serving on %s (data %s)\n", f.baseURL, f.data)
	fmt.Printf("sandbox: %s\n", note)
	if f.agents > 0 {
		if err := startEmbeddedAgent(ctx, db, f, agentState, policy, caches, log); err != nil {
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
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return hs.Shutdown(shut)
}

// secureDataDir makes the data directory 0700 and the database 0600 (its
// -wal and -shm files take the database's mode).
func secureDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the data directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("securing the data directory: %w", err)
	}
	db := filepath.Join(dir, "sluice.db")
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

// startEmbeddedAgent registers this machine's agent directly in the store
// (it shares the process) and runs it through the same HTTP protocol as a
// remote one, so both take one path.
func startEmbeddedAgent(ctx context.Context, db *store.DB, f serveFlags, agentState string, sandbox *host.Policy, caches *cache.Store, log *slog.Logger) error {
	token, hash, err := secrets.NewToken()
	if err != nil {
		return err
	}
	if _, err := db.RegisterAgent(ctx, store.Agent{Name: "embedded", Labels: []string{"default", "embedded"}, TokenHash: hash, Parallel: f.agents, Version: version}); err != nil {
		return fmt.Errorf("registering the embedded agent: %w", err)
	}
	jcfg := jobrunner.Config{
		WorkDir: filepath.Join(os.TempDir(), "sluice-agent"), StateDir: agentState,
		ArtifactDir: filepath.Join(f.data, "artifacts"), Cache: caches, Token: token, Version: version,
		Sandbox: sandbox,
		Actions: actions.Resolver{CacheDir: filepath.Join(agentState, "actions")},
		// The embedded agent shares the server's disk: it fetches commits
		// from the mirrors themselves, not over /git/.
		LocalRepo: func(url string) string {
			if rest, ok := strings.CutPrefix(url, f.baseURL+"/git/"); ok && !strings.Contains(rest, "/") {
				return filepath.Join(f.data, "repos", rest)
			}
			return ""
		},
	}
	sweepWorkspaces(jcfg)
	run := jobrunner.New(jcfg)
	go func() {
		err := agent.Run(ctx, agent.Config{Server: f.baseURL, Token: token, Name: "embedded", Labels: []string{"default", "embedded"},
			Parallel: f.agents, WorkDir: filepath.Join(os.TempDir(), "sluice-agent"), StateDir: agentState, Version: version, Run: run, Log: log})
		if err != nil && ctx.Err() == nil {
			log.Error("embedded agent stopped", "err", err)
		}
	}()
	return nil
}
