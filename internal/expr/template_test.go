package expr

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestInterpolate(t *testing.T) {
	e := &Evaluator{Contexts: testContexts()}
	for _, c := range []struct{ in, want string }{
		{"plain text", "plain text"},
		{"", ""},
		{"${{ github.event_name }}", "push"},
		{"event=${{ github.event_name }} py=${{ matrix.python }}!", "event=push py=3.12!"},
		{"${{ matrix.n }}${{ matrix.n }}", "33"},
		{"a ${{ null }} b", "a  b"},
		{"${{ 1 == 1 }}/${{ 0.5 }}", "true/0.5"},
		{"x${{ '}}' }}y", "x}}y"},
		{"${{ 'It''s' }}", "It's"},
		{"$ { {not} } $x {{ y }}", "$ { {not} } $x {{ y }}"},
		{"list: ${{ matrix.list }}", "list: [\n  \"x\",\n  \"y\"\n]"},
		{"multi\nline ${{\n  github.ref\n}} end", "multi\nline refs/heads/main end"},
	} {
		got, err := e.Interpolate(c.in)
		if err != nil {
			t.Errorf("Interpolate(%q): %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("Interpolate(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestInterpolateErrors(t *testing.T) {
	e := &Evaluator{Contexts: testContexts()}
	for _, c := range []struct{ in, want string }{
		{"a ${{ github.ref", "closing }} sequence was not found"},
		{"${{ 'unterminated }}", "closing }} sequence was not found"},
		{"ok ${{ }}", "expected an expression"},
		{"${{ nosuch() }}", `evaluating " nosuch() "`},
	} {
		_, err := e.Interpolate(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Interpolate(%q) error = %v, want it to contain %q", c.in, err, c.want)
		}
	}
}

func TestValue(t *testing.T) {
	e := &Evaluator{Contexts: testContexts()}
	for _, c := range []struct {
		in   string
		want any
	}{
		{"${{ matrix.n }}", 3.0},
		{"  ${{ matrix.list }}\n", []any{"x", "y"}},
		{"${{ needs.*.result }}", []any{"success", "failure"}},
		{"${{ null }}", nil},
		{"${{ true }}", true},
		{"v${{ matrix.n }}", "v3"},
		{"${{ matrix.n }} ${{ matrix.n }}", "3 3"},
		{"literal", "literal"},
	} {
		got, err := e.Value(c.in)
		if err != nil {
			t.Errorf("Value(%q): %v", c.in, err)
			continue
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("Value(%q) (-want +got):\n%s", c.in, diff)
		}
	}
}

func TestCondition(t *testing.T) {
	ok, failed, cancelled := Status{}, Status{Failed: true}, Status{Cancelled: true}
	for _, c := range []struct {
		cond string
		st   Status
		want bool
	}{
		{"", ok, true},
		{"   ", failed, false},
		{"", cancelled, false},
		{"github.event_name == 'push'", ok, true},
		{"github.event_name == 'push'", failed, false}, // implicit success() &&
		{"${{ github.event_name == 'push' }}", ok, true},
		{"  ${{ github.event_name == 'pull_request' }}  ", ok, false},
		{"always()", failed, true},
		{"failure()", failed, true},
		{"failure()", ok, false},
		{"cancelled()", cancelled, true},
		{"!cancelled()", failed, true},
		{"failure() && github.event_name == 'push'", failed, true},
		{"${{ always() }}", cancelled, true},
		{"contains(format('{0}', success()), 'true') || true", failed, true},
		{"Always()", failed, true},
		{"github.event_name == 'push' &&\n  startsWith(github.ref, 'refs/heads/')\n", ok, true},
		{"${{\n  matrix.python == '3.12'\n}}", ok, true},
		{"matrix.nope", ok, false},
		{"env.NUM", ok, true},
		{"'false'", ok, true},
		// GitHub's quirk: text outside one ${{ }} makes a string, which is non-empty, so true.
		{"${{ false }} && true", ok, true},
		{"${{ false }} || ${{ false }}", ok, true},
		{"${{ false }} && true", failed, false},
		{"${{ always() }} && x", failed, true},
		{"${{ '' }}${{ '' }}", ok, false},
	} {
		e := &Evaluator{Contexts: testContexts(), Status: c.st}
		got, err := e.Condition(c.cond)
		if err != nil {
			t.Errorf("Condition(%q): %v", c.cond, err)
			continue
		}
		if got != c.want {
			t.Errorf("Condition(%q) with %+v = %v, want %v", c.cond, c.st, got, c.want)
		}
	}
}

func TestConditionErrors(t *testing.T) {
	e := &Evaluator{Contexts: testContexts()}
	for _, c := range []struct{ cond, want string }{
		{"github.event_name ==", `evaluating "github.event_name ==": unexpected end of input`},
		{"nosuch()", "unrecognized function"},
		{"${{ 1 == }}", "unexpected end of input"},
		{"${{ x }} && y", "unrecognized named-value"},
		{"fromJSON('{')", "invalid JSON"},
	} {
		_, err := e.Condition(c.cond)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Condition(%q) error = %v, want it to contain %q", c.cond, err, c.want)
		}
	}
	// Short-circuit: when success() is false, the condition body is not evaluated, as on GitHub.
	e.Status.Failed = true
	if got, err := e.Condition("fromJSON('{')"); err != nil || got {
		t.Errorf("Condition after failure = %v, %v; want false, nil", got, err)
	}
}
