package expr

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func testContexts() Contexts {
	return Contexts{
		"github": map[string]any{
			"event_name": "push",
			"ref":        "refs/heads/main",
			"event": map[string]any{
				"commits": []any{
					map[string]any{"message": "first", "id": "a1"},
					map[string]any{"message": "second", "id": "b2"},
					"not an object",
				},
				"labels": []any{map[string]any{"name": "bug"}, map[string]any{"name": "docs"}},
			},
		},
		"needs": map[string]any{
			"build": map[string]any{"result": "success", "outputs": map[string]any{"v": "1.2"}},
			"lint":  map[string]any{"result": "failure", "outputs": map[string]any{}},
		},
		"matrix": map[string]any{"python": "3.12", "n": 3, "list": []string{"x", "y"}},
		"env":    map[string]any{"EMPTY": "", "NUM": "10"},
		"steps":  map[string]any{},
	}
}

type evalCase struct {
	expr string
	want any
}

func runEvalCases(t *testing.T, e *Evaluator, cases []evalCase) {
	t.Helper()
	for _, c := range cases {
		got, err := e.Eval(c.expr)
		if err != nil {
			t.Errorf("Eval(%q): %v", c.expr, err)
			continue
		}
		if diff := cmp.Diff(c.want, got, cmp.Comparer(func(a, b float64) bool {
			return a == b || (math.IsNaN(a) && math.IsNaN(b))
		})); diff != "" {
			t.Errorf("Eval(%q) mismatch (-want +got):\n%s", c.expr, diff)
		}
	}
}

func TestLiterals(t *testing.T) {
	runEvalCases(t, &Evaluator{}, []evalCase{
		{"null", nil},
		{"true", true},
		{"false", false},
		{"711", 711.0},
		{"-9.2", -9.2},
		{"0xff", 255.0},
		{"-2.99e-2", -0.0299},
		{"1E3", 1000.0},
		{"2147483648", 2147483648.0}, // beyond 32 bits, which actionlint's parser rejects
		{"'It''s open source!'", "It's open source!"},
		{"''", ""},
		{"'}}'", "}}"},
		{"( 'x' )", "x"},
	})
}

func TestOperators(t *testing.T) {
	runEvalCases(t, &Evaluator{Contexts: testContexts()}, []evalCase{
		{"!true", false},
		{"!0", true},
		{"!!'a'", true},
		{"!github", false},
		{"1 < 2", true},
		{"2 < 1", false},
		{"1 <= 1", true},
		{"2 > 1", true},
		{"1 >= 2", false},
		{"1 == 1", true},
		{"1 != 1", false},
		// && and || return an operand, like JavaScript.
		{"'a' && 'b'", "b"},
		{"'' && 'b'", ""},
		{"0 || 'fallback'", "fallback"},
		{"'x' || 'y'", "x"},
		{"null || null", nil},
		{"env.EMPTY || 'default'", "default"},
		{"true && false || true", true},
		{"false || true && false", false},
		// Relational binds tighter than equality, both left-associative.
		{"1 < 2 == true", true},
		{"2 < 1 == false", true},
		{"1 == 1 == 1", true},
		{"3 > 2 > 1", false}, // (3 > 2) > 1 → true > 1 → 1 > 1
		{"(1 == 2) == false", true},
		{"!(1 == 2)", true},
		{"github['event_name']", "push"},
		{"github['EVENT_NAME']", "push"},
		{"github.event.commits[1].message", "second"},
		{"github.event.commits['1'].message", "second"},
		{"github.event.commits[1.7].id", "b2"},
		{"github.event.commits[5]", nil},
		{"github.event.commits[-1]", nil},
		{"github.event.commits.message", nil},
		{"github.nope.deeper.still", nil},
		{"steps.build.outputs.x", nil},
		{"inputs.x", nil},
		{"matrix.n", 3.0},
		{"matrix.list[1]", "y"},
	})
}

func TestCoercion(t *testing.T) {
	obj := map[string]any{"a": 1.0}
	arr := []any{1.0}
	e := &Evaluator{Contexts: Contexts{"matrix": map[string]any{"o": obj, "o2": map[string]any{"a": 1.0}, "a": arr}}}
	runEvalCases(t, e, []evalCase{
		{"null == 0", true},
		{"null == ''", true},
		{"null == false", true},
		{"null == null", true},
		{"null < 1", true},
		{"null <= null", true},
		{"null < null", false},
		{"true == 1", true},
		{"false == 0", true},
		{"true == '1'", true},
		{"true == 'true'", false}, // 'true' is NaN as a number
		{"'' == 0", true},
		{"' 12 ' == 12", true},
		{"'0xff' == 255", true},
		{"'0o10' == 8", true},
		{"'1e3' == 1000", true},
		{"'abc' == 0", false},
		{"'abc' != 0", true},
		{"'Infinity' > 1e300", true},
		{"'abc' < 1", false},
		{"'abc' >= 1", false},
		{"'ABC' == 'abc'", true},
		{"'abc' < 'ABD'", true},
		{"'b' > 'A'", true},
		{"'a' == 'a '", false},
		{"true > false", true},
		{"false < true", true},
		{"true > true", false},
		{"matrix.o == matrix.o", true},
		{"matrix.o == matrix.o2", false},
		{"matrix.a == matrix.a", true},
		{"matrix.o == 'Object'", false},
		{"matrix.a == 0", false},
		{"matrix.o < matrix.o", false},
		{"matrix.o <= matrix.o", true},
		{"fromJSON('[]') == fromJSON('[]')", false},
	})
}

func TestCaseInsensitiveLookup(t *testing.T) {
	runEvalCases(t, &Evaluator{Contexts: testContexts()}, []evalCase{
		{"github.Event_Name", "push"},
		{"GITHUB.event_name", "push"},
		{"Env.num", "10"},
		{"NEEDS.Build.Outputs.V", "1.2"},
		{"fromJSON('{\"Key\": 1, \"key\": 2}').key", 2.0}, // exact match wins
		{"fromJSON('{\"Key\": 1, \"kEy\": 2}').key", 1.0}, // otherwise the smallest folded key
	})
}

func TestFilters(t *testing.T) {
	runEvalCases(t, &Evaluator{Contexts: testContexts()}, []evalCase{
		{"needs.*.result", []any{"success", "failure"}},
		{"github.event.commits.*.message", []any{"first", "second"}},
		{"github.event.labels.*.name", []any{"bug", "docs"}},
		{"github.event.labels[*].name", []any{"bug", "docs"}},
		{"needs.*.outputs.v", []any{"1.2"}},
		{"needs.*.nope", []any(nil)},
		{"github.event_name.*", []any(nil)},
		{"fromJSON('[[1,2],[3]]').*.*", []any{1.0, 2.0, 3.0}},
		{"fromJSON('[[1,2],[3]]').*[0]", []any{1.0, 3.0}},
		{"contains(needs.*.result, 'failure')", true},
		{"contains(needs.*.result, 'cancelled')", false},
		{"join(needs.*.result)", "success,failure"},
		{"needs.*.result == needs.*.result", false},
		{"toJSON(github.event.labels.*.name)", "[\n  \"bug\",\n  \"docs\"\n]"},
	})
}

func TestFunctions(t *testing.T) {
	runEvalCases(t, &Evaluator{Contexts: testContexts()}, []evalCase{
		{"contains('Hello World', 'WORLD')", true},
		{"contains('Hello', 'x')", false},
		{"contains(123, 2)", true},
		{"contains(fromJSON('[1, \"2\", true]'), 2)", true},
		{"contains(fromJSON('[\"Bug\"]'), 'bug')", true},
		{"contains(fromJSON('[\"a\"]'), 'b')", false},
		{"contains(github, 'push')", false},
		{"contains('Object', github)", false},
		{"startsWith('Hello', 'he')", true},
		{"startsWith(github.ref, 'refs/tags/')", false},
		{"endsWith('file.TXT', '.txt')", true},
		{"endsWith('x', github)", false},
		{"StartsWith('abc', 'A')", true},
		{"format('{0} {1} {0}', 'a', 1.5)", "a 1.5 a"},
		{"format('{{0}} {0}', 'x')", "{0} x"},
		{"format('}}{{')", "}{"},
		{"format('{0}', null)", ""},
		{"format('{0}', github)", "Object"},
		{"format('{0}', needs.*.result)", "Array"},
		{"join(fromJSON('[1, true, null, \"s\"]'), '-')", "1-true--s"},
		{"join(fromJSON('[]'))", ""},
		{"join('abc')", "abc"},
		{"join(github)", ""},
		{"join(matrix.list, fromJSON('{}'))", "x,y"},
		{"toJSON(null)", "null"},
		{"toJSON('a\"b<>')", `"a\"b<>"`},
		{"toJSON(1.5)", "1.5"},
		{"toJSON(fromJSON('{}'))", "{}"},
		{"toJSON(fromJSON('[]'))", "[]"},
		{"toJSON(fromJSON('{\"b\":[1,{\"c\":null}],\"a\":true}'))", "{\n  \"a\": true,\n  \"b\": [\n    1,\n    {\n      \"c\": null\n    }\n  ]\n}"},
		{"fromJSON('true')", true},
		{"fromJSON(' 42 ')", 42.0},
		{"fromJSON('\"s\"')", "s"},
		{"fromJSON('null')", nil},
		{"fromJSON(env.NUM) > 9", true},
		{"fromJson('{\"a\":{\"b\":[1]}}').a.b[0]", 1.0},
		{"toJson(fromJSON('[1]'))", "[\n  1\n]"},
		{"success()", true},
		{"always()", true},
		{"failure()", false},
		{"cancelled()", false},
	})
}

func TestStatusFunctions(t *testing.T) {
	for _, c := range []struct {
		st                                 Status
		success, failure, cancelled, alway bool
	}{
		{Status{}, true, false, false, true},
		{Status{Failed: true}, false, true, false, true},
		{Status{Cancelled: true}, false, false, true, true},
		// A skipped ancestor: neither success() nor failure(), so
		// `success() || failure()` skips the job like the default `if`.
		{Status{Skipped: true}, false, false, false, true},
	} {
		e := &Evaluator{Status: c.st}
		got := []any{}
		for _, f := range []string{"success()", "failure()", "cancelled()", "always()"} {
			v, err := e.Eval(f)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
		}
		want := []any{c.success, c.failure, c.cancelled, c.alway}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("status %+v (-want +got):\n%s", c.st, diff)
		}
	}
}

func TestEvalErrors(t *testing.T) {
	e := &Evaluator{Contexts: testContexts()}
	for _, c := range []struct{ expr, want string }{
		{"fromJSON(github", `evaluating "fromJSON(github": unexpected end of input`},
		{"fromJSON(github", "at column 16"},
		{"", "expected an expression"},
		{"1 +", "unexpected character '+'"},
		{"'open", "end of input"},
		{"\"double\"", "unexpected character '\"'"},
		{"a.", "unrecognized named-value"},
		{"github.", "property name"},
		{"github[0", "expecting ']'"},
		{"(1", "expecting ')'"},
		{"1 2", `unexpected "2"`},
		{"'a' }} 'b'", "unexpected '}}' at column 5"},
		{"nosuch(1)", `unrecognized function "nosuch"`},
		{"bogus.x", `unrecognized named-value "bogus"`},
		{"contains('a')", "contains() takes 2 arguments, got 1"},
		{"startsWith('a', 'b', 'c')", "startsWith() takes 2 arguments, got 3"},
		{"endsWith()", "endsWith() takes 2 arguments, got 0"},
		{"format()", "format() takes at least 1 argument, got 0"},
		{"join()", "join() takes 1 to 2 arguments, got 0"},
		{"join(1, 2, 3)", "join() takes 1 to 2 arguments, got 3"},
		{"toJSON()", "toJSON() takes 1 argument, got 0"},
		{"fromJSON()", "fromJSON() takes 1 argument, got 0"},
		{"hashFiles()", "hashFiles() takes at least 1 argument, got 0"},
		{"success(1)", "success() takes 0 arguments, got 1"},
		{"always(true)", "always() takes 0 arguments"},
		{"format('{1}', 'a')", "references argument {1} but only 1 given"},
		{"format('{0', 'a')", "invalid format string"},
		{"format('{x}', 'a')", "invalid format string"},
		{"format('a}b')", "invalid format string"},
		{"format('{0:x}', 1)", "invalid format string"},
		{"format('{256}', 1)", "invalid format string"},
		{"fromJSON('{')", "fromJSON: invalid JSON"},
		{"fromJSON('')", "fromJSON: empty input"},
		{"fromJSON('1 2')", "data after the value"},
		{"hashFiles('*.txt')", "hashFiles: no workspace"},
		{"x == 1", "at column 1"},
		{"1 == x", "at column 6"},
		{strings.Repeat("(", 60) + "1" + strings.Repeat(")", 60), "max expression depth"},
		{strings.Repeat("!", 60) + "1", "max expression depth"},
		{"'" + strings.Repeat("a", maxLength) + "'", "longer than"},
	} {
		_, err := e.Eval(c.expr)
		if err == nil {
			t.Errorf("Eval(%q) succeeded, want error containing %q", c.expr, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("Eval(%q) error = %q, want it to contain %q", c.expr, err, c.want)
		}
	}
}

func TestLongChainsAreNotDepth(t *testing.T) {
	expr := strings.Repeat("true && ", 200) + "'end'"
	runEvalCases(t, &Evaluator{}, []evalCase{{expr, "end"}})
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		expr string
		ok   bool
	}{
		{"github.event_name == 'push' && success()", true},
		{"fromJson(needs.x.outputs.m)", true},
		{"hashFiles('**/x', '!y')", true},
		{"nosuch()", false},
		{"matrix.", false},
		{"contains(1)", false},
	} {
		err := Validate(c.expr)
		if (err == nil) != c.ok {
			t.Errorf("Validate(%q) = %v, want ok=%v", c.expr, err, c.ok)
		}
	}
}

func TestTruthy(t *testing.T) {
	for _, c := range []struct {
		v    any
		want bool
	}{
		{nil, false}, {false, false}, {true, true}, {0.0, false}, {math.Copysign(0, -1), false},
		{math.NaN(), false}, {-1.0, true}, {"", false}, {"false", true}, {"0", true},
		{map[string]any{}, true}, {[]any{}, true}, {3, true}, {0, false},
	} {
		if got := Truthy(c.v); got != c.want {
			t.Errorf("Truthy(%#v) = %v, want %v", c.v, got, c.want)
		}
	}
}
