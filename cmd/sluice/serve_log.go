package main

import (
	"context"
	"log/slog"
	"runtime"

	"github.com/sluice-ci/sluice/internal/serverconfig"
)

// logStartup records, once at start, what this server is and how it is configured, so that a
// change of behaviour can be matched with an upgrade or a setting in the logs. Secrets (the admin
// token, the secret key, repository credentials) are not configuration and never appear here.
func logStartup(ctx context.Context, log *slog.Logger, cfg *serverconfig.Config, db interface {
	SchemaVersion(ctx context.Context) (int64, error)
	Dialect() string
}, sandboxed bool) {
	schema, err := db.SchemaVersion(ctx)
	if err != nil {
		schema = -1
	}
	log.Info("sluice server starting", "version", version, "go", runtime.Version(), "os", runtime.GOOS+"/"+runtime.GOARCH,
		"addr", cfg.Addr, "base_url", cfg.BaseURL, "data", cfg.Data, "database", db.Dialect(), "blob", cfg.Blob, "schema", schema,
		"replica", cfg.Replica, "embedded_agent_jobs", cfg.Agents, "sandbox", sandboxed, "sandbox_flag", cfg.Sandbox,
		"poll", cfg.Poll.String(), "deps_every", cfg.DepsEvery.String())
}
