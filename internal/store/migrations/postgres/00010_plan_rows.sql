-- The Postgres twin of sqlite/00010_plan_rows.sql: the job graph's rows as internal/plan keeps
-- them (a row's parent, failures continue-on-error tolerates).

-- +goose Up
ALTER TABLE jobs ADD COLUMN parent TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN tolerated INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_parent ON jobs (run_id, parent);

-- +goose Down
DROP INDEX jobs_parent;
ALTER TABLE jobs DROP COLUMN tolerated;
ALTER TABLE jobs DROP COLUMN parent;
