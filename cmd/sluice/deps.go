package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluice-ci/sluice/internal/deps"
	"github.com/sluice-ci/sluice/internal/gitrepo"
	"github.com/sluice-ci/sluice/internal/localrun"
	"github.com/spf13/cobra"
)

func depsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deps",
		Short: "Dependency updates and emergency pins",
		Example: `  sluice deps update --dry-run
  sluice deps pin urllib3==2.2.1 --reason "2.2.2 breaks our proxy"
  sluice deps pins`,
	}
	cmd.AddCommand(depsUpdateCmd(), depsPinCmd(), depsPinsCmd())
	return cmd
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// depsSetup finds the project, its configuration, index and tools.
func depsSetup(dir, indexURL string) (deps.Project, *deps.Config, *deps.Index, *deps.Tools, error) {
	p, err := deps.Detect(dir)
	if err != nil {
		return p, nil, nil, nil, err
	}
	root := dir
	if r, err := gitrepo.Open(context.Background(), dir); err == nil {
		root = r.Root
	}
	cfg, err := deps.LoadConfig(root)
	if err != nil {
		return p, nil, nil, nil, err
	}
	state, err := localrun.StateDir()
	if err != nil {
		return p, nil, nil, nil, err
	}
	if indexURL == "" {
		indexURL = deps.IndexURLFor(p, os.Environ())
	}
	ix := &deps.Index{URL: indexURL, CacheDir: filepath.Join(state, "deps-index")}
	tools := &deps.Tools{Dir: filepath.Join(state, "tools"), Log: func(s string) { fmt.Fprintln(os.Stderr, "sluice deps:", s) }}
	return p, cfg, ix, tools, nil
}

func depsUpdateCmd() *cobra.Command {
	var (
		group, indexURL string
		asJSON, dryRun  bool
		commit          bool
	)
	cmd := &cobra.Command{
		Use:   "update [DIR]",
		Short: "Re-resolve the lock with the project's own tool, grouped and cooled down as .sluice/deps.yml says",
		Long: `Update uv.lock, poetry.lock, pdm.lock, a pip-compile/uv pip compile output, or pinned
requirements files, with the project's own tool (from PATH, else installed from PyPI into
sluice's tool cache). .sluice/deps.yml groups the updates (by name pattern, dev/runtime, and
major/minor/patch), holds back releases younger than the cooldown (by the index's upload
times), and ignores what it lists. The diff shows each package, old → new, the release's age
and its changelog when the index has one; what was held back is listed with the reason.

Exit status: 0 updated or up to date, 1 the tool could not resolve, 2 bad configuration.`,
		Example: `  sluice deps update
  sluice deps update --group dev-tools
  sluice deps update --dry-run --json
  sluice deps update --commit            # one commit with a Sluice-Update trailer`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			p, cfg, ix, tools, err := depsSetup(dir, indexURL)
			if err != nil {
				fmt.Fprintln(os.Stderr, "sluice deps update:", err)
				return &exitError{code: 2}
			}
			before, _ := os.ReadFile(filepath.Join(p.Dir, p.Lock))
			res, err := deps.Update(cmd.Context(), p, deps.Options{Config: cfg, Group: group, Index: ix, Tools: tools,
				Log: func(s string) {
					if !asJSON {
						fmt.Fprintln(os.Stderr, s)
					}
				}})
			if err != nil {
				fmt.Fprintln(os.Stderr, "sluice deps update:", err)
				return &exitError{code: 1}
			}
			if dryRun {
				_ = os.WriteFile(filepath.Join(p.Dir, p.Lock), before, 0o644)
			} else if commit && len(res.Changes) > 0 {
				if err := commitUpdate(cmd, p, group, res); err != nil {
					fmt.Fprintln(os.Stderr, "sluice deps update:", err)
					return &exitError{code: 1}
				}
			}
			if asJSON {
				if res.Changes == nil {
					res.Changes = []deps.Change{}
				}
				return writeJSON(cmd.OutOrStdout(), res)
			}
			res.WriteText(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&group, "group", "", "update only this group of .sluice/deps.yml")
	f.StringVar(&indexURL, "index-url", "", "the simple API to read release dates from (default: the project's own index)")
	f.BoolVar(&asJSON, "json", false, "print the changes as JSON")
	f.BoolVar(&dryRun, "dry-run", false, "show what would change; leave the lock as it was")
	f.BoolVar(&commit, "commit", false, "commit the lock with a Sluice-Update trailer")
	return cmd
}

func commitUpdate(cmd *cobra.Command, p deps.Project, group string, res *deps.Result) error {
	ctx := cmd.Context()
	repo, err := gitrepo.Open(ctx, p.Dir)
	if err != nil {
		return err
	}
	if group == "" {
		group = strings.Join(res.Groups(), ",")
	}
	msg := deps.CommitMessage(group, res)
	if _, err := repo.Git(ctx, "add", "--", filepath.Join(p.Dir, p.Lock)); err != nil {
		return err
	}
	_, err = repo.Git(ctx, "commit", "-q", "-m", msg)
	return err
}

func depsPinCmd() *cobra.Command {
	var (
		reason   string
		noCommit bool
	)
	cmd := &cobra.Command{
		Use:   "pin PKG==VERSION [DIR]",
		Short: "Hold a dependency at a version, the right way for the project's tool, and record why",
		Long: `Write an emergency pin: uv's [tool.uv] constraint-dependencies, pdm's resolution
overrides, a narrowed requirement for poetry, a line in the pip-compile input, or the pinned
requirements line; re-resolve the lock; commit with the trailers
"Sluice-Pin: PKG==VERSION" and "Sluice-Pin-Reason: ...". "sluice deps pins" lists the pins
still in place, with their age, so they get removed.`,
		Example: `  sluice deps pin urllib3==2.2.1 --reason "2.2.2 breaks the proxy (#123)"
  sluice deps pin 'numpy<2' --reason "pandas 1.x" --no-commit`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, spec, err := deps.ParsePinSpec(args[0])
			if err != nil {
				fmt.Fprintln(os.Stderr, "sluice deps pin:", err)
				return &exitError{code: 2}
			}
			if strings.TrimSpace(reason) == "" {
				fmt.Fprintln(os.Stderr, `sluice deps pin: --reason is required: say why, e.g. --reason "2.2.2 breaks the proxy (#123)"`)
				return &exitError{code: 2}
			}
			if strings.ContainsAny(reason, "\n\r") {
				fmt.Fprintln(os.Stderr, "sluice deps pin: --reason must be one line (it is a commit trailer)")
				return &exitError{code: 2}
			}
			dir := "."
			if len(args) == 2 {
				dir = args[1]
			}
			p, _, _, tools, err := depsSetup(dir, "")
			if err != nil {
				fmt.Fprintln(os.Stderr, "sluice deps pin:", err)
				return &exitError{code: 2}
			}
			res, err := deps.WritePin(ctx, p, name, spec, tools, nil)
			if err != nil {
				fmt.Fprintln(os.Stderr, "sluice deps pin:", err)
				return &exitError{code: 1}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "pinned %s%s (%s): %s\n", name, spec, res.How, strings.Join(res.Files, ", "))
			if noCommit {
				return nil
			}
			repo, err := gitrepo.Open(ctx, p.Dir)
			if err != nil {
				fmt.Fprintln(os.Stderr, "sluice deps pin:", err)
				return &exitError{code: 1}
			}
			var paths []string
			for _, f := range res.Files {
				paths = append(paths, filepath.Join(p.Dir, f))
			}
			if _, err := repo.Git(ctx, append([]string{"add", "--"}, paths...)...); err != nil {
				fmt.Fprintln(os.Stderr, "sluice deps pin:", err)
				return &exitError{code: 1}
			}
			msg := fmt.Sprintf("fix(deps): pin %s%s\n\n%s\n\n%s: %s%s\n%s: %s\n", name, spec, reason, deps.TrailerPin, name, spec, deps.TrailerPinReason, reason)
			if _, err := repo.Git(ctx, "commit", "-q", "-m", msg); err != nil {
				fmt.Fprintln(os.Stderr, "sluice deps pin:", err)
				return &exitError{code: 1}
			}
			fmt.Fprintln(out, "committed with a Sluice-Pin trailer")
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; kept as the Sluice-Pin-Reason trailer)")
	cmd.Flags().BoolVar(&noCommit, "no-commit", false, "write the pin, commit nothing")
	return cmd
}

func depsPinsCmd() *cobra.Command {
	var (
		asJSON, all bool
		rev         string
	)
	cmd := &cobra.Command{
		Use:   "pins [DIR]",
		Short: "List the emergency pins still in place, with their age",
		Long: `List pins found in the history: commits with a Sluice-Pin trailer, and commits without
Sluice-Update that add an upper bound or exact pin to a requirement, or move a locked package
back. A pin is open while its bound is still declared or its version is still locked.`,
		Example: "  sluice deps pins\n  sluice deps pins --all --json",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			repo, err := gitrepo.Open(cmd.Context(), dir)
			if err != nil {
				fmt.Fprintln(os.Stderr, "sluice deps pins:", err)
				return &exitError{code: 2}
			}
			pins, err := deps.FindPins(cmd.Context(), repo, rev, 0)
			if err != nil {
				fmt.Fprintln(os.Stderr, "sluice deps pins:", err)
				return &exitError{code: 1}
			}
			shown := []deps.Pin{}
			for _, p := range pins {
				if all || p.Open {
					shown = append(shown, p)
				}
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), shown)
			}
			if len(shown) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no open pins")
				return nil
			}
			now := time.Now()
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "PIN\tAGE\tCOMMIT\tSOURCE\tOPEN\tREASON")
			for _, p := range shown {
				fmt.Fprintf(tw, "%s%s\t%dd\t%.7s\t%s\t%v\t%s\n", p.Package, p.Spec, p.AgeDays(now), p.Commit, p.Source, p.Open, p.Reason)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the pins as JSON")
	cmd.Flags().BoolVar(&all, "all", false, "include pins that were lifted since")
	cmd.Flags().StringVar(&rev, "rev", "HEAD", "the revision whose history is read")
	return cmd
}
