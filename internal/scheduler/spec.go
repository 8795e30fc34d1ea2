package scheduler

import (
	"encoding/json"
	"fmt"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/jobspec"
)

// Spec is what the scheduler stores with a job: the part an agent reads (jobspec.Spec: the
// run and the job as the plan decided it) and the scheduler's own bookkeeping beside it.
// Secrets are not in it: the agent API adds them to a claim, and never for forks.
type Spec struct {
	jobspec.Spec
	// Leg is the row's matrix leg (0: a job itself), as the plan keeps it.
	Leg int `json:"leg,omitempty"`
	// Called holds the sources of the reusable workflows the run may call (by
	// plan.CalledKey), CallErrors why others could not be read; only a run's top-level
	// rows carry them, so a plan can be made again from any of them after a restart.
	Called     map[string]Source `json:"called,omitempty"`
	CallErrors map[string]string `json:"call_errors,omitempty"`
	// Workflow is the run's workflow, on a top-level row whose job carries none (a
	// matrix's or a call's row), so the plan can be made again from that row too.
	Workflow *Source `json:"workflow,omitempty"`
	// Environments is .sluice/environments.yml at the commit (nil: none),
	// EnvironmentsError why it did not load.
	Environments      *cd.Config `json:"environments,omitempty"`
	EnvironmentsError string     `json:"environments_error,omitempty"`
	LockHash          string     `json:"lock_hash,omitempty"`
	// Environment is a deployment job's environment, Promotion the promotion
	// it carries out (set when the job is planned, or when a promotion run
	// is made).
	Environment string `json:"environment,omitempty"`
	Promotion   int64  `json:"promotion,omitempty"`
	// Verify is the promotion a verification job checks (an environment's
	// verify: command, run on an agent).
	Verify int64 `json:"verify,omitempty"`
}

// Source is a workflow file's path and text.
type Source struct {
	Path   string `json:"path"`
	Source string `json:"source"`
}

// ParseSpec reads a job's spec.
func ParseSpec(b []byte) (*Spec, error) {
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("reading job spec: %w", err)
	}
	return &s, nil
}

func (s *Spec) encode() json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}
