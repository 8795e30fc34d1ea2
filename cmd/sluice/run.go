package main

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/sluice-ci/sluice/internal/localrun"
	"github.com/spf13/cobra"
)

func runCmd() *cobra.Command {
	cfg := localrun.Config{}
	var af actionFlags
	cmd := &cobra.Command{
		Use:   "run [EVENT]",
		Short: "Run this repository's GitHub Actions workflows here, now",
		Long: `Run the workflows in .github/workflows that EVENT (default: push) triggers, on this
machine, the way GitHub Actions would: same jobs, same outputs, same pass/fail.
Jobs check out the committed HEAD (add --working-tree for uncommitted changes); the repository
itself is never written to. Exit status: 0 when every job that ran succeeded, 1 when one failed,
2 for invalid workflows or flags, 130 when interrupted.`,
		Example: `  sluice run
  sluice run pull_request -e pr.json
  sluice run workflow_dispatch --input level=debug
  sluice run -j test -s PYPI_TOKEN=xyz --var ENV=staging
  sluice run --follow-output=test    # stream the test job's output above the live view
  sluice run --list`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// A run's live heap is small and the process short: collecting at 5x it rather than
			// 2x keeps the collector from running every few steps, at a few MiB of memory.
			// GOGC, when set, is the user's to decide.
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(400)
			}
			if len(args) == 1 {
				cfg.Event = args[0]
			}
			wd, err := os.Getwd()
			if err != nil {
				return err
			}
			cfg.Dir = wd
			cfg.Actions = af.resolver("")
			cfg.Version = version
			cfg.Stdout = os.Stdout
			cfg.Stderr = os.Stderr
			code, err := localrun.Run(cmd.Context(), cfg)
			if err != nil {
				fmt.Fprintln(os.Stderr, "sluice:", err)
				if code == 0 {
					code = 1
				}
			}
			if code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfg.Workflows, "workflows", "W", "", "workflow file or directory (default .github/workflows)")
	f.StringVarP(&cfg.Job, "job", "j", "", "run only this job (and the jobs it needs)")
	f.StringVarP(&cfg.EventPath, "eventpath", "e", "", "JSON file with the event payload (github.event)")
	f.StringArrayVarP(&cfg.Secrets, "secret", "s", nil, "secret NAME=VALUE (repeatable)")
	f.StringVar(&cfg.SecretFile, "secret-file", "", "file of NAME=VALUE secrets (dotenv format)")
	f.StringArrayVar(&cfg.Vars, "var", nil, "configuration variable NAME=VALUE for the vars context (repeatable)")
	f.StringArrayVar(&cfg.Inputs, "input", nil, "workflow_dispatch input NAME=VALUE (repeatable)")
	f.StringArrayVar(&cfg.Env, "env", nil, "environment variable NAME=VALUE for every step (repeatable)")
	f.BoolVarP(&cfg.List, "list", "l", false, "list the jobs that would run, with their needs")
	f.BoolVarP(&cfg.DryRun, "dryrun", "n", false, "plan only: show jobs and steps, execute nothing")
	f.IntVar(&cfg.Parallel, "jobs", 0, "jobs to run at once (default: the CPU count)")
	f.BoolVar(&cfg.WorkingTree, "working-tree", false, "include uncommitted changes in checkouts")
	f.BoolVar(&cfg.Keep, "keep", false, "keep job workspaces after the run")
	cfg.SandboxHelper = true
	f.BoolVar(&cfg.Sandbox, "sandbox", false, "run every process of a job in a bubblewrap jail that mounts only the system read-only and the job's own directories (README: Trust model)")
	f.BoolVarP(&cfg.Verbose, "verbose", "v", false, "show ::debug:: lines and the scripts steps run")
	f.StringVar(&cfg.FollowOutput, "follow-output", "", "on a terminal, stream a job's output above the live view: --follow-output=JOB, or every job's with --follow-output")
	f.Lookup("follow-output").NoOptDefVal = "*"
	af.register(f)
	f.StringVar(&cfg.ContainerHost, "container-host", "", "Docker Engine API URL for container jobs (default: $DOCKER_HOST, else a Podman or Docker socket found on this machine)")
	f.StringArrayVarP(&cfg.Platforms, "platform", "P", nil, "run jobs with runs-on LABEL in IMAGE: LABEL=IMAGE, or LABEL=-self-hosted to keep them on the host (repeatable)")
	f.BoolVar(&cfg.NoEnvReuse, "no-env-reuse", false, "always build Python environments afresh instead of keeping them between runs")
	return cmd
}
