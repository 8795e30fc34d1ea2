// Package logs holds the line model of a run: masking of secrets, parsing of
// workflow commands (::name k=v::value), and the sinks that turn engine events
// into terminal output, plain lines and saved log files.
package logs

import "time"

// Kind says what an Event reports.
type Kind int

// The kinds of event the engine emits, in the order they happen for a job.
const (
	RunStarted Kind = iota
	JobStarted
	StepStarted
	Line       // one line of a step's output, already masked
	GroupStart // ::group::Text
	GroupEnd   // ::endgroup::
	Debug      // ::debug::Text; shown only when verbose
	Notice     // a message from sluice itself about the step (deprecations, warnings)
	AnnotationAdded
	StepFinished
	JobFinished
	RunFinished
	// JobWaiting says a job waits for the jobs it needs (Text: their ids,
	// comma-separated) before any of them started. Sinks that only print
	// what happened may ignore it.
	JobWaiting
)

// Result is the conclusion of a step, job or run, spelled as GitHub spells it.
type Result string

// Results as GitHub Actions names them.
const (
	Success   Result = "success"
	Failure   Result = "failure"
	Cancelled Result = "cancelled"
	Skipped   Result = "skipped"
)

// Annotation is an ::error, ::warning or ::notice workflow command.
type Annotation struct {
	Level     string // error, warning, notice
	Message   string
	Title     string
	File      string
	Line      int
	EndLine   int
	Col       int
	EndColumn int
	Job       string
	Step      string
}

// JobSummary is one row of the final summary.
type JobSummary struct {
	Job         string // display name, e.g. "test (3.11)"
	Result      Result
	Duration    time.Duration
	StepSummary string // concatenated GITHUB_STEP_SUMMARY markdown of its steps
	LogFile     string // where this job's full log was saved, if anywhere
	// ContinueOnError marks a failed job whose failure does not fail the run.
	ContinueOnError bool `json:",omitempty"`
	// Reason says why a job ended without running (a Windows job skipped on
	// this host, a call that could not be planned).
	Reason string `json:",omitempty"`
	// Versions are the tools the job ran with: os, sluice, python, pip, uv.
	Versions map[string]string `json:",omitempty"`
	// Tests are the job's test results (pytest or any JUnit XML it wrote).
	Tests *TestSummary `json:",omitempty"`
	// Outputs are the job's outputs (jobs.<id>.outputs) as the jobs that
	// need it see them.
	Outputs map[string]string `json:",omitempty"`
}

// TestSummary is a job's test results as the summary shows them.
type TestSummary struct {
	Passed, Failed, Skipped int
	Line                    string   // "12 passed, 1 failed in 1.3s"
	Failures                []string // "tests/test_x.py::test_y: assert 1 == 2"
}

// RunSummary is what a run ends with.
type RunSummary struct {
	RunID       string
	Result      Result
	Duration    time.Duration
	Jobs        []JobSummary
	Annotations []Annotation
	LogDir      string
}

// Event is one thing that happened in a run. Job and Step are display names;
// Step is empty for job-level events.
type Event struct {
	Time time.Time
	Kind Kind
	Job  string
	Step string
	// Text is the line for Line/GroupStart/Debug/Notice, and a short reason
	// for StepFinished/JobFinished (e.g. "exit code 1", "timed out after 1m").
	Text string
	// Result and Duration are set on StepFinished and JobFinished.
	Result   Result
	Duration time.Duration
	// ContinueOnError marks a StepFinished whose failure did not fail the job
	// (outcome failure, conclusion success).
	ContinueOnError bool
	Annotation      *Annotation // AnnotationAdded
	Summary         *RunSummary // RunFinished
}

// Sink receives a run's events. Implementations must be safe for concurrent
// use: jobs run in parallel and emit from their own goroutines.
type Sink interface {
	Emit(Event)
}
