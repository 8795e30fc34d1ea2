// Package jobspec is the contract between a sluice server and its agents: the job an agent
// runs (Spec: the run it belongs to and the job as the plan decided it), the lease it holds,
// the log lines and step states it sends back, and how the job ended.
//
// It is a leaf package on purpose. `sluice run`, the server's scheduler and every agent speak
// it, and an agent links it without linking the server, the scheduler or the store (the model
// is Woodpecker's shared rpc package; the opposite, a server package owning the agent's
// contract, is what this replaces).
package jobspec

import (
	"encoding/json"
	"fmt"
	"time"
)

// Results of a job or step, spelled as GitHub spells them.
const (
	Success   = "success"
	Failure   = "failure"
	Cancelled = "cancelled"
	Skipped   = "skipped"
)

// Run is what every job of one workflow run shares: the event and the run's identity. The
// `github` context is built from it (plan.GitHub), the same way for `sluice run` and for
// every agent.
type Run struct {
	ID      string `json:"id"` // github.run_id
	Number  int64  `json:"number"`
	Attempt int    `json:"attempt,omitempty"` // 1 for a first run; re-runs count up
	// Repository is owner/name; RepoURL is where an agent fetches the commit from (the
	// server's git endpoint; empty for `sluice run`).
	Repository string `json:"repository"`
	RepoURL    string `json:"repo_url,omitempty"`
	// RepoID is the server's id of the repository (0 for `sluice run`): an agent keys the
	// kept Python environments and caches of the job by it. DefaultBranch is the
	// repository's default branch, whose caches every branch may restore.
	RepoID        int64          `json:"repo_id,omitempty"`
	DefaultBranch string         `json:"default_branch,omitempty"`
	SHA           string         `json:"sha"`
	Ref           string         `json:"ref"` // refs/heads/main, refs/tags/v1, refs/pull/1/merge
	Event         string         `json:"event"`
	Payload       map[string]any `json:"payload,omitempty"`
	Actor         string         `json:"actor,omitempty"`
	// WorkflowPath is the triggered workflow's file and WorkflowName its name: (or the path
	// when it has none); jobs of called workflows keep the caller's, as on GitHub.
	WorkflowPath string `json:"workflow_path"`
	WorkflowName string `json:"workflow_name,omitempty"`
	// Inputs are workflow_dispatch inputs as given; Vars the `vars` context.
	Inputs map[string]string `json:"inputs,omitempty"`
	Vars   map[string]string `json:"vars,omitempty"`
	// Fork marks a pull request from a fork: its jobs never see secrets.
	Fork bool `json:"fork,omitempty"`
}

// Job is one job an agent runs, the unit of scheduling: a job of a workflow, one leg of a
// matrix, or a job of a called workflow. Every decision about it (whether it runs, its matrix
// values, its name, its labels, its needs) was made by the plan; the engine only runs it.
type Job struct {
	// Key is unique in the run ("test (3.11)", "call / build"); Name is what is shown.
	Key  string `json:"key"`
	Name string `json:"name"`
	// JobID is the job's id in the workflow file it is written in, WorkflowPath and
	// WorkflowSource that file (a called workflow's, for the jobs of one).
	JobID          string `json:"job_id"`
	WorkflowPath   string `json:"workflow_path"`
	WorkflowSource string `json:"workflow_source"`
	// Matrix is the leg's values (nil: no matrix), MatrixKeys their display order.
	Matrix     map[string]any `json:"matrix,omitempty"`
	MatrixKeys []string       `json:"matrix_keys,omitempty"`
	Strategy   Strategy       `json:"strategy"`
	// Needs are the results and outputs of the jobs this one needs, by job id.
	Needs map[string]Need `json:"needs,omitempty"`
	// Inputs is the inputs context: workflow_dispatch inputs, or a called workflow's.
	Inputs map[string]any `json:"inputs,omitempty"`
	// Secrets says how a called workflow's job sees secrets, outermost call first; empty
	// means the run's own secrets.
	Secrets []SecretLevel `json:"secrets,omitempty"`
	// Labels are the evaluated runs-on labels agents are matched by.
	Labels []string `json:"labels,omitempty"`
	// ContinueOnError: the job's failure does not fail the run (jobs.<id>.continue-on-error).
	ContinueOnError bool `json:"continue_on_error,omitempty"`
	// Environment is the evaluated name of the environment a deployment job targets.
	Environment string `json:"environment,omitempty"`
	// Concurrency is the job's own concurrency group (jobs.<id>.concurrency), evaluated.
	Concurrency *Concurrency `json:"concurrency,omitempty"`
}

// Strategy is the `strategy` context of a job.
type Strategy struct {
	FailFast    bool `json:"fail_fast"`
	JobIndex    int  `json:"job_index"`
	JobTotal    int  `json:"job_total"`
	MaxParallel int  `json:"max_parallel"`
}

// Need is a finished job as the jobs that need it see it (needs.<id>).
type Need struct {
	Result  string            `json:"result"`
	Outputs map[string]string `json:"outputs,omitempty"`
}

// SecretLevel is one call of a reusable workflow on the way to a job: either the caller's
// secrets as they are (secrets: inherit), or only the ones it maps, each a template over the
// caller's secrets (and Context, the caller's other contexts: inputs, matrix, needs).
type SecretLevel struct {
	Inherit bool              `json:"inherit,omitempty"`
	Map     map[string]string `json:"map,omitempty"`
	Context map[string]any    `json:"context,omitempty"`
}

// Concurrency is an evaluated concurrency group.
type Concurrency struct {
	Group            string `json:"group"`
	CancelInProgress bool   `json:"cancel_in_progress,omitempty"`
}

// Spec is what runs a job: the run it belongs to and the job. The server stores it with the
// job (with its own bookkeeping beside it) and hands it out with the lease.
type Spec struct {
	Run Run `json:"run"`
	Job Job `json:"job"`
}

// Parse reads a spec; fields it does not know (the server's own) are ignored.
func Parse(b []byte) (*Spec, error) {
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("reading job spec: %w", err)
	}
	if s.Job.JobID == "" || s.Job.WorkflowSource == "" {
		return nil, fmt.Errorf("reading job spec: it names no job or has no workflow")
	}
	return &s, nil
}

// JobRef identifies a leased job.
type JobRef struct {
	ID      int64    `json:"id"`
	RunID   int64    `json:"run_id"`
	Key     string   `json:"key"`
	Name    string   `json:"name"`
	Attempt int      `json:"attempt"`
	Labels  []string `json:"labels,omitempty"`
}

// Claim is the server's answer to an agent's claim: the job, its spec and the secrets it may
// see (never log these), for LeaseSeconds unless heartbeats extend it.
type Claim struct {
	Job     JobRef            `json:"job"`
	Spec    json.RawMessage   `json:"spec"`
	Secrets map[string]string `json:"secrets"`
	// Vars are the variables of the environment the job deploys to (given once its gates
	// passed), over the spec's.
	Vars         map[string]string `json:"vars,omitempty"`
	LeaseSeconds int               `json:"lease_seconds"`
}

// LogLine is one line of a job's log; agents number lines (Seq, from 1) in the order they
// were emitted and the server drops repeats by Seq.
type LogLine struct {
	Seq  int64     `json:"seq"`
	Time time.Time `json:"time"`
	Step int       `json:"step"` // the step the line belongs to (0: the job's setup)
	// Kind is "line", "step" (a step started or ended), "group", "endgroup", "debug", "job"
	// (the job ended), "sluice" (sluice's own note) or an annotation's level: "error",
	// "warning", "notice".
	Kind string `json:"kind,omitempty"`
	Text string `json:"text"`
}

// Step is the state of one step of a job; the latest report of a number wins.
type Step struct {
	Number     int        `json:"number"`
	Name       string     `json:"name"`
	Status     string     `json:"status"` // queued, in_progress, completed
	Conclusion string     `json:"conclusion"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Completion is how a job ended, as its agent reports it.
type Completion struct {
	Conclusion string            `json:"conclusion"`
	Outputs    map[string]string `json:"outputs"`
	Summary    string            `json:"summary"`
	Tests      json.RawMessage   `json:"tests,omitempty"`
	// EnvironmentURL is a deployment job's environment.url, evaluated at its end.
	EnvironmentURL string `json:"environment_url,omitempty"`
	// Versions are the tools the job ran with (os, sluice, python, pip, uv).
	Versions map[string]string `json:"versions,omitempty"`
}

// Heartbeat is the server's answer to a heartbeat.
type Heartbeat struct {
	Cancel bool `json:"cancel"`
}
