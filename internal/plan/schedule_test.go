package plan

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestScheduleDue(t *testing.T) {
	utc := func(d, h, m int) time.Time { return time.Date(2025, 3, d, h, m, 0, 0, time.UTC) }
	cases := []struct {
		name, cron, tz string
		after, upTo    time.Time
		want           time.Time
		due            bool
	}{
		{"due at its minute", "30 5 * * *", "", utc(3, 5, 29), utc(3, 5, 30), utc(3, 5, 30), true},
		{"the window excludes its start", "30 5 * * *", "", utc(3, 5, 30), utc(3, 5, 31), time.Time{}, false},
		{"in UTC, not the window's zone", "30 5 * * *", "", utc(3, 5, 29).In(time.FixedZone("X", 3600)), utc(3, 5, 30).In(time.FixedZone("X", 3600)), utc(3, 5, 30), true},
		{"a timezone reads the line in that zone", "0 9 * * *", "Asia/Tokyo", utc(3, 23, 59), utc(4, 0, 0), utc(4, 0, 0), true},
		{"and not at 09:00 UTC", "0 9 * * *", "Asia/Tokyo", utc(4, 8, 59), utc(4, 9, 0), time.Time{}, false},
		// Europe/Paris moves to summer time on 30 March 2025: 09:00 is 08:00 UTC before, 07:00 after.
		{"daylight saving time is the zone's", "0 9 * * *", "Europe/Paris", time.Date(2025, 3, 31, 6, 59, 0, 0, time.UTC), time.Date(2025, 3, 31, 7, 0, 0, 0, time.UTC), time.Date(2025, 3, 31, 7, 0, 0, 0, time.UTC), true},
		{"a week of downtime is one tick, the first", "0 * * * *", "", utc(3, 0, 30), utc(10, 0, 30), utc(3, 1, 0), true},
	}
	for _, c := range cases {
		got, due, err := ScheduleDue(c.cron, c.tz, c.after, c.upTo)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if due != c.due || !got.Equal(c.want) {
			t.Errorf("%s: ScheduleDue = %v %v, want %v %v", c.name, got, due, c.want, c.due)
		}
		if due && got.Location() != time.UTC {
			t.Errorf("%s: tick %v not in UTC", c.name, got)
		}
	}
	var errs []string
	for _, bad := range [][2]string{{"0 9 * * *", "Mars/Olympus"}, {"0 9 * * *", "Local"}, {"61 * * * *", ""}, {"0 9 * * *", "../../etc/passwd"}} {
		if _, _, err := ScheduleDue(bad[0], bad[1], utc(3, 0, 0), utc(4, 0, 0)); err != nil {
			errs = append(errs, bad[0]+" "+bad[1])
		}
	}
	if d := cmp.Diff([]string{"0 9 * * * Mars/Olympus", "0 9 * * * Local", "61 * * * * ", "0 9 * * * ../../etc/passwd"}, errs); d != "" {
		t.Errorf("refused schedules (-want +got):\n%s", d)
	}
}

// FuzzScheduleDue: cron lines and time zones come from workflow files anyone can push; they
// never panic, and a due tick lies in the window, in UTC.
func FuzzScheduleDue(f *testing.F) {
	for _, s := range [][2]string{{"0 9 * * *", "Asia/Tokyo"}, {"*/5 * * * *", ""}, {"0 0 30 2 *", ""}, {"0 0 31 4 *", "UTC"},
		{"61 * * * *", ""}, {"@every 1s", ""}, {"0 9 * * *", "../../etc/passwd"}, {"0 9 * * *", "Local"}, {"0 2 * * *", "America/New_York"}} {
		f.Add(s[0], s[1], int64(1741000000), int64(3600*24*40))
	}
	f.Fuzz(func(t *testing.T, line, tz string, from, span int64) {
		if span < 0 || span > 3600*24*400 {
			return
		}
		after := time.Unix(from%(1<<33), 0).UTC()
		upTo := after.Add(time.Duration(span) * time.Second)
		at, due, err := ScheduleDue(line, tz, after, upTo)
		if err != nil || !due {
			return
		}
		if !at.After(after) || at.After(upTo) || at.Location() != time.UTC {
			t.Errorf("ScheduleDue(%q, %q, %v, %v) = %v, outside the window or not UTC", line, tz, after, upTo, at)
		}
	})
}
