// Command sluice is a fast, self-hosted CI/CD system for Python projects.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/sluice-ci/sluice/internal/executor/host"
	"github.com/sluice-ci/sluice/internal/localrun"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitError carries an exit code out of a command whose message, if any,
// was already printed.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	// Inside a job's sandbox this program is the helper that starts the
	// job's processes (host.Jail).
	if len(os.Args) > 1 && os.Args[1] == host.HelperArg {
		host.HelperMain()
	}
	root := &cobra.Command{
		Use:           "sluice",
		Short:         "A fast, self-hosted CI/CD system for Python projects",
		Long:          "sluice runs the GitHub Actions workflows a repository already has, on this machine, with no Docker.",
		Example:       "  sluice run            # run .github/workflows for a push of HEAD\n  sluice lint           # check the workflows",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.AddCommand(runCmd(), lintCmd(), lockCmd(), initCmd(), serveCmd(), agentCmd(),
		repoCmd(), dispatchCmd(), runsCmd(), logsCmd(), cancelCmd(), approveRunCmd(), identityCmd(), varCmd(), rerunCmd(), secretCmd(), agentsCmd(), tokenCmd(),
		versionCmd())
	root.AddCommand(releasesCmd(), releaseCmd(), promoteCmd(), rollbackCmd(), decideCmd(true), decideCmd(false),
		deploymentsCmd(), environmentsCmd())
	root.AddCommand(verifyReproCmd())
	err := root.ExecuteContext(context.Background())
	if err == nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	// Errors without an exit code are cobra's: unknown flags, bad arguments.
	fmt.Fprintln(os.Stderr, "sluice:", err)
	os.Exit(localrun.ExitInvalid)
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print sluice's version",
		Example: "  sluice version",
		Args:    cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "sluice", version)
		},
	}
}
