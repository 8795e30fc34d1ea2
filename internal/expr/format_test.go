package expr

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		{nil, ""},
		{true, "true"},
		{false, "false"},
		{"text", "text"},
		{16.0, "16"},
		{-3.0, "-3"},
		{1.5, "1.5"},
		{0.1, "0.1"},
		{0.1 + 0.2, "0.3"}, // 15 significant digits, like .NET's G15
		{-0.0299, "-0.0299"},
		{123456789012345.0, "123456789012345"},
		{1e15, "1E+15"},
		{1234567890123456789.0, "1.23456789012346E+18"},
		{0.0001, "0.0001"},
		{0.00001, "1E-05"},
		{-1.5e-7, "-1.5E-07"},
		{1e100, "1E+100"},
		{2147483648.0, "2147483648"},
		{math.Copysign(0, -1), "-0"},
		{math.NaN(), "NaN"},
		{math.Inf(1), "Infinity"},
		{math.Inf(-1), "-Infinity"},
		{7, "7"},
		{map[string]any{"a": 1.0}, "{\n  \"a\": 1\n}"},
		{[]any{"x", 2.5}, "[\n  \"x\",\n  2.5\n]"},
		{[]any{}, "[]"},
		{map[string]string{"k": "v"}, "{\n  \"k\": \"v\"\n}"},
	} {
		if got := Format(c.v); got != c.want {
			t.Errorf("Format(%#v) = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestToNumber(t *testing.T) {
	in := []string{"", "  ", "12", " -3.5 ", "+1", "1.", ".5", "1e3", "1E+3", "0xff", "0xFF", "0xffffffff", "0x1ffffffff", "0o17", "0o8", "Infinity", "-Infinity", "abc", "1_000", "0x", "inf", "NaN", "1e400"}
	want := []float64{0, 0, 12, -3.5, 1, 1, 0.5, 1000, 1000, 255, 255, -1, math.NaN(), 15, math.NaN(), math.Inf(1), math.Inf(-1), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.Inf(1)}
	got := make([]float64, len(in))
	for i, s := range in {
		got[i] = toNumber(s)
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b float64) bool {
		return a == b || (math.IsNaN(a) && math.IsNaN(b))
	})); diff != "" {
		t.Errorf("toNumber mismatch for inputs %q (-want +got):\n%s", in, diff)
	}
}
