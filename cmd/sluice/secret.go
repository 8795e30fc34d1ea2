package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/sluice-ci/sluice/internal/client"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func secretCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Manage the secrets of a sluice server",
		Long: `Secrets are encrypted on the server, given to jobs as ${{ secrets.NAME }} (never to pull
requests from forks), masked in logs, and never returned by the API. A repository's secret
overrides a server-wide one of the same name. An environment's secret (--env, with --repo) is
given only to a job deploying to that environment, once the environment's gates passed; it
overrides both.`,
		Example: "  echo -n \"$PYPI_TOKEN\" | sluice secret set PYPI_TOKEN --repo demo\n  sluice secret list --repo demo",
	}
	conn := addAPIConn(cmd)
	cmd.AddCommand(secretSetCmd(conn), secretListCmd(conn), secretDeleteCmd(conn))
	return cmd
}

func secretSetCmd(conn *apiConn) *cobra.Command {
	var repo, value, env string
	cmd := &cobra.Command{
		Use:   "set NAME",
		Short: "Set a secret (write token); the value is read from stdin unless --value is given",
		Long: `Set secret NAME of --repo (or server-wide) to the value read from standard input (one trailing
newline is dropped) or given with --value (which other users of this machine may see in the
process list).`,
		Example: "  sluice secret set PYPI_TOKEN --repo demo < token.txt\n  sluice secret set SLACK_URL --value https://hooks.example/x",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v := value
			if !cmd.Flags().Changed("value") {
				in := cmd.InOrStdin()
				if f, ok := in.(interface{ Fd() uintptr }); ok && term.IsTerminal(int(f.Fd())) {
					fmt.Fprintf(cmd.ErrOrStderr(), "value for %s (end with Ctrl-D): ", args[0])
				}
				b, err := io.ReadAll(io.LimitReader(in, 1<<20))
				if err != nil {
					return fmt.Errorf("reading the secret from stdin: %w", err)
				}
				v = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
			}
			c, err := conn.client()
			if err != nil {
				return err
			}
			if env != "" {
				if repo == "" {
					return fmt.Errorf("--env needs --repo: an environment belongs to a repository")
				}
				s, err := c.SetEnvValue(cmd.Context(), repo, env, "secret", args[0], v)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "set secret %s of environment %s of %s\n", s.Name, env, repo)
				return nil
			}
			s, err := c.SetSecret(cmd.Context(), repo, args[0], v)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "set secret %s%s\n", s.Name, scopeSuffix(repo))
			return nil
		},
	}
	cmd.Flags().StringVar(&repo, "repo", "", "repository the secret belongs to (default: server-wide)")
	cmd.Flags().StringVar(&value, "value", "", "the value (default: read from stdin)")
	cmd.Flags().StringVar(&env, "env", "", "environment the secret belongs to (only jobs deploying there get it)")
	return cmd
}

func scopeSuffix(repo string) string {
	if repo == "" {
		return " (server-wide)"
	}
	return " of " + repo
}

func secretListCmd(conn *apiConn) *cobra.Command {
	var repo string
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List secret names (never values)",
		Example: "  sluice secret list\n  sluice secret list --repo demo --json",
		Args:    cobra.NoArgs,
		RunE: conn.withClient(func(cmd *cobra.Command, _ []string, c *client.Client) error {
			list, err := c.ListSecrets(cmd.Context(), repo)
			if err != nil {
				return err
			}
			return printList(cmd.OutOrStdout(), asJSON, list, "NAME\tUPDATED", func(w io.Writer, s server.SecretView) {
				fmt.Fprintf(w, "%s\t%s\n", s.Name, s.UpdatedAt.Local().Format("2006-01-02 15:04:05"))
			})
		}),
	}
	cmd.Flags().StringVar(&repo, "repo", "", "list this repository's secrets (default: server-wide)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func secretDeleteCmd(conn *apiConn) *cobra.Command {
	var repo string
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a secret (write token)",
		Example: "  sluice secret delete PYPI_TOKEN --repo demo",
		Args:    cobra.ExactArgs(1),
		RunE: conn.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			if err := c.DeleteSecret(cmd.Context(), repo, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted secret %s%s\n", strings.ToUpper(args[0]), scopeSuffix(repo))
			return nil
		}),
	}
	cmd.Flags().StringVar(&repo, "repo", "", "repository the secret belongs to (default: server-wide)")
	return cmd
}
