package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Token is an API token. The store keeps only its hash; lookups are by hash.
type Token struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Hash      []byte     `json:"-"`
	Scope     string     `json:"scope"` // admin, write, read or register
	CreatedAt time.Time  `json:"created_at"`
	LastUsed  *time.Time `json:"last_used,omitempty"`
	// Identity is the person the token belongs to (a sluice identity); ""
	// means the token's name is that identity.
	Identity string `json:"identity,omitempty"`
}

// Who is the identity acting with the token.
func (tk *Token) Who() string {
	if tk.Identity != "" {
		return tk.Identity
	}
	return tk.Name
}

const tokenCols = `id, name, hash, scope, created_at, last_used, identity`

func scanToken(s scanner) (*Token, error) {
	var tk Token
	var created int64
	var used sql.NullInt64
	if err := s.Scan(&tk.ID, &tk.Name, &tk.Hash, &tk.Scope, &created, &used, &tk.Identity); err != nil {
		return nil, err
	}
	tk.CreatedAt, tk.LastUsed = fromTS(created), fromNullTS(used)
	return &tk, nil
}

// CreateToken stores token tk (its hash, name and scope).
func (db *DB) CreateToken(ctx context.Context, tk Token) (*Token, error) {
	switch tk.Scope {
	case ScopeAdmin, ScopeWrite, ScopeRead, ScopeRegister:
	default:
		return nil, fmt.Errorf("creating token %s: unknown scope %q", tk.Name, tk.Scope)
	}
	if len(tk.Hash) == 0 {
		return nil, fmt.Errorf("creating token %s: empty hash", tk.Name)
	}
	var out *Token
	err := db.write(ctx, "creating token "+tk.Name, func(t *tx) error {
		var err error
		out, err = scanToken(t.queryRow(ctx, `INSERT INTO tokens (name, hash, scope, created_at, identity) VALUES (?, ?, ?, ?, ?)
			RETURNING `+tokenCols, tk.Name, tk.Hash, tk.Scope, ts(t.now), tk.Identity))
		if err != nil {
			return db.conflict(err, "token")
		}
		return t.event(ctx, EventTokenCreated, ids{}, map[string]any{"token_id": out.ID, "name": out.Name, "scope": out.Scope})
	})
	return out, err
}

// GetTokenByHash returns the token with hash.
func (db *DB) GetTokenByHash(ctx context.Context, hash []byte) (*Token, error) {
	tk, err := scanToken(db.rd().queryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE hash = ?`, hash))
	return tk, notFound(err, "token", "(hash)")
}

// TouchToken records that token id was used now. It writes no event.
func (db *DB) TouchToken(ctx context.Context, id int64) error {
	return db.write(ctx, fmt.Sprintf("touching token %d", id), func(t *tx) error {
		res, err := t.exec(ctx, `UPDATE tokens SET last_used = ? WHERE id = ?`, ts(t.now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("token %d: %w", id, ErrNotFound)
		}
		return nil
	})
}

// ListTokens returns all tokens by ID.
func (db *DB) ListTokens(ctx context.Context) ([]Token, error) {
	rows, err := db.rd().query(ctx, `SELECT `+tokenCols+` FROM tokens ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		tk, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("reading token: %w", err)
		}
		out = append(out, *tk)
	}
	return out, rows.Err()
}

// DeleteToken revokes token id.
func (db *DB) DeleteToken(ctx context.Context, id int64) error {
	return db.write(ctx, fmt.Sprintf("deleting token %d", id), func(t *tx) error {
		var name string
		if err := t.queryRow(ctx, `DELETE FROM tokens WHERE id = ? RETURNING name`, id).Scan(&name); err != nil {
			return notFound(err, "token", id)
		}
		return t.event(ctx, EventTokenDeleted, ids{}, map[string]any{"token_id": id, "name": name})
	})
}
