package main

import (
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/client"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/spf13/cobra"
)

func runsCmd() *cobra.Command {
	var q client.RunsQuery
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List the runs of a sluice server, newest first",
		Example: "  sluice runs\n  sluice runs --repo demo --status completed --limit 5\n" +
			"  sluice runs --json | jq '.[0].conclusion'",
		Args: cobra.NoArgs,
	}
	conn := addAPIConn(cmd)
	cmd.RunE = conn.withClient(func(cmd *cobra.Command, _ []string, c *client.Client) error {
		runs, err := c.ListRuns(cmd.Context(), q)
		if err != nil {
			return err
		}
		return printList(cmd.OutOrStdout(), asJSON, runs, "ID\tREPO\t#\tWORKFLOW\tEVENT\tREF\tCOMMIT\tSTATUS\tDURATION", func(w io.Writer, r server.RunView) {
			wf := r.WorkflowName
			if wf == "" {
				wf = path.Base(r.Workflow)
			}
			fmt.Fprintf(w, "%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Repo, r.Number, wf, r.Event,
				shortRef(r.Ref), shortSHA(r.SHA), runState(r.Status, r.Conclusion), duration(r.StartedAt, r.FinishedAt))
		})
	})
	f := cmd.Flags()
	f.StringVar(&q.Repo, "repo", "", "only runs of this repository")
	f.StringVar(&q.Status, "status", "", "only runs with this status: queued, in_progress or completed")
	f.StringVar(&q.Workflow, "workflow", "", "only runs of this workflow path (.github/workflows/ci.yml)")
	f.IntVar(&q.Limit, "limit", 20, "at most this many runs")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func runState(status, conclusion string) string {
	if status == store.StatusCompleted && conclusion != "" {
		return conclusion
	}
	return status
}

func shortRef(ref string) string {
	for _, p := range []string{"refs/heads/", "refs/tags/"} {
		if s, ok := strings.CutPrefix(ref, p); ok {
			return s
		}
	}
	return ref
}

func shortSHA(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}

// duration is how long something ran, "-" before it started; still running
// counts up to now.
func duration(started, finished *time.Time) string {
	if started == nil {
		return "-"
	}
	end := time.Now()
	if finished != nil {
		end = *finished
	}
	return end.Sub(*started).Round(time.Second).String()
}
