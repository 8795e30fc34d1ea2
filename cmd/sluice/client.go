package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/sluice-ci/sluice/internal/client"
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

// addAPIConn adds --server, --token and --verbose to cmd. The defaults come
// from SLUICE_SERVER and SLUICE_TOKEN when the command runs, not when the
// flags are made: a token must never show as a default in --help.
func addAPIConn(cmd *cobra.Command) *apiConn {
	c := &apiConn{}
	cmd.PersistentFlags().StringVar(&c.server, "server", "", "server URL (default $SLUICE_SERVER, else "+apiDefaultServer+")")
	cmd.PersistentFlags().StringVar(&c.token, "token", "", "API token (default $SLUICE_TOKEN)")
	cmd.PersistentFlags().Bool("verbose", false, "say which API request failed, with its HTTP status")
	return c
}

func (c *apiConn) client() (*client.Client, error) {
	if c.server == "" {
		c.server = os.Getenv("SLUICE_SERVER")
	}
	if c.server == "" {
		c.server = apiDefaultServer
	}
	if c.token == "" {
		c.token = os.Getenv("SLUICE_TOKEN")
	}
	if c.token == "" {
		return nil, fmt.Errorf("no API token: pass --token or set SLUICE_TOKEN (sluice serve prints the admin token on first start)")
	}
	if !strings.HasPrefix(c.server, "http://") && !strings.HasPrefix(c.server, "https://") {
		return nil, fmt.Errorf("--server %q: want an http:// or https:// URL", c.server)
	}
	return client.New(c.server, c.token), nil
}

// withClient is a RunE that hands do a client for the API flags, made
// before anything else so a missing token stops the command first.
func (c *apiConn) withClient(do func(cmd *cobra.Command, args []string, cl *client.Client) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		cl, err := c.client()
		if err != nil {
			return err
		}
		return do(cmd, args, cl)
	}
}

// withRun is the RunE of a command on one RUN argument: a bad run ID is
// reported before a missing token.
func (c *apiConn) withRun(do func(cmd *cobra.Command, cl *client.Client, run int64) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		id, err := parseID("run", args[0], "sluice runs")
		if err != nil {
			return err
		}
		cl, err := c.client()
		if err != nil {
			return err
		}
		return do(cmd, cl, id)
	}
}

// parseID reads the ID argument of a kind of record, pointing at the
// command that lists them when s is not one.
func parseID(kind, s, listCmd string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%s %q: want a %s ID (see %s)", kind, s, kind, listCmd)
	}
	return id, nil
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

// printList prints list as JSON (no items as [], never null) or as a table
// under header, row writing one tab-separated line of it.
func printList[T any](w io.Writer, asJSON bool, list []T, header string, row func(io.Writer, T)) error {
	if asJSON {
		if list == nil {
			list = []T{}
		}
		return printJSON(w, list)
	}
	tw := newTable(w)
	fmt.Fprintln(tw, header)
	for _, x := range list {
		row(tw, x)
	}
	return tw.Flush()
}
