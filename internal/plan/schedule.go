package plan

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// cronParser reads `on: schedule` cron lines: five fields, as GitHub.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// ScheduleDue says whether a schedule entry fires in the window (after, upTo] and when:
// its cron line read in UTC, or in timezone (an IANA name) when the entry declares one, as
// GitHub does. However long the window (the server stalled, or its cron duty moved to
// another replica late), the entry fires at most once, for the first tick in the window: no
// burst of catch-up runs.
func ScheduleDue(cronLine, timezone string, after, upTo time.Time) (time.Time, bool, error) {
	loc := time.UTC
	if timezone != "" {
		l, err := time.LoadLocation(timezone)
		if err != nil || timezone == "Local" {
			return time.Time{}, false, fmt.Errorf("schedule timezone %q is not an IANA time zone name (such as Europe/Paris)", timezone)
		}
		loc = l
	}
	sched, err := cronParser.Parse(cronLine)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("schedule cron %q: %w", cronLine, err)
	}
	next := sched.Next(after.In(loc))
	if next.IsZero() || next.After(upTo) {
		return time.Time{}, false, nil
	}
	return next.UTC(), true, nil
}
