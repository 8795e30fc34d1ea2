package store

import (
	"context"
	"fmt"
	"time"
)

// Repo is a repository the server builds. WebhookSecret and Credentials are ciphertext: the
// store never sees plaintext secrets.
type Repo struct {
	ID            int64     `json:"id"`
	Name          string    `json:"name"`
	URL           string    `json:"url"`
	WebhookSecret []byte    `json:"-"`
	Credentials   []byte    `json:"-"`
	DefaultBranch string    `json:"default_branch"`
	CreatedAt     time.Time `json:"created_at"`
	// ForkRunsWithoutApproval lets runs of pull requests from forks start
	// without a maintainer's approval; false (the default) holds them.
	ForkRunsWithoutApproval bool `json:"fork_runs_without_approval"`
}

const repoCols = `id, name, url, webhook_secret, credentials, default_branch, created_at, fork_runs_unapproved`

func scanRepo(s scanner) (*Repo, error) {
	var r Repo
	var created int64
	var unapproved int
	if err := s.Scan(&r.ID, &r.Name, &r.URL, &r.WebhookSecret, &r.Credentials, &r.DefaultBranch, &created, &unapproved); err != nil {
		return nil, err
	}
	r.CreatedAt, r.ForkRunsWithoutApproval = fromTS(created), unapproved != 0
	return &r, nil
}

// CreateRepo inserts r (ID and CreatedAt are assigned) and returns the stored record.
func (db *DB) CreateRepo(ctx context.Context, r Repo) (*Repo, error) {
	var out *Repo
	err := db.write(ctx, "creating repo "+r.Name, func(t *tx) error {
		row := t.queryRow(ctx, `INSERT INTO repos (name, url, webhook_secret, credentials, default_branch, created_at,
			fork_runs_unapproved) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING `+repoCols,
			r.Name, r.URL, r.WebhookSecret, r.Credentials, r.DefaultBranch, ts(t.now), boolInt(r.ForkRunsWithoutApproval))
		var err error
		if out, err = scanRepo(row); err != nil {
			return db.conflict(err, "repo "+r.Name)
		}
		return t.event(ctx, EventRepoCreated, ids{repo: out.ID}, map[string]string{"name": r.Name, "url": r.URL})
	})
	return out, err
}

// UpdateRepo replaces the URL, secrets, default branch and fork setting of repo r.ID (the name
// is kept).
func (db *DB) UpdateRepo(ctx context.Context, r Repo) (*Repo, error) {
	var out *Repo
	err := db.write(ctx, fmt.Sprintf("updating repo %d", r.ID), func(t *tx) error {
		row := t.queryRow(ctx, `UPDATE repos SET url = ?, webhook_secret = ?, credentials = ?, default_branch = ?,
			fork_runs_unapproved = ? WHERE id = ? RETURNING `+repoCols, r.URL, r.WebhookSecret, r.Credentials, r.DefaultBranch,
			boolInt(r.ForkRunsWithoutApproval), r.ID)
		var err error
		if out, err = scanRepo(row); err != nil {
			return notFound(err, "repo", r.ID)
		}
		return t.event(ctx, EventRepoUpdated, ids{repo: r.ID}, map[string]string{"url": r.URL})
	})
	return out, err
}

// GetRepo returns repo id.
func (db *DB) GetRepo(ctx context.Context, id int64) (*Repo, error) {
	r, err := scanRepo(db.rd().queryRow(ctx, `SELECT `+repoCols+` FROM repos WHERE id = ?`, id))
	return r, notFound(err, "repo", id)
}

// GetRepoByName returns the repo called name.
func (db *DB) GetRepoByName(ctx context.Context, name string) (*Repo, error) {
	r, err := scanRepo(db.rd().queryRow(ctx, `SELECT `+repoCols+` FROM repos WHERE name = ?`, name))
	return r, notFound(err, "repo", name)
}

// ListRepos returns all repos by name.
func (db *DB) ListRepos(ctx context.Context) ([]Repo, error) {
	rows, err := db.rd().query(ctx, `SELECT `+repoCols+` FROM repos ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing repos: %w", err)
	}
	defer rows.Close()
	var out []Repo
	for rows.Next() {
		r, err := scanRepo(rows)
		if err != nil {
			return nil, fmt.Errorf("reading repo: %w", err)
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// DeleteRepo deletes repo id with its runs, jobs, logs and secrets. Events are kept.
func (db *DB) DeleteRepo(ctx context.Context, id int64) error {
	return db.write(ctx, fmt.Sprintf("deleting repo %d", id), func(t *tx) error {
		var name string
		if err := t.queryRow(ctx, `DELETE FROM repos WHERE id = ? RETURNING name`, id).Scan(&name); err != nil {
			return notFound(err, "repo", id)
		}
		t.touch(TopicQueue) // its queued jobs are gone
		return t.event(ctx, EventRepoDeleted, ids{repo: id}, map[string]string{"name": name})
	})
}
