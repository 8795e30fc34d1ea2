-- Scheduled dependency updates (issue 17): one row per group update the server made on a
-- branch, with its runs, bisection and outcome; and per repository what the last look at
-- its lock found.

-- +goose Up
CREATE TABLE dep_updates (
    id         INTEGER PRIMARY KEY,
    repo_id    INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    grp        TEXT    NOT NULL,
    branch     TEXT    NOT NULL,
    base_sha   TEXT    NOT NULL DEFAULT '',
    head_sha   TEXT    NOT NULL DEFAULT '',
    mode       TEXT    NOT NULL DEFAULT '',
    state      TEXT    NOT NULL,
    changes    TEXT    NOT NULL DEFAULT '{}',
    runs       TEXT    NOT NULL DEFAULT '[]',
    bisect     TEXT    NOT NULL DEFAULT '{}',
    finding    TEXT    NOT NULL DEFAULT '',
    pr_url     TEXT    NOT NULL DEFAULT '',
    detail     TEXT    NOT NULL DEFAULT '',
    created    INTEGER NOT NULL,
    updated    INTEGER NOT NULL
);
CREATE INDEX dep_updates_repo ON dep_updates (repo_id, id);
CREATE INDEX dep_updates_state ON dep_updates (state);

CREATE TABLE dep_status (
    repo_id         INTEGER PRIMARY KEY REFERENCES repos(id) ON DELETE CASCADE,
    checked         INTEGER NOT NULL,
    lock_file       TEXT    NOT NULL DEFAULT '',
    packages        INTEGER NOT NULL DEFAULT 0,
    oldest_name     TEXT    NOT NULL DEFAULT '',
    oldest_version  TEXT    NOT NULL DEFAULT '',
    oldest_uploaded INTEGER NOT NULL DEFAULT 0,
    error           TEXT    NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE dep_status;
DROP INDEX dep_updates_state;
DROP INDEX dep_updates_repo;
DROP TABLE dep_updates;
