package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kinds of environment values.
const (
	EnvSecret = "secret" // Value is ciphertext sealed by the server
	EnvVar    = "var"    // Value is plaintext
)

// EnvValue is a secret or variable of one environment of a repository (as GitHub's environment
// secrets and variables): only a job deploying to that environment gets it, after the
// environment's gates passed. A variable with no environment is the repository's (GitHub's
// repository variables): every run of the repository sees it in the vars context.
type EnvValue struct {
	RepoID      int64     `json:"repo_id"`
	Environment string    `json:"environment"`
	Kind        string    `json:"kind"`
	Name        string    `json:"name"`
	Value       []byte    `json:"-"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Events of environment values (never with a value).
const (
	EventEnvValueSet     = "environment.value_set"
	EventEnvValueDeleted = "environment.value_deleted"
)

func checkEnvKind(kind string) error {
	if kind != EnvSecret && kind != EnvVar {
		return fmt.Errorf("environment value kind %q: want secret or var", kind)
	}
	return nil
}

// PutEnvValue sets (or replaces) an environment's secret or variable.
func (db *DB) PutEnvValue(ctx context.Context, v EnvValue) error {
	if err := checkEnvKind(v.Kind); err != nil {
		return err
	}
	if v.Name == "" || (v.Environment == "" && v.Kind != EnvVar) {
		return errors.New("an environment value needs a name, and a secret an environment (repository secrets are kept apart)")
	}
	return db.write(ctx, fmt.Sprintf("setting %s %s of environment %s", v.Kind, v.Name, v.Environment), func(t *tx) error {
		if _, err := t.exec(ctx, `INSERT INTO environment_values (repo_id, environment, kind, name, value, updated_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (repo_id, environment, kind, name) DO UPDATE SET value = excluded.value,
			updated_at = excluded.updated_at`, v.RepoID, v.Environment, v.Kind, v.Name, v.Value, ts(t.now)); err != nil {
			return err
		}
		return t.event(ctx, EventEnvValueSet, ids{repo: v.RepoID}, map[string]any{"environment": v.Environment, "kind": v.Kind, "name": v.Name})
	})
}

// DeleteEnvValue removes an environment's secret or variable.
func (db *DB) DeleteEnvValue(ctx context.Context, repoID int64, env, kind, name string) error {
	return db.write(ctx, fmt.Sprintf("deleting %s %s of environment %s", kind, name, env), func(t *tx) error {
		res, err := t.exec(ctx, `DELETE FROM environment_values WHERE repo_id = ? AND environment = ? AND kind = ? AND name = ?`,
			repoID, env, kind, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%s %s of environment %s: %w", kind, name, env, ErrNotFound)
		}
		return t.event(ctx, EventEnvValueDeleted, ids{repo: repoID}, map[string]any{"environment": env, "kind": kind, "name": name})
	})
}

// EnvValues lists an environment's values of kind ("" for both), by name.
func (db *DB) EnvValues(ctx context.Context, repoID int64, env, kind string) ([]EnvValue, error) {
	q := `SELECT repo_id, environment, kind, name, value, updated_at FROM environment_values WHERE repo_id = ? AND environment = ?`
	args := []any{repoID, env}
	if kind != "" {
		q += ` AND kind = ?`
		args = append(args, kind)
	}
	rows, err := db.rd().query(ctx, q+` ORDER BY kind, name`, args...)
	if err != nil {
		return nil, fmt.Errorf("listing values of environment %s: %w", env, err)
	}
	defer rows.Close()
	var out []EnvValue
	for rows.Next() {
		var v EnvValue
		var updated int64
		if err := rows.Scan(&v.RepoID, &v.Environment, &v.Kind, &v.Name, &v.Value, &updated); err != nil {
			return nil, err
		}
		v.UpdatedAt = fromTS(updated)
		out = append(out, v)
	}
	return out, rows.Err()
}

// RepoVars is the repository's own variables (those of no environment), by name: the vars
// context of each of its runs, under an environment's variables.
func (db *DB) RepoVars(ctx context.Context, repoID int64) (map[string]string, error) {
	list, err := db.EnvValues(ctx, repoID, "", EnvVar)
	if err != nil {
		return nil, fmt.Errorf("reading repository variables: %w", err)
	}
	if len(list) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(list))
	for _, v := range list {
		out[v.Name] = string(v.Value)
	}
	return out, nil
}
