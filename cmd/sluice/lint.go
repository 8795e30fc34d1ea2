package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/sluice-ci/sluice/internal/gitrepo"
	"github.com/sluice-ci/sluice/internal/workflow"
	"github.com/spf13/cobra"
)

func lintCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "lint [PATH...]",
		Short: "Check workflows and print file:line:col for each problem",
		Long: `Check workflow files with actionlint's rules (syntax, expressions, needs, matrices, action
inputs, ...). PATHs are files or directories; the default is .github/workflows. Exit status 1
when there is a problem, 0 when there is none.`,
		Example: "  sluice lint\n  sluice lint .github/workflows/ci.yml",
		RunE: func(cmd *cobra.Command, args []string) error {
			wd, err := os.Getwd()
			if err != nil {
				return err
			}
			root := wd
			if r, err := gitrepo.Open(cmd.Context(), wd); err == nil {
				root = r.Root
			}
			if len(args) == 0 {
				args = []string{filepath.Join(root, ".github", "workflows")}
			}
			errs, err := workflow.Lint(cmd.Context(), root, args)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "sluice:", err)
				return &exitError{code: 2}
			}
			if len(errs) > 0 {
				fmt.Fprintln(cmd.OutOrStdout(), errs.Error())
				return &exitError{code: 1}
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "no problems found")
			return nil
		},
	}
}
