package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/client"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/spf13/cobra"
)

func agentsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "agents",
		Short:   "List the agents of a sluice server and what they run",
		Example: "  sluice agents\n  sluice agents --json",
		Args:    cobra.NoArgs,
	}
	conn := addAPIConn(cmd)
	cmd.RunE = conn.withClient(func(cmd *cobra.Command, _ []string, c *client.Client) error {
		agents, err := c.ListAgents(cmd.Context())
		if err != nil {
			return err
		}
		return printList(cmd.OutOrStdout(), asJSON, agents, "NAME\tSTATE\tLABELS\tBUSY\tLAST SEEN\tVERSION", func(w io.Writer, a server.AgentView) {
			state := "offline"
			if a.Online {
				state = "online"
			}
			if a.Draining {
				state += ",draining"
			}
			seen := "never"
			if a.LastSeen != nil {
				seen = time.Since(*a.LastSeen).Round(time.Second).String() + " ago"
			}
			jobs := make([]string, 0, len(a.Running))
			for _, id := range a.Running {
				jobs = append(jobs, fmt.Sprintf("job %d", id))
			}
			busy := fmt.Sprintf("%d/%d", len(a.Running), a.Parallel)
			if len(jobs) > 0 {
				busy += " (" + strings.Join(jobs, ", ") + ")"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Name, state, strings.Join(a.Labels, ","), busy, seen, a.Version)
		})
	})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
