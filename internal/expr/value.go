package expr

import (
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

// filtered is the result of a `.*` filter. GitHub keeps it apart from plain arrays: a property or
// index applied to it maps over its elements instead of indexing it.
type filtered struct{ items []any }

// normalize maps Go values a caller may put in Contexts onto the JSON-like model.
func normalize(v any) any {
	switch x := v.(type) {
	case nil, bool, float64, string, map[string]any, []any, *filtered:
		return v
	case int:
		return float64(x)
	case int8:
		return float64(x)
	case int16:
		return float64(x)
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	case uint:
		return float64(x)
	case uint8:
		return float64(x)
	case uint16:
		return float64(x)
	case uint32:
		return float64(x)
	case uint64:
		return float64(x)
	case float32:
		return float64(x)
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, s := range x {
			m[k] = s
		}
		return m
	case []string:
		a := make([]any, len(x))
		for i, s := range x {
			a[i] = s
		}
		return a
	case []map[string]any:
		a := make([]any, len(x))
		for i, s := range x {
			a[i] = s
		}
		return a
	}
	return v
}

type kind int

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

func kindOf(v any) kind {
	switch normalize(v).(type) {
	case nil:
		return kindNull
	case bool:
		return kindBool
	case float64:
		return kindNumber
	case string:
		return kindString
	case []any, *filtered:
		return kindArray
	}
	return kindObject
}

func isPrimitive(v any) bool { return kindOf(v) <= kindString }

// asArray returns the elements of an array or filter result.
func asArray(v any) ([]any, bool) {
	switch x := normalize(v).(type) {
	case []any:
		return x, true
	case *filtered:
		return x.items, true
	}
	return nil, false
}

// Truthy follows GitHub: null, false, 0, NaN and the empty string are false; everything else (objects and
// arrays included) is true.
func Truthy(v any) bool {
	switch x := normalize(v).(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0 && !math.IsNaN(x)
	case string:
		return x != ""
	}
	return true
}

// toString is GitHub's ConvertToString: what format(), join() and the string functions see.
// Objects and arrays become the words "Object" and "Array".
func toString(v any) string {
	switch x := normalize(v).(type) {
	case nil:
		return ""
	case bool:
		if x {
			return "true"
		}
		return "false"
	case float64:
		return formatNumber(x)
	case string:
		return x
	case []any, *filtered:
		return "Array"
	}
	return "Object"
}

var decimalRE = lazyre.New(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// toNumber follows GitHub's coercion (modelled on JavaScript's Number()): null→0, bool→1/0, strings
// parsed after trimming (empty → 0, also 0x/0o integers, Infinity), anything else NaN.
func toNumber(v any) float64 {
	switch x := normalize(v).(type) {
	case nil:
		return 0
	case bool:
		if x {
			return 1
		}
		return 0
	case float64:
		return x
	case string:
		return parseNumberString(x)
	}
	return math.NaN()
}

func parseNumberString(s string) float64 {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return 0
	case decimalRE.MatchString(s):
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && !math.IsInf(f, 0) {
			return math.NaN()
		}
		return f
	case len(s) > 2 && s[0] == '0' && s[1] == 'x':
		// .NET parses hex into an Int32's bits, so 0xffffffff is -1.
		u, err := strconv.ParseUint(s[2:], 16, 32)
		if err != nil {
			return math.NaN()
		}
		return float64(int32(uint32(u)))
	case len(s) > 2 && s[0] == '0' && s[1] == 'o':
		u, err := strconv.ParseUint(s[2:], 8, 32)
		if err != nil {
			return math.NaN()
		}
		return float64(int32(uint32(u)))
	case s == "Infinity":
		return math.Inf(1)
	case s == "-Infinity":
		return math.Inf(-1)
	}
	return math.NaN()
}

// coerce brings two values to a common kind the way GitHub's CoerceTypes does; objects and arrays
// are never converted, so they only ever equal themselves.
func coerce(l, r any) (any, any) {
	l, r = normalize(l), normalize(r)
	for {
		lk, rk := kindOf(l), kindOf(r)
		switch {
		case lk == rk:
			return l, r
		case lk == kindNumber && rk == kindString:
			return l, toNumber(r)
		case lk == kindString && rk == kindNumber:
			return toNumber(l), r
		case lk == kindBool || lk == kindNull:
			l = toNumber(l)
		case rk == kindBool || rk == kindNull:
			r = toNumber(r)
		default:
			return l, r
		}
	}
}

func sameInstance(a, b any) bool {
	if fa, ok := a.(*filtered); ok {
		fb, ok := b.(*filtered)
		return ok && fa == fb
	}
	if _, ok := b.(*filtered); ok {
		return false
	}
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.Kind() != vb.Kind() {
		return false
	}
	switch va.Kind() {
	case reflect.Map:
		return va.UnsafePointer() == vb.UnsafePointer()
	case reflect.Slice:
		return va.UnsafePointer() == vb.UnsafePointer() && va.Len() == vb.Len()
	}
	return false
}

// looseEqual is GitHub's ==.
func looseEqual(a, b any) bool {
	l, r := coerce(a, b)
	if kindOf(l) != kindOf(r) {
		return false
	}
	switch x := l.(type) {
	case nil:
		return true
	case bool:
		return x == r.(bool)
	case float64:
		return x == r.(float64) // NaN is unequal to everything already
	case string:
		return foldCompare(x, r.(string)) == 0
	}
	return sameInstance(l, r)
}

// looseCompare returns -1, 0 or 1 for an ordered pair, and ok=false when the pair is unordered
// (NaN, objects, mismatched kinds).
func looseCompare(a, b any) (int, bool) {
	l, r := coerce(a, b)
	if kindOf(l) != kindOf(r) {
		return 0, false
	}
	switch x := l.(type) {
	case nil:
		return 0, true
	case bool:
		y := r.(bool)
		switch {
		case x == y:
			return 0, true
		case y:
			return -1, true
		}
		return 1, true
	case float64:
		y := r.(float64)
		switch {
		case math.IsNaN(x) || math.IsNaN(y):
			return 0, false
		case x < y:
			return -1, true
		case x > y:
			return 1, true
		}
		return 0, true
	case string:
		return foldCompare(x, r.(string)), true
	}
	return 0, false
}

// foldCompare is an OrdinalIgnoreCase comparison: both sides upper-cased, then compared by code
// point.
func foldCompare(a, b string) int {
	return strings.Compare(strings.ToUpper(a), strings.ToUpper(b))
}

// lookupKey finds a key case-insensitively; an exact match wins, otherwise the smallest folded
// match, so the choice does not depend on map order.
func lookupKey(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	best, found := "", false
	for k := range m {
		if strings.EqualFold(k, key) && (!found || k < best) {
			best, found = k, true
		}
	}
	if !found {
		return nil, false
	}
	return m[best], true
}

// sortedKeys gives a stable order for object values (GitHub keeps insertion order, which a Go map
// does not have).
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
