-- Times are Unix nanoseconds. JSON values are TEXT. Kept close to what Postgres accepts; the
-- Postgres migrations will use BIGSERIAL/BIGINT/BYTEA/JSONB for the same columns.

-- +goose Up
CREATE TABLE repos (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE,
    url             TEXT    NOT NULL,
    webhook_secret  BLOB,
    credentials     BLOB,
    default_branch  TEXT    NOT NULL DEFAULT '',
    next_run_number INTEGER NOT NULL DEFAULT 1,
    created_at      INTEGER NOT NULL
);

CREATE TABLE runs (
    id                INTEGER PRIMARY KEY,
    repo_id           INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    number            INTEGER NOT NULL,
    workflow          TEXT    NOT NULL,
    workflow_name     TEXT    NOT NULL DEFAULT '',
    event             TEXT    NOT NULL DEFAULT '',
    ref               TEXT    NOT NULL DEFAULT '',
    sha               TEXT    NOT NULL DEFAULT '',
    title             TEXT    NOT NULL DEFAULT '',
    run_trigger       TEXT    NOT NULL DEFAULT '',
    actor             TEXT    NOT NULL DEFAULT '',
    inputs            TEXT    NOT NULL DEFAULT '{}',
    payload           TEXT,
    status            TEXT    NOT NULL,
    conclusion        TEXT    NOT NULL DEFAULT '',
    attempt           INTEGER NOT NULL DEFAULT 1,
    queued_at         INTEGER NOT NULL,
    started_at        INTEGER,
    finished_at       INTEGER,
    concurrency_group TEXT    NOT NULL DEFAULT '',
    UNIQUE (repo_id, number)
);
CREATE INDEX runs_status ON runs (status, id);
CREATE INDEX runs_group ON runs (concurrency_group, status);

CREATE TABLE agents (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    labels     TEXT    NOT NULL DEFAULT '[]',
    token_hash BLOB UNIQUE,
    parallel   INTEGER NOT NULL DEFAULT 1,
    last_seen  INTEGER,
    version    TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY,
    run_id           INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    job_key          TEXT    NOT NULL,
    name             TEXT    NOT NULL DEFAULT '',
    needs            TEXT    NOT NULL DEFAULT '[]',
    labels           TEXT    NOT NULL DEFAULT '[]',
    -- labels_key is the normalized label set, so a claim can match distinct label sets
    -- instead of every queued job.
    labels_key       TEXT    NOT NULL DEFAULT '',
    spec             TEXT,
    status           TEXT    NOT NULL,
    conclusion       TEXT    NOT NULL DEFAULT '',
    attempt          INTEGER NOT NULL DEFAULT 1,
    agent_id         INTEGER REFERENCES agents(id) ON DELETE SET NULL,
    lease_until      INTEGER,
    heartbeat_at     INTEGER,
    pending_reason   TEXT    NOT NULL DEFAULT '',
    reason           TEXT    NOT NULL DEFAULT '',
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    outputs          TEXT    NOT NULL DEFAULT '{}',
    log_acked        INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    queued_at        INTEGER,
    started_at       INTEGER,
    finished_at      INTEGER,
    UNIQUE (run_id, job_key, attempt)
);
CREATE INDEX jobs_queue ON jobs (status, labels_key, queued_at, id);
CREATE INDEX jobs_agent ON jobs (agent_id, status);
CREATE INDEX jobs_lease ON jobs (status, lease_until);

CREATE TABLE steps (
    job_id      INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    number      INTEGER NOT NULL,
    name        TEXT    NOT NULL DEFAULT '',
    status      TEXT    NOT NULL,
    conclusion  TEXT    NOT NULL DEFAULT '',
    started_at  INTEGER,
    finished_at INTEGER,
    PRIMARY KEY (job_id, number)
);

CREATE TABLE log_lines (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    time   INTEGER NOT NULL,
    step   INTEGER NOT NULL DEFAULT 0,
    kind   TEXT    NOT NULL DEFAULT '',
    text   TEXT    NOT NULL,
    PRIMARY KEY (job_id, seq)
);

-- Events carry no foreign keys: the log is append-only and outlives deleted records.
CREATE TABLE events (
    id      INTEGER PRIMARY KEY,
    time    INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    repo_id INTEGER,
    run_id  INTEGER,
    job_id  INTEGER,
    data    TEXT
);
CREATE INDEX events_run ON events (run_id, id);
CREATE INDEX events_job ON events (job_id, id);
CREATE INDEX events_repo ON events (repo_id, id);
CREATE INDEX events_kind ON events (kind, id);

CREATE TABLE secrets (
    id         INTEGER PRIMARY KEY,
    repo_id    INTEGER REFERENCES repos(id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    ciphertext BLOB    NOT NULL,
    updated_at INTEGER NOT NULL
);
-- NULL repo_id (server-wide) must be unique by name too, which a plain UNIQUE would not enforce.
CREATE UNIQUE INDEX secrets_scope_name ON secrets ((COALESCE(repo_id, 0)), name);

CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    hash       BLOB    NOT NULL UNIQUE,
    scope      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    last_used  INTEGER
);

CREATE TABLE deliveries (
    id          INTEGER PRIMARY KEY,
    forge       TEXT    NOT NULL,
    event       TEXT    NOT NULL DEFAULT '',
    delivery_id TEXT    NOT NULL DEFAULT '',
    valid       INTEGER NOT NULL,
    reason      TEXT    NOT NULL DEFAULT '',
    body        BLOB,
    received_at INTEGER NOT NULL,
    processed   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX deliveries_pending ON deliveries (processed, valid, id);

-- +goose Down
DROP TABLE deliveries;
DROP TABLE tokens;
DROP TABLE secrets;
DROP TABLE events;
DROP TABLE log_lines;
DROP TABLE steps;
DROP TABLE jobs;
DROP TABLE agents;
DROP TABLE runs;
DROP TABLE repos;
