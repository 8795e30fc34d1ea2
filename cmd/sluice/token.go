package main

import (
	"fmt"
	"io"

	"github.com/sluice-ci/sluice/internal/client"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/spf13/cobra"
)

func tokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage the API tokens of a sluice server (admin token)",
		Long: `API tokens have a scope: read (look only), write (also dispatch, cancel, re-run, set
secrets) or admin (also repositories, tokens and agents); a register token only lets 'sluice agent'
register (it then keeps a credential of its own). The server keeps only their hashes.`,
		Example: "  sluice token create ci-bot --scope write\n  sluice token create build-agents --scope register\n  sluice token list",
	}
	conn := addAPIConn(cmd)
	cmd.AddCommand(tokenCreateCmd(conn), tokenListCmd(conn), tokenDeleteCmd(conn))
	return cmd
}

func tokenCreateCmd(conn *apiConn) *cobra.Command {
	var scope, identity string
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "create NAME --scope read|write|admin|register",
		Short:   "Create a token; it is printed once and cannot be shown again",
		Example: "  sluice token create dashboards --scope read\n  export SLUICE_TOKEN=$(sluice token create me --scope write)",
		Args:    cobra.ExactArgs(1),
		RunE: conn.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			tk, err := c.CreateToken(cmd.Context(), args[0], scope, identity)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), tk)
			}
			// Only the token on stdout, so that it can be captured.
			fmt.Fprintln(cmd.OutOrStdout(), tk.Token)
			fmt.Fprintf(cmd.ErrOrStderr(), "created %s token %q (id %d); it will not be shown again\n", tk.Scope, tk.Name, tk.ID)
			return nil
		}),
	}
	cmd.Flags().StringVar(&scope, "scope", "", "read, write, admin or register (required)")
	cmd.Flags().StringVar(&identity, "identity", "", "the person the token is for: approvals and reviewer lists name people (default: the token's name)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the token and its record as JSON")
	cmd.MarkFlagRequired("scope")
	return cmd
}

func tokenListCmd(conn *apiConn) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List tokens (never their values)",
		Example: "  sluice token list",
		Args:    cobra.NoArgs,
		RunE: conn.withClient(func(cmd *cobra.Command, _ []string, c *client.Client) error {
			list, err := c.ListTokens(cmd.Context())
			if err != nil {
				return err
			}
			return printList(cmd.OutOrStdout(), asJSON, list, "ID\tNAME\tSCOPE\tCREATED\tLAST USED", func(w io.Writer, t store.Token) {
				used := "never"
				if t.LastUsed != nil {
					used = t.LastUsed.Local().Format("2006-01-02 15:04")
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Scope, t.CreatedAt.Local().Format("2006-01-02 15:04"), used)
			})
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func tokenDeleteCmd(conn *apiConn) *cobra.Command {
	return &cobra.Command{
		Use:     "delete ID",
		Aliases: []string{"revoke", "rm"},
		Short:   "Revoke a token",
		Example: "  sluice token delete 3",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID("token", args[0], "sluice token list")
			if err != nil {
				return err
			}
			c, err := conn.client()
			if err != nil {
				return err
			}
			if err := c.DeleteToken(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked token %d\n", id)
			return nil
		},
	}
}
