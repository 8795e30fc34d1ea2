package cd

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Reasons a gate refuses a promotion for good (as opposed to making it wait).
var (
	ErrReleaseRejected = errors.New("release is marked rejected")
	ErrSelfApproval    = errors.New("the person who started a promotion cannot approve it")
	ErrNotReviewer     = errors.New("not a reviewer of this environment")
	ErrRejected        = errors.New("promotion rejected")
	ErrUpstream        = errors.New("release has not succeeded upstream")
)

// GateInput is everything a gate decision depends on; the caller gathers it from the store.
type GateInput struct {
	Env     Environment
	Release Release
	// Promotion is the one being gated: its Kind, StartedBy, Auto, Approvals and Created
	// (the wait timer runs from Created) count.
	Promotion Promotion
	// History holds the repository's promotions, at least those of Env and of its upstream
	// environments, in any order.
	History []Promotion
	Now     time.Time
	// DigestErr is the caller's verification of the release's artifacts (see VerifyArtifact);
	// any error refuses the promotion.
	DigestErr error
}

// GateResult says whether a promotion may start now.
type GateResult struct {
	Ready   bool     `json:"ready"`
	Waiting []string `json:"waiting,omitempty"` // pending gates, e.g. "approvals 1/2"
	Refused error    `json:"-"`                 // set when the promotion can never pass
	// Recheck is when the passage of time alone may change the result (the wait timer ends or a
	// deployment window opens); zero when nothing is time-bound.
	Recheck time.Time `json:"recheck,omitzero"`
}

// Gate evaluates an environment's protection rules for a promotion. Refusals come first
// (tampered artifacts, rejected release, ref rules, upstream, self-approval, a reviewer's
// rejection); then pending gates are listed: approvals, the wait timer and deployment windows.
// Rollbacks skip the wait timer and windows, since they are how an incident ends; automatic
// rollbacks (Auto) also skip approvals.
func Gate(in GateInput) GateResult {
	if err := refusal(in); err != nil {
		return GateResult{Refused: err}
	}
	var res GateResult
	p, env := in.Promotion, in.Env
	if !(p.Auto && p.Kind == KindRollback) {
		if got, need := countApprovals(env, p.Approvals), requiredApprovals(env); got < need {
			res.Waiting = append(res.Waiting, fmt.Sprintf("approvals %d/%d", got, need))
		}
	}
	if p.Kind != KindRollback {
		at := in.Now
		if until := p.Created.Add(env.WaitTimer); env.WaitTimer > 0 && in.Now.Before(until) {
			res.Waiting = append(res.Waiting, "wait timer until "+until.UTC().Format(time.RFC3339))
			res.Recheck, at = until, until
		}
		open, next, err := InWindows(env.Windows, at)
		if err != nil {
			return GateResult{Refused: fmt.Errorf("environment %q: %w", env.Name, err)}
		}
		if !open {
			res.Waiting = append(res.Waiting, "outside deployment window until "+next.Format(time.RFC3339))
			res.Recheck = next
		}
	}
	res.Ready = len(res.Waiting) == 0
	return res
}

func refusal(in GateInput) error {
	env, r, p := in.Env, in.Release, in.Promotion
	if in.DigestErr != nil {
		if errors.Is(in.DigestErr, ErrDigestMismatch) {
			return in.DigestErr
		}
		return fmt.Errorf("%w: %w", ErrDigestMismatch, in.DigestErr)
	}
	if r.Rejected {
		return fmt.Errorf("release %s: %w", r.ID, ErrReleaseRejected)
	}
	if p.ReleaseID != "" && p.ReleaseID != r.ID {
		return fmt.Errorf("promotion %d is of release %s, not %s", p.ID, p.ReleaseID, r.ID)
	}
	if p.Env != "" && p.Env != env.Name {
		return fmt.Errorf("promotion %d is into %q, not %q", p.ID, p.Env, env.Name)
	}
	if err := env.Eligible(r.Ref, p.Kind); err != nil {
		return err
	}
	switch p.Kind {
	case KindForward:
		var missing []string
		for _, u := range env.Upstream {
			if !succeeded(in.History, u, r.ID) {
				missing = append(missing, u)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("release %s has not succeeded in %s: %w", r.ID, strings.Join(missing, ", "), ErrUpstream)
		}
	case KindRollback, KindRedeploy:
		if !succeeded(in.History, env.Name, r.ID) {
			return fmt.Errorf("release %s never succeeded in %s, so it cannot be a %s there", r.ID, env.Name, p.Kind)
		}
	}
	for _, a := range p.Approvals {
		switch {
		case a.Approve && strings.EqualFold(a.By, p.StartedBy):
			return fmt.Errorf("approval by %s: %w", a.By, ErrSelfApproval)
		case !a.Approve && (isReviewer(env, a.By) || strings.EqualFold(a.By, p.StartedBy)):
			return fmt.Errorf("%w by %s", ErrRejected, a.By)
		}
	}
	return nil
}

// CheckApproval validates a decision before the caller records it on p: only the
// environment's reviewers decide, once each, and the starter may reject (cancel) but never
// approve.
func CheckApproval(env Environment, p Promotion, a Approval) error {
	if p.State != StateQueued && p.State != StateWaiting {
		return fmt.Errorf("promotion %d is %s, no longer awaiting review", p.ID, p.State)
	}
	self := strings.EqualFold(a.By, p.StartedBy)
	if a.Approve && self {
		return fmt.Errorf("%s approving promotion %d: %w", a.By, p.ID, ErrSelfApproval)
	}
	if !isReviewer(env, a.By) && !(self && !a.Approve) {
		return fmt.Errorf("%s reviewing promotion %d into %s: %w", a.By, p.ID, env.Name, ErrNotReviewer)
	}
	for _, prev := range p.Approvals {
		if strings.EqualFold(prev.By, a.By) {
			return fmt.Errorf("%s already reviewed promotion %d", a.By, p.ID)
		}
	}
	return nil
}

func succeeded(history []Promotion, env, releaseID string) bool {
	return slices.ContainsFunc(history, func(h Promotion) bool {
		return h.Env == env && h.ReleaseID == releaseID && (h.State == StateSuccess || h.State == StateInactive)
	})
}

func isReviewer(env Environment, who string) bool {
	return slices.ContainsFunc(env.Reviewers, func(r string) bool { return strings.EqualFold(r, who) })
}

// requiredApprovals treats reviewers without a count as GitHub does: one of them must approve.
func requiredApprovals(env Environment) int {
	if len(env.Reviewers) > 0 && env.RequiredApprovals == 0 {
		return 1
	}
	return env.RequiredApprovals
}

// countApprovals counts distinct reviewers who approved.
func countApprovals(env Environment, as []Approval) int {
	var seen []string
	for _, a := range as {
		if !a.Approve || !isReviewer(env, a.By) {
			continue
		}
		if !slices.ContainsFunc(seen, func(s string) bool { return strings.EqualFold(s, a.By) }) {
			seen = append(seen, a.By)
		}
	}
	return len(seen)
}

// PendingReview says what a promotion still needs from reviewers: how many
// more approvals, and who may give them (env's reviewers, less the
// promotion's starter and those who already decided). need is 0 when the
// environment asks for no approval or has enough.
func PendingReview(env Environment, p Promotion) (need int, who []string) {
	need = requiredApprovals(env) - countApprovals(env, p.Approvals)
	if need <= 0 {
		return 0, nil
	}
	for _, r := range env.Reviewers {
		if strings.EqualFold(r, p.StartedBy) {
			continue
		}
		if slices.ContainsFunc(p.Approvals, func(a Approval) bool { return strings.EqualFold(a.By, r) }) {
			continue
		}
		who = append(who, r)
	}
	return need, who
}

// Rejected reports whether a reviewer rejected p: its failure is a
// decision, not a broken deployment.
func Rejected(p Promotion) bool {
	return p.State == StateFailure && slices.ContainsFunc(p.Approvals, func(a Approval) bool { return !a.Approve })
}
