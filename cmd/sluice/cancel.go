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
