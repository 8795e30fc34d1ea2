package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// A person is a sluice identity, a name. Tokens belong to one (Token.Who); the logins a person
// pushes with on forges are linked to it, so that what a person started (a push that made a
// release) and what they approve are known to be theirs whatever name each carries.

// IdentityLogin is a forge login linked to an identity.
type IdentityLogin struct {
	Forge    string `json:"forge"` // github, gitea, gitlab
	Login    string `json:"login"`
	Identity string `json:"identity"`
}

// Events of identities.
const EventIdentityLinked = "identity.linked"

// LinkLogin links a forge login to identity; a login belongs to one identity.
func (db *DB) LinkLogin(ctx context.Context, l IdentityLogin) error {
	l.Forge, l.Login = strings.ToLower(l.Forge), strings.ToLower(l.Login)
	if l.Forge == "" || l.Login == "" || l.Identity == "" {
		return errors.New("linking a login needs a forge, a login and an identity")
	}
	return db.write(ctx, fmt.Sprintf("linking %s login %s to %s", l.Forge, l.Login, l.Identity), func(t *tx) error {
		var other string
		err := t.queryRow(ctx, `SELECT identity FROM identity_logins WHERE forge = ? AND login = ?`, l.Forge, l.Login).Scan(&other)
		switch {
		case err == nil && other != l.Identity:
			return fmt.Errorf("%s login %s is linked to %s already: %w", l.Forge, l.Login, other, ErrConflict)
		case err == nil:
			return nil
		}
		if _, err := t.exec(ctx, `INSERT INTO identity_logins (forge, login, identity, created) VALUES (?, ?, ?, ?)`,
			l.Forge, l.Login, l.Identity, ts(t.now)); err != nil {
			return err
		}
		return t.event(ctx, EventIdentityLinked, ids{}, map[string]any{"forge": l.Forge, "login": l.Login, "identity": l.Identity})
	})
}

// ListLogins returns every linked login, by identity.
func (db *DB) ListLogins(ctx context.Context) ([]IdentityLogin, error) {
	rows, err := db.rd().query(ctx, `SELECT forge, login, identity FROM identity_logins ORDER BY identity, forge, login`)
	if err != nil {
		return nil, fmt.Errorf("listing linked logins: %w", err)
	}
	defer rows.Close()
	var out []IdentityLogin
	for rows.Next() {
		var l IdentityLogin
		if err := rows.Scan(&l.Forge, &l.Login, &l.Identity); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// IdentityOfLogin is the identity a forge login is linked to. When forge is "" the login is
// looked up on every forge and must be linked on exactly one. An unlinked login is nobody
// sluice knows: it returns "" and no error.
func (db *DB) IdentityOfLogin(ctx context.Context, forge, login string) (string, error) {
	q := `SELECT DISTINCT identity FROM identity_logins WHERE login = ?`
	args := []any{strings.ToLower(login)}
	if forge != "" {
		q += ` AND forge = ?`
		args = append(args, strings.ToLower(forge))
	}
	rows, err := db.rd().query(ctx, q, args...)
	if err != nil {
		return "", fmt.Errorf("looking up the identity of %s: %w", login, err)
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return "", err
		}
		found = append(found, id)
	}
	if len(found) != 1 {
		return "", rows.Err()
	}
	return found[0], rows.Err()
}
