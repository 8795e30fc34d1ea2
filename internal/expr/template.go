package expr

import (
	"errors"
	"fmt"
	"strings"
)

// segment is a piece of a template: literal text, or the source of one ${{ }} expression.
type segment struct {
	text   string
	isExpr bool
}

var errUnclosed = errors.New("an unescaped ${{ sequence was found, but the closing }} sequence was not found")

// splitTemplate cuts s at each ${{ ... }}. The closing `}}` is the first one outside a '...'
// string literal, which is how GitHub finds it.
func splitTemplate(s string) ([]segment, error) {
	var segs []segment
	for {
		start := strings.Index(s, "${{")
		if start < 0 {
			if s != "" {
				segs = append(segs, segment{text: s})
			}
			return segs, nil
		}
		if start > 0 {
			segs = append(segs, segment{text: s[:start]})
		}
		end, inString := -1, false
		for i := start + 3; i < len(s); i++ {
			if s[i] == '\'' {
				inString = !inString
			} else if !inString && s[i] == '}' && i+1 < len(s) && s[i+1] == '}' {
				end = i
				break
			}
		}
		if end < 0 {
			return nil, fmt.Errorf("evaluating %q: %w", s[start:], errUnclosed)
		}
		segs = append(segs, segment{text: s[start+3 : end], isExpr: true})
		s = s[end+2:]
	}
}

// Interpolate replaces every ${{ expr }} in s by Format of its value.
func (e *Evaluator) Interpolate(s string) (string, error) {
	segs, err := splitTemplate(s)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, sg := range segs {
		if !sg.isExpr {
			b.WriteString(sg.text)
			continue
		}
		v, err := e.Eval(sg.text)
		if err != nil {
			return "", err
		}
		b.WriteString(Format(v))
	}
	return b.String(), nil
}

// Value returns the raw value when s (trimmed) is exactly one ${{ expr }}, so objects, numbers and
// booleans survive; anything else is interpolated into a string.
func (e *Evaluator) Value(s string) (any, error) {
	if src, ok := singleExpression(s); ok {
		return e.Eval(src)
	}
	return e.Interpolate(s)
}

// singleExpression returns the inner source when strings.TrimSpace(s) is one ${{ }} and nothing else.
func singleExpression(s string) (string, bool) {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "${{") {
		return "", false
	}
	segs, err := splitTemplate(t)
	if err != nil || len(segs) != 1 || !segs[0].isExpr {
		return "", false
	}
	return segs[0].text, true
}

// Condition evaluates an `if:` value, written with or without ${{ }}. Empty means success(), and an
// expression that calls none of success/failure/cancelled/always is run as `success() && (cond)`.
//
// A value with text outside a single ${{ }} (`${{ false }} && x`) is, as on GitHub, a string
// template: it is interpolated and the resulting string's truthiness decides.
func (e *Evaluator) Condition(cond string) (bool, error) {
	t := strings.TrimSpace(cond)
	if t == "" {
		t = "success()"
	}
	src, single := singleExpression(t)
	if !single && strings.Contains(t, "${{") {
		return e.templateCondition(t)
	}
	if !single {
		src = t
	}
	n, err := parse(src)
	if err != nil {
		return false, fmt.Errorf("evaluating %q: %w", src, err)
	}
	if !callsStatusFunction(n) && !e.success() {
		return false, nil
	}
	v, err := e.eval(n)
	if err != nil {
		return false, fmt.Errorf("evaluating %q: %w", src, err)
	}
	return Truthy(v), nil
}

func (e *Evaluator) templateCondition(t string) (bool, error) {
	segs, err := splitTemplate(t)
	if err != nil {
		return false, err
	}
	status := false
	for _, sg := range segs {
		if !sg.isExpr {
			continue
		}
		n, err := parse(sg.text)
		if err != nil {
			return false, fmt.Errorf("evaluating %q: %w", sg.text, err)
		}
		status = status || callsStatusFunction(n)
	}
	if !status && !e.success() {
		return false, nil
	}
	s, err := e.Interpolate(t)
	if err != nil {
		return false, err
	}
	return Truthy(s), nil
}

func (e *Evaluator) success() bool {
	return !e.Status.Failed && !e.Status.Cancelled && !e.Status.Skipped
}
