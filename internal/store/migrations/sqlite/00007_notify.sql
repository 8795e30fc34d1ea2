-- Notifications (issue 16): where to tell people about failures, recoveries, deployments
-- waiting for approval and rollbacks; the SMTP relay email goes through; how far the notifier
-- has read the event log; and what each delivery did. Secrets (webhook URLs, signing keys, the
-- SMTP password) are ciphertext sealed by the server's keyring, never plaintext.

-- +goose Up
CREATE TABLE notify_channels (
    id         INTEGER PRIMARY KEY,
    -- NULL: a server-wide default, used by repositories that have no channel of their own.
    repo_id    INTEGER REFERENCES repos(id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,             -- slack, webhook, email
    name       TEXT    NOT NULL,
    events     TEXT    NOT NULL DEFAULT '[]', -- failure, recovery, approval, rollback
    target     TEXT    NOT NULL DEFAULT '',   -- what may be shown: email recipients, a URL's host
    secret     BLOB,                          -- sealed: webhook URL (+ signing key)
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX notify_channels_scope_name ON notify_channels ((COALESCE(repo_id, 0)), name);

CREATE TABLE notify_smtp (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    host       TEXT    NOT NULL,
    port       INTEGER NOT NULL,
    username   TEXT    NOT NULL DEFAULT '',
    password   BLOB,                        -- sealed
    sender     TEXT    NOT NULL,
    tls        TEXT    NOT NULL DEFAULT '', -- starttls, tls, none
    updated_at INTEGER NOT NULL
);

CREATE TABLE notify_cursor (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    event_id INTEGER NOT NULL
);

CREATE TABLE notify_log (
    id         INTEGER PRIMARY KEY,
    channel_id INTEGER NOT NULL REFERENCES notify_channels(id) ON DELETE CASCADE,
    event      TEXT    NOT NULL,
    subject    TEXT    NOT NULL DEFAULT '',
    ok         INTEGER NOT NULL,
    detail     TEXT    NOT NULL DEFAULT '',
    at         INTEGER NOT NULL
);
CREATE INDEX notify_log_channel ON notify_log (channel_id, id);

-- +goose Down
DROP TABLE notify_log;
DROP TABLE notify_cursor;
DROP TABLE notify_smtp;
DROP TABLE notify_channels;
