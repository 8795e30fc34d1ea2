package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/sluice-ci/sluice/internal/depsbot"
	"github.com/sluice-ci/sluice/internal/executor/host"
	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/scheduler"
	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

// newDepsBot wires the scheduled dependency updates: clones and tool caches outside the
// data directory, lock tools under the sandbox (data directory hidden) when steps run there.
func newDepsBot(db *store.DB, sched *scheduler.Scheduler, srv **server.Server, keys *secrets.Keyring, f serveFlags, state string, log *slog.Logger) *depsbot.Bot {
	work := filepath.Join(os.TempDir(), "sluice-deps")
	tools := filepath.Join(state, "tools")
	caches := filepath.Join(state, "deps-cache")
	cfg := depsbot.Config{
		DB:          db,
		Trigger:     sched.Trigger,
		CloneURL:    func(r *store.Repo) string { return server.CloneURL(keys, r) },
		Forge:       func(r *store.Repo) (*forge.Client, string, error) { return (*srv).ForgeClient(r) },
		DefaultFile: sched.DefaultFile,
		WorkDir:     work, ToolsDir: tools, CacheDir: caches,
		BaseURL: f.baseURL,
		Log:     log,
	}
	if useSandbox(f) {
		cfg.Run = func(ctx context.Context, argv []string, dir string, env []string) (string, error) {
			var out []byte
			res, err := host.Run(ctx, host.Cmd{Argv: argv, Dir: dir, Env: env,
				Sandbox: &host.Sandbox{Writable: []string{work, tools, caches}, Hidden: []string{f.data}},
				Line:    func(s string) { out = append(append(out, s...), '\n') }})
			if err == nil && res.ExitCode != 0 {
				err = &exitError{code: res.ExitCode}
			}
			return string(out), err
		}
	}
	return depsbot.New(cfg)
}
