-- The Postgres twin of sqlite/00004_boundary.sql: the job boundary and what reaches it
-- (issue 10).
--
-- Webhook deliveries know their repository, so a delivery id is processed once per repository,
-- and count the attempts to process them, so a failing one is retried a bounded number of times.

-- +goose Up
ALTER TABLE deliveries ADD COLUMN repo_id BIGINT REFERENCES repos(id) ON DELETE CASCADE;
ALTER TABLE deliveries ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX deliveries_once ON deliveries (repo_id, delivery_id) WHERE repo_id IS NOT NULL AND delivery_id != '';
CREATE INDEX deliveries_received ON deliveries (received_at);
CREATE INDEX deliveries_rejected ON deliveries (valid, id);

-- Runs of pull requests from forks wait for a maintainer's approval unless the repository says
-- otherwise; a held run's jobs are not claimed until its approval is decided.
ALTER TABLE repos ADD COLUMN fork_runs_unapproved INTEGER NOT NULL DEFAULT 0;
CREATE TABLE run_approvals (
    run_id       BIGINT  PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    reason       TEXT    NOT NULL,
    requested_at BIGINT  NOT NULL,
    decided_by   TEXT    NOT NULL DEFAULT '',
    decided_at   BIGINT
);
CREATE INDEX run_approvals_open ON run_approvals (decided_at);

-- People are sluice identities: a token belongs to one (its name when unset), and a person links
-- the logins they push with on forges, so that "no self-approval" compares people, not names.
ALTER TABLE tokens ADD COLUMN identity TEXT NOT NULL DEFAULT '';
CREATE TABLE identity_logins (
    forge    TEXT   NOT NULL,
    login    TEXT   NOT NULL,
    identity TEXT   NOT NULL,
    created  BIGINT NOT NULL,
    PRIMARY KEY (forge, login)
);
CREATE INDEX identity_logins_identity ON identity_logins (identity);

-- Secrets and variables of one environment of a repository: only a job deploying to that
-- environment gets them, once the environment's gates passed.
CREATE TABLE environment_values (
    repo_id     BIGINT  NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    environment TEXT    NOT NULL,
    kind        TEXT    NOT NULL, -- secret (value is ciphertext) or var (value is plaintext)
    name        TEXT    NOT NULL,
    value       BYTEA   NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (repo_id, environment, kind, name)
);

-- +goose Down
DROP TABLE environment_values;
DROP INDEX identity_logins_identity;
DROP TABLE identity_logins;
ALTER TABLE tokens DROP COLUMN identity;
DROP INDEX run_approvals_open;
DROP TABLE run_approvals;
ALTER TABLE repos DROP COLUMN fork_runs_unapproved;
DROP INDEX deliveries_rejected;
DROP INDEX deliveries_received;
DROP INDEX deliveries_once;
ALTER TABLE deliveries DROP COLUMN attempts;
ALTER TABLE deliveries DROP COLUMN repo_id;
