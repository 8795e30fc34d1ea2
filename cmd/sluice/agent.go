package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sluice-ci/sluice/internal/actions"
	"github.com/sluice-ci/sluice/internal/agent"
	"github.com/sluice-ci/sluice/internal/executor/host"
	"github.com/sluice-ci/sluice/internal/jobrunner"
	"github.com/sluice-ci/sluice/internal/localrun"
	"github.com/spf13/cobra"
)

func agentCmd() *cobra.Command {
	var serverURL, token, name, labels, sandbox string
	var parallel int
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run jobs for a sluice server from this machine",
		Long: `Register with the server (with an admin token) and run the jobs whose runs-on labels this agent
has. The agent only makes outbound connections; it reconnects by itself when the server restarts.
Labels: "default" takes jobs for ubuntu-latest/self-hosted/linux; add your own (gpu, arm64, ...).`,
		Example: "  sluice agent --server http://ci.example:8080 --token $SLUICE_TOKEN --labels default,gpu --parallel 2",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if serverURL == "" || token == "" {
				return fmt.Errorf("--server and --token (or SLUICE_SERVER and SLUICE_TOKEN) are required")
			}
			if name == "" {
				name, _ = os.Hostname()
			}
			ls := strings.Split(labels, ",")
			_, agentToken, err := agent.Register(ctx, serverURL, token, name, ls, parallel)
			if err != nil {
				return fmt.Errorf("registering with %s: %w", serverURL, err)
			}
			state, err := localrun.StateDir()
			if err != nil {
				return err
			}
			state = filepath.Join(state, "agent")
			policy, note, err := host.PolicyFor(ctx, sandbox, localrun.StateDeny(state))
			if err != nil {
				return err
			}
			fmt.Printf("sandbox: %s\n", note)
			work := filepath.Join(os.TempDir(), "sluice-agent")
			run := jobrunner.New(jobrunner.Config{WorkDir: work, StateDir: state, Token: agentToken, Version: version, Sandbox: policy,
				Actions: actions.Resolver{Store: os.Getenv("SLUICE_ACTION_STORE"), Mirror: os.Getenv("SLUICE_ACTION_MIRROR"), CacheDir: filepath.Join(state, "actions")}})
			fmt.Printf("agent %s registered with %s (labels %s, %d at once)\n", name, serverURL, labels, parallel)
			return agent.Run(ctx, agent.Config{Server: serverURL, Token: agentToken, Name: name, Labels: ls, Parallel: parallel,
				WorkDir: work, StateDir: state, Version: version, Run: run, Log: slog.New(slog.NewTextHandler(os.Stderr, nil))})
		},
	}
	cmd.Flags().StringVar(&serverURL, "server", os.Getenv("SLUICE_SERVER"), "server URL")
	cmd.Flags().StringVar(&token, "token", os.Getenv("SLUICE_TOKEN"), "admin token to register with")
	cmd.Flags().StringVar(&name, "name", "", "agent name (default: the host name)")
	cmd.Flags().StringVar(&labels, "labels", "default", "comma-separated labels jobs are routed by")
	cmd.Flags().IntVar(&parallel, "parallel", 1, "jobs to run at once")
	cmd.Flags().StringVar(&sandbox, "sandbox", "auto", "run jobs in a bubblewrap sandbox that never mounts the agent's state: auto (when this machine can), on or off")
	return cmd
}
