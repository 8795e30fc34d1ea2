package expr

import "testing"

// FuzzEval checks that no input makes the evaluator panic, and that Eval and Validate agree on
// what parses.
func FuzzEval(f *testing.F) {
	for _, s := range []string{
		"github.event_name == 'push' && success()",
		"needs.*.result",
		"github.event.commits.*.message[0]",
		"contains(fromJSON('[1,\"a\",null]'), 'A')",
		"format('{0}{{}}{1}', 1.5, null)",
		"format('{', 1)",
		"join(matrix.list, '-')",
		"toJSON(github)",
		"fromJSON('{\"a\":[1,2,{\"b\":null}]}').a[2].b",
		"1 < 2 == true != false",
		"!!!0 || '' && null",
		"0xffffffff == -1",
		"-2.99e-2 >= '-0.03'",
		"'It''s' == 'IT''S'",
		"matrix['n'] <= 3",
		"fromJSON('1e400')",
		"github.event.commits[4294967296]",
		"(((((1)))))",
		"startsWith(endsWith('a', 'a'), 'T')",
		"always() && failure() || cancelled()",
		"fromJSON('[[],[]]').*.*",
		"env.NUM > 9 && env.EMPTY == 0",
		"'}}' == '}}'",
		"${{ x }}",
		"hashFiles('**')",
		"fromJson",
		"\xff",
		"github.event.labels.*.name[*]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := &Evaluator{Contexts: testContexts(), Status: Status{Failed: len(s)%2 == 0}}
		v, err := e.Eval(s)
		_ = Format(v)
		_ = Truthy(v)
		if err == nil {
			if verr := Validate(s); verr != nil {
				t.Fatalf("Eval(%q) succeeded but Validate failed: %v", s, verr)
			}
		}
		_, _ = e.Condition(s)
		_, _ = e.Interpolate(s)
		_, _ = e.Value(s)
	})
}
