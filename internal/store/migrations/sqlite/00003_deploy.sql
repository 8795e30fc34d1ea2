-- Deployments run as jobs: a promotion knows the run carrying it, the URL its job reported and
-- why it ended; jobs know the promotion they deploy. verify-repro results are kept per release.

-- +goose Up
ALTER TABLE promotions ADD COLUMN run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL;
ALTER TABLE promotions ADD COLUMN url TEXT NOT NULL DEFAULT '';
ALTER TABLE promotions ADD COLUMN reason TEXT NOT NULL DEFAULT '';
-- The forge's id for the deployment this promotion reported (GitHub, GitLab); 0: none yet.
ALTER TABLE promotions ADD COLUMN forge_id INTEGER NOT NULL DEFAULT 0;
CREATE INDEX promotions_run ON promotions (run_id);

CREATE TABLE repro_checks (
    id         INTEGER PRIMARY KEY,
    release_id TEXT    NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
    identical  INTEGER NOT NULL,
    differ     TEXT    NOT NULL DEFAULT '[]',
    detail     TEXT    NOT NULL DEFAULT '',
    by_name    TEXT    NOT NULL DEFAULT '',
    created    INTEGER NOT NULL
);
CREATE INDEX repro_checks_release ON repro_checks (release_id, id);

-- +goose Down
DROP TABLE repro_checks;
DROP INDEX promotions_run;
ALTER TABLE promotions DROP COLUMN forge_id;
ALTER TABLE promotions DROP COLUMN reason;
ALTER TABLE promotions DROP COLUMN url;
ALTER TABLE promotions DROP COLUMN run_id;
