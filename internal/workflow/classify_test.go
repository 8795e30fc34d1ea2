package workflow

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// finding is what the table expects of one linted workflow: the rule, the severity and a piece
// of the message.
type finding struct {
	Kind     string
	Severity Severity
	Contains string
}

// job wraps steps into a minimal workflow.
func job(steps string) string {
	return "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n" + steps
}

// TestClassifyRuleKinds lints one small workflow per actionlint rule kind (and per message that
// decides differently within a kind) and checks what each finding does to a run. What GitHub
// refuses: YAML and workflow syntax, unknown keys, expressions its parser rejects (unknown
// contexts and functions, argument counts, contexts where they are not available), needs and ids
// it cannot resolve, permissions it does not know, reusable-workflow inputs the callee does not
// define, malformed uses. What it runs: everything that only evaluates to null or coerces at run
// time, and advice (runner versions, injection advisories, shell scripts, labels).
func TestClassifyRuleKinds(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		files map[string]string
		want  []finding
	}{
		// syntax-check
		{"yaml syntax", "on: push\njobs:\n  a: [\n", nil, []finding{{"syntax-check", Refusal, "could not parse as YAML"}}},
		{"unknown job key", "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    timeout: 5\n    steps:\n      - run: echo\n", nil,
			[]finding{{"syntax-check", Refusal, `unexpected key "timeout"`}}},
		{"missing runs-on", "on: push\njobs:\n  a:\n    steps:\n      - run: echo\n", nil,
			[]finding{{"syntax-check", Refusal, `"runs-on" section is missing`}}},
		{"unused anchor", "on: push\njobs:\n  a:\n    runs-on: &r ubuntu-latest\n    steps:\n      - run: echo\n", nil,
			[]finding{{"syntax-check", Warning, `anchor "r" is defined but not used`}}},
		// expression
		{"undefined step id (null on GitHub)", job("      - if: steps.nope.outputs.x != 'true'\n        run: echo\n"), nil,
			[]finding{{"expression", Warning, `property "nope" is not defined`}}},
		{"unknown context", job("      - run: echo ${{ nosuch.x }}\n"), nil,
			[]finding{{"expression", Refusal, `undefined variable "nosuch"`}}},
		{"unknown function", job("      - run: echo ${{ nosuch('x') }}\n"), nil,
			[]finding{{"expression", Refusal, `undefined function "nosuch"`}}},
		{"wrong argument count", job("      - run: echo ${{ contains('x') }}\n"), nil,
			[]finding{{"expression", Refusal, "number of arguments is wrong"}, {"expression", Refusal, "number of arguments is wrong"}}},
		{"parse error", job("      - run: echo ${{ github.sha == }}\n"), nil,
			[]finding{{"expression", Refusal, "unexpected end of input"}}},
		{"lexer error", job("      - run: echo ${{ \"double\" }}\n"), nil,
			[]finding{{"expression", Refusal, "while lexing"}}},
		{"context not available here", "on: push\njobs:\n  a:\n    runs-on: ${{ secrets.x }}\n    steps:\n      - run: echo\n", nil,
			[]finding{{"expression", Refusal, `context "secrets" is not allowed here`}}},
		{"function not available here", "on: push\njobs:\n  a:\n    if: hashFiles('x') != ''\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n", nil,
			[]finding{{"expression", Refusal, `calling function "hashFiles" is not allowed here`}}},
		{"matrix property only some include entries define",
			"on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    strategy:\n      matrix:\n        py: ['3.11']\n        include:\n          - py: '3.12'\n            extra: x\n    steps:\n      - run: echo ${{ matrix.extra }} ${{ matrix.nope }}\n", nil,
			[]finding{{"expression", Warning, `property "nope" is not defined`}}},
		{"script injection advisory", job("      - run: echo \"${{ github.event.pull_request.title }}\"\n"), nil,
			[]finding{{"expression", Warning, "potentially untrusted"}}},
		{"comparison of types (coerced)", job("      - if: github.event.number == 'x'\n        run: echo\n"), nil, nil},
		{"object in a template (GitHub prints it)", job("      - run: echo ${{ github.event }}\n"), nil,
			[]finding{{"expression", Warning, "object, array, and null values should not be evaluated"}}},
		{"format placeholders (a run-time error)", job("      - run: echo ${{ format('{0} {1}', 'a') }}\n"), nil,
			[]finding{{"expression", Warning, "contains placeholder {1}"}}},
		{"broken fromJSON literal (a run-time error)", job("      - run: echo ${{ fromJSON('{') }}\n"), nil,
			[]finding{{"expression", Warning, "broken JSON string"}}},
		{"expression depth over GitHub's 50", job("      - run: echo ${{ " + strings.Repeat("(", 51) + "1" + strings.Repeat(")", 51) + " }}\n"), nil,
			[]finding{{"expression", Refusal, "exceeded max expression depth 50"}}},
		{"if: depth over GitHub's 50", job("      - if: " + strings.Repeat("(", 51) + "github.ref" + strings.Repeat(")", 51) + "\n        run: echo\n"), nil,
			[]finding{{"expression", Refusal, "exceeded max expression depth 50"}}},
		// action
		{"outdated runner", job("      - uses: actions/checkout@v3\n"), nil,
			[]finding{{"action", Warning, "is too old to run on GitHub Actions"}}},
		{"undeclared input", job("      - uses: actions/checkout@v4\n        with:\n          nope: 1\n"), nil,
			[]finding{{"action", Warning, `input "nope" is not defined`}}},
		{"missing required input", job("      - uses: actions/github-script@v7\n"), nil,
			[]finding{{"action", Warning, `missing input "script"`}}},
		{"empty with (GitHub reads no inputs)", job("      - uses: actions/checkout@v4\n        with:\n"), nil,
			[]finding{{"syntax-check", Warning, `"with" section should not be empty`}}},
		{"empty jobs", "on: push\njobs:\n", nil,
			[]finding{{"syntax-check", Refusal, `"jobs" section should not be empty`}}},
		{"malformed uses", job("      - uses: checkout\n"), nil,
			[]finding{{"action", Refusal, "specifying action \"checkout\" in invalid format"}}},
		{"local action without runs", job("      - uses: ./act\n"), map[string]string{"act/action.yml": "name: x\ndescription: y\n"},
			[]finding{{"action", Warning, `"runs.using" is missing`}}},
		// events
		{"unknown event", "on: pushh\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n", nil,
			[]finding{{"events", Refusal, `unknown Webhook event "pushh"`}}},
		{"bad activity type", "on:\n  pull_request:\n    types: [openned]\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n", nil,
			[]finding{{"events", Refusal, `invalid activity type "openned"`}}},
		{"bad cron", "on:\n  schedule:\n    - cron: '61 * * * *'\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n", nil,
			[]finding{{"events", Refusal, "invalid CRON format"}}},
		{"cron too frequent", "on:\n  schedule:\n    - cron: '* * * * *'\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n", nil,
			[]finding{{"events", Warning, "runs too frequently"}}},
		{"branches and branches-ignore", "on:\n  push:\n    branches: [a]\n    branches-ignore: [b]\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n", nil,
			[]finding{{"events", Refusal, "cannot be used for the same event"}}},
		{"required input with default", "on:\n  workflow_dispatch:\n    inputs:\n      x:\n        required: true\n        default: a\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n", nil, nil},
		// glob
		{"odd glob", "on:\n  push:\n    branches: ['a**b']\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n", nil, nil},
		// id
		{"duplicate step id", job("      - id: x\n        run: echo\n      - id: x\n        run: echo\n"), nil,
			[]finding{{"id", Refusal, "step ID \"x\" duplicates"}}},
		{"invalid job id", "on: push\njobs:\n  1a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n", nil,
			[]finding{{"id", Refusal, "invalid job ID"}}},
		// if-cond
		{"always-true if", job("      - if: ${{ false }} && true\n        run: echo\n"), nil,
			[]finding{{"if-cond", Warning, "always evaluated to true"}}},
		{"constant if", job("      - if: true\n        run: echo\n"), nil,
			[]finding{{"if-cond", Warning, "constant expression"}}},
		// job-needs
		{"needs unknown job", "on: push\njobs:\n  a:\n    needs: b\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n", nil,
			[]finding{{"job-needs", Refusal, "which does not exist"}}},
		{"needs cycle", "on: push\njobs:\n  a:\n    needs: b\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n  b:\n    needs: a\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n", nil,
			[]finding{{"job-needs", Refusal, "cyclic dependenc"}}},
		// matrix
		{"duplicate matrix value", "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    strategy:\n      matrix:\n        py: [1, 1]\n    steps:\n      - run: echo\n", nil,
			[]finding{{"matrix", Warning, "duplicate value"}}},
		{"exclude key not in matrix", "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    strategy:\n      matrix:\n        py: [1, 2]\n        exclude:\n          - os: x\n    steps:\n      - run: echo\n", nil,
			[]finding{{"matrix", Refusal, `"os" in "exclude" section does not exist`}}},
		{"exclude value not in matrix", "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    strategy:\n      matrix:\n        py: [1, 2]\n        exclude:\n          - py: 3\n    steps:\n      - run: echo\n", nil,
			[]finding{{"matrix", Warning, "does not match in matrix"}}},
		{"matrix over 256 legs", "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    strategy:\n      matrix:\n        x: [" + seq(17) + "]\n        y: [" + seq(16) + "]\n    steps:\n      - run: echo\n", nil,
			[]finding{{"matrix", Refusal, "matrix has 272 combinations; at most 256 are allowed"}}},
		// permissions
		{"unknown permission scope", "on: push\npermissions:\n  nope: read\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n", nil,
			[]finding{{"permissions", Refusal, `unknown permission scope "nope"`}}},
		// workflow-call
		{"input the callee does not define", "on: push\njobs:\n  c:\n    uses: ./.github/workflows/called.yml\n    with:\n      nope: 1\n",
			map[string]string{".github/workflows/called.yml": "on: workflow_call\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n"},
			[]finding{{"workflow-call", Refusal, `input "nope" is not defined`}}},
		// env-var, credentials, deprecated-commands, shell-name, runner-label
		{"odd env name", "on: push\nenv:\n  'A B': x\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n", nil,
			[]finding{{"env-var", Warning, "is invalid"}}},
		{"hard-coded password", "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    container:\n      image: x\n      credentials:\n        username: u\n        password: p\n    steps:\n      - run: echo\n", nil,
			[]finding{{"credentials", Warning, "do not put password value directly"}}},
		{"deprecated set-output", job("      - run: echo \"::set-output name=x::y\"\n"), nil,
			[]finding{{"deprecated-commands", Warning, "was deprecated"}}},
		{"unknown shell", job("      - run: echo\n        shell: zsh\n"), nil,
			[]finding{{"shell-name", Warning, `shell name "zsh" is invalid`}}},
		{"conflicting runner labels", "on: push\njobs:\n  a:\n    runs-on: [ubuntu-latest, windows-latest]\n    steps:\n      - run: echo\n", nil,
			[]finding{{"runner-label", Warning, "conflicts with label"}}},
		// sluice's own limits
		{"alias bomb", bomb(9), nil, []finding{{KindLimits, Refusal, "expand this workflow to more than"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{".github/workflows/w.yml": tc.src}
			for k, v := range tc.files {
				files[k] = v
			}
			root := writeRepo(t, files)
			errs, err := Lint(context.Background(), root, []string{filepath.Join(root, ".github/workflows/w.yml")}, LintOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var got []finding
			for _, e := range errs {
				f := finding{Kind: e.Kind, Severity: e.Severity, Contains: e.Message}
				for _, w := range tc.want {
					if w.Kind == e.Kind && strings.Contains(e.Message, w.Contains) {
						f.Contains = w.Contains
					}
				}
				got = append(got, f)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			// The loader agrees: a refusal keeps the file from running, a warning does not.
			refuses := false
			for _, w := range tc.want {
				refuses = refuses || w.Severity == Refusal
			}
			w, err := Load(context.Background(), root, filepath.Join(root, ".github/workflows/w.yml"))
			if refuses != (err != nil) {
				t.Errorf("Load: refuses=%v but err=%v", refuses, err)
			}
			if err == nil && len(w.Warnings) != len(tc.want) {
				t.Errorf("Load kept %d warnings, want %d: %v", len(w.Warnings), len(tc.want), w.Warnings)
			}
		})
	}
}

func seq(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprint(i)
	}
	return strings.Join(parts, ", ")
}

// bomb is a "billion laughs" workflow: each level's anchor holds ten aliases of the level
// below, so `levels` levels expand to 10^levels nodes in a file of a few hundred bytes.
func bomb(levels int) string {
	var b strings.Builder
	b.WriteString("on: push\nx0: &l0 [lol]\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "x%d: &l%d [", i, i)
		for k := 0; k < 10; k++ {
			if k > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	fmt.Fprintf(&b, "jobs:\n  a:\n    runs-on: ubuntu-latest\n    strategy:\n      matrix:\n        v: *l%d\n    steps:\n      - run: echo\n", levels)
	return b.String()
}

func TestClassifyUnknownKindRefuses(t *testing.T) {
	if got := Classify("a-rule-from-the-future", "anything"); got != Refusal {
		t.Errorf("Classify(unknown kind) = %v, want refusal", got)
	}
}
