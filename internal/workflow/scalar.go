package workflow

import (
	"fmt"
	"math"

	"github.com/rhysd/actionlint"
	"go.yaml.in/yaml/v3"
)

// Scalar is a matrix scalar whose YAML type has been resolved. actionlint keeps every scalar as
// a string, which loses the difference between python-version: 3.10 (the float 3.1) and "3.10"
// (a string) that GitHub makes. Load replaces the *actionlint.RawYAMLString values inside
// strategy.matrix with *Scalar so ExpandMatrix can give GitHub's values; a matrix that did not
// come through Load keeps plain strings.
type Scalar struct {
	*actionlint.RawYAMLString
	Typed any // string, bool, float64 or nil, as YAML resolves the unquoted scalar
}

// Equals compares resolved values, so 1 and "1" differ as they do on GitHub.
func (s *Scalar) Equals(other actionlint.RawYAMLValue) bool {
	o, ok := other.(*Scalar)
	return ok && o.Typed == s.Typed
}

// typeMatrixScalars swaps the scalars of every job's matrix for *Scalar values typed from the
// source. A scalar whose position is not found keeps its string.
func typeMatrixScalars(ast *actionlint.Workflow, doc *yaml.Node) {
	var index map[actionlint.Pos]any
	for _, j := range ast.Jobs {
		if j.Strategy == nil || j.Strategy.Matrix == nil {
			continue
		}
		if index == nil {
			index = scalarIndex(doc)
		}
		m := j.Strategy.Matrix
		for _, row := range m.Rows {
			for i, v := range row.Values {
				row.Values[i] = typeValue(v, index)
			}
		}
		for _, cs := range []*actionlint.MatrixCombinations{m.Include, m.Exclude} {
			if cs == nil {
				continue
			}
			for _, c := range cs.Combinations {
				for _, a := range c.Assigns {
					a.Value = typeValue(a.Value, index)
				}
			}
		}
	}
}

func typeValue(v actionlint.RawYAMLValue, index map[actionlint.Pos]any) actionlint.RawYAMLValue {
	switch v := v.(type) {
	case *actionlint.RawYAMLString:
		typed, ok := index[*v.Pos()]
		if !ok {
			typed = v.Value
		}
		return &Scalar{RawYAMLString: v, Typed: typed}
	case *actionlint.RawYAMLArray:
		for i, e := range v.Elems {
			v.Elems[i] = typeValue(e, index)
		}
	case *actionlint.RawYAMLObject:
		for k, e := range v.Props {
			v.Props[k] = typeValue(e, index)
		}
	}
	return v
}

// scalarIndex resolves every scalar in the document by position. Quoted scalars, block
// scalars and anything YAML does not resolve to bool, int, float or null stay strings.
func scalarIndex(doc *yaml.Node) map[actionlint.Pos]any {
	if doc == nil {
		return nil
	}
	index := map[actionlint.Pos]any{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			index[actionlint.Pos{Line: n.Line, Col: n.Column}] = resolveScalar(n)
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(doc)
	return index
}

func resolveScalar(n *yaml.Node) any {
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return n.Value
	}
	switch n.ShortTag() {
	case "!!bool", "!!int", "!!float", "!!null":
	default:
		return n.Value
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return n.Value
	}
	switch v := v.(type) {
	case nil, bool:
		return v
	case int:
		return float64(v)
	case int64:
		return float64(v)
	case uint64:
		return float64(v)
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			// JSON, and so GitHub's matrix context, cannot hold these.
			return n.Value
		}
		return v
	default:
		return fmt.Sprint(v)
	}
}
