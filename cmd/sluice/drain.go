package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/client"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/spf13/cobra"
)

func agentDrainCmd() *cobra.Command {
	var undo, asJSON bool
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "drain NAME",
		Short: "Stop an agent taking new jobs; the jobs it runs finish",
		Long: `Drain an agent: it claims no new job, and the jobs it runs go on to their end. With --wait the
command returns once none is left, so a script can then stop the machine. --undo lets it take
work again (the agent keeps polling while drained; it needs no restart).`,
		Example: "  sluice agent drain build-7 --wait 30m && shutdown -h now\n  sluice agent drain build-7 --undo",
		Args:    cobra.ExactArgs(1),
	}
	conn := addAPIConn(cmd)
	cmd.RunE = conn.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
		a, err := agentByName(cmd, c, args[0])
		if err != nil {
			return err
		}
		v, err := c.DrainAgent(cmd.Context(), a.ID, !undo)
		if err != nil {
			return err
		}
		if wait > 0 && !undo {
			deadline := time.Now().Add(wait)
			for len(v.Running) > 0 {
				if time.Now().After(deadline) {
					return fmt.Errorf("agent %s still runs %d job(s) after %s", v.Name, len(v.Running), wait)
				}
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-time.After(2 * time.Second):
				}
				if v, err = agentByName(cmd, c, args[0]); err != nil {
					return err
				}
			}
		}
		if asJSON {
			return printJSON(cmd.OutOrStdout(), v)
		}
		switch {
		case undo:
			fmt.Fprintf(cmd.OutOrStdout(), "agent %s takes jobs again\n", v.Name)
		case len(v.Running) == 0:
			fmt.Fprintf(cmd.OutOrStdout(), "agent %s drained: no job running, none will start\n", v.Name)
		default:
			fmt.Fprintf(cmd.OutOrStdout(), "agent %s draining: %d job(s) still running, none will start\n", v.Name, len(v.Running))
		}
		return nil
	})
	cmd.Flags().BoolVar(&undo, "undo", false, "let the agent take jobs again")
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for its running jobs to end")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the agent as JSON")
	return cmd
}

func agentByName(cmd *cobra.Command, c *client.Client, name string) (*server.AgentView, error) {
	agents, err := c.ListAgents(cmd.Context())
	if err != nil {
		return nil, err
	}
	var names []string
	for i := range agents {
		if agents[i].Name == name {
			return &agents[i], nil
		}
		names = append(names, agents[i].Name)
	}
	return nil, fmt.Errorf("no agent named %q (agents: %s; see sluice agents)", name, strings.Join(names, ", "))
}

func queueCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Show the queue per runs-on label set: jobs waiting, agents that could take them",
		Long: `For each runs-on label set with queued or running jobs: how many wait for an agent, since when,
how many run, and how many online (not draining) agents match with how many free slots. An
autoscaler reads --json (or GET /api/v1/queue/labels) to add agents where jobs wait.`,
		Example: "  sluice queue\n  sluice queue --json",
		Args:    cobra.NoArgs,
	}
	conn := addAPIConn(cmd)
	cmd.RunE = conn.withClient(func(cmd *cobra.Command, _ []string, c *client.Client) error {
		qs, err := c.QueueByLabels(cmd.Context())
		if err != nil {
			return err
		}
		return printList(cmd.OutOrStdout(), asJSON, qs, "LABELS\tQUEUED\tOLDEST\tRUNNING\tAGENTS\tFREE SLOTS", func(w io.Writer, q store.LabelQueue) {
			labels := strings.Join(q.Labels, ",")
			if labels == "" {
				labels = "(any)"
			}
			oldest := "-"
			if q.OldestQueued != nil {
				oldest = time.Since(*q.OldestQueued).Round(time.Second).String()
			}
			fmt.Fprintf(w, "%s\t%d\t%s\t%d\t%d\t%d\n", labels, q.Queued, oldest, q.Running, q.AgentsOnline, q.FreeSlots)
		})
	})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
