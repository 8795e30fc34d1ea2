package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Secret is an encrypted secret of one repository, or server-wide when RepoID is nil. The store
// holds ciphertext only.
type Secret struct {
	ID         int64     `json:"id"`
	RepoID     *int64    `json:"repo_id,omitempty"`
	Name       string    `json:"name"`
	Ciphertext []byte    `json:"-"`
	UpdatedAt  time.Time `json:"updated_at"`
}

const secretCols = `id, repo_id, name, ciphertext, updated_at`

func scanSecret(s scanner) (*Secret, error) {
	var sec Secret
	var repo sql.NullInt64
	var updated int64
	if err := s.Scan(&sec.ID, &repo, &sec.Name, &sec.Ciphertext, &updated); err != nil {
		return nil, err
	}
	sec.RepoID, sec.UpdatedAt = fromNullID(repo), fromTS(updated)
	return &sec, nil
}

// scopeCond selects rows of one scope: a repository, or server-wide for nil.
func scopeCond(repoID *int64) (string, []any) {
	if repoID == nil {
		return "repo_id IS NULL", nil
	}
	return "repo_id = ?", []any{*repoID}
}

func scopeName(repoID *int64) string {
	if repoID == nil {
		return "server"
	}
	return fmt.Sprintf("repo %d", *repoID)
}

// PutSecret sets secret name in the scope of repoID (nil: server-wide), replacing its value.
// The secret.set event names the secret but never carries its value.
func (db *DB) PutSecret(ctx context.Context, repoID *int64, name string, ciphertext []byte) (*Secret, error) {
	var out *Secret
	err := db.write(ctx, fmt.Sprintf("setting secret %s of %s", name, scopeName(repoID)), func(t *tx) error {
		cond, args := scopeCond(repoID)
		var err error
		out, err = scanSecret(t.queryRow(ctx, `UPDATE secrets SET ciphertext = ?, updated_at = ? WHERE `+cond+` AND name = ?
			RETURNING `+secretCols, append(append([]any{ciphertext, ts(t.now)}, args...), name)...))
		if errors.Is(err, sql.ErrNoRows) {
			out, err = scanSecret(t.queryRow(ctx, `INSERT INTO secrets (repo_id, name, ciphertext, updated_at) VALUES (?, ?, ?, ?)
				RETURNING `+secretCols, nullID(repoID), name, ciphertext, ts(t.now)))
		}
		if err != nil {
			return db.conflict(err, "secret "+name)
		}
		return t.event(ctx, EventSecretSet, ids{repo: deref(repoID)}, map[string]any{"name": name})
	})
	return out, err
}

// GetSecret returns secret name of exactly the scope of repoID (no fallback to server-wide).
func (db *DB) GetSecret(ctx context.Context, repoID *int64, name string) (*Secret, error) {
	cond, args := scopeCond(repoID)
	s, err := scanSecret(db.rd().queryRow(ctx, `SELECT `+secretCols+` FROM secrets WHERE `+cond+` AND name = ?`,
		append(args, name)...))
	return s, notFound(err, "secret", name)
}

// ListSecrets returns the secrets of the scope of repoID (nil: server-wide) by name.
func (db *DB) ListSecrets(ctx context.Context, repoID *int64) ([]Secret, error) {
	cond, args := scopeCond(repoID)
	return db.listSecrets(ctx, `SELECT `+secretCols+` FROM secrets WHERE `+cond+` ORDER BY name`, args...)
}

// SecretsForRepo returns what a job of repo repoID sees: server-wide secrets overlaid by the
// repository's own of the same name, by name.
func (db *DB) SecretsForRepo(ctx context.Context, repoID int64) ([]Secret, error) {
	all, err := db.listSecrets(ctx, `SELECT `+secretCols+` FROM secrets WHERE repo_id IS NULL OR repo_id = ?
		ORDER BY name, CASE WHEN repo_id IS NULL THEN 0 ELSE 1 END`, repoID)
	if err != nil {
		return nil, err
	}
	var out []Secret
	for _, s := range all {
		// Rows of one name come server-wide first, then the repo's, so the last wins.
		if n := len(out); n > 0 && out[n-1].Name == s.Name {
			out[n-1] = s
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

func (db *DB) listSecrets(ctx context.Context, q string, args ...any) ([]Secret, error) {
	rows, err := db.rd().query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing secrets: %w", err)
	}
	defer rows.Close()
	var out []Secret
	for rows.Next() {
		s, err := scanSecret(rows)
		if err != nil {
			return nil, fmt.Errorf("reading secret: %w", err)
		}
		out = append(out, *s)
	}
	return out, rows.Err()
}

// DeleteSecret removes secret name from the scope of repoID.
func (db *DB) DeleteSecret(ctx context.Context, repoID *int64, name string) error {
	return db.write(ctx, fmt.Sprintf("deleting secret %s of %s", name, scopeName(repoID)), func(t *tx) error {
		cond, args := scopeCond(repoID)
		var id int64
		if err := t.queryRow(ctx, `DELETE FROM secrets WHERE `+cond+` AND name = ? RETURNING id`, append(args, name)...).Scan(&id); err != nil {
			return notFound(err, "secret", name)
		}
		return t.event(ctx, EventSecretDeleted, ids{repo: deref(repoID)}, map[string]any{"name": name})
	})
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
