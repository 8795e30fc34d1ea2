package workflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/rhysd/actionlint"
)

// maxLegs is GitHub's limit on the jobs one matrix may generate.
const maxLegs = 256

// ErrTooManyLegs is the error a matrix over GitHub's limit of legs expands to.
var ErrTooManyLegs = fmt.Errorf("at most %d are allowed", maxLegs)

// maxProduct bounds the cartesian product before exclusion, so a hostile matrix cannot make us
// allocate without limit; exclude may bring a larger product under maxLegs.
const maxProduct = 1 << 16

// matrixSpec is a matrix with every expression evaluated.
type matrixSpec struct {
	rows    []matrixRow
	include []map[string]any
	exclude []map[string]any
}

type matrixRow struct {
	key    string
	values []any
}

// ExpandMatrix expands a job's strategy.matrix into its legs, in GitHub's order: the cartesian
// product of the rows (first row varies slowest), minus exclude entries (partial matches
// allowed), then each include entry merged into every combination whose original values it
// does not contradict, or appended as a new combination when there is none.
//
// eval evaluates a string that may contain ${{ }}: the whole-matrix expression, a row, include
// or exclude expression, or a string value that contains ${{. A nil matrix (a job without a
// strategy) gives one empty leg.
func ExpandMatrix(m *actionlint.Matrix, eval func(string) (any, error)) ([]map[string]any, error) {
	if m == nil {
		return []map[string]any{nil}, nil
	}
	spec, err := resolveMatrix(m, eval)
	if err != nil {
		return nil, err
	}

	size := 1
	for _, r := range spec.rows {
		size *= len(r.values)
		if size > maxProduct {
			return nil, fmt.Errorf("matrix has more than %d combinations; %w", maxProduct, ErrTooManyLegs)
		}
	}
	var legs []map[string]any
	if len(spec.rows) > 0 {
		legs = []map[string]any{{}}
		for _, r := range spec.rows {
			next := make([]map[string]any, 0, len(legs)*len(r.values))
			for _, leg := range legs {
				for _, v := range r.values {
					l := maps.Clone(leg)
					l[r.key] = v
					next = append(next, l)
				}
			}
			legs = next
		}
	}

	legs = slices.DeleteFunc(legs, func(leg map[string]any) bool {
		return slices.ContainsFunc(spec.exclude, func(ex map[string]any) bool { return partialMatch(leg, ex) })
	})

	original := make(map[string]bool, len(spec.rows))
	for _, r := range spec.rows {
		original[r.key] = true
	}
	nOriginal := len(legs)
	for _, inc := range spec.include {
		added := false
		for _, leg := range legs[:nOriginal] {
			if contradicts(leg, inc, original) {
				continue
			}
			maps.Copy(leg, inc)
			added = true
		}
		if !added {
			legs = append(legs, maps.Clone(inc))
		}
	}

	if len(legs) == 0 {
		return nil, errors.New("matrix has no combinations")
	}
	if len(legs) > maxLegs {
		return nil, fmt.Errorf("matrix has %d combinations; %w", len(legs), ErrTooManyLegs)
	}
	return legs, nil
}

// partialMatch: an exclude entry removes a combination that has every one of its values.
func partialMatch(leg, ex map[string]any) bool {
	for k, v := range ex {
		lv, ok := leg[k]
		if !ok || !reflect.DeepEqual(lv, v) {
			return false
		}
	}
	return true
}

// contradicts reports whether an include entry would overwrite one of the leg's original
// matrix values; values added by earlier includes may be overwritten.
func contradicts(leg, inc map[string]any, original map[string]bool) bool {
	for k, v := range inc {
		if !original[k] {
			continue
		}
		if lv, ok := leg[k]; ok && !reflect.DeepEqual(lv, v) {
			return true
		}
	}
	return false
}

func resolveMatrix(m *actionlint.Matrix, eval func(string) (any, error)) (*matrixSpec, error) {
	if m.Expression != nil {
		return resolveMatrixExpr(m.Expression.Value, eval)
	}
	spec := &matrixSpec{}
	for _, id := range rowIDs(m) {
		r := m.Rows[id]
		key := id
		if r.Name != nil {
			key = r.Name.Value
		}
		var values []any
		if r.Expression != nil {
			v, err := evalValue(r.Expression.Value, eval)
			if err != nil {
				return nil, fmt.Errorf("matrix row %q: %w", key, err)
			}
			arr, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("matrix row %q: expected an array, got %s", key, describe(v))
			}
			values = arr
		} else {
			for _, rv := range r.Values {
				v, err := rawValue(rv, eval)
				if err != nil {
					return nil, fmt.Errorf("matrix row %q: %w", key, err)
				}
				values = append(values, v)
			}
		}
		spec.rows = append(spec.rows, matrixRow{key: key, values: values})
	}
	var err error
	if spec.include, err = resolveCombinations("include", m.Include, eval); err != nil {
		return nil, err
	}
	if spec.exclude, err = resolveCombinations("exclude", m.Exclude, eval); err != nil {
		return nil, err
	}
	return spec, nil
}

// resolveMatrixExpr handles `matrix: ${{ fromJSON(...) }}`. JSON objects carry no key order, so
// rows come in sorted key order.
func resolveMatrixExpr(src string, eval func(string) (any, error)) (*matrixSpec, error) {
	v, err := evalValue(src, eval)
	if err != nil {
		return nil, fmt.Errorf("matrix: %w", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("matrix: expected an object, got %s", describe(v))
	}
	spec := &matrixSpec{}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		switch strings.ToLower(k) {
		case "include", "exclude":
			combos, err := combinationsFromValue(k, obj[k])
			if err != nil {
				return nil, err
			}
			if strings.EqualFold(k, "include") {
				spec.include = combos
			} else {
				spec.exclude = combos
			}
			continue
		}
		arr, ok := obj[k].([]any)
		if !ok {
			return nil, fmt.Errorf("matrix row %q: expected an array, got %s", k, describe(obj[k]))
		}
		spec.rows = append(spec.rows, matrixRow{key: k, values: arr})
	}
	return spec, nil
}

func resolveCombinations(sec string, cs *actionlint.MatrixCombinations, eval func(string) (any, error)) ([]map[string]any, error) {
	if cs == nil {
		return nil, nil
	}
	if cs.Expression != nil {
		v, err := evalValue(cs.Expression.Value, eval)
		if err != nil {
			return nil, fmt.Errorf("matrix %s: %w", sec, err)
		}
		return combinationsFromValue(sec, v)
	}
	out := make([]map[string]any, 0, len(cs.Combinations))
	for i, c := range cs.Combinations {
		if c.Expression != nil {
			v, err := evalValue(c.Expression.Value, eval)
			if err != nil {
				return nil, fmt.Errorf("matrix %s entry %d: %w", sec, i+1, err)
			}
			obj, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("matrix %s entry %d: expected an object, got %s", sec, i+1, describe(v))
			}
			out = append(out, obj)
			continue
		}
		entry := make(map[string]any, len(c.Assigns))
		for _, a := range c.Assigns {
			v, err := rawValue(a.Value, eval)
			if err != nil {
				return nil, fmt.Errorf("matrix %s entry %d: %q: %w", sec, i+1, a.Key.Value, err)
			}
			entry[a.Key.Value] = v
		}
		out = append(out, entry)
	}
	return out, nil
}

func combinationsFromValue(sec string, v any) ([]map[string]any, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("matrix %s: expected an array of objects, got %s", sec, describe(v))
	}
	out := make([]map[string]any, 0, len(arr))
	for i, e := range arr {
		obj, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("matrix %s entry %d: expected an object, got %s", sec, i+1, describe(e))
		}
		out = append(out, obj)
	}
	return out, nil
}

// rawValue turns a YAML value from the AST into a matrix value, evaluating strings with ${{.
func rawValue(v actionlint.RawYAMLValue, eval func(string) (any, error)) (any, error) {
	switch v := v.(type) {
	case *Scalar:
		if s, ok := v.Typed.(string); ok && actionlint.ContainsExpression(s) {
			return evalValue(s, eval)
		}
		return v.Typed, nil
	case *actionlint.RawYAMLString:
		if actionlint.ContainsExpression(v.Value) {
			return evalValue(v.Value, eval)
		}
		return v.Value, nil
	case *actionlint.RawYAMLArray:
		out := make([]any, 0, len(v.Elems))
		for _, e := range v.Elems {
			ev, err := rawValue(e, eval)
			if err != nil {
				return nil, err
			}
			out = append(out, ev)
		}
		return out, nil
	case *actionlint.RawYAMLObject:
		out := make(map[string]any, len(v.Props))
		for k, e := range v.Props {
			ev, err := rawValue(e, eval)
			if err != nil {
				return nil, err
			}
			out[k] = ev
		}
		return out, nil
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("unexpected YAML value %T", v)
}

func evalValue(src string, eval func(string) (any, error)) (any, error) {
	if eval == nil {
		return nil, fmt.Errorf("cannot evaluate %q here", src)
	}
	v, err := eval(src)
	if err != nil {
		return nil, fmt.Errorf("evaluating %s: %w", src, err)
	}
	return normalize(v), nil
}

// normalize gives evaluated values the shapes the matrix code compares: map[string]any, []any,
// float64 for every number.
func normalize(v any) any {
	switch v := v.(type) {
	case nil, string, bool, float64:
		return v
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalize(e)
		}
		return out
	}
	if f, ok := toFloat(v); ok {
		return f
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return v
		}
		out := make(map[string]any, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			out[it.Key().String()] = normalize(it.Value().Interface())
		}
		return out
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = normalize(rv.Index(i).Interface())
		}
		return out
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil
		}
		return normalize(rv.Elem().Interface())
	}
	return v
}

// rowIDs lists the matrix's row IDs (lower-cased, as actionlint keys them) in file order.
func rowIDs(m *actionlint.Matrix) []string {
	ids := slices.Collect(maps.Keys(m.Rows))
	slices.SortFunc(ids, func(a, b string) int {
		return comparePos(rowPos(m.Rows[a]), rowPos(m.Rows[b]))
	})
	return ids
}

func rowPos(r *actionlint.MatrixRow) *actionlint.Pos {
	switch {
	case r.Name != nil:
		return r.Name.Pos
	case r.Expression != nil:
		return r.Expression.Pos
	}
	return nil
}

// MatrixKeys gives the order in which a leg's values are shown: row keys in file order, then
// keys added by include entries in file order, then any other key (from evaluated
// expressions, whose objects carry no order) sorted. Only keys some leg has are listed.
func MatrixKeys(m *actionlint.Matrix, legs []map[string]any) []string {
	present := map[string]bool{}
	for _, leg := range legs {
		for k := range leg {
			present[k] = true
		}
	}
	seen := map[string]bool{}
	var keys []string
	add := func(k string) {
		if present[k] && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	if m != nil && m.Expression == nil {
		for _, id := range rowIDs(m) {
			if r := m.Rows[id]; r.Name != nil {
				add(r.Name.Value)
			} else {
				add(id)
			}
		}
		if m.Include != nil {
			for _, c := range m.Include.Combinations {
				assigns := slices.Collect(maps.Values(c.Assigns))
				slices.SortFunc(assigns, func(a, b *actionlint.MatrixAssign) int { return comparePos(a.Key.Pos, b.Key.Pos) })
				for _, a := range assigns {
					add(a.Key.Value)
				}
			}
		}
	}
	for _, leg := range legs {
		for _, k := range slices.Sorted(maps.Keys(leg)) {
			add(k)
		}
	}
	return keys
}

// LegName gives a matrix leg's display name as GitHub builds it: "test (3.11, ubuntu-latest)",
// values in keys order. A leg with no values keeps the base name.
func LegName(base string, keys []string, leg map[string]any) string {
	var vals []string
	for _, k := range keys {
		if v, ok := leg[k]; ok {
			vals = append(vals, displayValue(v))
		}
	}
	if len(vals) == 0 {
		return base
	}
	return base + " (" + strings.Join(vals, ", ") + ")"
}

func displayValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return formatNumber(v)
	}
	if f, ok := toFloat(v); ok {
		return formatNumber(f)
	}
	// Objects and arrays: compact JSON, whose map keys are sorted, so names are stable.
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// formatNumber writes a number as GitHub expressions do: no exponent and no trailing zeros
// for ordinary magnitudes.
func formatNumber(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
	if math.Abs(f) >= 1e21 || (f != 0 && math.Abs(f) < 1e-6) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}
