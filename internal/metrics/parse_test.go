package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseSince(t *testing.T) {
	now := time.Date(2025, 3, 31, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr string
	}{
		{"", now.Add(-90 * 24 * time.Hour), ""},
		{"90d", now.Add(-90 * 24 * time.Hour), ""},
		{"12w", now.Add(-84 * 24 * time.Hour), ""},
		{"36h", now.Add(-36 * time.Hour), ""},
		{"90m", now.Add(-90 * time.Minute), ""},
		{"2025-01-31", time.Date(2025, 1, 31, 0, 0, 0, 0, time.UTC), ""},
		{"2025-03-01T10:00:00+02:00", time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC), ""},
		{"3651d", time.Time{}, "longer than ten years"},
		{"99999999999999999999d", time.Time{}, "longer than ten years"},
		{"2026-01-01", time.Time{}, "not in the past"},
		{"0d", time.Time{}, "longer than nothing"},
		{"-1h", time.Time{}, "longer than nothing"},
		{"yesterday", time.Time{}, "not a length or a date"},
		{"2025-13-45", time.Time{}, "not a date"},
	}
	for _, tt := range tests {
		got, err := ParseSince(tt.in, now)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "like 90d") {
				t.Errorf("ParseSince(%q) = %v, %v; want an error saying %q and what to pass", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"90d", "12w", "36h", "2025-01-31", "2025-03-01T10:00:00Z", "-1h", "9999999d", "1e9h"} {
		f.Add(s)
	}
	now := time.Date(2025, 3, 31, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		since, err := ParseSince(s, now)
		if err != nil {
			if len(err.Error()) > 300 {
				t.Fatalf("error of %d bytes for a %d-byte input", len(err.Error()), len(s))
			}
			return
		}
		if !since.Before(now) || now.Sub(since) > MaxWindow {
			t.Fatalf("ParseSince(%q) = %v: not a window of at most ten years before %v", s, since, now)
		}
	})
}

func TestParseTrailers(t *testing.T) {
	got := parseTrailers("Sluice-Pin: urllib3<2\nSluice-Pin-Reason: CVE: a colon\nnot a trailer\nSigned-off-by: A <a@b>\nBad Key: x\n")
	want := map[string][]string{"sluice-pin": {"urllib3<2"}, "sluice-pin-reason": {"CVE: a colon"}, "signed-off-by": {"A <a@b>"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("parseTrailers (-want +got):\n%s", d)
	}
}

// A commit message is the pusher's: whatever bytes it holds, it cannot make the history reader
// see another commit, or trailers the commit does not have.
func TestHistoryResistsForgedRecords(t *testing.T) {
	h := newHistory(t)
	fake := strings.Repeat("f", 40)
	// The subject line (printed by the reader's format) carries what would be a record of its own
	// were the separators fixed bytes.
	forged := "innocent\x1f\x1f\x1f\x1f\x1e" + fake + "\x1f1700000000\x1f\x1fMallory\x1fforged pin\x1fSluice-Pin: evil<1\x1f"
	c1 := h.commit("main", t0, forged, map[string]string{"app.py": "x = 1\n"})
	rep := h.compute(t0.Add(24*hr), 7*24*hr, Options{})
	for _, p := range rep.Pins.Pins {
		t.Errorf("a pin was read from a crafted commit message: %+v", p)
	}
	g, err := openGit(h.bare)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := g.history(h.ctx, "refs/heads/main", t0.Add(-time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].SHA != c1 || len(hist[0].Trailers["sluice-pin"]) != 0 || len(hist[0].Files) != 1 || hist[0].Files[0] != "app.py" {
		t.Errorf("history %+v, want only %s changing app.py, without trailers", hist, c1)
	}
}
