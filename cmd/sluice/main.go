// Command sluice is a fast, self-hosted CI/CD system for Python projects.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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
		repoCmd(), dispatchCmd(), runsCmd(), logsCmd(), cancelCmd(), approveRunCmd(), identityCmd(), varCmd(), rerunCmd(), secretCmd(), agentsCmd(), queueCmd(), tokenCmd(),
		versionCmd())
	root.AddCommand(releasesCmd(), releaseCmd(), promoteCmd(), rollbackCmd(), decideCmd(true), decideCmd(false),
		deploymentsCmd(), environmentsCmd())
	root.AddCommand(verifyReproCmd(), metricsCmd())
	root.AddCommand(bumpCmd(), depsCmd())
	cmd, err := root.ExecuteContextC(context.Background())
	if err == nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	verbose, _ := cmd.Flags().GetBool("verbose")
	os.Exit(reportError(os.Stderr, err, verbose))
}

// reportError prints a command's error: what went wrong and what to do;
// with --verbose, also the API request that failed. It returns the exit
// status: 1 when the server refused or could not be reached, 2 for
// cobra's own errors (unknown flags, bad arguments) and the rest.
func reportError(w io.Writer, err error, verbose bool) int {
	fmt.Fprintln(w, "sluice:", err)
	var detail interface{ Detail() string }
	if errors.As(err, &detail) {
		if verbose {
			fmt.Fprintln(w, "  ("+detail.Detail()+")")
		}
		return 1
	}
	return localrun.ExitInvalid
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
