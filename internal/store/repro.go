package store

import (
	"context"
	"fmt"
	"time"
)

// EventReproChecked is written when a reproducibility check of a release is recorded.
const EventReproChecked = "release.repro"

const reproCols = `id, release_id, identical, differ, detail, by_name, created`

// ReproCheck is the outcome of one rebuild of a release's Python artifacts (sluice verify-repro).
type ReproCheck struct {
	ID        int64  `json:"id"`
	ReleaseID string `json:"release_id"`
	Identical bool   `json:"identical"`
	// Differ names the files whose rebuilt digests differed from the release's or between
	// rebuilds, or that a rebuild did not produce.
	Differ  []string  `json:"differ"`
	Detail  string    `json:"detail,omitempty"`
	By      string    `json:"by,omitempty"`
	Created time.Time `json:"created"`
}

// AddReproCheck records check c of release c.ReleaseID; ID and Created are assigned. An
// unknown release is ErrNotFound.
func (db *DB) AddReproCheck(ctx context.Context, c ReproCheck) (*ReproCheck, error) {
	var out *ReproCheck
	err := db.write(ctx, "recording a reproducibility check of release "+c.ReleaseID, func(t *tx) error {
		var repoID int64
		if err := t.queryRow(ctx, `SELECT repo_id FROM releases WHERE id = ?`, c.ReleaseID).Scan(&repoID); err != nil {
			return notFound(err, "release", c.ReleaseID)
		}
		differ, err := jsonText(c.Differ)
		if err != nil {
			return err
		}
		if out, err = scanReproCheck(t.queryRow(ctx, `INSERT INTO repro_checks (release_id, identical, differ, detail, by_name, created)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING `+reproCols,
			c.ReleaseID, boolInt(c.Identical), differ, c.Detail, c.By, ts(t.now))); err != nil {
			return fmt.Errorf("inserting repro check: %w", err)
		}
		return t.event(ctx, EventReproChecked, ids{repo: repoID}, map[string]any{
			"release": out.ReleaseID, "check": out.ID, "identical": out.Identical, "differ": out.Differ, "by": out.By,
		})
	})
	return out, err
}

// ListReproChecks returns the checks of release releaseID, newest first; none is an empty list.
func (db *DB) ListReproChecks(ctx context.Context, releaseID string) ([]ReproCheck, error) {
	rows, err := db.rd().query(ctx, `SELECT `+reproCols+` FROM repro_checks WHERE release_id = ? ORDER BY id DESC`, releaseID)
	if err != nil {
		return nil, fmt.Errorf("listing repro checks of %s: %w", releaseID, err)
	}
	defer rows.Close()
	out := []ReproCheck{}
	for rows.Next() {
		c, err := scanReproCheck(rows)
		if err != nil {
			return nil, fmt.Errorf("reading repro check: %w", err)
		}
		out = append(out, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing repro checks of %s: %w", releaseID, err)
	}
	return out, nil
}

// ReproRate counts the releases of repository repoID that were checked and, of those, the ones
// whose latest check found them identical: a release fixed by a later rebuild counts as such.
func (db *DB) ReproRate(ctx context.Context, repoID int64) (checked, identical int, err error) {
	err = db.rd().queryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(c.identical), 0)
		FROM repro_checks c JOIN releases r ON r.id = c.release_id
		WHERE r.repo_id = ? AND c.id = (SELECT MAX(l.id) FROM repro_checks l WHERE l.release_id = c.release_id)`,
		repoID).Scan(&checked, &identical)
	if err != nil {
		return 0, 0, fmt.Errorf("counting repro checks of repo %d: %w", repoID, err)
	}
	return checked, identical, nil
}

func scanReproCheck(s scanner) (*ReproCheck, error) {
	var c ReproCheck
	var identical int
	var differ string
	var created int64
	if err := s.Scan(&c.ID, &c.ReleaseID, &identical, &differ, &c.Detail, &c.By, &created); err != nil {
		return nil, err
	}
	if err := fromJSONText(differ, &c.Differ); err != nil {
		return nil, err
	}
	if c.Differ == nil {
		c.Differ = []string{}
	}
	c.Identical, c.Created = identical != 0, fromTS(created)
	return &c, nil
}
