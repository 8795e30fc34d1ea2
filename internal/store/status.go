package store

// Statuses of runs, jobs and steps.
const (
	StatusWaiting    = "waiting" // jobs only: created, waiting for its needs
	StatusQueued     = "queued"
	StatusInProgress = "in_progress"
	StatusCompleted  = "completed"
)

// Conclusions of completed runs, jobs and steps.
const (
	ConclusionSuccess   = "success"
	ConclusionFailure   = "failure"
	ConclusionCancelled = "cancelled"
	ConclusionSkipped   = "skipped"
)

// Triggers of runs.
const (
	TriggerWebhook  = "webhook"
	TriggerPoll     = "poll"
	TriggerSchedule = "schedule"
	TriggerDispatch = "dispatch"
	TriggerRerun    = "rerun"
	TriggerManual   = "manual"
	// TriggerWorkflowRun marks a run started by another run's end (on: workflow_run).
	TriggerWorkflowRun = "workflow_run"
	// TriggerPromotion marks a run made to deploy an existing release
	// (sluice promote, rollback, an automatic promotion).
	TriggerPromotion = "promotion"
)

// Token scopes.
const (
	ScopeAdmin = "admin"
	ScopeWrite = "write"
	ScopeRead  = "read"
	// ScopeRegister only registers agents (sluice agent exchanges it for a
	// credential of the agent's own); it reads and changes nothing else.
	ScopeRegister = "register"
)
