package main

import (
	"fmt"
	"io"

	"github.com/sluice-ci/sluice/internal/client"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/spf13/cobra"
)

func varCmd() *cobra.Command {
	var repo, env string
	cmd := &cobra.Command{
		Use:   "var",
		Short: "Manage a repository's or an environment's variables on a sluice server",
		Long: `Variables are configuration a workflow reads as ${{ vars.NAME }} (GitHub's configuration variables).
Without --env they are the repository's: every run of the repository sees them, in job conditions,
runs-on, concurrency groups and steps alike. With --env they are that environment's: a job sees
them only when it deploys to that environment, once the environment's gates passed, over the
repository's of the same name. Unlike secrets they are listed with their values; put nothing
secret in them.`,
		Example: "  sluice var set PYPI_INDEX https://pypi.internal/simple --repo demo\n  sluice var set API_URL https://api.example --repo demo --env production\n  sluice var list --repo demo --env production",
	}
	conn := addAPIConn(cmd)
	cmd.PersistentFlags().StringVar(&repo, "repo", "", "repository (required)")
	cmd.PersistentFlags().StringVar(&env, "env", "", "environment (default: the repository's own variables)")
	need := func() error {
		if repo == "" {
			return fmt.Errorf("--repo is required: variables belong to a repository (or, with --env, to one of its environments)")
		}
		return nil
	}
	// of says whose variables these are, for messages.
	of := func() string {
		if env == "" {
			return "repository " + repo
		}
		return "environment " + env + " of " + repo
	}
	set := &cobra.Command{
		Use:     "set NAME VALUE",
		Short:   "Set a variable (write token)",
		Example: "  sluice var set PYPI_INDEX https://pypi.internal/simple --repo demo\n  sluice var set API_URL https://api.example --repo demo --env production",
		Args:    cobra.ExactArgs(2),
		RunE: conn.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			if err := need(); err != nil {
				return err
			}
			v, err := c.SetEnvValue(cmd.Context(), repo, env, "var", args[0], args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "set variable %s of %s\n", v.Name, of())
			return nil
		}),
	}
	var asJSON bool
	list := &cobra.Command{
		Use:     "list",
		Short:   "List a repository's or an environment's variables",
		Example: "  sluice var list --repo demo --env production --json",
		Args:    cobra.NoArgs,
		RunE: conn.withClient(func(cmd *cobra.Command, _ []string, c *client.Client) error {
			if err := need(); err != nil {
				return err
			}
			vs, err := c.ListEnvValues(cmd.Context(), repo, env, "var")
			if err != nil {
				return err
			}
			return printList(cmd.OutOrStdout(), asJSON, vs, "NAME\tVALUE", func(w io.Writer, v server.EnvValueView) {
				fmt.Fprintf(w, "%s\t%s\n", v.Name, v.Value)
			})
		}),
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	del := &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a variable (write token)",
		Example: "  sluice var delete API_URL --repo demo --env production",
		Args:    cobra.ExactArgs(1),
		RunE: conn.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			if err := need(); err != nil {
				return err
			}
			return c.DeleteEnvValue(cmd.Context(), repo, env, "var", args[0])
		}),
	}
	cmd.AddCommand(set, list, del)
	return cmd
}
