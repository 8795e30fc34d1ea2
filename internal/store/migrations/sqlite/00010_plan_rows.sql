-- The job graph's rows as internal/plan keeps them: a row expanded into others (a matrix job
-- into its legs, a job calling a reusable workflow into that workflow's jobs) is their
-- parent, kept for bookkeeping and not shown; a failure continue-on-error tolerates does not
-- fail the run.

-- +goose Up
ALTER TABLE jobs ADD COLUMN parent TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN tolerated INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_parent ON jobs (run_id, parent);

-- +goose Down
DROP INDEX jobs_parent;
ALTER TABLE jobs DROP COLUMN tolerated;
ALTER TABLE jobs DROP COLUMN parent;
