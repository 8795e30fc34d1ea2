package workflow

import (
	"fmt"
	"strings"

	"github.com/rhysd/actionlint"
)

// Severity says what a finding does to a run.
type Severity int

const (
	// Refusal is a finding GitHub itself refuses the workflow for (syntax, keys it does not
	// know, expressions it cannot parse, needs that do not exist): the workflow does not run.
	Refusal Severity = iota
	// Warning is advice GitHub does not act on (outdated action runtimes, properties that
	// evaluate to null, shellcheck-style hints, script-injection advisories): it is printed and
	// the workflow runs.
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Kinds sluice adds to actionlint's rule names.
const (
	KindLimits = "limits"        // file size, YAML nodes and nesting (alias bombs)
	KindUses   = "uses"          // a `uses:` that cannot be resolved here
	KindEvents = "sluice-events" // an event sluice does not deliver as GitHub would
)

// eventWarningsOf are sluice's own findings on a workflow's triggers: activity it never
// delivers. workflow_run fires when a run completes; GitHub's requested and in_progress
// activities have no sluice event, so a workflow waiting only for them would never run,
// without a word.
func eventWarningsOf(file string, ast *actionlint.Workflow) Errors {
	var out Errors
	for _, on := range ast.On {
		wh, ok := on.(*actionlint.WebhookEvent)
		if !ok || wh.Hook == nil || wh.Hook.Value != "workflow_run" {
			continue
		}
		for _, ty := range wh.Types {
			if ty == nil || ty.Value == "completed" || ty.Pos == nil {
				continue
			}
			out = append(out, &Error{File: file, Line: ty.Pos.Line, Col: ty.Pos.Col, Kind: KindEvents, Severity: Warning,
				Message: fmt.Sprintf("workflow_run activity %q is not delivered by sluice: only \"completed\" is (the workflow runs when a workflow it names completes); list types: [completed]", ty.Value)})
		}
	}
	return out
}

// warningKinds are actionlint rules whose every finding is advice: GitHub runs the workflow
// and at most fails a step at run time.
var warningKinds = map[string]bool{
	"credentials":         true, // a password in the file: bad practice, valid syntax
	"deprecated-commands": true, // ::set-output in scripts: GitHub still runs the step
	"env-var":             true, // odd env names: the step decides
	"if-cond":             true, // constant or always-true conditions: they evaluate
	"runner-label":        true, // unknown or conflicting labels: the job waits for a runner
	"shell-name":          true, // the runner fails the step if the shell is missing
	"shellcheck":          true,
	"pyflakes":            true,
	"glob":                true, // GitHub matches what it can
}

// refusedKinds are rules whose every finding GitHub also reports as an invalid workflow.
var refusedKinds = map[string]bool{
	"syntax-check":  true,
	"id":            true, // invalid or duplicate job/step ids
	"job-needs":     true, // needs of jobs that do not exist, cycles
	"permissions":   true, // unknown scopes and values
	"workflow-call": true, // inputs/secrets a called workflow does not define or requires
	KindLimits:      true,
	KindUses:        true,
}

// Messages (prefix or substring, lower case) that decide rules whose findings are mixed. In the
// "warn" lists, a finding describes something GitHub evaluates (often to null) or only advises;
// in the "refuse" lists, something GitHub's parser rejects.
var (
	syntaxWarnings = []string{
		"anchor \"", // an anchor defined but not used: valid YAML
		// Optional mappings left empty (often with their entries commented out) read as empty.
		`"with" section should not be empty`,
		`"env" section should not be empty`,
		`"outputs" section should not be empty`,
		`"defaults" section should not be empty`,
		`"services" section should not be empty`,
		`"secrets" section should not be empty`,
	}
	actionRefusals = []string{
		"specifying action ", // uses: without owner/repo@ref: GitHub cannot parse it
	}
	eventWarnings = []string{
		"scheduled job runs too frequently",        // GitHub runs it every 5 minutes
		"but it is also required",                  // a default that is never used
		"is duplicated in options",                 // a duplicate choice
		"is not included in its options",           // the dispatch form offers the options
		"cannot be parsed as a float number",       // a default checked when a run passes it
		"its default value must be true or false",  // idem
		"its default value must be \"true\" or",    // idem
		"is typed as boolean. its default value",   // idem
		"is typed as number but its default value", // idem
	}
	matrixRefusals = []string{
		"in \"exclude\" section does not exist in matrix", // "Matrix exclude key ... does not match any key"
	}
	// Expressions: GitHub's parser rejects unknown names and functions, wrong argument
	// counts, malformed syntax and contexts used where they are not available; types and
	// properties are only known when the expression is evaluated, where missing properties are
	// null and values coerce.
	expressionWarnings = []string{
		"potentially untrusted", // script-injection advisories
		"broken json string",    // fromJSON of a bad literal fails when the step runs
	}
	expressionRefusals = []string{
		"undefined variable ",
		"undefined function ",
		"number of arguments is wrong",
		"requires an odd number of arguments",
		"context \"",             // context "x" is not allowed here
		"calling function \"",    // calling function "x" is not allowed here
		"parser did not reach",   // trailing tokens
		"unexpected ",            // parser and lexer: unexpected token/character/end of input
		"parsing invalid ",       // malformed number literals
		"while lexing",           // unterminated strings, stray characters
		"closing }}",             // ${{ without }}
		"exceeded max",           // GitHub's own limits on depth and length
		"expecting a single ${{", // e.g. continue-on-error: text that is not an expression
	}
)

// Classify decides what a finding does to a run. A rule sluice does not know refuses, so a new
// actionlint rule is never silently ignored; the table test over actionlint's rules pins the
// messages this version emits.
func Classify(kind, message string) Severity {
	msg := strings.ToLower(message)
	has := func(list []string) bool {
		for _, s := range list {
			if strings.Contains(msg, s) {
				return true
			}
		}
		return false
	}
	switch {
	case warningKinds[kind]:
		return Warning
	case kind == "syntax-check":
		if has(syntaxWarnings) {
			return Warning
		}
		return Refusal
	case refusedKinds[kind]:
		return Refusal
	case kind == "action":
		// Outdated runtimes, inputs the action does not declare (GitHub warns "Unexpected
		// input"), missing required inputs (the action decides) and local action metadata
		// problems (the step fails when it runs) are advice.
		if has(actionRefusals) {
			return Refusal
		}
		return Warning
	case kind == "events":
		if has(eventWarnings) {
			return Warning
		}
		return Refusal
	case kind == "matrix":
		if has(matrixRefusals) || strings.Contains(msg, "combinations; at most") {
			return Refusal
		}
		return Warning
	case kind == "expression":
		if has(expressionWarnings) {
			return Warning
		}
		if has(expressionRefusals) {
			return Refusal
		}
		return Warning
	}
	return Refusal
}

func classifyActionlint(e *actionlint.Error) Severity { return Classify(e.Kind, e.Message) }
