package cd

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestInWindows(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	// Friday 22:00 to Saturday 02:00, New York time.
	night := Window{Days: []time.Weekday{time.Friday}, Start: 22 * 60, End: 2 * 60, Timezone: "America/New_York"}
	office := Window{Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}, Start: 9 * 60, End: 17 * 60}
	tests := []struct {
		name     string
		ws       []Window
		at       time.Time
		wantOpen bool
		wantNext time.Time
	}{
		{"no windows: always open", nil, time.Date(2025, 1, 1, 3, 0, 0, 0, time.UTC), true, time.Time{}},
		{"inside office hours", []Window{office}, time.Date(2025, 1, 15, 9, 0, 0, 0, time.UTC), true, time.Time{}},
		{"end is exclusive", []Window{office}, time.Date(2025, 1, 15, 17, 0, 0, 0, time.UTC), false, time.Date(2025, 1, 16, 9, 0, 0, 0, time.UTC)},
		{"friday evening waits for monday", []Window{office}, time.Date(2025, 1, 17, 18, 0, 0, 0, time.UTC), false, time.Date(2025, 1, 20, 9, 0, 0, 0, time.UTC)},
		// 2025-01-18 04:00 UTC is Friday 23:00 in New York.
		{"across midnight, before it, in another zone", []Window{night}, time.Date(2025, 1, 18, 4, 0, 0, 0, time.UTC), true, time.Time{}},
		// 2025-01-18 06:30 UTC is Saturday 01:30 in New York: still Friday's window.
		{"across midnight, after it", []Window{night}, time.Date(2025, 1, 18, 6, 30, 0, 0, time.UTC), true, time.Time{}},
		// 2025-01-18 07:00 UTC is Saturday 02:00 in New York: closed until next Friday 22:00.
		{"across midnight, closed at its end", []Window{night}, time.Date(2025, 1, 18, 7, 0, 0, 0, time.UTC), false, time.Date(2025, 1, 24, 22, 0, 0, 0, ny)},
		// Saturday 01:30 local opens no window: Saturday is not listed, only Friday's runs on.
		{"saturday night is not friday's", []Window{night}, time.Date(2025, 1, 19, 6, 30, 0, 0, time.UTC), false, time.Date(2025, 1, 24, 22, 0, 0, 0, ny)},
		{"earliest of several", []Window{night, office}, time.Date(2025, 1, 17, 18, 0, 0, 0, time.UTC), false, time.Date(2025, 1, 17, 22, 0, 0, 0, ny)},
		// US daylight saving starts 2025-03-09 02:00: the window still opens at 22:00 local.
		{"across a DST change", []Window{night}, time.Date(2025, 3, 9, 12, 0, 0, 0, time.UTC), false, time.Date(2025, 3, 14, 22, 0, 0, 0, ny)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			open, next, err := InWindows(tt.ws, tt.at)
			if err != nil {
				t.Fatal(err)
			}
			if open != tt.wantOpen || !next.Equal(tt.wantNext) {
				t.Errorf("InWindows(%v) = %v, %v; want %v, %v", tt.at, open, next, tt.wantOpen, tt.wantNext)
			}
		})
	}
	if _, _, err := InWindows([]Window{{Timezone: "Nowhere/Land", End: 60}}, time.Now()); err == nil {
		t.Error("InWindows with an unknown zone succeeded")
	}
}

func TestParseHoursAndDays(t *testing.T) {
	cfg, err := Parse("e.yml", yml(`
environments:
	prod:
		windows:
			- {days: fri-mon, hours: "0:30-24:00"}
			- {days: [Tuesday, tue, wed-wed]}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Window{
		{Days: []time.Weekday{time.Friday, time.Saturday, time.Sunday, time.Monday}, Start: 30, End: 24 * 60},
		{Days: []time.Weekday{time.Tuesday, time.Wednesday}, Start: 0, End: 24 * 60},
	}
	if diff := cmp.Diff(want, cfg.Environments[0].Windows); diff != "" {
		t.Errorf("windows mismatch (-want +got):\n%s", diff)
	}
}
