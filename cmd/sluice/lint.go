package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/gitrepo"
	"github.com/sluice-ci/sluice/internal/workflow"
	"github.com/spf13/cobra"
)

func lintCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "lint [PATH...]",
		Short: "Check workflows and environments and print file:line:col for each problem",
		Long: `Check workflow files with actionlint's rules (syntax, expressions, needs, matrices, action
inputs, ...) and the deployment environments file (.sluice/environments.yml: keys, tiers,
strategies, durations, windows, verification). PATHs are files or directories; the default is
.github/workflows and .sluice/environments.yml. Exit status 1 when there is a problem, 0 when
there is none.`,
		Example: "  sluice lint\n  sluice lint .github/workflows/ci.yml\n  sluice lint .sluice/environments.yml",
		RunE: func(cmd *cobra.Command, args []string) error {
			wd, err := os.Getwd()
			if err != nil {
				return err
			}
			root := wd
			if r, err := gitrepo.Open(cmd.Context(), wd); err == nil {
				root = r.Root
			}
			var envFiles []string
			if len(args) == 0 {
				args = []string{filepath.Join(root, ".github", "workflows")}
				if _, err := os.Stat(filepath.Join(root, cd.DefaultPath)); err == nil {
					envFiles = append(envFiles, filepath.Join(root, cd.DefaultPath))
				}
			} else {
				args, envFiles = splitEnvironmentFiles(args)
			}
			problems := false
			for _, f := range envFiles {
				data, err := os.ReadFile(f)
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "sluice:", err)
					return &exitError{code: 2}
				}
				if _, err := cd.Parse(relTo(wd, f), data); err != nil {
					fmt.Fprintln(cmd.OutOrStdout(), err.Error())
					problems = true
				}
			}
			if len(args) > 0 {
				errs, err := workflow.Lint(cmd.Context(), root, args)
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "sluice:", err)
					return &exitError{code: 2}
				}
				if len(errs) > 0 {
					fmt.Fprintln(cmd.OutOrStdout(), errs.Error())
					problems = true
				}
			}
			if problems {
				return &exitError{code: 1}
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "no problems found")
			return nil
		},
	}
}

// splitEnvironmentFiles separates environments files (.sluice/*.yml) from
// workflow paths.
func splitEnvironmentFiles(args []string) (workflows, envs []string) {
	for _, a := range args {
		if filepath.Base(filepath.Dir(a)) == ".sluice" && (strings.HasSuffix(a, ".yml") || strings.HasSuffix(a, ".yaml")) {
			envs = append(envs, a)
			continue
		}
		workflows = append(workflows, a)
	}
	return workflows, envs
}

// relTo is path relative to dir when it is inside it, as errors print.
func relTo(dir, path string) string {
	if r, err := filepath.Rel(dir, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}
