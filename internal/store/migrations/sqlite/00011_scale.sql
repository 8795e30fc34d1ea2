-- Outgrowing one machine (issue 15): logs of finished jobs move to the object store, and agents
-- can be drained.

-- +goose Up
-- log_archived: every line of the job with seq <= log_archived is in the blob store (under
-- logs/<job id>/) and no longer in log_lines; 0 while the log lives in the database.
ALTER TABLE jobs ADD COLUMN log_archived INTEGER NOT NULL DEFAULT 0;
-- draining: the agent takes no new job; the ones it runs finish.
ALTER TABLE agents ADD COLUMN draining INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE agents DROP COLUMN draining;
ALTER TABLE jobs DROP COLUMN log_archived;
