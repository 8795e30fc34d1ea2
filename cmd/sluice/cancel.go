package main

import (
	"fmt"

	"github.com/sluice-ci/sluice/internal/client"
	"github.com/spf13/cobra"
)

func cancelCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "cancel RUN",
		Short:   "Cancel a run on a sluice server",
		Long:    "Cancel run RUN (its ID, as sluice runs shows): queued jobs are cancelled, running jobs are stopped. Needs a write token.",
		Example: "  sluice cancel 42",
		Args:    cobra.ExactArgs(1),
	}
	conn := addAPIConn(cmd)
	cmd.RunE = conn.withRun(func(cmd *cobra.Command, c *client.Client, id int64) error {
		run, err := c.Cancel(cmd.Context(), id)
		if err != nil {
			return err
		}
		state := run.Status
		if run.Conclusion != "" {
			state = run.Conclusion
		}
		fmt.Fprintf(cmd.OutOrStdout(), "run %d: %s\n", run.ID, state)
		return nil
	})
	return cmd
}

func approveRunCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "approve-run RUN",
		Short: "Let a held run (a pull request from a fork) start on a sluice server",
		Long: `A pull request from a fork runs someone else's code: its runs wait for a maintainer (a write
token) to look at what they would run and approve them (sluice runs lists them as queued, the queue
says why). Fork runs never get secrets, approved or not. A repository added with
--fork-runs-without-approval does not hold them.`,
		Example: "  sluice approve-run 42",
		Args:    cobra.ExactArgs(1),
	}
	conn := addAPIConn(cmd)
	cmd.RunE = conn.withRun(func(cmd *cobra.Command, c *client.Client, id int64) error {
		run, err := c.ApproveRun(cmd.Context(), id)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "run %d approved: %s\n", run.ID, run.Status)
		return nil
	})
	return cmd
}
