// Package expr evaluates GitHub Actions `${{ }}` expressions: literals, operators with GitHub's
// loose coercion, context lookups with `.*` filters, and the built-in functions.
package expr

import (
	"fmt"
)

// Contexts maps lower-case context names (github, env, vars, job, jobs, steps, runner, secrets,
// strategy, matrix, needs, inputs) to their values.
type Contexts map[string]any

// Status is what the status functions see: for a step, whether an earlier step of the job failed or
// the run was cancelled; for a job, whether a job it needs (transitively) failed, or was skipped
// or cancelled (Skipped). success() is true only when none of them holds: GitHub skips a job
// whose default `if` sees a skip anywhere up its chain of needs, and `success() || failure()`
// agrees with that.
type Status struct{ Failed, Cancelled, Skipped bool }

// Evaluator evaluates expressions against one set of contexts.
type Evaluator struct {
	Contexts  Contexts
	Status    Status
	Workspace string // root directory for hashFiles(); empty means hashFiles errors
}

// knownContext reports the names GitHub accepts; one missing from Contexts reads as null, while
// any other name is a parse error, as on GitHub (it is almost always a typo).
func knownContext(name string) bool {
	switch name {
	case "github", "env", "vars", "job", "jobs", "steps", "runner", "secrets", "strategy", "matrix", "needs", "inputs":
		return true
	}
	return false
}

// Validate parses expr (without ${{ }}) and reports a syntax error, an unknown function or a wrong
// argument count.
func Validate(expr string) error {
	if _, err := parse(expr); err != nil {
		return fmt.Errorf("evaluating %q: %w", expr, err)
	}
	return nil
}

// Eval evaluates one expression written without ${{ }}.
func (e *Evaluator) Eval(expr string) (any, error) {
	n, err := parse(expr)
	if err != nil {
		return nil, fmt.Errorf("evaluating %q: %w", expr, err)
	}
	v, err := e.eval(n)
	if err != nil {
		return nil, fmt.Errorf("evaluating %q: %w", expr, err)
	}
	return exported(v), nil
}

// exported turns an internal filter result into the plain []any callers see.
func exported(v any) any {
	if f, ok := v.(*filtered); ok {
		return f.items
	}
	return v
}

func (e *Evaluator) eval(n node) (any, error) {
	switch n := n.(type) {
	case *literal:
		return n.val, nil
	case *contextRef:
		return normalize(e.Contexts[n.name]), nil
	case *index:
		return e.evalIndex(n)
	case *notOp:
		v, err := e.eval(n.x)
		if err != nil {
			return nil, err
		}
		return !Truthy(v), nil
	case *compareOp:
		return e.evalCompare(n)
	case *logicalOp:
		var v any
		for _, a := range n.args {
			var err error
			if v, err = e.eval(a); err != nil {
				return nil, err
			}
			// && stops at the first falsy operand, || at the first truthy one, and either returns it.
			if Truthy(v) != n.and {
				return v, nil
			}
		}
		return v, nil
	case *call:
		return e.evalCall(n)
	}
	return nil, fmt.Errorf("internal error: unknown node %T", n)
}

func (e *Evaluator) evalCompare(n *compareOp) (any, error) {
	l, err := e.eval(n.l)
	if err != nil {
		return nil, err
	}
	r, err := e.eval(n.r)
	if err != nil {
		return nil, err
	}
	switch n.op.String() {
	case "==":
		return looseEqual(l, r), nil
	case "!=":
		return !looseEqual(l, r), nil
	}
	c, ok := looseCompare(l, r)
	switch n.op.String() {
	case "<":
		return ok && c < 0, nil
	case ">":
		return ok && c > 0, nil
	case "<=":
		// GitHub defines <= as == or <, so an object is <= itself.
		return looseEqual(l, r) || (ok && c < 0), nil
	default: // ">="
		return looseEqual(l, r) || (ok && c > 0), nil
	}
}

// indexKey is an evaluated index: as an object key (primitives only) and as an array position
// (non-negative numbers, floored).
type indexKey struct {
	star   bool
	str    string
	hasStr bool
	pos    int
	hasPos bool
}

func makeIndexKey(v any) indexKey {
	k := indexKey{}
	if isPrimitive(v) {
		k.str, k.hasStr = toString(v), true
	}
	f := toNumber(v)
	if f >= 0 && f <= float64(int(^uint32(0)>>1)) { // NaN fails both comparisons
		k.pos, k.hasPos = int(f), true
	}
	return k
}

func (e *Evaluator) evalIndex(n *index) (any, error) {
	recv, err := e.eval(n.recv)
	if err != nil {
		return nil, err
	}
	key := indexKey{star: n.star}
	if !n.star {
		kv, err := e.eval(n.key)
		if err != nil {
			return nil, err
		}
		key = makeIndexKey(kv)
	}
	switch x := normalize(recv).(type) {
	case *filtered:
		out := &filtered{}
		for _, item := range x.items {
			switch y := normalize(item).(type) {
			case map[string]any:
				if key.star {
					for _, k := range sortedKeys(y) {
						out.items = append(out.items, y[k])
					}
				} else if key.hasStr {
					if v, ok := lookupKey(y, key.str); ok {
						out.items = append(out.items, v)
					}
				}
			case []any:
				if key.star {
					out.items = append(out.items, y...)
				} else if key.hasPos && key.pos < len(y) {
					out.items = append(out.items, y[key.pos])
				}
			}
		}
		return out, nil
	case map[string]any:
		if key.star {
			out := &filtered{}
			for _, k := range sortedKeys(x) {
				out.items = append(out.items, x[k])
			}
			return out, nil
		}
		if key.hasStr {
			v, _ := lookupKey(x, key.str)
			return normalize(v), nil
		}
		return nil, nil
	case []any:
		if key.star {
			return &filtered{items: append([]any(nil), x...)}, nil
		}
		if key.hasPos && key.pos < len(x) {
			return normalize(x[key.pos]), nil
		}
		return nil, nil
	}
	if key.star {
		return &filtered{}, nil
	}
	return nil, nil
}

// callsStatusFunction reports whether the tree calls success(), failure(), cancelled() or always().
func callsStatusFunction(n node) bool {
	switch n := n.(type) {
	case *index:
		return callsStatusFunction(n.recv) || (n.key != nil && callsStatusFunction(n.key))
	case *notOp:
		return callsStatusFunction(n.x)
	case *compareOp:
		return callsStatusFunction(n.l) || callsStatusFunction(n.r)
	case *logicalOp:
		for _, a := range n.args {
			if callsStatusFunction(a) {
				return true
			}
		}
	case *call:
		switch n.name {
		case "success", "failure", "cancelled", "always":
			return true
		}
		for _, a := range n.args {
			if callsStatusFunction(a) {
				return true
			}
		}
	}
	return false
}

// errorAt prefixes a function's error with where the call is.
func errorAt(n *call, format string, args ...any) error {
	f, _ := lookupFunc(n.name)
	return &posError{msg: f.name + ": " + fmt.Sprintf(format, args...), offset: n.at}
}
