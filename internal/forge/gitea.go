package forge

import (
	"fmt"
	"net/http"
)

// giteaAction spells Gitea's pull request actions the way GitHub does.
func giteaAction(a string) string {
	switch a {
	case "synchronized":
		return "synchronize"
	case "label_updated":
		return "labeled"
	case "label_cleared":
		return "unlabeled"
	}
	return a
}

// parseGitea reads Gitea and Forgejo deliveries, which copy GitHub's payload
// shapes closely.
func parseGitea(h http.Header, m map[string]any) (*Event, error) {
	header, name := firstHeader(h, "X-Gitea-Event", "X-Forgejo-Event", "X-Gogs-Event")
	var (
		ev  *Event
		err error
	)
	switch name {
	case "":
		return nil, fmt.Errorf("%w: %s (or X-Forgejo-Event) header missing", ErrMalformed, header)
	case "push":
		ev, err = parsePushLike(m)
	case "pull_request":
		ev, err = parsePullLike(m)
		if err == nil {
			ev.Action = giteaAction(ev.Action)
			m["action"] = ev.Action
		}
	case "ping":
		ev = &Event{Name: "ping"}
	default:
		return nil, fmt.Errorf("%w: %s %q", ErrIgnored, header, name)
	}
	if err != nil {
		return nil, err
	}
	_, ev.DeliveryID = firstHeader(h, "X-Gitea-Delivery", "X-Forgejo-Delivery", "X-Gogs-Delivery")
	ev.Repo = repoOf(obj(m, "repository"))
	ev.Sender = str(m, "sender", "login")
	if ev.Sender == "" {
		ev.Sender = str(m, "sender", "username")
	}
	ev.Payload = m
	return ev, nil
}
