-- The Postgres twin of sqlite/00011_scale.sql: archived logs and draining agents.

-- +goose Up
ALTER TABLE jobs ADD COLUMN log_archived BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN draining INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE agents DROP COLUMN draining;
ALTER TABLE jobs DROP COLUMN log_archived;
