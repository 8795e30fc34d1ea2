package main

import (
	"fmt"
	"io"

	"github.com/sluice-ci/sluice/internal/client"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/spf13/cobra"
)

func repoCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "repo",
		Short: "Manage the repositories a sluice server builds",
		Example: "  sluice repo add demo --url https://github.com/me/demo.git --webhook-secret $HOOK_SECRET\n" +
			"  sluice repo list",
	}
	conn := addAPIConn(cmd)
	cmd.AddCommand(repoAddCmd(conn), repoListCmd(conn), repoRemoveCmd(conn))
	return cmd
}

func repoAddCmd(conn *apiConn) *cobra.Command {
	var in server.RepoInput
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "add NAME --url URL",
		Short: "Register a repository (admin token)",
		Long: `Register a repository by git URL (file://, https://, ssh:// or git@host:path). Point the forge's
webhook at SERVER/hooks/github (or /hooks/gitea, /hooks/gitlab), adding ?repo=NAME when the URL
registered here differs from the forge's, with the same secret as --webhook-secret.
With --forge and --status-token the server reports commit statuses back to the forge.
Secrets are encrypted on the server and never shown again.`,
		Example: "  sluice repo add demo --url https://github.com/me/demo.git --webhook-secret s3cret\n" +
			"  sluice repo add demo --url git@github.com:me/demo.git --credentials \"$(cat deploy_key)\" \\\n" +
			"      --forge github --status-token $GITHUB_TOKEN --default-branch main",
		Args: cobra.ExactArgs(1),
		RunE: conn.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			in.Name = args[0]
			v, err := c.AddRepo(cmd.Context(), in)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added repository %s (%s)\n", v.Name, v.URL)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&in.URL, "url", "", "git URL to fetch (required)")
	f.StringVar(&in.WebhookSecret, "webhook-secret", "", "secret the forge signs webhooks with")
	f.StringVar(&in.Credentials, "credentials", "", "fetch credentials: a token or user:password for https, a private key for ssh")
	f.StringVar(&in.DefaultBranch, "default-branch", "", "default branch (for dispatch and badges)")
	f.StringVar(&in.Forge, "forge", "", "forge for commit statuses: github, gitea (forgejo) or gitlab")
	f.StringVar(&in.StatusToken, "status-token", "", "forge API token allowed to set commit statuses")
	f.StringVar(&in.APIURL, "api-url", "", "forge API root (default: derived from --url)")
	f.BoolVar(&in.ForkRunsWithoutApproval, "fork-runs-without-approval", false, "let pull requests from forks run without a maintainer's approval (sluice approve-run); they never get secrets either way")
	f.BoolVar(&asJSON, "json", false, "print the repository as JSON")
	cmd.MarkFlagRequired("url")
	return cmd
}

func repoListCmd(conn *apiConn) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the repositories",
		Example: "  sluice repo list --json",
		Args:    cobra.NoArgs,
		RunE: conn.withClient(func(cmd *cobra.Command, _ []string, c *client.Client) error {
			repos, err := c.ListRepos(cmd.Context())
			if err != nil {
				return err
			}
			return printList(cmd.OutOrStdout(), asJSON, repos, "NAME\tURL\tBRANCH\tWEBHOOK SECRET\tFORGE",
				func(w io.Writer, r server.RepoView) {
					fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%s\n", r.Name, r.URL, r.DefaultBranch, r.HasWebhookSecret, r.Forge)
				})
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func repoRemoveCmd(conn *apiConn) *cobra.Command {
	return &cobra.Command{
		Use:     "remove NAME",
		Aliases: []string{"rm", "delete"},
		Short:   "Remove a repository with its runs, logs and secrets (admin token)",
		Example: "  sluice repo remove demo",
		Args:    cobra.ExactArgs(1),
		RunE: conn.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			if err := c.DeleteRepo(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed repository %s\n", args[0])
			return nil
		}),
	}
}
