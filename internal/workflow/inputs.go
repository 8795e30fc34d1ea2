package workflow

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/rhysd/actionlint"
)

// DispatchInputs builds the inputs context of a workflow_dispatch run from the values given on
// the command line. Every declared input gets a value: the given one, else its default, else
// the type's zero ("" for text, false for boolean, 0 for number). Booleans become bool and
// numbers float64, as in GitHub's inputs context; keys keep the declared spelling.
func DispatchInputs(w *Workflow, given map[string]string) (map[string]any, error) {
	var decl *actionlint.WorkflowDispatchEvent
	if w.AST != nil {
		for _, on := range w.AST.On {
			if d, ok := on.(*actionlint.WorkflowDispatchEvent); ok {
				decl = d
			}
		}
	}
	if decl == nil {
		if len(given) > 0 {
			return nil, fmt.Errorf("workflow %s has no workflow_dispatch trigger, so it takes no inputs", w.Name())
		}
		return map[string]any{}, nil
	}

	inputs := make([]*actionlint.DispatchInput, 0, len(decl.Inputs))
	for _, in := range decl.Inputs {
		inputs = append(inputs, in)
	}
	slices.SortFunc(inputs, func(a, b *actionlint.DispatchInput) int { return comparePos(a.Name.Pos, b.Name.Pos) })
	names := make([]string, len(inputs))
	for i, in := range inputs {
		names[i] = in.Name.Value
	}

	rest := lowerKeys(given)
	out := make(map[string]any, len(inputs))
	var errs []error
	for _, in := range inputs {
		name := in.Name.Value
		raw, ok := rest[strings.ToLower(name)]
		delete(rest, strings.ToLower(name))
		// An empty value is what GitHub's form sends for a field left blank.
		if (!ok || raw == "") && in.Default != nil {
			raw = in.Default.Value
		}
		if raw == "" {
			if in.Required != nil && in.Required.Value {
				errs = append(errs, fmt.Errorf("input %q is required", name))
				continue
			}
			out[name] = dispatchZero(in.Type)
			continue
		}
		v, err := dispatchValue(in, raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("input %q: %w", name, err))
			continue
		}
		out[name] = v
	}
	errs = append(errs, unknownInputs(rest, names)...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func dispatchZero(t actionlint.WorkflowDispatchEventInputType) any {
	switch t {
	case actionlint.WorkflowDispatchEventInputTypeBoolean:
		return false
	case actionlint.WorkflowDispatchEventInputTypeNumber:
		return 0.0
	}
	return ""
}

func dispatchValue(in *actionlint.DispatchInput, raw string) (any, error) {
	switch in.Type {
	case actionlint.WorkflowDispatchEventInputTypeBoolean:
		return parseBool(raw)
	case actionlint.WorkflowDispatchEventInputTypeNumber:
		return parseNumber(raw)
	case actionlint.WorkflowDispatchEventInputTypeChoice:
		opts := strs(in.Options)
		if !slices.Contains(opts, raw) {
			return nil, fmt.Errorf("%q is not one of the options %s", raw, strings.Join(opts, ", "))
		}
	}
	return raw, nil
}

// CallInputs builds the inputs context of a reusable workflow from its caller's `with:`
// values (already evaluated). Types are checked as GitHub does: a boolean input takes a bool, a
// number input a number, a string input a string (numbers and booleans are turned into their
// text). Missing inputs take their default, else false, 0 or "" as GitHub documents.
func CallInputs(call *actionlint.WorkflowCallEvent, given map[string]any) (map[string]any, error) {
	if call == nil {
		if len(given) > 0 {
			return nil, errors.New("workflow has no workflow_call trigger, so it takes no inputs")
		}
		return map[string]any{}, nil
	}
	names := make([]string, len(call.Inputs))
	for i, in := range call.Inputs {
		names[i] = in.Name.Value
	}
	rest := make(map[string]any, len(given))
	for k, v := range given {
		rest[strings.ToLower(k)] = v
	}
	out := make(map[string]any, len(call.Inputs))
	var errs []error
	for _, in := range call.Inputs {
		name := in.Name.Value
		id := strings.ToLower(name)
		v, ok := rest[id]
		delete(rest, id)
		if !ok {
			switch {
			case in.Default != nil:
				d, err := callDefault(in)
				if err != nil {
					errs = append(errs, fmt.Errorf("input %q: default: %w", name, err))
					continue
				}
				out[name] = d
			case in.IsRequired():
				errs = append(errs, fmt.Errorf("input %q is required", name))
			default:
				out[name] = callZero(in.Type)
			}
			continue
		}
		cv, err := callValue(in.Type, v)
		if err != nil {
			errs = append(errs, fmt.Errorf("input %q: %w", name, err))
			continue
		}
		out[name] = cv
	}
	errs = append(errs, unknownInputs(rest, names)...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func callZero(t actionlint.WorkflowCallEventInputType) any {
	switch t {
	case actionlint.WorkflowCallEventInputTypeBoolean:
		return false
	case actionlint.WorkflowCallEventInputTypeNumber:
		return 0.0
	}
	return ""
}

// callDefault parses a default; it may still hold an expression, which stays a string for the
// caller to evaluate.
func callDefault(in *actionlint.WorkflowCallEventInput) (any, error) {
	raw := in.Default.Value
	if actionlint.ContainsExpression(raw) {
		return raw, nil
	}
	switch in.Type {
	case actionlint.WorkflowCallEventInputTypeBoolean:
		return parseBool(raw)
	case actionlint.WorkflowCallEventInputTypeNumber:
		return parseNumber(raw)
	}
	return raw, nil
}

func callValue(t actionlint.WorkflowCallEventInputType, v any) (any, error) {
	switch t {
	case actionlint.WorkflowCallEventInputTypeBoolean:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, fmt.Errorf("expected a boolean, got %s", describe(v))
	case actionlint.WorkflowCallEventInputTypeNumber:
		if f, ok := toFloat(v); ok {
			return f, nil
		}
		return nil, fmt.Errorf("expected a number, got %s", describe(v))
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case nil:
		return "", nil
	}
	if f, ok := toFloat(v); ok {
		return formatNumber(f), nil
	}
	return nil, fmt.Errorf("expected a string, got %s", describe(v))
}

func parseBool(raw string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(raw)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (true or false)", raw)
}

func parseNumber(raw string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a number", raw)
	}
	return f, nil
}

func toFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case float32:
		return float64(v), true
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case int32:
		return float64(v), true
	case uint64:
		return float64(v), true
	}
	return 0, false
}

func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("string %q", v)
	case bool:
		return fmt.Sprintf("boolean %t", v)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	if f, ok := toFloat(v); ok {
		return "number " + formatNumber(f)
	}
	return fmt.Sprintf("%T", v)
}

func lowerKeys(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// unknownInputs reports given inputs the workflow does not declare, naming the valid ones.
func unknownInputs[V any](rest map[string]V, valid []string) []error {
	if len(rest) == 0 {
		return nil
	}
	unknown := make([]string, 0, len(rest))
	for k := range rest {
		unknown = append(unknown, k)
	}
	slices.Sort(unknown)
	list := "none"
	if len(valid) > 0 {
		list = strings.Join(valid, ", ")
	}
	errs := make([]error, len(unknown))
	for i, k := range unknown {
		errs[i] = fmt.Errorf("unknown input %q (valid inputs: %s)", k, list)
	}
	return errs
}
