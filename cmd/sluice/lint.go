package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/gitrepo"
	"github.com/sluice-ci/sluice/internal/localrun"
	"github.com/sluice-ci/sluice/internal/workflow"
	"github.com/spf13/cobra"
)

func lintCmd() *cobra.Command {
	var (
		af        actionFlags
		noResolve bool
	)
	cmd := &cobra.Command{
		Use:   "lint [PATH...]",
		Short: "Check workflows and environments and print file:line:col for each problem",
		Long: `Check workflow files with actionlint's rules (syntax, expressions, needs, matrices, action
inputs, ...), GitHub's limits (256 legs per matrix, expression depth 50, file size, YAML
aliases), that every uses: resolves (built in, local, or fetched into the cache the way
'sluice run' fetches it; a typo gets the closest known name), and the deployment environments
file (.sluice/environments.yml). PATHs are files or directories; the default is
.github/workflows and .sluice/environments.yml.

Findings GitHub refuses a workflow for are errors; findings GitHub runs the workflow despite
(outdated action runtimes, properties that evaluate to null, script-injection advisories, ...)
print as "warning:". Exit status 1 when there is an error, 0 when there are only warnings or
nothing, 2 when linting itself failed.`,
		Example: "  sluice lint\n  sluice lint .github/workflows/ci.yml\n  sluice lint --no-resolve   # offline: skip fetching actions\n  sluice lint .sluice/environments.yml",
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
			warnings := 0
			if len(args) > 0 {
				var opts workflow.LintOptions
				if !noResolve {
					state, err := localrun.StateDir()
					if err != nil {
						fmt.Fprintln(cmd.ErrOrStderr(), "sluice:", err)
						return &exitError{code: 2}
					}
					opts.Uses = af.resolver(filepath.Join(state, "actions")).Session()
				}
				errs, err := workflow.Lint(cmd.Context(), root, args, opts)
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "sluice:", err)
					return &exitError{code: 2}
				}
				if len(errs) > 0 {
					fmt.Fprintln(cmd.OutOrStdout(), errs.Error())
				}
				refusals, warns := errs.Split()
				problems = problems || len(refusals) > 0
				warnings = len(warns)
			}
			if problems {
				return &exitError{code: 1}
			}
			if warnings > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d warning(s), nothing GitHub would refuse: the workflows run\n", warnings)
				return nil
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "no problems found")
			return nil
		},
	}
	af.register(cmd.Flags())
	cmd.Flags().BoolVar(&noResolve, "no-resolve", false, "do not check that remote actions and reusable workflows can be fetched")
	return cmd
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
