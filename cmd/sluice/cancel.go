package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
)

// parseRunID reads a run ID argument.
func parseRunID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("run %q: want a run ID (see sluice runs)", s)
	}
	return id, nil
}

func cancelCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "cancel RUN",
		Short:   "Cancel a run on a sluice server",
		Long:    "Cancel run RUN (its ID, as sluice runs shows): queued jobs are cancelled, running jobs are stopped. Needs a write token.",
		Example: "  sluice cancel 42",
		Args:    cobra.ExactArgs(1),
	}
	conn := addAPIConn(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id, err := parseRunID(args[0])
		if err != nil {
			return err
		}
		c, err := conn.client()
		if err != nil {
			return err
		}
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
	}
	return cmd
}
