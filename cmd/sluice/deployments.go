package main

import (
	"fmt"
	"io"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/client"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/spf13/cobra"
)

func deploymentsCmd() *cobra.Command {
	var repo string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "deployments ENV",
		Short:   "Show an environment's history of promotions, newest first",
		Example: "  sluice deployments production\n  sluice deployments staging --repo demo --limit 5 --json",
		Args:    cobra.ExactArgs(1),
	}
	conn := addAPIConn(cmd)
	cmd.RunE = conn.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
		api := cdAPI{c}
		name, err := api.repoOrOnly(cmd.Context(), repo)
		if err != nil {
			return err
		}
		hist, err := api.deployments(cmd.Context(), name, args[0], limit)
		if err != nil {
			return err
		}
		return printList(cmd.OutOrStdout(), asJSON, hist, "ID\tRELEASE\tKIND\tSTATE\tBY\tAPPROVALS\tCREATED\tURL", func(w io.Writer, p cd.Promotion) {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, shortRelease(p.ReleaseID), p.Kind, p.State, startedBy(p),
				approvalsText(p.Approvals), shortTime(p.Created), orDash(p.URL))
		})
	})
	f := cmd.Flags()
	f.StringVar(&repo, "repo", "", "repository (default: the server's only one)")
	f.IntVar(&limit, "limit", 20, "at most this many promotions")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func environmentsCmd() *cobra.Command {
	var repo string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "environments",
		Short: "Show what each environment runs and what waits to go there",
		Long: `List the environments of --repo (declared in its .sluice/environments.yml) with each one's
tier, current release (its latest successful promotion) and since when, and how many promotions
are queued, waiting for review or in progress.`,
		Example: "  sluice environments\n  sluice environments --repo demo --json | jq '.[].current.release_id'",
		Args:    cobra.NoArgs,
	}
	conn := addAPIConn(cmd)
	cmd.RunE = conn.withClient(func(cmd *cobra.Command, _ []string, c *client.Client) error {
		api := cdAPI{c}
		name, err := api.repoOrOnly(cmd.Context(), repo)
		if err != nil {
			return err
		}
		envs, err := api.environments(cmd.Context(), name)
		if err != nil {
			return err
		}
		return printList(cmd.OutOrStdout(), asJSON, envs, "ENV\tTIER\tCURRENT\tSINCE\tPENDING", func(w io.Writer, e server.EnvironmentView) {
			cur, since := "-", "-"
			if e.Current != nil {
				cur, since = shortRelease(e.Current.ReleaseID), shortTime(e.Current.Updated)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\n", e.Environment.Name, orDash(e.Environment.Tier), cur, since, len(e.Pending))
		})
	})
	cmd.Flags().StringVar(&repo, "repo", "", "repository (default: the server's only one)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
