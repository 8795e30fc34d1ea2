package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/client"
	"github.com/sluice-ci/sluice/internal/localrun"
	"github.com/sluice-ci/sluice/internal/repro"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/spf13/cobra"
)

// reproReport is what verify-repro --json prints.
type reproReport struct {
	Release string            `json:"release"`
	Run     int64             `json:"run"`
	Result  *repro.Result     `json:"result"`
	Check   *store.ReproCheck `json:"check"` // null with --no-record
}

func verifyReproCmd() *cobra.Command {
	var sourceDir, buildCmd string
	var asJSON, noRecord bool
	cmd := &cobra.Command{
		Use:   "verify-repro RUN",
		Short: "Rebuild a run's release and check that its Python artifacts come out byte for byte the same",
		Long: "Rebuild the wheels and sdists of the release run RUN made, from its commit in the local repository " +
			"(--source), in two fresh checkouts that differ in path, umask and time zone, with SOURCE_DATE_EPOCH " +
			"set to the commit's committer time, and compare their digests with the release's. The outcome is " +
			"recorded on the server (a write token) unless --no-record. Exits 1 when a file differs.\n\n" +
			"The build command runs at the root of each checkout and must write the distributions to $OUT; the " +
			"default is `uv build --out-dir \"$OUT\"` when uv is on PATH, else `python3 -m build --outdir \"$OUT\"`. " +
			"Use the command the workflow used.",
		Example: "  sluice verify-repro 42\n" +
			"  sluice verify-repro 42 --source ~/src/app --build-cmd 'python -m build --wheel --outdir \"$OUT\"'\n" +
			"  sluice verify-repro 42 --no-record --json | jq .result.differ",
		Args: cobra.ExactArgs(1),
	}
	conn := addAPIConn(cmd)
	cmd.RunE = conn.withRun(func(cmd *cobra.Command, c *client.Client, run int64) error {
		ctx := cmd.Context()
		var rel cd.Release
		if err := c.Do(ctx, "GET", fmt.Sprintf("/api/v1/runs/%d/release", run), nil, &rel); err != nil {
			if client.IsNotFound(err) {
				return fmt.Errorf("run %d made no release to verify", run)
			}
			return err
		}
		logw := cmd.ErrOrStderr()
		fmt.Fprintf(logw, "release %s of %s, commit %s\n", rel.ID, rel.Repo, rel.Commit)
		res, err := repro.Rebuild(ctx, repro.Options{Source: sourceDir, Commit: rel.Commit, Expected: rel.Artifacts,
			BuildCmd: buildCmd, Log: func(s string) { fmt.Fprintln(logw, s) }})
		if errors.Is(err, repro.ErrNoPythonArtifacts) {
			return fmt.Errorf("release %s: %w", rel.ID, err)
		}
		if err != nil {
			return fmt.Errorf("rebuilding release %s: %w", rel.ID, err)
		}
		report := reproReport{Release: rel.ID, Run: run, Result: res}
		if !noRecord {
			var check store.ReproCheck
			in := server.ReproInput{Identical: res.Identical, Differ: res.Differ, Detail: res.Summary()}
			if err := c.Do(ctx, "POST", "/api/v1/releases/"+url.PathEscape(rel.ID)+"/repro", in, &check); err != nil {
				return fmt.Errorf("recording the check: %w", err)
			}
			report.Check = &check
		}
		out := cmd.OutOrStdout()
		if asJSON {
			if err := printJSON(out, report); err != nil {
				return err
			}
		} else if err := printReproTable(out, report); err != nil {
			return err
		}
		if !res.Identical {
			return &exitError{code: localrun.ExitFailed}
		}
		return nil
	})
	f := cmd.Flags()
	f.StringVar(&sourceDir, "source", ".", "local git repository holding the release's commit")
	f.StringVar(&buildCmd, "build-cmd", "", "shell command that builds the distributions into $OUT (default: uv build, else python3 -m build)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.BoolVar(&noRecord, "no-record", false, "do not record the outcome on the server")
	return cmd
}

func printReproTable(w io.Writer, r reproReport) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "FILE\tRELEASE\tREBUILT\tRESULT")
	for _, f := range r.Result.Files {
		got := make([]string, len(f.Rebuilt))
		for i, d := range f.Rebuilt {
			got[i] = shortDigest(d)
		}
		verdict := "same"
		if !f.Identical {
			verdict = "DIFFERENT"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Name, shortDigest(f.Expected), strings.Join(got, " "), verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verdict := "reproducible: every file rebuilt identical"
	if !r.Result.Identical {
		verdict = "NOT reproducible: " + strings.Join(r.Result.Differ, ", ")
	}
	fmt.Fprintf(w, "%s (%d workspaces, SOURCE_DATE_EPOCH=%d)\n", verdict, len(r.Result.Workspaces), r.Result.SourceDateEpoch)
	if r.Check != nil {
		fmt.Fprintf(w, "recorded check %d on release %s\n", r.Check.ID, r.Release)
	}
	return nil
}

// shortDigest is the first 12 hex digits of a digest; "-" for a file that was not built.
func shortDigest(d string) string {
	if d == "" {
		return "-"
	}
	h := strings.TrimPrefix(d, "sha256:")
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}
