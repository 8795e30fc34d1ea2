package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/client"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/spf13/cobra"
)

func releasesCmd() *cobra.Command {
	var repo string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "releases",
		Short: "List a repository's releases, newest first",
		Long: `List the releases of --repo (default: the server's only repository): the artifacts runs
built, each set named by the digest of its contents. Promote one with sluice promote ID --to ENV.`,
		Example: "  sluice releases\n  sluice releases --repo demo --limit 5\n  sluice releases --json | jq -r '.[0].id'",
		Args:    cobra.NoArgs,
	}
	conn := addAPIConn(cmd)
	cmd.RunE = conn.withClient(func(cmd *cobra.Command, _ []string, c *client.Client) error {
		api := cdAPI{c}
		name, err := api.repoOrOnly(cmd.Context(), repo)
		if err != nil {
			return err
		}
		rels, err := api.releases(cmd.Context(), name, limit)
		if err != nil {
			return err
		}
		return printList(cmd.OutOrStdout(), asJSON, rels, "ID\tVERSION\tREF\tCOMMIT\tRUN\tCREATED\tREJECTED", func(w io.Writer, r cd.Release) {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", shortRelease(r.ID), orDash(r.Version), shortRef(r.Ref),
				short7(r.Commit), runRef(r.RunID), shortTime(r.Created), yesNo(r.Rejected))
		})
	})
	f := cmd.Flags()
	f.StringVar(&repo, "repo", "", "repository (default: the server's only one)")
	f.IntVar(&limit, "limit", 20, "at most this many releases")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func releaseCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "release",
		Short:   "Show or reject one release",
		Example: "  sluice release show 3f2a9c01be77\n  sluice release reject 3f2a9c01be77",
	}
	conn := addAPIConn(cmd)
	cmd.AddCommand(releaseShowCmd(conn), releaseRejectCmd(conn))
	return cmd
}

func releaseShowCmd(conn *apiConn) *cobra.Command {
	var repo string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show RELEASE",
		Short: "Show a release: its artifacts with their digests, and where it was promoted",
		Long: `Show RELEASE (its ID or at least 6 hex digits of it, as sluice releases shows) with each
artifact's digest and size and every promotion of it, oldest first. --json adds each artifact's
provenance (an in-toto statement with an SLSA provenance predicate).`,
		Example: "  sluice release show 3f2a9c01be77\n  sluice release show 3f2a9c --repo demo --json | jq '.artifacts[0].provenance'",
		Args:    cobra.ExactArgs(1),
	}
	cmd.RunE = conn.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
		d, err := cdAPI{c}.release(cmd.Context(), repo, args[0])
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(cmd.OutOrStdout(), d)
		}
		return printRelease(cmd.OutOrStdout(), d)
	})
	cmd.Flags().StringVar(&repo, "repo", "", "repository to look a short ID up in (default: all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printRelease(w io.Writer, d *server.ReleaseDetail) error {
	r := d.Release
	tw := newTable(w)
	fmt.Fprintf(tw, "release\t%s\n", r.ID)
	fmt.Fprintf(tw, "repo\t%s\n", r.Repo)
	fmt.Fprintf(tw, "version\t%s\n", orDash(r.Version))
	fmt.Fprintf(tw, "ref\t%s\n", r.Ref)
	fmt.Fprintf(tw, "commit\t%s\n", r.Commit)
	fmt.Fprintf(tw, "run\t%s\n", runRef(r.RunID))
	if r.LockHash != "" {
		fmt.Fprintf(tw, "lockfile\t%s\n", r.LockHash)
	}
	fmt.Fprintf(tw, "created\t%s\n", shortTime(r.Created))
	fmt.Fprintf(tw, "rejected\t%s\n", yesNo(r.Rejected))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = newTable(w)
	fmt.Fprintln(tw, "ARTIFACT\tSIZE\tDIGEST")
	for _, a := range d.Artifacts {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", a.Name, a.Size, a.Digest)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(d.Promotions) == 0 {
		fmt.Fprintln(w, "never promoted")
		return nil
	}
	tw = newTable(w)
	fmt.Fprintln(tw, "PROMOTION\tENV\tKIND\tSTATE\tBY\tCREATED")
	for _, p := range d.Promotions {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Env, p.Kind, p.State, startedBy(p), shortTime(p.Created))
	}
	return tw.Flush()
}

func releaseRejectCmd(conn *apiConn) *cobra.Command {
	var repo string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "reject RELEASE",
		Short: "Mark a release rejected so that no promotion may use it",
		Long: `Mark RELEASE rejected: promotions of it are refused from now on (what already runs it stays).
Needs a write token. To turn down one waiting promotion instead, use sluice reject PROMOTION.`,
		Example: "  sluice release reject 3f2a9c01be77",
		Args:    cobra.ExactArgs(1),
	}
	cmd.RunE = conn.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
		r, err := cdAPI{c}.rejectRelease(cmd.Context(), repo, args[0])
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(cmd.OutOrStdout(), r)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "release %s (%s) of %s rejected\n", shortRelease(r.ID), orDash(r.Version), r.Repo)
		return nil
	})
	cmd.Flags().StringVar(&repo, "repo", "", "repository to look a short ID up in (default: all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the release as JSON")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func short7(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return orDash(sha)
}

func runRef(id int64) string {
	if id == 0 {
		return "-"
	}
	return fmt.Sprint(id)
}

// startedBy names who started a promotion, marking the ones sluice started.
func startedBy(p cd.Promotion) string {
	switch {
	case p.Auto && p.StartedBy == "":
		return "(auto)"
	case p.Auto:
		return p.StartedBy + " (auto)"
	}
	return orDash(p.StartedBy)
}

// approvalsText lists a promotion's reviewers, rejections marked.
func approvalsText(as []cd.Approval) string {
	if len(as) == 0 {
		return "-"
	}
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.By
		if !a.Approve {
			parts[i] += "(rejected)"
		}
	}
	return strings.Join(parts, ",")
}
