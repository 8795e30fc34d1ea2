package expr

import (
	"math"
	"strconv"
	"strings"
)

// Format turns a value into the text GitHub puts in place of ${{ }}: null is empty, booleans are
// true/false, numbers as GitHub prints them, objects and arrays as their toJSON.
func Format(v any) string {
	switch x := normalize(v).(type) {
	case []any, map[string]any, *filtered:
		return toJSON(x)
	default:
		return toString(x)
	}
}

// formatNumber prints like .NET's "G15", which GitHub uses: 15 significant digits, trailing zeros
// dropped, and E-notation (`1E+15`, `1E-05`) when the exponent is below -4 or at least 15.
func formatNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0"
		}
		return "0"
	}
	s := strconv.FormatFloat(f, 'e', 14, 64) // d.dddddddddddddde±XX
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	e := strings.IndexByte(s, 'e')
	exp, _ := strconv.Atoi(s[e+1:])
	digits := strings.TrimRight(s[:1]+s[2:e], "0")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	switch {
	case exp >= 15 || exp < -4:
		b.WriteByte(digits[0])
		if len(digits) > 1 {
			b.WriteByte('.')
			b.WriteString(digits[1:])
		}
		b.WriteByte('E')
		if exp < 0 {
			b.WriteByte('-')
			exp = -exp
		} else {
			b.WriteByte('+')
		}
		if exp < 10 {
			b.WriteByte('0')
		}
		b.WriteString(strconv.Itoa(exp))
	case exp < 0:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -exp-1))
		b.WriteString(digits)
	default:
		if len(digits) <= exp+1 {
			b.WriteString(digits)
			b.WriteString(strings.Repeat("0", exp+1-len(digits)))
		} else {
			b.WriteString(digits[:exp+1])
			b.WriteByte('.')
			b.WriteString(digits[exp+1:])
		}
	}
	return b.String()
}
