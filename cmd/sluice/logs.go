package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/sluice-ci/sluice/internal/client"
	"github.com/sluice-ci/sluice/internal/logs"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/spf13/cobra"
)

// logsPoll is how often --follow looks for new jobs of a run whose known
// jobs are all done.
const logsPoll = time.Second

func logsCmd() *cobra.Command {
	var jobSel string
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs RUN",
		Short: "Print the logs of a run's jobs",
		Long: `Print the log of every job of run RUN (or only --job, by job key, name or ID). With --follow,
keep printing lines as they arrive until the run's jobs are done; an interrupted connection is
resumed where it left off.`,
		Example: "  sluice logs 42\n  sluice logs 42 --job test --follow",
		Args:    cobra.ExactArgs(1),
	}
	conn := addAPIConn(cmd)
	cmd.RunE = conn.withRun(func(cmd *cobra.Command, c *client.Client, id int64) error {
		return printRunLogs(cmd.Context(), c, cmd.OutOrStdout(), id, jobSel, follow)
	})
	cmd.Flags().StringVar(&jobSel, "job", "", "only this job (key, name or ID)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "stream new lines until the jobs are done")
	return cmd
}

func jobMatches(j server.JobView, sel string) bool {
	return sel == "" || j.Key == sel || j.Name == sel || strconv.FormatInt(j.ID, 10) == sel
}

// printRunLogs prints the jobs' logs one after the other. Following, it
// looks again for jobs that appeared meanwhile (matrix legs, retries) until
// the run is completed and every job's log was printed to its end.
func printRunLogs(ctx context.Context, c *client.Client, w io.Writer, runID int64, sel string, follow bool) error {
	done := map[int64]bool{}
	multi := false
	for {
		d, err := c.GetRun(ctx, runID)
		if err != nil {
			return err
		}
		var jobs []server.JobView
		for _, j := range d.Jobs {
			if jobMatches(j, sel) {
				jobs = append(jobs, j)
			}
		}
		if len(jobs) == 0 && sel != "" && (!follow || d.Run.Status == store.StatusCompleted) {
			return fmt.Errorf("run %d has no job %q", runID, sel)
		}
		multi = multi || len(d.Jobs) > 1
		printed := false
		for _, j := range jobs {
			if done[j.ID] {
				continue
			}
			printed = true
			if multi {
				fmt.Fprintf(w, "=== %s (job %d, %s) ===\n", jobTitle(j), j.ID, runState(j.Status, j.Conclusion))
			}
			if follow {
				end, err := c.FollowLogs(ctx, j.ID, 0, func(l store.LogLine) error {
					_, err := io.WriteString(w, formatLogLine(l))
					return err
				})
				if err != nil {
					return err
				}
				if multi {
					fmt.Fprintf(w, "=== %s: %s ===\n", jobTitle(j), end.Conclusion)
				}
			} else if err := printJobLog(ctx, c, w, j.ID); err != nil {
				return err
			}
			done[j.ID] = true
		}
		if !follow || (!printed && d.Run.Status == store.StatusCompleted) {
			return nil
		}
		if !printed {
			// Every job seen is done but the run is not: new jobs
			// (matrix legs, retries) are about to appear.
			select {
			case <-time.After(logsPoll):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

func jobTitle(j server.JobView) string {
	if j.Name != "" {
		return j.Name
	}
	return j.Key
}

func printJobLog(ctx context.Context, c *client.Client, w io.Writer, jobID int64) error {
	var after int64
	for {
		lines, err := c.Logs(ctx, jobID, after, 5000)
		if err != nil {
			return err
		}
		if len(lines) == 0 {
			return nil
		}
		for _, l := range lines {
			if _, err := io.WriteString(w, formatLogLine(l)); err != nil {
				return err
			}
			after = l.Seq
		}
	}
}

// formatLogLine renders a line as a terminal shows it: groups as headers,
// errors and warnings marked, group ends dropped.
// formatLogLine is a stored line as sluice logs prints it: without the
// terminal control sequences a job may have printed (colours kept).
func formatLogLine(l store.LogLine) string {
	l.Text = logs.ForTerminal(l.Text)
	switch l.Kind {
	case "group":
		return "▶ " + l.Text + "\n"
	case "endgroup":
		return ""
	case "error":
		return "Error: " + l.Text + "\n"
	case "warning":
		return "Warning: " + l.Text + "\n"
	case "command":
		return "$ " + l.Text + "\n"
	}
	return l.Text + "\n"
}
