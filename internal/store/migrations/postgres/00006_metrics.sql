-- The Postgres twin of sqlite/00006_metrics.sql: indexes for the delivery metrics, job tools
-- and test cases. Types as in 00001.

-- +goose Up
-- A repository's events of a few kinds in a time window (promotion state changes, rebuilds).
CREATE INDEX events_repo_kind_time ON events (repo_id, kind, time);
-- A repository's runs in a time window, and its runs of one commit.
CREATE INDEX runs_repo_queued ON runs (repo_id, queued_at);
CREATE INDEX runs_repo_sha ON runs (repo_id, sha);
-- The releases built from one commit.
CREATE INDEX releases_repo_commit ON releases (repo_id, commit_sha);

-- The versions of the tools a job ran with (os, sluice, python, pip, uv…), as its agent reported.
CREATE TABLE job_tools (
    job_id  BIGINT  NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    name    TEXT    NOT NULL,
    version TEXT    NOT NULL,
    PRIMARY KEY (job_id, name)
);
CREATE INDEX job_tools_name ON job_tools (name, version);

-- Test cases a job reported: every failure, and its slowest passing tests (see
-- store.MaxSlowTests), which is what flaky-test and slowest-test figures read. The run's
-- repository and queue time are copied in, so that a window's tests are an index range rather
-- than a join through every job of the window.
CREATE TABLE test_cases (
    job_id   BIGINT  NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    name     TEXT    NOT NULL,
    outcome  TEXT    NOT NULL,
    duration BIGINT  NOT NULL DEFAULT 0,
    run_id   BIGINT  NOT NULL,
    repo_id  BIGINT  NOT NULL,
    queued   BIGINT  NOT NULL,
    PRIMARY KEY (job_id, name)
);
CREATE INDEX test_cases_window ON test_cases (repo_id, outcome, queued, name, duration, job_id, run_id);
CREATE INDEX test_cases_commit ON test_cases (run_id, outcome);

-- +goose Down
DROP INDEX test_cases_commit;
DROP INDEX test_cases_window;
DROP TABLE test_cases;
DROP INDEX job_tools_name;
DROP TABLE job_tools;
DROP INDEX releases_repo_commit;
DROP INDEX runs_repo_sha;
DROP INDEX runs_repo_queued;
DROP INDEX events_repo_kind_time;
