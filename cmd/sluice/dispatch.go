package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func dispatchCmd() *cobra.Command {
	var ref string
	var inputs []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "dispatch REPO WORKFLOW",
		Short: "Start a workflow_dispatch run on a sluice server",
		Long: `Start the workflow (a file name in .github/workflows, such as release.yml) of REPO at --ref
(default: the repository's default branch) with the given inputs, as GitHub's "Run workflow"
button does. Needs a write token.`,
		Example: "  sluice dispatch demo release.yml --ref main --input level=minor --input dry_run=true",
		Args:    cobra.ExactArgs(2),
	}
	conn := addAPIConn(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		in := map[string]string{}
		for _, kv := range inputs {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return fmt.Errorf("--input %q: want NAME=VALUE", kv)
			}
			in[k] = v
		}
		c, err := conn.client()
		if err != nil {
			return err
		}
		runs, err := c.Dispatch(cmd.Context(), args[0], args[1], ref, in)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(cmd.OutOrStdout(), runs)
		}
		if len(runs) == 0 {
			fmt.Fprintln(cmd.OutOrStdout(), "no run started: the workflow does not run on workflow_dispatch")
		}
		for _, r := range runs {
			fmt.Fprintf(cmd.OutOrStdout(), "run %d: %s #%d %s %s\n", r.ID, r.Repo, r.Number, r.Workflow, r.Ref)
		}
		return nil
	}
	cmd.Flags().StringVar(&ref, "ref", "", "branch, tag or ref to run (default: the default branch)")
	cmd.Flags().StringArrayVar(&inputs, "input", nil, "workflow input NAME=VALUE (repeatable)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the runs as JSON")
	return cmd
}
