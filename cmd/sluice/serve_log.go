package main

import (
	"context"
	"log/slog"
	"runtime"

	"github.com/sluice-ci/sluice/internal/serverconfig"
)

// logStartup records, once at start, what this server is and how it is configured, so that a
// change of behaviour can be matched with an upgrade or a setting in the logs: the version, the
// database it opened and its schema, whether jobs run sandboxed, then every setting of the
// settings table by its key (the table decides what a setting is, so a new one is logged too).
// Secrets are not settings: a setting names the file that holds one, and a password written into
// the db URL is redacted, as --check-config shows it (e2e TestServeLogsVersionAndSettings).
func logStartup(ctx context.Context, log *slog.Logger, cfg *serverconfig.Config, db interface {
	SchemaVersion(ctx context.Context) (int64, error)
	Dialect() string
}, sandboxed bool) {
	schema, err := db.SchemaVersion(ctx)
	if err != nil {
		schema = -1
	}
	args := []any{"version", version, "go", runtime.Version(), "os", runtime.GOOS + "/" + runtime.GOARCH,
		"database", db.Dialect(), "schema", schema, "sandboxed", sandboxed}
	for _, s := range serverconfig.Settings() {
		v := cfg.Value(s.Key)
		if s.Key == "replica" && cfg.Replica != "" {
			continue // the logger carries it on every line already
		}
		if s.Key == "db" {
			v = redactURL(v)
		}
		args = append(args, s.Key, v)
	}
	log.Info("sluice server starting", args...)
}
