package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sluice-ci/sluice/internal/agent"
	"github.com/sluice-ci/sluice/internal/creds"
	"github.com/sluice-ci/sluice/internal/executor/container"
	"github.com/sluice-ci/sluice/internal/executor/host"
	"github.com/sluice-ci/sluice/internal/jobrunner"
	"github.com/sluice-ci/sluice/internal/localrun"
	"github.com/spf13/cobra"
)

// registrationTokenEnv is where an agent may find its registration token
// (taken, then dropped from its environment).
const registrationTokenEnv = "SLUICE_REGISTRATION_TOKEN"

// sweepWorkspaces removes the workspaces of jobs that died with a crashed
// agent or server, saying so.
func sweepWorkspaces(cfg jobrunner.Config) {
	n, err := jobrunner.Sweep(cfg)
	if n > 0 {
		fmt.Printf("removed %d workspace(s) of jobs that died with an earlier agent\n", n)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluice: sweeping old workspaces: %v\n", err)
	}
}

func agentCmd() *cobra.Command {
	var serverURL, tokenFile, name, labels, sandbox string
	var sandboxReadOnly []string
	var parallel int
	var af actionFlags
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run jobs for a sluice server from this machine",
		Long: `Run the jobs whose runs-on labels this agent has. The first start registers with a
registration token (sluice token create NAME --scope register) read from --registration-token-file,
from SLUICE_REGISTRATION_TOKEN (dropped from the environment once read) or from a prompt, and keeps
the agent's own credential, 0600, in its state directory (agent/credentials/); later starts use it.
An agent never needs an admin token. It only makes outbound connections and reconnects by itself
when the server restarts. Labels: "default" takes jobs for ubuntu-latest/self-hosted/linux; add
your own (gpu, arm64, ...). Jobs run in a bubblewrap sandbox when this machine can (--sandbox).`,
		Example: "  sluice token create build-agents --scope register > reg.token\n" +
			"  sluice agent --server http://ci.example:8080 --registration-token-file reg.token --labels default,gpu --parallel 2",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			given, err := creds.TakeFromEnv(registrationTokenEnv)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if serverURL == "" {
				serverURL = os.Getenv("SLUICE_SERVER")
			}
			if serverURL == "" {
				return fmt.Errorf("--server (or SLUICE_SERVER) is required: the URL of the sluice server")
			}
			if name == "" {
				name, _ = os.Hostname()
			}
			ls := strings.Split(labels, ",")
			state, err := localrun.StateDir()
			if err != nil {
				return err
			}
			state = filepath.Join(state, "agent")
			credPath := creds.AgentFile(filepath.Join(state, "credentials"), serverURL)
			cred, err := creds.LoadAgent(credPath)
			if err != nil {
				return err
			}
			if cred == nil || cred.Name != name {
				reg := given[registrationTokenEnv]
				if tokenFile != "" {
					if reg, err = creds.ReadFile(tokenFile, "registration token: "); err != nil {
						return fmt.Errorf("--registration-token-file: %w", err)
					}
				}
				if reg == "" {
					return fmt.Errorf("this agent is not registered with %s yet: give it a registration token with --registration-token-file FILE (- prompts) or SLUICE_REGISTRATION_TOKEN; an admin creates one with `sluice token create NAME --scope register`", serverURL)
				}
				id, tok, err := agent.Register(ctx, serverURL, reg, name, ls, parallel)
				if err != nil {
					return fmt.Errorf("registering with %s: %w", serverURL, err)
				}
				cred = &creds.Agent{Server: serverURL, AgentID: id, Name: name, Token: tok}
				if err := creds.SaveAgent(credPath, *cred); err != nil {
					return err
				}
				fmt.Printf("agent %s registered with %s; its credential is in %s\n", name, serverURL, credPath)
			}
			policy, note, err := host.PolicyFor(ctx, sandbox, localrun.StateDeny(state), sandboxReadOnly)
			if err != nil {
				return err
			}
			fmt.Printf("sandbox: %s\n", note)
			work := filepath.Join(os.TempDir(), "sluice-agent")
			jcfg := jobrunner.Config{WorkDir: work, StateDir: state, Token: cred.Token, Version: version, Sandbox: policy,
				Actions:    af.resolver(filepath.Join(state, "actions")),
				Containers: func(ctx context.Context) (*container.Engine, error) { return container.Connect(ctx, "") }}
			sweepWorkspaces(jcfg)
			run := jobrunner.New(jcfg)
			fmt.Printf("agent %s serving %s (labels %s, %d at once)\n", name, serverURL, labels, parallel)
			err = agent.Run(ctx, agent.Config{Server: serverURL, Token: cred.Token, Name: name, Labels: ls, Parallel: parallel,
				WorkDir: work, StateDir: state, Version: version, Run: run, Log: slog.New(slog.NewTextHandler(os.Stderr, nil))})
			if agent.IsUnauthorized(err) {
				return fmt.Errorf("the server no longer accepts this agent's credential (%s): remove that file and start the agent again with a registration token: %w", credPath, err)
			}
			return err
		},
	}
	cmd.AddCommand(agentDrainCmd())
	// The default stays empty (read from the environment at run time), as every command's.
	cmd.Flags().StringVar(&serverURL, "server", "", "server URL (default $SLUICE_SERVER)")
	cmd.Flags().StringVar(&tokenFile, "registration-token-file", "", "read the registration token from this file (first line); - prompts for it")
	cmd.Flags().StringVar(&name, "name", "", "agent name (default: the host name)")
	cmd.Flags().StringVar(&labels, "labels", "default", "comma-separated labels jobs are routed by")
	cmd.Flags().IntVar(&parallel, "parallel", 1, "jobs to run at once")
	af.register(cmd.Flags())
	cmd.Flags().StringArrayVar(&sandboxReadOnly, "sandbox-readonly", nil, "a directory of tools every sandboxed job may read (repeatable)")
	cmd.Flags().StringVar(&sandbox, "sandbox", "auto", "run jobs in a bubblewrap sandbox that never mounts the agent's state: auto (when this machine can), on or off")
	return cmd
}
