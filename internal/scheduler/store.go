package scheduler

import (
	"context"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/delivery"
	"github.com/sluice-ci/sluice/internal/store"
)

// Store is what the scheduler reads and writes: the methods of *store.DB it uses, by entity,
// so that its reach into the database is visible here and a test or another backend can stand
// in for it. *store.DB has it all.
type Store interface {
	runStore
	jobStore
	repoStore
	promotionStore
	delivery.ReleaseStore
	lockStore
}

// runStore is runs: made from a trigger, advanced, cancelled, run again, grouped.
type runStore interface {
	CreateRun(ctx context.Context, r store.Run, jobs []store.Job) (*store.Run, []store.Job, error)
	GetRun(ctx context.Context, id int64) (*store.Run, error)
	ListRuns(ctx context.Context, f store.RunFilter) ([]store.Run, error)
	RunOfDelivery(ctx context.Context, deliveryID int64, workflow, event string) (*store.Run, error)
	FinishRunIfDone(ctx context.Context, id int64) (*store.Run, bool, error)
	CancelRun(ctx context.Context, id int64, reason string) (*store.Run, error)
	RequestCancel(ctx context.Context, id int64, reason string) (*store.Run, error)
	RerunRun(ctx context.Context, id int64, trigger, actor string, jobs []store.Job) (*store.Run, []store.Job, error)
	SetRunGroup(ctx context.Context, id int64, group string, pending bool) error
	OpenGroupRuns(ctx context.Context, repoID int64) ([]store.Run, error)
}

// jobStore is a run's jobs: added as matrices expand, queued when their needs are met.
type jobStore interface {
	AddJobs(ctx context.Context, runID int64, jobs []store.Job) ([]store.Job, error)
	GetJob(ctx context.Context, id int64) (*store.Job, error)
	ListJobStates(ctx context.Context, runID int64) ([]store.Job, error)
	ListLatestJobs(ctx context.Context, runID int64) ([]store.Job, error)
	UpdateJob(ctx context.Context, id int64, u store.JobUpdate) (*store.Job, error)
	Enqueue(ctx context.Context, jobIDs []int64) (int, error)
	OpenGroupJobs(ctx context.Context, repoID int64) ([]store.Job, error)
}

// repoStore is the repositories runs belong to, their variables, and who their forge logins are.
type repoStore interface {
	GetRepo(ctx context.Context, id int64) (*store.Repo, error)
	ListRepos(ctx context.Context) ([]store.Repo, error)
	IdentityOfLogin(ctx context.Context, forge, login string) (string, error)
	// RepoVars is the repository's variables (vars.*), read when a run is planned.
	RepoVars(ctx context.Context, repoID int64) (map[string]string, error)
}

// promotionStore is continuous delivery: releases, environments and promotions between them.
type promotionStore interface {
	FindRelease(ctx context.Context, repoID int64, ref string) (*cd.Release, error)
	GetRelease(ctx context.Context, id string) (*cd.Release, error)
	ReleaseOfRun(ctx context.Context, runID int64) (*cd.Release, error)
	ListEnvironments(ctx context.Context, repoID int64) ([]cd.Environment, error)
	PutEnvironment(ctx context.Context, repoID int64, e cd.Environment) error
	CreatePromotion(ctx context.Context, repoID int64, p cd.Promotion) (*cd.Promotion, error)
	GetPromotion(ctx context.Context, id int64) (*cd.Promotion, error)
	ListPromotions(ctx context.Context, repoID int64, env string, limit int) ([]cd.Promotion, error)
	ActivePromotions(ctx context.Context, repoID int64) ([]cd.Promotion, error)
	PromotionsOfRun(ctx context.Context, runID int64) ([]cd.Promotion, error)
	UpdatePromotion(ctx context.Context, id int64, u store.PromotionUpdate) (*cd.Promotion, error)
	SetPromotionState(ctx context.Context, id int64, state cd.State) (*cd.Promotion, error)
	AddApproval(ctx context.Context, promotionID int64, a cd.Approval) (*cd.Promotion, error)
}

// lockStore is the database's locks, which keep replicas from advancing one run (or one
// concurrency group) at the same time.
type lockStore interface {
	Lock(ctx context.Context, name string) (release func(), err error)
	WithLock(ctx context.Context, name string, fn func(ctx context.Context) error) error
	WithRunLock(ctx context.Context, runID int64, fn func(ctx context.Context) error) error
}

var _ Store = (*store.DB)(nil)
