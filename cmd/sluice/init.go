package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sluice-ci/sluice/internal/gitrepo"
	"github.com/sluice-ci/sluice/internal/python"
	"github.com/spf13/cobra"
)

func initCmd() *cobra.Command {
	var force, stdout bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write the inferred workflow of a Python project as .github/workflows/ci.yml",
		Long: `Look at the project (pyproject.toml, requirements files, lock files, tox/nox, ruff/flake8/mypy
configuration, tests) and write the pipeline sluice would run for it with no workflow:
install, lint, type-check, test, build. The file is plain GitHub Actions: edit it freely.`,
		Example: "  sluice init\n  sluice init --stdout",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			wd, err := os.Getwd()
			if err != nil {
				return err
			}
			root := wd
			if r, err := gitrepo.Open(cmd.Context(), wd); err == nil {
				root = r.Root
			}
			plan, err := python.Infer(root)
			if err != nil {
				fmt.Fprintln(os.Stderr, "sluice:", err)
				return &exitError{code: 2}
			}
			text := plan.Workflow(python.PythonVersionFor(root))
			if stdout {
				fmt.Fprint(cmd.OutOrStdout(), text)
				return nil
			}
			dest := filepath.Join(root, ".github", "workflows", "ci.yml")
			if _, err := os.Stat(dest); err == nil && !force {
				fmt.Fprintf(os.Stderr, "sluice: %s exists; use --force to overwrite it or --stdout to see the inferred one\n", dest)
				return &exitError{code: 2}
			} else if err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(dest, []byte(text), 0o644); err != nil {
				return err
			}
			for _, n := range plan.Notes {
				fmt.Fprintln(cmd.OutOrStdout(), "  "+n)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", dest)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing ci.yml")
	cmd.Flags().BoolVar(&stdout, "stdout", false, "print the workflow instead of writing it")
	return cmd
}
