package main

import (
	"context"
	"log/slog"
	"runtime"

	"github.com/sluice-ci/sluice/internal/store"
)

// logStartup records, once at start, what this server is and how it is configured, so that a
// change of behaviour can be matched with an upgrade or a setting in the logs. Secrets (the admin
// token, the secret key, repository credentials) are not configuration and never appear here.
func logStartup(ctx context.Context, log *slog.Logger, f serveFlags, db *store.DB) {
	schema, err := db.SchemaVersion(ctx)
	if err != nil {
		schema = -1
	}
	log.Info("sluice server starting", "version", version, "go", runtime.Version(), "os", runtime.GOOS+"/"+runtime.GOARCH,
		"addr", f.addr, "base_url", f.baseURL, "data", f.data, "database", "sqlite", "schema", schema,
		"embedded_agent_jobs", f.agents, "sandbox", useSandbox(f), "sandbox_flag", f.sandbox, "poll", f.poll.String())
}
