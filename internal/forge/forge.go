// Package forge speaks to code forges (GitHub, Gitea/Forgejo, GitLab): it
// authenticates and parses their webhook deliveries into one Event shape,
// reports commit statuses back, and draws status badges.
package forge

import (
	"errors"
	"fmt"
)

// Kind names a forge's dialect. Forgejo speaks Gitea's.
type Kind string

// Forge kinds.
const (
	GitHub Kind = "github"
	Gitea  Kind = "gitea"
	GitLab Kind = "gitlab"
)

// ParseKind accepts the kind names used in URLs and configuration
// ("forgejo" is an alias of "gitea").
func ParseKind(s string) (Kind, error) {
	switch s {
	case "github":
		return GitHub, nil
	case "gitea", "forgejo":
		return Gitea, nil
	case "gitlab":
		return GitLab, nil
	}
	return "", fmt.Errorf("unknown forge %q (want github, gitea, forgejo or gitlab)", s)
}

var (
	// ErrBadSignature: the delivery's signature or token is missing or wrong.
	// The wrapped message says which header, never the secret.
	ErrBadSignature = errors.New("webhook signature check failed")
	// ErrIgnored: a well-formed delivery for an event sluice does not act on
	// (for example an issue comment, or the deletion of a branch).
	ErrIgnored = errors.New("webhook event ignored")
	// ErrMalformed: the delivery is not a readable event (no event header,
	// body is not a JSON object, required fields missing).
	ErrMalformed = errors.New("malformed webhook delivery")
)

// Event is a webhook delivery in one shape for all forges.
type Event struct {
	Forge Kind
	// Name is "push", "tag" (a push of refs/tags/*), "pull_request" or "ping".
	Name string
	// Action is GitHub's pull_request action (opened, synchronize, reopened,
	// closed, edited, …) whatever the forge called it; empty for pushes.
	Action     string
	DeliveryID string
	Repo       Repo
	// Ref is github.ref: the pushed ref, or refs/pull/N/merge for a pull
	// request (see PullHeadRef for a ref that can actually be fetched).
	Ref string
	// Before and After are the ref's old and new SHAs for a push; for a pull
	// request After is the head and Before the previous head when the forge
	// says (synchronize).
	Before, After string
	// BaseRef and HeadRef are the pull request's branch names.
	BaseRef, HeadRef string
	// HeadSHA is the commit to check out and report statuses on: the pushed
	// commit, or the pull request's head.
	HeadSHA string
	// Number is the pull request number (GitLab: the merge request iid).
	Number  int
	Commits []Commit
	// ChangedFiles is the sorted union of the commits' added, modified and
	// removed paths. It is nil when the payload does not carry a complete
	// list (pull requests, tag pushes, truncated commit lists): callers must
	// then diff Before..After themselves.
	ChangedFiles []string
	// Sender is the user who caused the event.
	Sender string
	// Message is the head commit's message for a push, the title for a pull
	// request, GitHub's zen for a ping.
	Message string
	// Fork is true for a pull request whose head lives in another repository
	// (or one that was deleted): such runs must not get secrets.
	Fork bool
	// Payload is the delivery's JSON, rewritten to GitHub's shape where the
	// forge differs, for the github.event context.
	Payload map[string]any
}

// Repo identifies the repository an event belongs to.
type Repo struct {
	FullName      string // owner/name (GitLab: the path with namespace)
	CloneURL      string // https clone URL
	HTMLURL       string
	DefaultBranch string
}

// Commit is one commit listed in a push.
type Commit struct {
	ID, Message, Timestamp, URL string
	Author, AuthorEmail         string
	Added, Modified, Removed    []string
}

// PullHeadRef is the ref under which the forge publishes a pull request's
// head in the base repository; it can be fetched even when the head lives
// in a fork. Empty for events that are not pull requests.
func (e *Event) PullHeadRef() string {
	if e.Name != "pull_request" || e.Number <= 0 {
		return ""
	}
	if e.Forge == GitLab {
		return fmt.Sprintf("refs/merge-requests/%d/head", e.Number)
	}
	return fmt.Sprintf("refs/pull/%d/head", e.Number)
}
