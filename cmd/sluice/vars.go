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
		Short: "Manage an environment's variables on a sluice server",
		Long: `An environment's variables reach a job as ${{ vars.NAME }} only when it deploys to that environment,
once the environment's gates passed (as GitHub's environment variables). Unlike secrets they are
listed with their values.`,
		Example: "  sluice var set API_URL https://api.example --repo demo --env production\n  sluice var list --repo demo --env production",
	}
	conn := addAPIConn(cmd)
	cmd.PersistentFlags().StringVar(&repo, "repo", "", "repository (required)")
	cmd.PersistentFlags().StringVar(&env, "env", "", "environment (required)")
	need := func() error {
		if repo == "" || env == "" {
			return fmt.Errorf("--repo and --env are required: variables belong to an environment of a repository")
		}
		return nil
	}
	set := &cobra.Command{
		Use:     "set NAME VALUE",
		Short:   "Set an environment variable (write token)",
		Example: "  sluice var set API_URL https://api.example --repo demo --env production",
		Args:    cobra.ExactArgs(2),
		RunE: conn.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			if err := need(); err != nil {
				return err
			}
			v, err := c.SetEnvValue(cmd.Context(), repo, env, "var", args[0], args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "set variable %s of environment %s of %s\n", v.Name, env, repo)
			return nil
		}),
	}
	var asJSON bool
	list := &cobra.Command{
		Use:     "list",
		Short:   "List an environment's variables",
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
		Short:   "Delete an environment variable (write token)",
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
