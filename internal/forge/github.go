package forge

import (
	"fmt"
	"net/http"
)

func parseGitHub(h http.Header, m map[string]any) (*Event, error) {
	name := h.Get("X-GitHub-Event")
	var (
		ev  *Event
		err error
	)
	switch name {
	case "":
		return nil, fmt.Errorf("%w: X-GitHub-Event header missing", ErrMalformed)
	case "push":
		ev, err = parsePushLike(m)
	case "pull_request":
		ev, err = parsePullLike(m)
	case "ping":
		ev = &Event{Name: "ping", Message: str(m, "zen")}
	default:
		return nil, fmt.Errorf("%w: GitHub event %q", ErrIgnored, name)
	}
	if err != nil {
		return nil, err
	}
	ev.DeliveryID = h.Get("X-GitHub-Delivery")
	ev.Repo = repoOf(obj(m, "repository"))
	ev.Sender = str(m, "sender", "login")
	ev.Payload = m
	return ev, nil
}
