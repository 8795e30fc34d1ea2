-- Outgrowing one machine (issue 15): logs of finished jobs move to the object store, and agents
-- can be drained.

-- +goose Up
-- log_archived: every line of the job with seq <= log_archived is in the blob store (under
-- logs/<job id>/) and no longer in log_lines; 0 while the log lives in the database.
ALTER TABLE jobs ADD COLUMN log_archived INTEGER NOT NULL DEFAULT 0;
-- draining: the agent takes no new job; the ones it runs finish.
ALTER TABLE agents ADD COLUMN draining INTEGER NOT NULL DEFAULT 0;

-- delivery_id: the webhook delivery a run was made for; one run per delivery and workflow, so a
-- delivery replayed after a replica died mid-way makes only the runs still missing.
ALTER TABLE runs ADD COLUMN delivery_id INTEGER;
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
