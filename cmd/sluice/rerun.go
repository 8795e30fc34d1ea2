package main

import (
	"fmt"

	"github.com/sluice-ci/sluice/internal/client"
	"github.com/spf13/cobra"
)

func rerunCmd() *cobra.Command {
	var failed bool
	cmd := &cobra.Command{
		Use:   "rerun RUN",
		Short: "Re-run a completed run on a sluice server",
		Long: `Start a new attempt of completed run RUN: every job, or with --failed only the jobs that failed
(and those that need them). Needs a write token.`,
		Example: "  sluice rerun 42\n  sluice rerun 42 --failed",
		Args:    cobra.ExactArgs(1),
	}
	conn := addAPIConn(cmd)
	cmd.RunE = conn.withRun(func(cmd *cobra.Command, c *client.Client, id int64) error {
		run, err := c.Rerun(cmd.Context(), id, failed)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "run %d: attempt %d %s\n", run.ID, run.Attempt, run.Status)
		return nil
	})
	cmd.Flags().BoolVar(&failed, "failed", false, "re-run only the failed jobs")
	return cmd
}
