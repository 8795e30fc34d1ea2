package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/rhysd/actionlint"
	"github.com/sluice-ci/sluice/internal/expr"
	"go.yaml.in/yaml/v3"
)

// GitHub refuses a workflow for limits actionlint does not check; these findings are made from
// the parsed file, so `sluice lint`, `sluice run` and the server refuse the same files.

// expressionLimits reports every value whose expression breaks GitHub's depth or length limit.
// Aliased values are checked once, where their anchor is.
func expressionLimits(file string, doc *yaml.Node) Errors {
	var out Errors
	var walk func(n *yaml.Node, cond bool)
	walk = func(n *yaml.Node, cond bool) {
		switch n.Kind {
		case yaml.ScalarNode:
			if !cond && !strings.Contains(n.Value, "${{") {
				return
			}
			if err := expr.CheckLimits(n.Value, cond); err != nil {
				out = append(out, &Error{File: file, Line: n.Line, Col: n.Column, Kind: "expression",
					Message: err.Error() + ": split it into several steps or variables", Severity: Refusal})
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], n.Content[i].Value == "if")
			}
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, false)
			}
		}
	}
	walk(doc, false)
	return out
}

// errNotStatic stops expanding a matrix that needs a value only known when the run starts.
var errNotStatic = errors.New("matrix needs a run's values")

// matrixLimits reports jobs whose matrix, as written, expands to more legs than GitHub allows.
// A matrix built from expressions is checked when the run expands it.
func matrixLimits(file string, ast *actionlint.Workflow) Errors {
	var out Errors
	for _, j := range ast.Jobs {
		if j == nil || j.Strategy == nil || j.Strategy.Matrix == nil {
			continue
		}
		m := j.Strategy.Matrix
		_, err := ExpandMatrix(m, func(string) (any, error) { return nil, errNotStatic })
		if err == nil || !errors.Is(err, ErrTooManyLegs) {
			continue
		}
		pos := m.Pos
		if pos == nil {
			pos = j.Pos
		}
		out = append(out, &Error{File: file, Line: pos.Line, Col: pos.Col, Kind: "matrix", Severity: Refusal,
			Message: fmt.Sprintf("job %q: %v: GitHub runs at most 256 jobs per matrix; split the matrix or exclude combinations", j.ID.Value, err)})
	}
	return out
}

// UsesChecker says whether a step's or job's (call) `uses:` can be run here (built in, local,
// or fetchable), with an error that says what to do when it cannot.
type UsesChecker interface {
	CheckUses(ctx context.Context, uses string, call bool) error
}

// CheckUses asks c about every literal `uses:` of a loaded workflow, as `sluice lint` does, so
// `sluice run` refuses exactly what lint reports.
func CheckUses(ctx context.Context, w *Workflow, c UsesChecker) (Errors, error) {
	return usesFindings(ctx, w.Path, w.AST, c)
}

// usesFindings asks c about every literal `uses:` of a workflow, each value once, a few at a
// time (each may be a fetch).
func usesFindings(ctx context.Context, file string, ast *actionlint.Workflow, c UsesChecker) (Errors, error) {
	type site struct {
		uses string
		call bool
		pos  *actionlint.Pos
	}
	var sites []site
	for _, j := range ast.Jobs {
		if j == nil {
			continue
		}
		if j.WorkflowCall != nil && j.WorkflowCall.Uses != nil && !j.WorkflowCall.Uses.ContainsExpression() {
			sites = append(sites, site{j.WorkflowCall.Uses.Value, true, j.WorkflowCall.Uses.Pos})
		}
		for _, st := range j.Steps {
			if x, ok := st.Exec.(*actionlint.ExecAction); ok && x.Uses != nil && !x.Uses.ContainsExpression() {
				sites = append(sites, site{x.Uses.Value, false, x.Uses.Pos})
			}
		}
	}
	slices.SortFunc(sites, func(a, b site) int { return comparePos(a.pos, b.pos) })
	type key struct {
		uses string
		call bool
	}
	answers := map[key]error{}
	var keys []key
	for _, s := range sites {
		k := key{s.uses, s.call}
		if _, ok := answers[k]; !ok {
			answers[k] = nil
			keys = append(keys, k)
		}
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, 4)
	)
	for _, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			err := c.CheckUses(ctx, k.uses, k.call)
			mu.Lock()
			answers[k] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out Errors
	for _, s := range sites {
		err := answers[key{s.uses, s.call}]
		if err == nil {
			continue
		}
		line, col := 0, 0
		if s.pos != nil {
			line, col = s.pos.Line, s.pos.Col
		}
		out = append(out, &Error{File: file, Line: line, Col: col, Kind: KindUses, Severity: Refusal, Message: err.Error()})
	}
	return out, nil
}
