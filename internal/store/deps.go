package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Events of scheduled dependency updates.
const (
	EventDepUpdateStarted = "deps.update.started"
	EventDepUpdateEnded   = "deps.update.ended"
)

// Dependency update states. An update is active while running or bisecting.
const (
	DepRunning   = "running"   // the group's branch is pushed and its runs go
	DepBisecting = "bisecting" // the group failed; a part of it is being tried
	DepPROpen    = "pr-open"   // a pull/merge request carries it
	DepMerged    = "merged"    // pushed to the default branch after green runs
	DepPassed    = "passed"    // green; mode branch leaves it there
	DepFailed    = "failed"    // red, with the finding of the bisection
	DepError     = "error"     // sluice could not make or deliver it (detail says why)
)

// DepUpdate is one group update the server made.
type DepUpdate struct {
	ID      int64  `json:"id"`
	RepoID  int64  `json:"repo_id"`
	Group   string `json:"group"`
	Branch  string `json:"branch"`
	BaseSHA string `json:"base_sha"`
	HeadSHA string `json:"head_sha"`
	Mode    string `json:"mode"`
	State   string `json:"state"`
	// Changes is the deps.Result of the group, as JSON.
	Changes json.RawMessage `json:"changes"`
	Runs    []int64         `json:"runs"`
	// Bisect is the bisection's state, as JSON (its owner's format).
	Bisect  json.RawMessage `json:"bisect"`
	Finding string          `json:"finding,omitempty"`
	PRURL   string          `json:"pr_url,omitempty"`
	Detail  string          `json:"detail,omitempty"`
	Created time.Time       `json:"created"`
	Updated time.Time       `json:"updated"`
}

// Active reports whether the update still waits for runs.
func (u *DepUpdate) Active() bool { return u.State == DepRunning || u.State == DepBisecting }

const depCols = `id, repo_id, grp, branch, base_sha, head_sha, mode, state, changes, runs, bisect, finding, pr_url, detail, created, updated`

func scanDepUpdate(s scanner) (*DepUpdate, error) {
	var u DepUpdate
	var changes, runs, bisect string
	var created, updated int64
	if err := s.Scan(&u.ID, &u.RepoID, &u.Group, &u.Branch, &u.BaseSHA, &u.HeadSHA, &u.Mode, &u.State, &changes, &runs, &bisect,
		&u.Finding, &u.PRURL, &u.Detail, &created, &updated); err != nil {
		return nil, err
	}
	u.Changes, u.Bisect = json.RawMessage(changes), json.RawMessage(bisect)
	if err := fromJSONText(runs, &u.Runs); err != nil {
		return nil, err
	}
	if u.Runs == nil {
		u.Runs = []int64{}
	}
	u.Created, u.Updated = fromTS(created), fromTS(updated)
	return &u, nil
}

func rawOr(b json.RawMessage, def string) string {
	if len(b) == 0 {
		return def
	}
	return string(b)
}

// CreateDepUpdate records a new update; ID, Created and Updated are assigned.
func (db *DB) CreateDepUpdate(ctx context.Context, u DepUpdate) (*DepUpdate, error) {
	var out *DepUpdate
	err := db.write(ctx, "recording a dependency update of repo "+fmt.Sprint(u.RepoID), func(t *tx) error {
		runs, err := jsonText(u.Runs)
		if err != nil {
			return err
		}
		if out, err = scanDepUpdate(t.queryRow(ctx, `INSERT INTO dep_updates (repo_id, grp, branch, base_sha, head_sha, mode, state, changes, runs, bisect, finding, pr_url, detail, created, updated)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+depCols,
			u.RepoID, u.Group, u.Branch, u.BaseSHA, u.HeadSHA, u.Mode, u.State, rawOr(u.Changes, "{}"), runs, rawOr(u.Bisect, "{}"),
			u.Finding, u.PRURL, u.Detail, ts(t.now), ts(t.now))); err != nil {
			return fmt.Errorf("inserting dependency update: %w", err)
		}
		return t.event(ctx, EventDepUpdateStarted, ids{repo: u.RepoID}, map[string]any{"update": out.ID, "group": u.Group, "branch": u.Branch, "runs": u.Runs})
	})
	return out, err
}

// SaveDepUpdate writes u's mutable fields (state, head, runs, bisection, finding, PR, detail).
func (db *DB) SaveDepUpdate(ctx context.Context, u DepUpdate) (*DepUpdate, error) {
	var out *DepUpdate
	err := db.write(ctx, fmt.Sprintf("saving dependency update %d", u.ID), func(t *tx) error {
		runs, err := jsonText(u.Runs)
		if err != nil {
			return err
		}
		var before string
		if err := t.queryRow(ctx, `SELECT state FROM dep_updates WHERE id = ?`, u.ID).Scan(&before); err != nil {
			return notFound(err, "dependency update", u.ID)
		}
		if out, err = scanDepUpdate(t.queryRow(ctx, `UPDATE dep_updates SET head_sha = ?, state = ?, changes = ?, runs = ?, bisect = ?, finding = ?, pr_url = ?, detail = ?, updated = ?
			WHERE id = ? RETURNING `+depCols, u.HeadSHA, u.State, rawOr(u.Changes, "{}"), runs, rawOr(u.Bisect, "{}"), u.Finding, u.PRURL, u.Detail, ts(t.now), u.ID)); err != nil {
			return fmt.Errorf("saving dependency update %d: %w", u.ID, err)
		}
		if before != out.State && !out.Active() {
			return t.event(ctx, EventDepUpdateEnded, ids{repo: out.RepoID}, map[string]any{"update": out.ID, "group": out.Group, "state": out.State, "finding": out.Finding, "pr": out.PRURL})
		}
		return nil
	})
	return out, err
}

// ListDepUpdates returns repository repoID's updates, newest first (all repositories when
// repoID is 0); activeOnly keeps those still running or bisecting.
func (db *DB) ListDepUpdates(ctx context.Context, repoID int64, activeOnly bool, limit int) ([]DepUpdate, error) {
	if limit <= 0 {
		limit = 100
	}
	q := `SELECT ` + depCols + ` FROM dep_updates WHERE (? = 0 OR repo_id = ?)`
	if activeOnly {
		q += ` AND state IN ('` + DepRunning + `', '` + DepBisecting + `')`
	}
	q += ` ORDER BY id DESC LIMIT ?`
	rows, err := db.rd().query(ctx, q, repoID, repoID, limit)
	if err != nil {
		return nil, fmt.Errorf("listing dependency updates: %w", err)
	}
	defer rows.Close()
	out := []DepUpdate{}
	for rows.Next() {
		u, err := scanDepUpdate(rows)
		if err != nil {
			return nil, fmt.Errorf("reading dependency update: %w", err)
		}
		out = append(out, *u)
	}
	return out, rows.Err()
}

// DepStatus is what the last look at a repository's lock found.
type DepStatus struct {
	RepoID         int64     `json:"repo_id"`
	Checked        time.Time `json:"checked"`
	LockFile       string    `json:"lock_file"`
	Packages       int       `json:"packages"`
	OldestName     string    `json:"oldest_name,omitempty"`
	OldestVersion  string    `json:"oldest_version,omitempty"`
	OldestUploaded time.Time `json:"oldest_uploaded,omitempty"`
	Error          string    `json:"error,omitempty"`
}

// PutDepStatus replaces repository s.RepoID's status.
func (db *DB) PutDepStatus(ctx context.Context, s DepStatus) error {
	return db.write(ctx, fmt.Sprintf("saving the dependency status of repo %d", s.RepoID), func(t *tx) error {
		var oldest int64
		if !s.OldestUploaded.IsZero() {
			oldest = ts(s.OldestUploaded)
		}
		_, err := t.exec(ctx, `INSERT INTO dep_status (repo_id, checked, lock_file, packages, oldest_name, oldest_version, oldest_uploaded, error)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (repo_id) DO UPDATE SET checked = excluded.checked, lock_file = excluded.lock_file, packages = excluded.packages,
			oldest_name = excluded.oldest_name, oldest_version = excluded.oldest_version, oldest_uploaded = excluded.oldest_uploaded, error = excluded.error`,
			s.RepoID, ts(s.Checked), s.LockFile, s.Packages, s.OldestName, s.OldestVersion, oldest, s.Error)
		return err
	})
}

// GetDepStatus returns repository repoID's status; never looked at is ErrNotFound.
func (db *DB) GetDepStatus(ctx context.Context, repoID int64) (*DepStatus, error) {
	var s DepStatus
	var checked, oldest int64
	err := db.rd().queryRow(ctx, `SELECT repo_id, checked, lock_file, packages, oldest_name, oldest_version, oldest_uploaded, error FROM dep_status WHERE repo_id = ?`, repoID).
		Scan(&s.RepoID, &checked, &s.LockFile, &s.Packages, &s.OldestName, &s.OldestVersion, &oldest, &s.Error)
	if err != nil {
		return nil, notFound(err, "dependency status of repo", repoID)
	}
	s.Checked = fromTS(checked)
	if oldest != 0 {
		s.OldestUploaded = fromTS(oldest)
	}
	return &s, nil
}
