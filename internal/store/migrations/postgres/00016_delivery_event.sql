-- runs_delivery keys a webhook delivery's runs by workflow file and event: one pull_request
-- delivery starts a file's pull_request run and, from the base branch, its pull_request_target
-- run, and a replay of the delivery (after a replica died part-way) must find each, not make
-- either twice.

-- +goose Up
DROP INDEX runs_delivery;
CREATE UNIQUE INDEX runs_delivery ON runs (delivery_id, workflow, event) WHERE delivery_id IS NOT NULL;

-- +goose Down
DROP INDEX runs_delivery;
CREATE UNIQUE INDEX runs_delivery ON runs (delivery_id, workflow) WHERE delivery_id IS NOT NULL;
