package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/sluice-ci/sluice/internal/client"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/spf13/cobra"
)

func identityCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "identity",
		Short: "Link people's forge logins to their sluice identities (admin token)",
		Long: `A person is a sluice identity: the name their tokens carry (sluice token create NAME --identity
PERSON) and the name environments list as reviewers. Linking the logins they push with on a forge
makes a release they pushed theirs: they cannot approve its promotion, whatever token they hold.`,
		Example: "  sluice identity link alice github:alice-gh\n  sluice identity list",
	}
	conn := addAPIConn(cmd)
	link := &cobra.Command{
		Use:     "link IDENTITY FORGE:LOGIN",
		Short:   "Link a forge login (github, gitea or gitlab) to an identity",
		Example: "  sluice identity link alice github:alice-gh",
		Args:    cobra.ExactArgs(2),
		RunE: conn.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			forgeKind, login, ok := strings.Cut(args[1], ":")
			if !ok || login == "" {
				return fmt.Errorf("%q: give the login as FORGE:LOGIN, e.g. github:alice-gh", args[1])
			}
			if err := c.LinkLogin(cmd.Context(), args[0], forgeKind, login); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s login %s is %s\n", forgeKind, login, args[0])
			return nil
		}),
	}
	var asJSON bool
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the linked logins",
		Example: "  sluice identity list --json",
		Args:    cobra.NoArgs,
		RunE: conn.withClient(func(cmd *cobra.Command, _ []string, c *client.Client) error {
			logins, err := c.ListLogins(cmd.Context())
			if err != nil {
				return err
			}
			return printList(cmd.OutOrStdout(), asJSON, logins, "IDENTITY\tFORGE\tLOGIN", func(w io.Writer, l store.IdentityLogin) {
				fmt.Fprintf(w, "%s\t%s\t%s\n", l.Identity, l.Forge, l.Login)
			})
		}),
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(link, list)
	return cmd
}
