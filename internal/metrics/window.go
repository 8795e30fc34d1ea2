package metrics

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

const (
	// DefaultWindow is how far back figures look when not told.
	DefaultWindow = 90 * 24 * time.Hour
	// MaxWindow bounds a window: ten years is older than any history worth a query.
	MaxWindow = 3650 * 24 * time.Hour
	day       = 24 * time.Hour
	week      = 7 * day
)

// ParseSince reads how far back to look: a count of days or weeks ("90d", "12w"), a Go
// duration ("36h", "90m"), or a date or time to start from ("2025-01-31", RFC 3339). It returns
// the window's start; now is the window's end.
func ParseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return now.Add(-DefaultWindow), nil
	}
	bad := func(why string) error {
		return fmt.Errorf("since %q: %s; want a length like 90d, 12w or 36h, or a date like 2025-01-31", trimForError(s), why)
	}
	var d time.Duration
	switch {
	case len(s) > 1 && (s[len(s)-1] == 'd' || s[len(s)-1] == 'w') && isDigits(s[:len(s)-1]):
		n, err := strconv.Atoi(s[:len(s)-1])
		if err != nil || n > int(MaxWindow/day) {
			return time.Time{}, bad("longer than ten years")
		}
		d = time.Duration(n) * day
		if s[len(s)-1] == 'w' {
			if n > int(MaxWindow/week) {
				return time.Time{}, bad("longer than ten years")
			}
			d = time.Duration(n) * week
		}
	case strings.Contains(s, "-") && len(s) >= 10 && isDigits(s[:4]):
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			if t, err = time.Parse(time.RFC3339, s); err != nil {
				return time.Time{}, bad("not a date")
			}
		}
		if !t.Before(now) {
			return time.Time{}, bad("it is not in the past")
		}
		if now.Sub(t) > MaxWindow {
			return time.Time{}, bad("longer than ten years")
		}
		return t.UTC(), nil
	default:
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return time.Time{}, bad("not a length or a date")
		}
	}
	if d <= 0 {
		return time.Time{}, bad("the window must be longer than nothing")
	}
	if d > MaxWindow {
		return time.Time{}, bad("longer than ten years")
	}
	return now.Add(-d), nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// trimForError keeps an error message short whatever was passed.
func trimForError(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// windowLabel names a window's length: "90d", "36h".
func windowLabel(d time.Duration) string {
	if d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return Human(d)
}
