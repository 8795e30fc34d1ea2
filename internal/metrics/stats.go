package metrics

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"
)

// Seconds is a duration that encodes as a number of seconds, to the millisecond: what scripts
// and Prometheus read. Durations are computed in nanoseconds and rounded only when shown.
type Seconds time.Duration

// MarshalJSON writes the duration as seconds with at most three decimals.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(s.Float(), 'f', -1, 64)), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*s = Seconds(time.Duration(math.Round(f*1000)) * time.Millisecond)
	return nil
}

// Float is the duration in seconds, rounded to the millisecond.
func (s Seconds) Float() float64 {
	return float64(time.Duration(s).Round(time.Millisecond).Milliseconds()) / 1000
}

// String is a short human form: "850ms", "42s", "3m20s", "5h12m", "3d4h".
func (s Seconds) String() string { return Human(time.Duration(s)) }

// Human is a short human form of d, precise to its two largest units.
func Human(d time.Duration) string {
	if d < 0 {
		return "-" + Human(-d)
	}
	switch {
	case d == 0:
		return "0"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Round(100*time.Millisecond).Seconds(), 'f', -1, 64) + "s"
	case d < time.Hour:
		d = d.Round(time.Second)
		return two(int64(d/time.Minute), "m", int64(d%time.Minute/time.Second), "s")
	case d < 24*time.Hour:
		d = d.Round(time.Minute)
		return two(int64(d/time.Hour), "h", int64(d%time.Hour/time.Minute), "m")
	}
	d = d.Round(time.Hour)
	return two(int64(d/(24*time.Hour)), "d", int64(d%(24*time.Hour)/time.Hour), "h")
}

func two(a int64, ua string, b int64, ub string) string {
	s := strconv.FormatInt(a, 10) + ua
	if b != 0 {
		s += strconv.FormatInt(b, 10) + ub
	}
	return s
}

// Stats summarises durations: how many, and their median and 90th percentile (nil when there
// are none, never NaN).
type Stats struct {
	N      int      `json:"n"`
	Median *Seconds `json:"median"`
	P90    *Seconds `json:"p90"`
}

// statsOf summarises ds (which it sorts).
func statsOf(ds []time.Duration) Stats {
	st := Stats{N: len(ds)}
	if len(ds) == 0 {
		return st
	}
	slices.Sort(ds)
	m, p := Seconds(percentile(ds, 50)), Seconds(percentile(ds, 90))
	st.Median, st.P90 = &m, &p
	return st
}

// percentile is the nearest-rank percentile of sorted values: the smallest value with at least
// p% of the values at or below it (the median of an even count is the lower middle value).
// Defined this way every figure is one of the observed values, which a reader can check by hand.
func percentile[T any](sorted []T, p int) T {
	i := (p*len(sorted)+99)/100 - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Rate is a share: Num of Den. Value is nil when Den is 0, so that an empty history shows "no
// data" rather than NaN or a division error.
type Rate struct {
	Num   int      `json:"num"`
	Den   int      `json:"den"`
	Value *float64 `json:"value"`
}

func rateOf(num, den int) Rate {
	r := Rate{Num: num, Den: den}
	if den > 0 {
		v := round4(float64(num) / float64(den))
		r.Value = &v
	}
	return r
}

// round4 keeps four decimals: shares are shown as percentages with two.
func round4(f float64) float64 { return math.Round(f*10000) / 10000 }

// round3 keeps three decimals.
func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// Percent is a rate as "40%" or "33.33%"; "—" without data.
func (r Rate) Percent() string {
	if r.Value == nil {
		return "—"
	}
	return strconv.FormatFloat(math.Round(*r.Value*10000)/100, 'f', -1, 64) + "%"
}
