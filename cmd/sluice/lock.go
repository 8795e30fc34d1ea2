package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/sluice-ci/sluice/internal/python"
	"github.com/spf13/cobra"
)

func lockCmd() *cobra.Command {
	lock := &cobra.Command{
		Use:   "lock",
		Short: "Lock file checks",
	}
	var asJSON bool
	check := &cobra.Command{
		Use:   "check [DIR]",
		Short: "Fail when a lock file no longer matches what it was made from",
		Long: `Check uv.lock, poetry.lock, pdm.lock and pip-compile'd requirements files against the inputs
they were made from (pyproject.toml, requirements.in). Each stale lock is named with the
command that refreshes it. Exit status 1 when one is stale.`,
		Example: "  sluice lock check\n  sluice lock check services/api --json",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			checked, stale, err := python.CheckLockFiles(cmd.Context(), dir)
			if err != nil {
				fmt.Fprintln(os.Stderr, "sluice:", err)
				return &exitError{code: 2}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if stale == nil {
					stale = []python.Stale{}
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(stale); err != nil {
					return err
				}
			} else if len(checked) == 0 {
				fmt.Fprintf(out, "no lock files to check in %s (looked for uv.lock, poetry.lock, pdm.lock and "+
					"pip-compile'd requirements .txt files)\n", dir)
			} else if len(stale) == 0 {
				fmt.Fprintf(out, "lock files are up to date: %s\n", strings.Join(checked, ", "))
			}
			if len(stale) == 0 {
				return nil
			}
			if !asJSON {
				for _, s := range stale {
					fmt.Fprintf(out, "%s: stale: %s\n  fix: %s\n", s.File, s.Reason, s.Fix)
				}
			}
			return &exitError{code: 1}
		},
	}
	check.Flags().BoolVar(&asJSON, "json", false, "print the stale locks as JSON")
	lock.AddCommand(check)
	return lock
}
