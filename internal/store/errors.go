package store

import "errors"

var (
	// ErrNotFound is returned when the requested record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when a unique constraint (a repository name, a token hash…) is violated.
	ErrConflict = errors.New("already exists")
	// ErrLeaseLost is returned by Heartbeat and Complete when the job is no longer in progress
	// on the calling agent (it expired, was completed, or another agent holds it now).
	ErrLeaseLost = errors.New("job lease lost")
	// ErrNoJob is returned by Claim when no queued job matches the agent's labels.
	ErrNoJob = errors.New("no job to claim")
	// ErrDraining is returned by Claim for an agent being drained: it takes no new job.
	ErrDraining = errors.New("agent is draining")
)
