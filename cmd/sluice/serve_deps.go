package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/sluice-ci/sluice/internal/depsbot"
	"github.com/sluice-ci/sluice/internal/executor/host"
	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/python"
	"github.com/sluice-ci/sluice/internal/scheduler"
	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/serverconfig"
	"github.com/sluice-ci/sluice/internal/store"
)

// newDepsBot wires the scheduled dependency updates: clones and tool caches outside the
// data directory, lock tools in a sandbox that never mounts the data directory when the
// embedded agent's jobs run in one.
func newDepsBot(db *store.DB, sched *scheduler.Scheduler, srv **server.Server, keys *secrets.Keyring, cfg *serverconfig.Config, state string, sandbox *host.Policy, log *slog.Logger) *depsbot.Bot {
	work := filepath.Join(os.TempDir(), "sluice-deps")
	tools := filepath.Join(state, "tools")
	caches := filepath.Join(state, "deps-cache")
	bc := depsbot.Config{
		DB:          db,
		Trigger:     sched.Trigger,
		CloneURL:    func(r *store.Repo) string { return server.CloneURL(keys, r) },
		Forge:       func(r *store.Repo) (*forge.Client, string, error) { return (*srv).ForgeClient(r) },
		DefaultFile: sched.DefaultFile,
		WorkDir:     work, ToolsDir: tools, CacheDir: caches,
		BaseURL: cfg.BaseURL,
		Log:     log,
	}
	if sandbox != nil {
		// The lock tools' jail: the clones, tools and caches writable, the machine's
		// interpreters and the directories on sluice's PATH read-only, a home of their own;
		// the data directory is denied by the policy.
		home, _ := os.UserHomeDir()
		spec := host.Spec{Writable: []string{work, tools, caches}}
		for _, d := range filepath.SplitList(os.Getenv("PATH")) {
			if filepath.IsAbs(d) {
				spec.ReadOnly = append(spec.ReadOnly, d)
			}
		}
		pyenv, uv := python.ManagedDirs(home, os.Getenv)
		spec.ReadOnly = append(spec.ReadOnly, pyenv, uv)
		if home != "" {
			spec.Binds = []host.Bind{{Src: filepath.Join(caches, "home"), Dst: home}}
		}
		bc.Run = func(ctx context.Context, argv []string, dir string, env []string) (string, error) {
			for _, d := range []string{work, tools, filepath.Join(caches, "home")} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return "", fmt.Errorf("preparing the lock tools' sandbox: %w", err)
				}
			}
			sb, err := sandbox.Sandbox(spec)
			if err != nil {
				return "", err
			}
			var out []byte
			res, err := host.Run(ctx, host.Cmd{Argv: argv, Dir: dir, Env: env, Sandbox: sb,
				Line: func(s string) { out = append(append(out, s...), '\n') }})
			if err == nil && res.ExitCode != 0 {
				err = &exitError{code: res.ExitCode}
			}
			return string(out), err
		}
	}
	return depsbot.New(bc)
}
