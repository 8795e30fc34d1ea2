-- Runs as GitHub runs them (issue 13): a re-run is another attempt of the same run (its id
-- and number kept), a cancel lets the status functions decide what still runs, and a job
-- may hold a concurrency group of its own.
--
-- runs.cancel_requested: the run was cancelled; jobs whose if: still holds (always(),
--   cancelled()) run on, the plan cancels the rest.
-- runs.group_pending: the run waits for its concurrency group (another run of the group
--   runs); nothing of it starts until the group lets it.
-- run_attempts: every finished attempt but the run's current one (which the runs row is).
-- jobs.run_attempt: the run attempt a job row belongs to; jobs.attempt keeps counting per
--   job key across attempts (a lost agent's retry is another attempt of the same key).
-- jobs.kept_from: a job a re-run of failed jobs carried over: the row of the attempt
--   where it ran (its steps and logs are there).
-- jobs.concurrency_group: jobs.<id>.concurrency's evaluated group.

-- +goose Up
ALTER TABLE runs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN group_pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN run_attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN kept_from INTEGER;
ALTER TABLE jobs ADD COLUMN concurrency_group TEXT NOT NULL DEFAULT '';
CREATE INDEX jobs_run_attempt ON jobs (run_id, run_attempt, job_key);
CREATE INDEX jobs_group ON jobs (status) WHERE concurrency_group <> '';
CREATE INDEX runs_open_group ON runs (repo_id, status) WHERE concurrency_group <> '';

CREATE TABLE run_attempts (
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    conclusion  TEXT    NOT NULL DEFAULT '',
    run_trigger TEXT    NOT NULL DEFAULT '',
    actor       TEXT    NOT NULL DEFAULT '',
    queued_at   INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
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
