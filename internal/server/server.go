// Package server is `sluice serve`: the HTTP API, forge webhooks, the agent
// protocol, the web UI and live logs over SSE, on top of internal/store.
// It plans and records; it never runs steps (agents do, through the engine).
package server

import (
	"context"
	"github.com/sluice-ci/sluice/internal/cd"
	"log/slog"
	"net/http"
	"time"

	"github.com/sluice-ci/sluice/internal/artifacts"
	"github.com/sluice-ci/sluice/internal/blob"
	"github.com/sluice-ci/sluice/internal/cache"
	"github.com/sluice-ci/sluice/internal/metrics"
	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/store"
)

// Trigger is an event that may start runs of a repository's workflows.
type Trigger struct {
	Event        string // push, pull_request, workflow_dispatch, schedule, ...
	Action       string // pull_request activity
	Ref          string // refs/heads/main, refs/tags/v1, refs/pull/3/merge
	SHA          string // the commit to build
	BaseRef      string // pull_request base branch
	Before       string // push: previous tip, for changed files
	Workflow     string // dispatch: the one workflow file to run (path in the repo)
	Inputs       map[string]string
	Payload      map[string]any // github.event
	Actor        string
	Source       string   // webhook, poll, schedule, dispatch, manual, rerun
	ChangedFiles []string // nil: the scheduler diffs Before..SHA itself
	Fork         bool     // pull request from a fork: no secrets
	DeliveryID   int64    // the persisted webhook delivery, 0 when none
}

// Scheduler turns triggers into runs and moves runs along as jobs finish.
// internal/scheduler implements it.
type Scheduler interface {
	// Trigger plans runs for the event (one per workflow it triggers).
	Trigger(ctx context.Context, repo *store.Repo, t Trigger) ([]store.Run, error)
	// JobFinished advances the run's job graph after a job completed:
	// dependents become queued or skipped, matrices expand, the run ends.
	JobFinished(ctx context.Context, jobID int64) error
	Cancel(ctx context.Context, runID int64) error
	Rerun(ctx context.Context, runID int64, failedOnly bool) (*store.Run, error)
}

// Deployer starts and decides promotions (deployments of a release into an
// environment). internal/scheduler implements it. Its errors wrap
// store.ErrNotFound (no such release, environment or promotion),
// store.ErrConflict (already decided, not waiting), and the refusals of
// internal/cd: ErrSelfApproval, ErrNotReviewer, ErrNotEligible,
// ErrUpstream, ErrReleaseRejected, ErrDigestMismatch, ErrNoRollback.
type Deployer interface {
	// Promote starts a promotion of a release (its ID, or a unique prefix of
	// its hex digest) into env. It returns once the promotion is recorded:
	// gates, the deployment job(s) and verification go on afterwards.
	Promote(ctx context.Context, repo *store.Repo, req PromoteRequest) (*cd.Promotion, error)
	// Rollback promotes the release env ran before its current one (or the
	// one promotion `to` deployed) as a rollback.
	Rollback(ctx context.Context, repo *store.Repo, env string, to int64, by string) (*cd.Promotion, error)
	// Decide records a reviewer's approval or rejection of a waiting
	// promotion and moves it along.
	Decide(ctx context.Context, promotionID int64, by string, approve bool, comment string) (*cd.Promotion, error)
}

// EnvironmentURLRecorder is implemented by a Deployer that keeps the
// environment.url a deployment job reported when it completed.
type EnvironmentURLRecorder interface {
	RecordEnvironmentURL(ctx context.Context, jobID int64, url string) error
}

// PromoteRequest is what `sluice promote` asks for.
type PromoteRequest struct {
	Release string  // release ID or a unique prefix of its digest
	Env     string  // environment name
	Kind    cd.Kind // "" means forward (hotfix when the release's ref is one of env's hotfix branches)
	By      string  // who asks (token name)
}

// Config is what a server is made of.
type Config struct {
	DB        Store // *store.DB in `sluice serve`
	Keys      *secrets.Keyring
	Scheduler Scheduler
	// Deployer handles promotions; nil answers 501 to the promotion API.
	Deployer  Deployer
	Artifacts *artifacts.Store
	Cache     *cache.Store // actions/cache entries of the agents' jobs
	DataDir   string
	// Blobs, when set (replicas sharing Postgres), holds job results (step summaries, test
	// reports) instead of DataDir, so that every replica shows them.
	Blobs blob.Store
	// BaseURL is how browsers and forges reach the server (links in
	// commit statuses), e.g. http://127.0.0.1:8080.
	BaseURL string
	// Deps makes dependency updates on demand; nil answers 501 to that API.
	Deps DepsRunner
	// Notifier sends the notifications pages' test messages; nil: the
	// server sends none.
	Notifier ChannelTester
	Log      *slog.Logger
	// Now is the clock for rate limits; nil is time.Now.
	Now func() time.Time
}

// Server serves the API, webhooks, agent protocol and UI.
type Server struct {
	cfg Config
	mux *http.ServeMux
	// facts keeps the runs and jobs the delivery metrics read, refreshed from the event log.
	facts  *metrics.Cache
	signin *signinLimiter
	// statuses: the commit statuses posted per run (api_status.go).
	statuses *sentStatuses
}

// New wires every route.
func New(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), facts: &metrics.Cache{}, signin: newSigninLimiter(cfg.Now), statuses: &sentStatuses{}}
	s.routes()
	return s, nil
}

// Handler is the server's root handler.
func (s *Server) Handler() http.Handler { return s.mux }

// routes registers each area's handlers; each lives in its own file.
func (s *Server) routes() {
	s.apiRoutes()    // api.go etc.: /api/v1/..., /hooks/..., /metrics, /badge/...
	s.agentRoutes()  // agentapi.go: /api/v1/agent/...
	s.uiRoutes()     // ui.go: /, /repos/..., /runs/..., static assets
	s.gitRoutes()    // githttp.go: /git/<repo id>.git for agents
	s.notifyRoutes() // api_notify.go: /api/v1/notifications, /api/v1/smtp
}
