package cd

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNextEveryTransition(t *testing.T) {
	states := []State{StateQueued, StateWaiting, StateInProgress, StateSuccess, StateFailure, StateError, StateInactive}
	events := []EventType{EventWait, EventStart, EventSucceed, EventFail, EventReject, EventError, EventDeactivate}
	// legal lists every allowed (state, event) pair and where it leads; every other pair of the
	// cross product must be refused and leave the promotion untouched.
	legal := map[State]map[EventType]State{
		StateQueued:     {EventWait: StateWaiting, EventStart: StateInProgress, EventError: StateError},
		StateWaiting:    {EventStart: StateInProgress, EventReject: StateFailure, EventError: StateError},
		StateInProgress: {EventSucceed: StateSuccess, EventFail: StateFailure, EventError: StateError},
		StateSuccess:    {EventDeactivate: StateInactive},
	}
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := created.Add(time.Minute)
	for _, s := range states {
		for _, ev := range events {
			p := Promotion{ID: 4, Env: "production", State: s, Created: created, Updated: created}
			got, err := Next(p, Event{Type: ev, At: at})
			to, ok := legal[s][ev]
			if !ok {
				if err == nil {
					t.Errorf("%s + %s = %s, want refused", s, ev, got.State)
				}
				if diff := cmp.Diff(p, got); diff != "" {
					t.Errorf("%s + %s refused but changed the promotion:\n%s", s, ev, diff)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s + %s: %v", s, ev, err)
				continue
			}
			want := p
			want.State, want.Updated = to, at
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s + %s mismatch (-want +got):\n%s", s, ev, diff)
			}
		}
	}
	if _, err := Next(Promotion{State: StateQueued}, Event{Type: "teleport"}); err == nil {
		t.Error("unknown event accepted")
	}
}

func TestTerminal(t *testing.T) {
	for s, want := range map[State]bool{
		StateQueued: false, StateWaiting: false, StateInProgress: false,
		StateSuccess: true, StateFailure: true, StateError: true, StateInactive: true,
	} {
		if s.Terminal() != want {
			t.Errorf("%s.Terminal() = %v, want %v", s, !want, want)
		}
	}
}

func TestSuperseded(t *testing.T) {
	history := []Promotion{
		{ID: 1, Env: "production", State: StateInactive},
		{ID: 2, Env: "production", State: StateSuccess},
		{ID: 3, Env: "staging", State: StateSuccess},
		{ID: 4, Env: "production", State: StateFailure},
		{ID: 5, Env: "production", State: StateSuccess},
	}
	got := Superseded(history, history[4])
	if diff := cmp.Diff([]Promotion{history[1]}, got); diff != "" {
		t.Errorf("Superseded mismatch (-want +got):\n%s", diff)
	}
}
