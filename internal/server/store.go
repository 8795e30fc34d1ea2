package server

import (
	"context"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/metrics"
	"github.com/sluice-ci/sluice/internal/store"
)

// Store is what the server's handlers read and write: the methods of *store.DB they use,
// grouped by entity, so that each part's reach into the database is visible here. The parts
// that need little take less (serverMetrics takes metricsStore, Bootstrap a tokenMaker).
// *store.DB has it all.
type Store interface {
	runStore
	jobStore
	queueStore
	logStore
	repoStore
	authStore
	deliveryStore
	cdStore
	notifyStore
	depsStore
	schemaStore
	// The metrics pages compute from the store through the metrics cache.
	metrics.CacheSource
}

// runStore is runs and their attempts, as the API and UI show them and approvals release them.
type runStore interface {
	GetRun(ctx context.Context, id int64) (*store.Run, error)
	ListRuns(ctx context.Context, f store.RunFilter) ([]store.Run, error)
	ListRunAttempts(ctx context.Context, id int64) ([]store.RunAttempt, error)
	ListRunFacets(ctx context.Context, repoID int64) (*store.RunFacets, error)
	GetRunApproval(ctx context.Context, runID int64) (*store.RunApproval, error)
	ApproveRun(ctx context.Context, runID int64, by string) error
	ListEvents(ctx context.Context, f store.EventFilter) ([]store.Event, error)
}

// jobStore is a run's jobs, their steps and results.
type jobStore interface {
	GetJob(ctx context.Context, id int64) (*store.Job, error)
	ListJobStates(ctx context.Context, runID int64) ([]store.Job, error)
	ListLatestJobs(ctx context.Context, runID int64) ([]store.Job, error)
	ListAttemptJobs(ctx context.Context, runID int64, n int) ([]store.Job, error)
	UpdateJob(ctx context.Context, id int64, u store.JobUpdate) (*store.Job, error)
	ListSteps(ctx context.Context, jobID int64) ([]store.Step, error)
	SetStep(ctx context.Context, s store.Step) (*store.Step, error)
	RecordJobResults(ctx context.Context, jobID int64, res store.JobResults) error
}

// queueStore is the queue as agents see it: registering, claiming, heartbeats, completing, draining.
type queueStore interface {
	RegisterAgent(ctx context.Context, a store.Agent) (*store.Agent, error)
	GetAgentByTokenHash(ctx context.Context, hash []byte) (*store.Agent, error)
	ListAgents(ctx context.Context) ([]store.Agent, error)
	DeleteAgent(ctx context.Context, id int64) error
	TouchAgent(ctx context.Context, id int64) error
	SetAgentDraining(ctx context.Context, id int64, draining bool) (*store.Agent, error)
	AgentRunsJobOf(ctx context.Context, agentID, runID int64) (bool, error)
	Claim(ctx context.Context, agentID int64, labels []string, lease time.Duration) (*store.Job, error)
	Heartbeat(ctx context.Context, jobID, agentID int64, lease time.Duration) (*store.Job, error)
	Complete(ctx context.Context, jobID, agentID int64, conclusion string, outputs map[string]string) (*store.Job, error)
	ExpireLeases(ctx context.Context, now time.Time, retry bool) ([]store.Job, error)
	PendingJobs(ctx context.Context) ([]store.PendingJob, error)
	QueueByLabels(ctx context.Context) ([]store.LabelQueue, error)
	Watch(topics ...store.Topic) (<-chan struct{}, func())
}

// logStore is job logs: appended by agents, read live or archived.
type logStore interface {
	AppendLogs(ctx context.Context, jobID int64, lines []store.LogLine) (int64, error)
	Logs(ctx context.Context, jobID, afterSeq int64, limit int) ([]store.LogLine, error)
	LogWindow(ctx context.Context, jobID, from, to int64) ([]store.LogLine, error)
	LogsOfKinds(ctx context.Context, jobIDs []int64, kinds []string, limit int) ([]store.LogLine, error)
	StepLogs(ctx context.Context, jobID int64, step int, afterSeq int64, limit int) ([]store.LogLine, error)
	FirstLogOfKind(ctx context.Context, jobID int64, step int, kind string) (int64, error)
	LastLogSeq(ctx context.Context, jobID int64) (int64, error)
}

// repoStore is repositories, their secrets and environment values.
type repoStore interface {
	CreateRepo(ctx context.Context, r store.Repo) (*store.Repo, error)
	GetRepo(ctx context.Context, id int64) (*store.Repo, error)
	GetRepoByName(ctx context.Context, name string) (*store.Repo, error)
	ListRepos(ctx context.Context) ([]store.Repo, error)
	DeleteRepo(ctx context.Context, id int64) error
	ListSecrets(ctx context.Context, repoID *int64) ([]store.Secret, error)
	PutSecret(ctx context.Context, repoID *int64, name string, ciphertext []byte) (*store.Secret, error)
	DeleteSecret(ctx context.Context, repoID *int64, name string) error
	SecretsForRepo(ctx context.Context, repoID int64) ([]store.Secret, error)
	EnvValues(ctx context.Context, repoID int64, env, kind string) ([]store.EnvValue, error)
	PutEnvValue(ctx context.Context, v store.EnvValue) error
	DeleteEnvValue(ctx context.Context, repoID int64, env, kind, name string) error
}

// authStore is API tokens and linked forge logins.
type authStore interface {
	CreateToken(ctx context.Context, tk store.Token) (*store.Token, error)
	GetTokenByHash(ctx context.Context, hash []byte) (*store.Token, error)
	ListTokens(ctx context.Context) ([]store.Token, error)
	DeleteToken(ctx context.Context, id int64) error
	TouchToken(ctx context.Context, id int64) error
	LinkLogin(ctx context.Context, l store.IdentityLogin) error
	ListLogins(ctx context.Context) ([]store.IdentityLogin, error)
}

// deliveryStore is webhook deliveries, kept to be replayed once.
type deliveryStore interface {
	CreateDelivery(ctx context.Context, d store.Delivery) (out *store.Delivery, existed bool, err error)
	GetDelivery(ctx context.Context, id int64) (*store.Delivery, error)
	ListDeliveries(ctx context.Context, f store.DeliveryFilter) ([]store.Delivery, error)
	DeliveryFailed(ctx context.Context, id int64, reason string) (attempts int, gaveUp bool, err error)
	MarkDeliveryProcessed(ctx context.Context, id int64, runIDs []int64) error
	PruneDeliveries(ctx context.Context, cutoff time.Time) (int64, error)
	TryDeliveryLock(ctx context.Context, id int64) (release func(), ok bool, err error)
	RunsOfDelivery(ctx context.Context, id int64) ([]int64, error)
}

// cdStore is continuous delivery: releases, environments, promotions.
type cdStore interface {
	FindRelease(ctx context.Context, repoID int64, ref string) (*cd.Release, error)
	GetRelease(ctx context.Context, id string) (*cd.Release, error)
	ListReleases(ctx context.Context, repoID int64, limit int) ([]cd.Release, error)
	RejectRelease(ctx context.Context, id string) (*cd.Release, error)
	ReleaseOfRun(ctx context.Context, runID int64) (*cd.Release, error)
	GetArtifact(ctx context.Context, digest string) (*store.ArtifactRecord, error)
	ListEnvironments(ctx context.Context, repoID int64) ([]cd.Environment, error)
	ActivePromotions(ctx context.Context, repoID int64) ([]cd.Promotion, error)
	GetPromotion(ctx context.Context, id int64) (*cd.Promotion, error)
	ListPromotions(ctx context.Context, repoID int64, env string, limit int) ([]cd.Promotion, error)
	PromotionsOfRelease(ctx context.Context, id string) ([]cd.Promotion, error)
	PromotionsOfRun(ctx context.Context, runID int64) ([]cd.Promotion, error)
	PromotionForgeID(ctx context.Context, id int64) (int64, error)
	SetPromotionForgeID(ctx context.Context, id, forgeID int64) error
}

// notifyStore is notification channels and what was sent.
type notifyStore interface {
	GetNotifyChannel(ctx context.Context, id int64) (*store.NotifyChannel, error)
	ListNotifyChannels(ctx context.Context, repoID *int64) ([]store.NotifyChannel, error)
	PutNotifyChannel(ctx context.Context, c store.NotifyChannel) (*store.NotifyChannel, error)
	DeleteNotifyChannel(ctx context.Context, id int64) error
	GetNotifySMTP(ctx context.Context) (*store.NotifySMTP, error)
	PutNotifySMTP(ctx context.Context, s store.NotifySMTP) error
	ListNotifyDeliveries(ctx context.Context, channelID int64, limit int) ([]store.NotifyDelivery, error)
}

// depsStore is dependency updates and reproducibility checks.
type depsStore interface {
	GetDepStatus(ctx context.Context, repoID int64) (*store.DepStatus, error)
	ListDepUpdates(ctx context.Context, repoID int64, activeOnly bool, limit int) ([]store.DepUpdate, error)
	AddReproCheck(ctx context.Context, c store.ReproCheck) (*store.ReproCheck, error)
	ListReproChecks(ctx context.Context, releaseID string) ([]store.ReproCheck, error)
}

// schemaStore is the schema version /healthz reports.
type schemaStore interface {
	SchemaVersion(ctx context.Context) (int64, error)
}

var _ Store = (*store.DB)(nil)
