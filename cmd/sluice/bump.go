package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sluice-ci/sluice/internal/gitrepo"
	"github.com/sluice-ci/sluice/internal/release"
	"github.com/spf13/cobra"
)

func bumpCmd() *cobra.Command {
	var (
		dryRun, asJSON, zero bool
		dir, increment, pre  string
		dev                  int
	)
	cmd := &cobra.Command{
		Use:   "bump",
		Short: "Cut a release: next version from conventional commits, files, lock, changelog, commit, tag",
		Long: `Decide the next version from the conventional commits since the last version tag
(feat → minor, fix/perf/refactor → patch, "!" or a BREAKING CHANGE footer → major; on 0.x a
breaking change makes 1.0.0 unless major-version-zero is set), write it to pyproject.toml,
__version__ and the files .sluice/bump.yml names, and to the project's own entry in uv.lock,
so that "uv sync --locked" passes on the release commit. The changelog gets a Keep a
Changelog section; the commit carries a "Sluice-Bump: OLD -> NEW" trailer and is tagged
(tag-format, default v{version}). Push the tag: its run makes the release CD promotes.

.sluice/bump.yml (all optional):
  tag-format: "v{version}"
  version-files: [docs/conf.py:release, README.md]
  changelog: CHANGELOG.md        # false for none
  major-version-zero: true
  commit-url: "https://git.example.com/acme/app/commit/{sha}"

Exit status: 0 bumped (or planned), 1 nothing to release, 2 the history or tree is not ready.`,
		Example: `  sluice bump --dry-run
  sluice bump
  sluice bump --prerelease rc          # 1.2.0 + feat → 1.3.0rc0; again → 1.3.0rc1
  sluice bump --increment patch --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			repo, err := gitrepo.Open(ctx, dir)
			if err != nil {
				fmt.Fprintln(os.Stderr, "sluice bump:", err)
				return &exitError{code: 2}
			}
			o := release.Options{Prerelease: pre, Devrelease: dev, MajorVersionZero: zero}
			if increment != "" {
				inc, ok := release.ParseIncrement(increment)
				if !ok {
					fmt.Fprintf(os.Stderr, "sluice bump: --increment %q: use major, minor or patch\n", increment)
					return &exitError{code: 2}
				}
				o.Increment = inc
			}
			plan, err := release.PlanBump(ctx, repo, o)
			if err != nil {
				fmt.Fprintln(os.Stderr, "sluice bump:", err)
				if errors.Is(err, release.ErrNothingToRelease) {
					return &exitError{code: 1}
				}
				return &exitError{code: 2}
			}
			if !dryRun {
				if err := plan.Apply(ctx, repo); err != nil {
					fmt.Fprintln(os.Stderr, "sluice bump:", err)
					return &exitError{code: 2}
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					*release.Plan
					DryRun bool `json:"dry_run"`
				}{plan, dryRun})
			}
			printBumpPlan(out, plan, dryRun)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&dryRun, "dry-run", false, "print the plan; write, commit and tag nothing")
	f.BoolVar(&asJSON, "json", false, "print the plan as JSON")
	f.StringVarP(&dir, "directory", "C", ".", "the repository")
	f.StringVar(&increment, "increment", "", "force the increment: major, minor or patch")
	f.StringVar(&pre, "prerelease", "", "make a pre-release: alpha, beta or rc")
	f.IntVar(&dev, "devrelease", -1, "append .devN")
	f.BoolVar(&zero, "major-version-zero", false, "on 0.x, a breaking change moves the minor number")
	return cmd
}

func printBumpPlan(w io.Writer, p *release.Plan, dryRun bool) {
	from := p.LastTag
	if from == "" {
		from = "the start"
	}
	verb := "bumped"
	if dryRun {
		verb = "would bump"
	}
	fmt.Fprintf(w, "%s %s → %s (%s; %d commits since %s)\n", verb, p.Current, p.Next, p.Increment, len(p.Changes)+len(p.Skipped), from)
	for _, e := range p.Edits {
		fmt.Fprintf(w, "  %-24s %s\n", e.Path, e.What)
	}
	if p.Changelog != "" {
		fmt.Fprintf(w, "  %-24s new section\n", p.Changelog)
	}
	fmt.Fprintf(w, "  tag %s\n", p.Tag)
	for _, s := range p.Skipped {
		fmt.Fprintf(w, "  not conventional, left out: %s\n", s)
	}
	if dryRun && p.Section != "" {
		fmt.Fprintln(w)
		fmt.Fprintln(w, strings.TrimRight(p.Section, "\n"))
	}
}
