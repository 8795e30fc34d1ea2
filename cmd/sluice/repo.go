package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/sluice-ci/sluice/internal/client"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/spf13/cobra"
)

// apiDefaultServer is where the CLI looks for a server without --server or
// SLUICE_SERVER: sluice serve's default address.
const apiDefaultServer = "http://127.0.0.1:8080"

// apiConn holds the --server and --token flags of the commands that talk to
// a server's API.
type apiConn struct {
	server, token string
}

// addAPIConn adds --server and --token to cmd, defaulting to SLUICE_SERVER
// and SLUICE_TOKEN.
func addAPIConn(cmd *cobra.Command) *apiConn {
	c := &apiConn{}
	def := os.Getenv("SLUICE_SERVER")
	if def == "" {
		def = apiDefaultServer
	}
	cmd.PersistentFlags().StringVar(&c.server, "server", def, "server URL (env SLUICE_SERVER)")
	cmd.PersistentFlags().StringVar(&c.token, "token", os.Getenv("SLUICE_TOKEN"), "API token (env SLUICE_TOKEN)")
	return c
}

func (c *apiConn) client() (*client.Client, error) {
	if c.token == "" {
		return nil, fmt.Errorf("no API token: pass --token or set SLUICE_TOKEN (sluice serve prints the admin token on first start)")
	}
	if !strings.HasPrefix(c.server, "http://") && !strings.HasPrefix(c.server, "https://") {
		return nil, fmt.Errorf("--server %q: want an http:// or https:// URL", c.server)
	}
	return client.New(c.server, c.token), nil
}

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// newTable returns a tab writer for aligned columns; Flush it.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

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
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.client()
			if err != nil {
				return err
			}
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
		},
	}
	f := cmd.Flags()
	f.StringVar(&in.URL, "url", "", "git URL to fetch (required)")
	f.StringVar(&in.WebhookSecret, "webhook-secret", "", "secret the forge signs webhooks with")
	f.StringVar(&in.Credentials, "credentials", "", "fetch credentials: a token or user:password for https, a private key for ssh")
	f.StringVar(&in.DefaultBranch, "default-branch", "", "default branch (for dispatch and badges)")
	f.StringVar(&in.Forge, "forge", "", "forge for commit statuses: github, gitea (forgejo) or gitlab")
	f.StringVar(&in.StatusToken, "status-token", "", "forge API token allowed to set commit statuses")
	f.StringVar(&in.APIURL, "api-url", "", "forge API root (default: derived from --url)")
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.client()
			if err != nil {
				return err
			}
			repos, err := c.ListRepos(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				if repos == nil {
					repos = []server.RepoView{}
				}
				return printJSON(cmd.OutOrStdout(), repos)
			}
			tw := newTable(cmd.OutOrStdout())
			fmt.Fprintln(tw, "NAME\tURL\tBRANCH\tWEBHOOK SECRET\tFORGE")
			for _, r := range repos {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", r.Name, r.URL, r.DefaultBranch, r.HasWebhookSecret, r.Forge)
			}
			return tw.Flush()
		},
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
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.client()
			if err != nil {
				return err
			}
			if err := c.DeleteRepo(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed repository %s\n", args[0])
			return nil
		},
	}
}
