-- The Postgres twin of sqlite/00011_scale.sql: archived logs and draining agents.

-- +goose Up
ALTER TABLE jobs ADD COLUMN log_archived BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN draining INTEGER NOT NULL DEFAULT 0;

-- delivery_id: the webhook delivery a run was made for; one run per delivery and workflow, so a
-- delivery replayed after a replica died mid-way makes only the runs still missing.
ALTER TABLE runs ADD COLUMN delivery_id BIGINT;
CREATE UNIQUE INDEX runs_delivery ON runs (delivery_id, workflow) WHERE delivery_id IS NOT NULL;
-- A forge redelivers a webhook with the same id when it got no answer (a replica died): the
-- server finds the first copy by it.
CREATE INDEX deliveries_forge_id ON deliveries (forge, delivery_id);

-- +goose Down
DROP INDEX deliveries_forge_id;
DROP INDEX runs_delivery;
ALTER TABLE runs DROP COLUMN delivery_id;
ALTER TABLE agents DROP COLUMN draining;
ALTER TABLE jobs DROP COLUMN log_archived;
