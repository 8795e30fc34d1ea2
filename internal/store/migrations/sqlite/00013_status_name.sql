-- status_name: the workflow's part of a run's commit status contexts ("CI", or "CI (ci.yml)"
-- when another workflow file at the commit has the same name), decided when the run is made so
-- that every status of the run keeps one name.

-- +goose Up
ALTER TABLE runs ADD COLUMN status_name TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE runs DROP COLUMN status_name;
