-- The Postgres twin of sqlite/00005_attempts.sql: run attempts, cancel requests, concurrency
-- groups that hold runs and jobs.

-- +goose Up
ALTER TABLE runs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN group_pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN run_attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN kept_from BIGINT;
ALTER TABLE jobs ADD COLUMN concurrency_group TEXT NOT NULL DEFAULT '';
CREATE INDEX jobs_run_attempt ON jobs (run_id, run_attempt, job_key);
CREATE INDEX jobs_group ON jobs (status) WHERE concurrency_group <> '';
CREATE INDEX runs_open_group ON runs (repo_id, status) WHERE concurrency_group <> '';

CREATE TABLE run_attempts (
    run_id      BIGINT  NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    conclusion  TEXT    NOT NULL DEFAULT '',
    run_trigger TEXT    NOT NULL DEFAULT '',
    actor       TEXT    NOT NULL DEFAULT '',
    queued_at   BIGINT  NOT NULL,
    started_at  BIGINT,
    finished_at BIGINT,
    PRIMARY KEY (run_id, attempt)
);

-- +goose Down
DROP TABLE run_attempts;
DROP INDEX runs_open_group;
DROP INDEX jobs_group;
DROP INDEX jobs_run_attempt;
ALTER TABLE jobs DROP COLUMN concurrency_group;
ALTER TABLE jobs DROP COLUMN kept_from;
ALTER TABLE jobs DROP COLUMN run_attempt;
ALTER TABLE runs DROP COLUMN group_pending;
ALTER TABLE runs DROP COLUMN cancel_requested;
