package cd

import (
	"fmt"
	"time"
)

// Kind is why a release is being promoted into an environment.
type Kind string

const (
	// KindForward moves a release along its promotion path; upstream environments must have
	// succeeded with it first.
	KindForward Kind = "forward"
	// KindRollback re-promotes a release that succeeded in this environment before.
	KindRollback Kind = "rollback"
	// KindRedeploy promotes the environment's current release again.
	KindRedeploy Kind = "redeploy"
	// KindHotfix promotes a release built from an environment's hotfix branches, skipping upstream.
	KindHotfix Kind = "hotfix"
)

func (k Kind) valid() bool {
	switch k {
	case KindForward, KindRollback, KindRedeploy, KindHotfix:
		return true
	}
	return false
}

// State is a promotion's status; the names are GitHub's deployment states so that they can be
// reported to a forge unchanged.
type State string

const (
	StateQueued     State = "queued"
	StateWaiting    State = "waiting"     // gates pending: approvals, wait timer, deployment window
	StateInProgress State = "in_progress" // deployment job(s) and verification running
	StateSuccess    State = "success"
	StateFailure    State = "failure" // the deployment or its verification failed, or a reviewer rejected it
	StateError      State = "error"   // refused by a gate, cancelled, or the system failed
	StateInactive   State = "inactive"
)

// Terminal reports whether no event can move a promotion out of s except deactivation of a
// success.
func (s State) Terminal() bool {
	switch s {
	case StateSuccess, StateFailure, StateError, StateInactive:
		return true
	}
	return false
}

// Approval is one reviewer's decision on a promotion.
type Approval struct {
	By      string    `json:"by"`
	Approve bool      `json:"approve"` // false: rejected
	At      time.Time `json:"at"`
	Comment string    `json:"comment,omitempty"`
}

// Promotion (a deployment) is one release into one environment.
type Promotion struct {
	ID        int64  `json:"id"`
	RepoID    int64  `json:"repo_id,omitempty"`
	Env       string `json:"env"`
	ReleaseID string `json:"release_id"`
	Kind      Kind   `json:"kind"`
	State     State  `json:"state"`
	StartedBy string `json:"started_by"`
	// Auto marks a promotion sluice started by itself (an automatic environment's promotion or
	// an automatic rollback) rather than a person.
	Auto      bool       `json:"auto,omitempty"`
	Approvals []Approval `json:"approvals,omitempty"`
	Gates     []string   `json:"gates,omitempty"` // the last gate results, for display
	Created   time.Time  `json:"created"`
	Updated   time.Time  `json:"updated"`
	Previous  int64      `json:"previous,omitempty"` // the promotion this one replaced (0: none)
	// RunID is the run whose deployment job(s) carry this promotion: the run that built the
	// release, or a promotion run made by `sluice promote` from the release's run definition.
	RunID int64 `json:"run_id,omitempty"`
	// URL is the environment's URL as the deployment job reported it (environment.url).
	URL string `json:"url,omitempty"`
	// Reason says why the promotion ended as it did, or what it waits for.
	Reason string `json:"reason,omitempty"`
}

// EventType is something that happened to a promotion.
type EventType string

const (
	EventWait       EventType = "wait"       // queued → waiting: a gate is pending
	EventStart      EventType = "start"      // queued|waiting → in_progress: all gates passed
	EventSucceed    EventType = "succeed"    // in_progress → success
	EventFail       EventType = "fail"       // in_progress → failure: deployment or verification failed
	EventReject     EventType = "reject"     // waiting → failure: a reviewer rejected it
	EventError      EventType = "error"      // queued|waiting|in_progress → error: refused, cancelled or broken
	EventDeactivate EventType = "deactivate" // success → inactive: a later promotion succeeded
)

// Event is one thing that happened to a promotion, at a time the caller observed.
type Event struct {
	Type EventType `json:"type"`
	At   time.Time `json:"at"`
}

// transition gives, for an event, the states it may leave and the state it enters. A switch
// rather than a map keeps the table immutable.
func transition(t EventType) (from []State, to State, ok bool) {
	switch t {
	case EventWait:
		return []State{StateQueued}, StateWaiting, true
	case EventStart:
		return []State{StateQueued, StateWaiting}, StateInProgress, true
	case EventSucceed:
		return []State{StateInProgress}, StateSuccess, true
	case EventFail:
		return []State{StateInProgress}, StateFailure, true
	case EventReject:
		return []State{StateWaiting}, StateFailure, true
	case EventError:
		return []State{StateQueued, StateWaiting, StateInProgress}, StateError, true
	case EventDeactivate:
		return []State{StateSuccess}, StateInactive, true
	}
	return nil, "", false
}

// Next applies an event to a promotion, refusing transitions the model does not allow. When the
// result is a success, the caller also marks the environment's earlier successes inactive (see
// Superseded).
func Next(p Promotion, ev Event) (Promotion, error) {
	from, to, ok := transition(ev.Type)
	if !ok {
		return p, fmt.Errorf("promotion %d: unknown event %q", p.ID, ev.Type)
	}
	for _, f := range from {
		if p.State == f {
			p.State = to
			p.Updated = ev.At
			return p, nil
		}
	}
	return p, fmt.Errorf("promotion %d: cannot %s a promotion that is %s", p.ID, ev.Type, p.State)
}

// Superseded returns the promotions of done's environment that a success of done replaces:
// earlier successes, which the caller moves to inactive with EventDeactivate.
func Superseded(history []Promotion, done Promotion) []Promotion {
	var out []Promotion
	for _, p := range history {
		if p.Env == done.Env && p.ID != done.ID && p.State == StateSuccess {
			out = append(out, p)
		}
	}
	return out
}
