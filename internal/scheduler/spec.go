package scheduler

import (
	"encoding/json"
	"fmt"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/engine"
)

// Spec is what an agent needs to run one job leg; it is stored with the job
// (opaque to the store) and handed out with the lease. Secrets are not in
// it: the agent API adds them to a claim, and never for forks.
type Spec struct {
	RepoURL    string `json:"repo_url"`
	Repository string `json:"repository"`
	// RepoID is the server's id of the repository: an agent keys the kept
	// Python environments and caches of the job by it.
	RepoID int64 `json:"repo_id,omitempty"`
	// DefaultBranch is the repository's default branch, whose caches every
	// branch may restore.
	DefaultBranch  string                       `json:"default_branch,omitempty"`
	SHA            string                       `json:"sha"`
	Ref            string                       `json:"ref"`
	Event          string                       `json:"event"`
	Payload        map[string]any               `json:"payload,omitempty"`
	WorkflowPath   string                       `json:"workflow_path"`
	WorkflowSource string                       `json:"workflow_source"`
	JobID          string                       `json:"job_id"`
	Leg            engine.Leg                   `json:"leg"`
	Matrix         bool                         `json:"matrix,omitempty"` // a leg of a matrix job
	Needs          map[string]engine.NeedResult `json:"needs,omitempty"`
	Inputs         map[string]string            `json:"inputs,omitempty"`
	Vars           map[string]string            `json:"vars,omitempty"`
	Actor          string                       `json:"actor,omitempty"`
	RunID          int64                        `json:"run_id"`
	RunNumber      int64                        `json:"run_number"`
	RunAttempt     int                          `json:"run_attempt,omitempty"`
	Fork           bool                         `json:"fork,omitempty"`
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
