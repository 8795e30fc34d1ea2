package expr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

type funcInfo struct {
	name     string // GitHub's spelling, for messages
	min, max int    // max < 0: no limit
}

// lookupFunc knows the built-in functions; name is lower-cased.
func lookupFunc(name string) (funcInfo, bool) {
	switch name {
	case "contains":
		return funcInfo{"contains", 2, 2}, true
	case "startswith":
		return funcInfo{"startsWith", 2, 2}, true
	case "endswith":
		return funcInfo{"endsWith", 2, 2}, true
	case "format":
		return funcInfo{"format", 1, -1}, true
	case "join":
		return funcInfo{"join", 1, 2}, true
	case "tojson":
		return funcInfo{"toJSON", 1, 1}, true
	case "fromjson":
		return funcInfo{"fromJSON", 1, 1}, true
	case "hashfiles":
		return funcInfo{"hashFiles", 1, -1}, true
	case "success":
		return funcInfo{"success", 0, 0}, true
	case "always":
		return funcInfo{"always", 0, 0}, true
	case "cancelled":
		return funcInfo{"cancelled", 0, 0}, true
	case "failure":
		return funcInfo{"failure", 0, 0}, true
	}
	return funcInfo{}, false
}

func (e *Evaluator) evalCall(n *call) (any, error) {
	switch n.name {
	case "success":
		return e.success(), nil
	case "always":
		return true, nil
	case "cancelled":
		return e.Status.Cancelled, nil
	case "failure":
		return e.Status.Failed, nil
	}
	args := make([]any, len(n.args))
	for i, a := range n.args {
		v, err := e.eval(a)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	switch n.name {
	case "contains":
		return contains(args[0], args[1]), nil
	case "startswith", "endswith":
		if !isPrimitive(args[0]) || !isPrimitive(args[1]) {
			return false, nil
		}
		s, affix := strings.ToUpper(toString(args[0])), strings.ToUpper(toString(args[1]))
		if n.name == "startswith" {
			return strings.HasPrefix(s, affix), nil
		}
		return strings.HasSuffix(s, affix), nil
	case "format":
		out, err := format(toString(args[0]), args[1:])
		if err != nil {
			return nil, errorAt(n, "%v", err)
		}
		return out, nil
	case "join":
		return join(args), nil
	case "tojson":
		return toJSON(args[0]), nil
	case "fromjson":
		v, err := fromJSON(toString(args[0]))
		if err != nil {
			return nil, errorAt(n, "%v", err)
		}
		return v, nil
	case "hashfiles":
		if e.Workspace == "" {
			return nil, errorAt(n, "no workspace to hash files in")
		}
		patterns := make([]string, len(args))
		for i, a := range args {
			patterns[i] = toString(a)
		}
		h, err := HashFiles(e.Workspace, patterns...)
		if err != nil {
			return nil, errorAt(n, "%v", err)
		}
		return h, nil
	}
	return nil, errorAt(n, "not implemented")
}

// contains searches a string case-insensitively, or an array for a loosely equal element.
func contains(haystack, needle any) bool {
	if items, ok := asArray(haystack); ok {
		for _, it := range items {
			if looseEqual(it, needle) {
				return true
			}
		}
		return false
	}
	if !isPrimitive(haystack) || !isPrimitive(needle) {
		return false
	}
	return strings.Contains(strings.ToUpper(toString(haystack)), strings.ToUpper(toString(needle)))
}

func join(args []any) string {
	items, ok := asArray(args[0])
	if !ok {
		if isPrimitive(args[0]) {
			return toString(args[0])
		}
		return ""
	}
	sep := ","
	if len(args) > 1 && isPrimitive(args[1]) {
		sep = toString(args[1])
	}
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = toString(it)
	}
	return strings.Join(parts, sep)
}

// format replaces {N} with the N-th argument; `{{` and `}}` are literal braces.
func format(f string, args []any) (string, error) {
	var b strings.Builder
	for i := 0; i < len(f); {
		c := f[i]
		switch {
		case c == '{' && i+1 < len(f) && f[i+1] == '{':
			b.WriteByte('{')
			i += 2
		case c == '}' && i+1 < len(f) && f[i+1] == '}':
			b.WriteByte('}')
			i += 2
		case c == '{':
			j := i + 1
			for j < len(f) && f[j] >= '0' && f[j] <= '9' {
				j++
			}
			// GitHub reads the index as a byte, so {256} is as malformed as {x}.
			idx, err := strconv.Atoi(f[i+1 : j])
			if j == i+1 || j >= len(f) || f[j] != '}' || err != nil || idx > 255 {
				return "", fmt.Errorf("invalid format string %q", f)
			}
			if idx >= len(args) {
				return "", fmt.Errorf("format string %q references argument {%d} but only %d given", f, idx, len(args))
			}
			b.WriteString(toString(args[idx]))
			i = j + 1
		case c == '}':
			return "", fmt.Errorf("invalid format string %q", f)
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

func fromJSON(s string) (any, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty input")
	}
	dec := json.NewDecoder(strings.NewReader(s))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("invalid JSON: data after the value")
	}
	return distinctEmpty(v), nil
}

// distinctEmpty gives every empty array its own allocation: Go's decoder shares one backing
// pointer for them, which would make two parsed `[]` the same instance for ==.
func distinctEmpty(v any) any {
	switch x := v.(type) {
	case []any:
		if len(x) == 0 {
			return make([]any, 0, 1)
		}
		for i := range x {
			x[i] = distinctEmpty(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = distinctEmpty(x[k])
		}
	}
	return v
}

// toJSON writes GitHub's layout: two-space indent, `": "` after keys, numbers as in Format.
func toJSON(v any) string {
	var b bytes.Buffer
	writeJSON(&b, v, 0)
	return b.String()
}

func writeJSON(b *bytes.Buffer, v any, level int) {
	indent := func(n int) {
		b.WriteByte('\n')
		for range n {
			b.WriteString("  ")
		}
	}
	switch x := normalize(v).(type) {
	case nil:
		b.WriteString("null")
	case bool, float64:
		b.WriteString(toString(x))
	case string:
		writeJSONString(b, x)
	case *filtered:
		writeJSON(b, x.items, level)
	case []any:
		if len(x) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteByte('[')
		for i, it := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			indent(level + 1)
			writeJSON(b, it, level+1)
		}
		indent(level)
		b.WriteByte(']')
	case map[string]any:
		if len(x) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteByte('{')
		for i, k := range sortedKeys(x) {
			if i > 0 {
				b.WriteByte(',')
			}
			indent(level + 1)
			writeJSONString(b, k)
			b.WriteString(": ")
			writeJSON(b, x[k], level+1)
		}
		indent(level)
		b.WriteByte('}')
	default:
		b.WriteString("{}") // a value GitHub would not know how to traverse either
	}
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // encoding a string cannot fail
	b.Truncate(b.Len() - 1) // Encode appends a newline
}
