package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluice-ci/sluice/internal/cd"
)

// FindRelease returns repository repoID's release named by ref: its full ID
// ("sha256:…") or a prefix of at least 6 hex digits of it. A prefix two
// releases share is ErrConflict.
func (db *DB) FindRelease(ctx context.Context, repoID int64, ref string) (*cd.Release, error) {
	hex := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(ref)), "sha256:")
	if len(hex) < 6 || strings.Trim(hex, "0123456789abcdef") != "" {
		return nil, fmt.Errorf("release %q: want its ID or at least 6 hex digits of it: %w", ref, ErrNotFound)
	}
	rows, err := db.rd().query(ctx, `SELECT id FROM releases WHERE repo_id = ? AND id LIKE ? LIMIT 2`, repoID, "sha256:"+hex+"%")
	if err != nil {
		return nil, fmt.Errorf("finding release %s: %w", ref, err)
	}
	var found []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("finding release %s: %w", ref, err)
		}
		found = append(found, id)
	}
	rows.Close()
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("release %s: %w", ref, ErrNotFound)
	case 1:
		return db.GetRelease(ctx, found[0])
	}
	return nil, fmt.Errorf("release prefix %s matches more than one release; give more digits: %w", ref, ErrConflict)
}

// ReleaseOfRun returns the release built by run runID (the latest, should a
// run have made several), or ErrNotFound.
func (db *DB) ReleaseOfRun(ctx context.Context, runID int64) (*cd.Release, error) {
	var id string
	if err := db.rd().queryRow(ctx, `SELECT id FROM releases WHERE run_id = ? ORDER BY seq DESC LIMIT 1`, runID).Scan(&id); err != nil {
		return nil, notFound(err, "release of run", runID)
	}
	return db.GetRelease(ctx, id)
}

// PromotionsOfRun returns the promotions carried by run runID, oldest first.
func (db *DB) PromotionsOfRun(ctx context.Context, runID int64) ([]cd.Promotion, error) {
	return db.listPromotionsWhere(ctx, `run_id = ? ORDER BY id`, runID)
}

// PromotionsOfRelease returns every promotion of release id, oldest first:
// where it went.
func (db *DB) PromotionsOfRelease(ctx context.Context, id string) ([]cd.Promotion, error) {
	return db.listPromotionsWhere(ctx, `release_id = ? ORDER BY id`, id)
}

// ActivePromotions returns repository repoID's promotions that have not
// ended (queued, waiting or in progress), oldest first.
func (db *DB) ActivePromotions(ctx context.Context, repoID int64) ([]cd.Promotion, error) {
	return db.listPromotionsWhere(ctx, `repo_id = ? AND state IN ('queued', 'waiting', 'in_progress') ORDER BY id`, repoID)
}

func (db *DB) listPromotionsWhere(ctx context.Context, where string, args ...any) ([]cd.Promotion, error) {
	q := db.rd()
	rows, err := q.query(ctx, `SELECT `+promotionCols+` FROM promotions WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("listing promotions: %w", err)
	}
	var out []cd.Promotion
	for rows.Next() {
		p, err := scanPromotion(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading promotion: %w", err)
		}
		out = append(out, *p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing promotions: %w", err)
	}
	for i := range out {
		if out[i].Approvals, err = listApprovals(ctx, q, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// PromotionUpdate changes a promotion's details; nil fields stay.
type PromotionUpdate struct {
	RunID  *int64
	URL    *string
	Reason *string
	Gates  []string // nil: unchanged
}

// UpdatePromotion applies u to promotion id (its state moves only through
// SetPromotionState).
func (db *DB) UpdatePromotion(ctx context.Context, id int64, u PromotionUpdate) (*cd.Promotion, error) {
	var out *cd.Promotion
	err := db.write(ctx, fmt.Sprintf("updating promotion %d", id), func(t *tx) error {
		if _, err := t.exec(ctx, `SELECT id FROM promotions WHERE id = ?`+t.db.d.forUpdate(), id); err != nil {
			return fmt.Errorf("locking promotion %d: %w", id, err)
		}
		p, err := getPromotion(ctx, t, id)
		if err != nil {
			return err
		}
		before := *p
		if u.RunID != nil {
			p.RunID = *u.RunID
		}
		if u.URL != nil {
			p.URL = *u.URL
		}
		if u.Reason != nil {
			p.Reason = *u.Reason
		}
		if u.Gates != nil {
			p.Gates = u.Gates
		}
		gates, err := jsonText(p.Gates)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `UPDATE promotions SET run_id = ?, url = ?, reason = ?, gates = ?, updated = ? WHERE id = ?`,
			nullID(nonZero(p.RunID)), p.URL, p.Reason, gates, ts(t.now), id); err != nil {
			return fmt.Errorf("updating promotion %d: %w", id, err)
		}
		if out, err = getPromotion(ctx, t, id); err != nil {
			return err
		}
		// The run carrying a promotion, its URL and the reason it ended are facts the event
		// log keeps (delivery metrics read them); the passing reasons of a waiting promotion
		// (gate countdowns) and its gates are display only.
		data := map[string]any{"promotion": id}
		if p.RunID != before.RunID {
			data["run"] = p.RunID
		}
		if p.URL != before.URL {
			data["url"] = p.URL
		}
		if p.Reason != before.Reason && p.State.Terminal() {
			data["reason"] = p.Reason
		}
		if len(data) == 1 {
			return nil
		}
		return t.event(ctx, EventPromotionUpdated, ids{repo: p.RepoID}, data)
	})
	return out, err
}

// PromotionForgeID returns the forge's id of promotion id's deployment (0:
// not reported yet).
func (db *DB) PromotionForgeID(ctx context.Context, id int64) (int64, error) {
	var fid int64
	if err := db.rd().queryRow(ctx, `SELECT forge_id FROM promotions WHERE id = ?`, id).Scan(&fid); err != nil {
		return 0, notFound(err, "promotion", id)
	}
	return fid, nil
}

// SetPromotionForgeID records the forge's id of promotion id's deployment.
func (db *DB) SetPromotionForgeID(ctx context.Context, id, forgeID int64) error {
	return db.write(ctx, fmt.Sprintf("recording promotion %d's forge deployment", id), func(t *tx) error {
		_, err := t.exec(ctx, `UPDATE promotions SET forge_id = ? WHERE id = ?`, forgeID, id)
		return err
	})
}
