package cd

import (
	"fmt"
	"slices"
	"time"
)

// Window is a recurring span of time in which promotions may start.
type Window struct {
	Days []time.Weekday `json:"days,omitempty"` // days the window opens on; empty: every day
	// Start and End are minutes after local midnight (End up to 1440). When End is not after
	// Start the window runs past midnight into the next day, so Days name the day it opens.
	Start    int    `json:"start"`
	End      int    `json:"end"`
	Timezone string `json:"timezone,omitempty"` // IANA name; empty: UTC
}

func (w Window) location() (*time.Location, error) {
	if w.Timezone == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(w.Timezone)
	if err != nil {
		return nil, fmt.Errorf("deployment window time zone %q: %w", w.Timezone, err)
	}
	return loc, nil
}

// spanOn returns the window's occurrence that opens on the local date y-m-d. Building both ends
// with time.Date in the window's zone keeps them right across daylight-saving changes.
func (w Window) spanOn(y int, m time.Month, d int, loc *time.Location) (start, end time.Time) {
	start = time.Date(y, m, d, w.Start/60, w.Start%60, 0, 0, loc)
	endDay := d
	if w.End <= w.Start {
		endDay++
	}
	end = time.Date(y, m, endDay, w.End/60, w.End%60, 0, 0, loc)
	return start, end
}

// openAt reports whether the window is open at t and, if not, when it next opens.
func (w Window) openAt(t time.Time) (bool, time.Time, error) {
	loc, err := w.location()
	if err != nil {
		return false, time.Time{}, err
	}
	y, m, d := t.In(loc).Date()
	var next time.Time
	// An occurrence that opened yesterday may still be open; within eight days every listed
	// weekday has come round once more.
	for k := -1; k <= 8; k++ {
		if len(w.Days) > 0 && !slices.Contains(w.Days, time.Date(y, m, d+k, 12, 0, 0, 0, loc).Weekday()) {
			continue
		}
		start, end := w.spanOn(y, m, d+k, loc)
		if !t.Before(start) && t.Before(end) {
			return true, time.Time{}, nil
		}
		if start.After(t) && (next.IsZero() || start.Before(next)) {
			next = start
		}
	}
	return false, next, nil
}

// InWindows reports whether t falls inside any of ws (always, when ws is empty) and, if not,
// the earliest time one of them opens.
func InWindows(ws []Window, t time.Time) (open bool, next time.Time, err error) {
	if len(ws) == 0 {
		return true, time.Time{}, nil
	}
	for _, w := range ws {
		o, n, err := w.openAt(t)
		if err != nil {
			return false, time.Time{}, err
		}
		if o {
			return true, time.Time{}, nil
		}
		if !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	return false, next, nil
}
