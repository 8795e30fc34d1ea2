-- Continuous deployment: artifacts, releases, environments, promotions and their approvals.
-- Times are Unix nanoseconds; JSON values are TEXT, as in 00001.

-- +goose Up
-- Artifacts are content-addressed and shared by every release holding the same bytes, so they
-- belong to no repository and survive a repository's deletion.
CREATE TABLE artifacts (
    digest     TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    size       INTEGER NOT NULL DEFAULT 0,
    media_type TEXT    NOT NULL DEFAULT '',
    provenance TEXT,
    created    INTEGER NOT NULL
);

-- seq orders releases without relying on SQLite's rowid (the Postgres schema uses BIGSERIAL).
CREATE TABLE releases (
    seq        INTEGER PRIMARY KEY,
    id        TEXT    NOT NULL UNIQUE,
    repo_id   INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    run_id    INTEGER REFERENCES runs(id) ON DELETE SET NULL,
    version   TEXT    NOT NULL DEFAULT '',
    commit_sha TEXT    NOT NULL DEFAULT '',
    ref       TEXT    NOT NULL DEFAULT '',
    lock_hash TEXT    NOT NULL DEFAULT '',
    artifacts TEXT    NOT NULL DEFAULT '[]',
    rejected  INTEGER NOT NULL DEFAULT 0,
    created   INTEGER NOT NULL
);
CREATE INDEX releases_repo ON releases (repo_id, seq);

CREATE TABLE environments (
    id      INTEGER PRIMARY KEY,
    repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    name    TEXT    NOT NULL,
    config  TEXT    NOT NULL DEFAULT '{}',
    updated INTEGER NOT NULL,
    UNIQUE (repo_id, name)
);

-- environment is a name, not a foreign key: an environment's history outlives a change to
-- .sluice/environments.yml that drops or renames it.
CREATE TABLE promotions (
    id          INTEGER PRIMARY KEY,
    repo_id     INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    environment TEXT    NOT NULL,
    release_id  TEXT    NOT NULL REFERENCES releases(id),
    kind        TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    started_by  TEXT    NOT NULL DEFAULT '',
    auto        INTEGER NOT NULL DEFAULT 0,
    gates       TEXT    NOT NULL DEFAULT '[]',
    previous    INTEGER,
    created     INTEGER NOT NULL,
    updated     INTEGER NOT NULL
);
CREATE INDEX promotions_env ON promotions (repo_id, environment, id);
CREATE INDEX promotions_release ON promotions (release_id);

CREATE TABLE approvals (
    promotion_id INTEGER NOT NULL REFERENCES promotions(id) ON DELETE CASCADE,
    reviewer     TEXT    NOT NULL,
    approve      INTEGER NOT NULL,
    comment      TEXT    NOT NULL DEFAULT '',
    at           INTEGER NOT NULL,
    PRIMARY KEY (promotion_id, reviewer)
);

-- +goose Down
DROP TABLE approvals;
DROP TABLE promotions;
DROP TABLE environments;
DROP TABLE releases;
DROP TABLE artifacts;
