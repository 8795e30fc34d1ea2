package main

import (
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/sluice-ci/sluice/internal/client"
	"github.com/sluice-ci/sluice/internal/metrics"
	"github.com/spf13/cobra"
)

type metricsFlags struct {
	repo, env, since, leadFrom, compare, splitBy, hotfixWindow string
	asJSON, asCSV, definitions                                 bool
}

func metricsCmd() *cobra.Command {
	var f metricsFlags
	cmd := &cobra.Command{
		Use:   "metrics",
		Short: "Show a repository's delivery figures: DORA keys, dependency incidents, reproducibility, pins, pipelines, flaky tests",
		Long: `Compute --repo's delivery figures on the server, from its event log, over --since (default 90d):

  DORA's five keys for --env (default: the environment of tier production): deployment frequency
  with DORA's bucket, change lead time, change fail rate, failed deployment recovery time and
  deployment rework rate;
  dependency incidents (runs and deployments broken by dependency-only changes) and their MTTR;
  build reproducibility (verify-repro and rebuilds of the same commit);
  emergency pins (Sluice-Pin trailers, new pins, caps and downgrades) and rollbacks per month;
  pipeline durations per workflow and job (p50/p90 wall and queue time, success rate), before and
  after --compare; flaky and slowest tests; jobs split by --split-by tool version.

--definitions prints how each figure is computed; --json and --csv print everything.`,
		Example: "  sluice metrics\n" +
			"  sluice metrics --repo app --env production --since 30d\n" +
			"  sluice metrics --compare abc1234          # before/after a commit, per workflow\n" +
			"  sluice metrics --split-by pip --json | jq '.tool_split.versions'\n" +
			"  sluice metrics --csv > metrics.csv",
		Args: cobra.NoArgs,
	}
	conn := addAPIConn(cmd)
	cmd.RunE = conn.withClient(func(cmd *cobra.Command, _ []string, c *client.Client) error {
		if f.asJSON && f.asCSV {
			return fmt.Errorf("--json and --csv: pick one")
		}
		api := cdAPI{c}
		name, err := api.repoOrOnly(cmd.Context(), f.repo)
		if err != nil {
			return err
		}
		q := url.Values{}
		for k, v := range map[string]string{"env": f.env, "since": f.since, "lead_from": f.leadFrom, "compare": f.compare,
			"split_by": f.splitBy, "hotfix_window": f.hotfixWindow} {
			if v != "" {
				q.Set(k, v)
			}
		}
		path := repoPath(name, "metrics")
		if len(q) > 0 {
			path += "?" + q.Encode()
		}
		var rep metrics.Report
		if err := api.do(cmd.Context(), "GET", path, nil, &rep); err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		switch {
		case f.asJSON:
			return printJSON(out, rep)
		case f.asCSV:
			return metrics.WriteCSV(out, &rep)
		}
		return printMetrics(out, &rep, f.definitions)
	})
	fl := cmd.Flags()
	fl.StringVar(&f.repo, "repo", "", "repository (default: the server's only one)")
	fl.StringVar(&f.env, "env", "", "environment for the DORA keys (default: the one of tier production)")
	fl.StringVar(&f.since, "since", "", "window: 90d (default), 12w, 36h, or a date like 2025-01-31")
	fl.StringVar(&f.leadFrom, "lead-from", "", "lead time from the commit's committer time (commit, default) or its push (push)")
	fl.StringVar(&f.compare, "compare", "", "split pipeline durations before/after a commit or a date")
	fl.StringVar(&f.splitBy, "split-by", "", "split job figures by the version of a tool (python, pip, uv, ...)")
	fl.StringVar(&f.hotfixWindow, "hotfix-window", "", "how soon a hotfix marks a deployment failed (default 24h)")
	fl.BoolVar(&f.asJSON, "json", false, "print every figure as JSON")
	fl.BoolVar(&f.asCSV, "csv", false, "print every figure as CSV (section, subject, metric, period, value, unit)")
	fl.BoolVar(&f.definitions, "definitions", false, "print how each figure is computed")
	return cmd
}

// printMetrics prints the figures a person reads first.
func printMetrics(w io.Writer, r *metrics.Report, definitions bool) error {
	stats := func(st metrics.Stats) string {
		if st.Median == nil {
			return "no data"
		}
		return fmt.Sprintf("median %s · p90 %s", st.Median, st.P90)
	}
	rate := func(rt metrics.Rate) string {
		if rt.Value == nil {
			return "no data"
		}
		return fmt.Sprintf("%s (%d of %d)", rt.Percent(), rt.Num, rt.Den)
	}
	def := func(s string) {
		if definitions {
			fmt.Fprintf(w, "      %s\n", s)
		}
	}
	env := r.Env
	if env == "" {
		env = "no environment"
	}
	fmt.Fprintf(w, "%s · %s · last %s (%s → %s)\n\n", r.Repo, env, r.Window, r.Since.Format("2006-01-02"), r.Until.Format("2006-01-02"))
	d := r.DORA
	fmt.Fprintln(w, "DORA")
	switch {
	case r.Env == "":
		fmt.Fprintf(w, "  no environment to measure: %s\n", r.EnvReason)
	case r.Empty():
		fmt.Fprintf(w, "  no deployments to %s yet in the last %s\n", r.Env, r.Window)
	default:
		fmt.Fprintf(w, "  Deployment frequency  %d (%.2f/day, %.2f/week) · %s\n", d.Frequency.Count, d.Frequency.PerDay, d.Frequency.PerWeek, d.Frequency.Bucket)
		def(d.Frequency.Definition + " " + d.Frequency.BucketDefinition)
		fmt.Fprintf(w, "  Change lead time      %s (%d commits)\n", stats(d.LeadTime.Stats), d.LeadTime.N)
		def(d.LeadTime.Definition)
		fmt.Fprintf(w, "  Change fail rate      %s\n", rate(d.ChangeFailRate.Rate))
		def(d.ChangeFailRate.Definition)
		fmt.Fprintf(w, "  Recovery time         %s (%d open)\n", stats(d.Recovery.Stats), d.Recovery.Open)
		def(d.Recovery.Definition)
		fmt.Fprintf(w, "  Rework rate           %s\n", rate(d.Rework.Rate))
		def(d.Rework.Definition)
	}
	fmt.Fprintln(w)
	dep := r.Dependencies
	fmt.Fprintf(w, "Dependency incidents    %d · MTTR %s · %d open\n", len(dep.Incidents), stats(dep.MTTR), dep.Open)
	def(dep.Definition)
	fmt.Fprintf(w, "Build reproducibility   %s\n", rate(r.Reproducibility.Rate))
	def(r.Reproducibility.Definition)
	fmt.Fprintf(w, "Emergency pins          %d · rollbacks %d\n", len(r.Pins.Pins), len(r.Pins.Rollbacks))
	def(r.Pins.Definition)
	for _, p := range r.Pins.Pins {
		var what []string
		for _, c := range p.Changes {
			what = append(what, c.Package+" "+c.Kind)
		}
		if len(p.Trailer) > 0 {
			what = append(what, "Sluice-Pin: "+strings.Join(p.Trailer, ", "))
		}
		fmt.Fprintf(w, "  %s %s %s: %s\n", p.At.Format("2006-01-02"), shortSHA(p.Commit), p.Subject, strings.Join(what, "; "))
	}
	if len(r.Pipelines.Workflows) > 0 {
		fmt.Fprintln(w, "\nPipelines")
		def(r.Pipelines.Definition)
		tw := newTable(w)
		fmt.Fprintln(tw, "  WORKFLOW\tRUNS\tSUCCESS\tWALL P50\tP90\tQUEUE P50\tP90")
		for _, wf := range r.Pipelines.Workflows {
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\t%s\n", wf.Name, wf.Runs, wf.SuccessRate.Percent(), secOr(wf.Wall.Median),
				secOr(wf.Wall.P90), secOr(wf.Queue.Median), secOr(wf.Queue.P90))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, wf := range r.Pipelines.Workflows {
			if wf.Compare != nil {
				fmt.Fprintf(w, "  %s\n", wf.Compare.Summary)
			}
		}
	}
	if len(r.Tests.Flaky) > 0 {
		fmt.Fprintln(w, "\nFlaky tests")
		def(r.Tests.Definition)
		tw := newTable(w)
		fmt.Fprintln(tw, "  TEST\tJOB\tFLAKES\tRATE\tLAST SEEN")
		for _, ft := range r.Tests.Flaky {
			fmt.Fprintf(tw, "  %s\t%s\t%d of %d\t%s\t%s\n", ft.Name, ft.Job, ft.Flakes, ft.Commits, ft.Rate.Percent(), shortTime(ft.LastSeen))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Tests.Slowest) > 0 {
		fmt.Fprintln(w, "\nSlowest tests")
		def(r.Tests.SlowestDefinition)
		for _, st := range r.Tests.Slowest {
			fmt.Fprintf(w, "  %-8s %s\n", st.Mean, st.Name)
		}
	}
	if t := r.Tools; t != nil {
		fmt.Fprintf(w, "\nJobs by %s version\n", t.Tool)
		tw := newTable(w)
		fmt.Fprintln(tw, "  VERSION\tJOBS\tFAILURES\tSUCCESS\tWALL P50\tFIRST SEEN")
		for _, v := range t.Versions {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\t%s\t%s\n", v.Version, v.Jobs, v.Failures, v.SuccessRate.Percent(), secOr(v.Wall.Median), shortTime(v.FirstSeen))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(t.Versions) == 0 {
			fmt.Fprintf(w, "  no job recorded %s; recorded tools: %s\n", t.Tool, strings.Join(t.Available, ", "))
		}
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "\nNotes")
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	return nil
}

func secOr(s *metrics.Seconds) string {
	if s == nil {
		return "-"
	}
	return s.String()
}
