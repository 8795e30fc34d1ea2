package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/client"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/spf13/cobra"
)

// waitFlags are the flags of commands that start a promotion.
type waitFlags struct {
	wait     bool
	interval time.Duration
	asJSON   bool
}

func (f *waitFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.wait, "wait", false, "wait until the promotion ends, printing its state changes; exit 1 unless it succeeds")
	cmd.Flags().DurationVar(&f.interval, "interval", 2*time.Second, "how often --wait asks the server")
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print the promotion as JSON (with --wait: the final one; state changes go to stderr)")
}

// finish prints p and, with --wait, follows it to its end.
func (f *waitFlags) finish(cmd *cobra.Command, api cdAPI, p *cd.Promotion) error {
	out := cmd.OutOrStdout()
	progress := out
	if f.asJSON {
		progress = cmd.ErrOrStderr()
	}
	if !f.wait {
		if f.asJSON {
			return printJSON(out, p)
		}
		fmt.Fprintln(out, promotionLine(p))
		return nil
	}
	fmt.Fprintln(progress, promotionLine(p))
	p, err := waitPromotion(cmd.Context(), api, p, f.interval, progress)
	if err != nil {
		return err
	}
	if f.asJSON {
		if err := printJSON(out, p); err != nil {
			return err
		}
	}
	if p.State != cd.StateSuccess {
		return &exitError{code: 1}
	}
	return nil
}

// waitPromotion polls promotion p until it is terminal, printing a line to w
// whenever its state or reason changes.
func waitPromotion(ctx context.Context, api cdAPI, p *cd.Promotion, every time.Duration, w io.Writer) (*cd.Promotion, error) {
	if every <= 0 {
		return nil, fmt.Errorf("--interval %s: want a positive duration", every)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for !p.State.Terminal() {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for promotion %d: %w", p.ID, ctx.Err())
		case <-t.C:
		}
		next, err := api.promotion(ctx, p.ID)
		if err != nil {
			return nil, fmt.Errorf("waiting for promotion %d: %w", p.ID, err)
		}
		if next.State != p.State || next.Reason != p.Reason {
			fmt.Fprintln(w, promotionLine(next))
		}
		p = next
	}
	return p, nil
}

func promoteCmd() *cobra.Command {
	var repo, to, kind string
	var wf waitFlags
	cmd := &cobra.Command{
		Use:   "promote RELEASE --to ENV",
		Short: "Promote a release into an environment",
		Long: `Deploy RELEASE (its ID or at least 6 hex digits of it, see sluice releases) to environment ENV
with the release's own artifacts, never rebuilding. The environment's rules apply: upstream
environments, reviewers (see sluice approve), wait timer, branches and deployment windows.
The repository is the release's own unless --repo narrows a short ID. Needs a write token.`,
		Example: "  sluice promote 3f2a9c01be77 --to staging\n" +
			"  sluice promote 3f2a9c --to production --wait\n" +
			"  sluice promote 3f2a9c --to production --kind hotfix --json",
		Args: cobra.ExactArgs(1),
	}
	conn := addAPIConn(cmd)
	cmd.RunE = conn.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
		switch cd.Kind(kind) {
		case "", cd.KindForward, cd.KindHotfix, cd.KindRedeploy:
		default:
			return fmt.Errorf("--kind %q: want forward, hotfix or redeploy (sluice rollback rolls back)", kind)
		}
		ctx, api := cmd.Context(), cdAPI{c}
		name := repo
		if name == "" {
			// The release knows its repository; this also reports an
			// unknown or ambiguous ID before anything starts.
			d, err := api.release(ctx, "", args[0])
			if err != nil {
				return err
			}
			name = d.Release.Repo
		}
		p, err := api.promote(ctx, name, server.PromoteInput{Release: args[0], Env: to, Kind: cd.Kind(kind)})
		if err != nil {
			return err
		}
		return wf.finish(cmd, api, p)
	})
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "environment to promote to (required)")
	f.StringVar(&repo, "repo", "", "repository of the release (default: found from the release)")
	f.StringVar(&kind, "kind", "", "forward, hotfix or redeploy (default: forward, or hotfix for a hotfix branch's release)")
	cmd.MarkFlagRequired("to")
	wf.add(cmd)
	return cmd
}

func rollbackCmd() *cobra.Command {
	var repo, to string
	var wf waitFlags
	cmd := &cobra.Command{
		Use:   "rollback ENV",
		Short: "Roll an environment back to the release it ran before",
		Long: `Promote, as a rollback, the release ENV ran before its current one, or with --to the release
promotion PROMOTION deployed there (see sluice deployments ENV). Needs a write token.`,
		Example: "  sluice rollback production\n  sluice rollback production --to 41 --wait",
		Args:    cobra.ExactArgs(1),
	}
	conn := addAPIConn(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var toID int64
		if to != "" {
			id, err := parseID("promotion", to, "sluice deployments "+args[0])
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			toID = id
		}
		c, err := conn.client()
		if err != nil {
			return err
		}
		ctx, api := cmd.Context(), cdAPI{c}
		name, err := api.repoOrOnly(ctx, repo)
		if err != nil {
			return err
		}
		p, err := api.rollback(ctx, name, args[0], toID)
		if err != nil {
			return err
		}
		return wf.finish(cmd, api, p)
	}
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "promotion whose release to restore (default: the previous release)")
	f.StringVar(&repo, "repo", "", "repository (default: the server's only one)")
	wf.add(cmd)
	return cmd
}

// decideCmd is sluice approve (approve true) and sluice reject.
func decideCmd(approve bool) *cobra.Command {
	use, short, past := "reject", "Reject a promotion waiting for review", "rejected"
	long := `Reject promotion PROMOTION, which is waiting for its environment's reviewers: it ends as a
failure. Any reviewer may reject, and so may whoever started it. Needs a write token whose name
is one of the environment's reviewers. To mark a release unusable, use sluice release reject.`
	if approve {
		use, short, past = "approve", "Approve a promotion waiting for review", "approved"
		long = `Approve promotion PROMOTION, which is waiting for its environment's reviewers; it goes on
once enough of them approved. Needs a write token whose name is one of the environment's
reviewers, and not the one that started the promotion.`
	}
	var comment string
	var asJSON bool
	cmd := &cobra.Command{
		Use:     use + " PROMOTION",
		Short:   short,
		Long:    long,
		Example: fmt.Sprintf("  sluice %s 42\n  sluice %s 42 --comment \"checked the migration\"", use, use),
		Args:    cobra.ExactArgs(1),
	}
	conn := addAPIConn(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id, err := parseID("promotion", args[0], "sluice deployments ENV")
		if err != nil {
			return err
		}
		c, err := conn.client()
		if err != nil {
			return err
		}
		p, err := cdAPI{c}.decide(cmd.Context(), id, approve, comment)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(cmd.OutOrStdout(), p)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s; %s\n", past, promotionLine(p))
		return nil
	}
	cmd.Flags().StringVar(&comment, "comment", "", "why, for the record")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the promotion as JSON")
	return cmd
}
