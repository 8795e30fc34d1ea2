package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
)

// Continuous-deployment event kinds. Releases and promotions are not runs or jobs, so their
// events carry only the repository; Data names the release or promotion.
const (
	EventReleaseCreated    = "release.created"
	EventReleaseRejected   = "release.rejected"
	EventPromotionCreated  = "promotion.created"
	EventPromotionState    = "promotion.state"
	EventPromotionApproval = "promotion.approval"
	// EventReleaseRebuilt is written when a run makes a release that exists already: the same
	// bytes built again.
	EventReleaseRebuilt = "release.rebuilt"
	// EventPromotionUpdated is written when a promotion's run, URL or final reason changes.
	EventPromotionUpdated = "promotion.updated"
)

const (
	defaultCDListLimit = 50
	releaseCols        = `r.id, p.name, r.run_id, r.version, r.commit_sha, r.ref, r.lock_hash, r.artifacts, r.rejected, r.created`
	releaseFrom        = ` FROM releases r JOIN repos p ON p.id = r.repo_id`
	promotionCols      = `id, environment, release_id, kind, state, started_by, auto, gates, previous, created, updated, run_id, url, reason, repo_id`
)

// ArtifactRecord is a stored artifact with the provenance statement (an in-toto statement with
// an SLSA provenance predicate, opaque here) recorded for it.
type ArtifactRecord struct {
	cd.Artifact
	Provenance json.RawMessage `json:"provenance,omitempty"`
	Created    time.Time       `json:"created"`
}

// PutArtifact records artifact a. Artifacts are content-addressed, so putting a digest again
// keeps the first name, size and media type; provenance is filled in if it was missing.
func (db *DB) PutArtifact(ctx context.Context, a cd.Artifact, provenance json.RawMessage) error {
	return db.write(ctx, "recording artifact "+a.Digest, func(t *tx) error {
		return t.putArtifact(ctx, a, provenance)
	})
}

func (t *tx) putArtifact(ctx context.Context, a cd.Artifact, provenance json.RawMessage) error {
	if a.Digest == "" {
		return fmt.Errorf("artifact %q has no digest", a.Name)
	}
	_, err := t.exec(ctx, `INSERT INTO artifacts (digest, name, size, media_type, provenance, created)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (digest) DO UPDATE SET provenance = COALESCE(artifacts.provenance, excluded.provenance)`,
		a.Digest, a.Name, a.Size, a.MediaType, nullRaw(provenance), ts(t.now))
	if err != nil {
		return fmt.Errorf("inserting artifact %s: %w", a.Digest, err)
	}
	return nil
}

// GetArtifact returns the artifact with digest.
func (db *DB) GetArtifact(ctx context.Context, digest string) (*ArtifactRecord, error) {
	var a ArtifactRecord
	var prov sql.NullString
	var created int64
	err := db.rd().queryRow(ctx, `SELECT digest, name, size, media_type, provenance, created FROM artifacts WHERE digest = ?`, digest).
		Scan(&a.Digest, &a.Name, &a.Size, &a.MediaType, &prov, &created)
	if err != nil {
		return nil, notFound(err, "artifact", digest)
	}
	a.Provenance, a.Created = fromNullRaw(prov), fromTS(created)
	return &a, nil
}

// CreateRelease records release r of repository repoID with its artifacts (recorded too, if not
// yet). r.ID must be cd.ReleaseID of its artifacts; Repo and Created are assigned. A release is
// immutable and its ID is its bytes, so creating one that exists returns the stored release
// with created false (and release.rebuilt when another run made it again); an existing ID in
// another repository is ErrConflict.
func (db *DB) CreateRelease(ctx context.Context, repoID int64, r cd.Release) (out *cd.Release, created bool, err error) {
	err = db.write(ctx, "creating release "+r.ID, func(t *tx) error {
		if want := cd.ReleaseID(r.Artifacts); r.ID != want || len(r.Artifacts) == 0 {
			return fmt.Errorf("release id %q does not match its %d artifacts (want %s)", r.ID, len(r.Artifacts), want)
		}
		var owner int64
		switch err := t.queryRow(ctx, `SELECT repo_id FROM releases WHERE id = ?`, r.ID).Scan(&owner); {
		case err == nil:
			if owner != repoID {
				return fmt.Errorf("release %s belongs to repo %d: %w", r.ID, owner, ErrConflict)
			}
			if out, err = getRelease(ctx, t, r.ID); err != nil {
				return err
			}
			// Another run built the same bytes: a reproduced build, which
			// the reproducibility figures count.
			if r.RunID != 0 && r.RunID != out.RunID {
				// A promotion run deploys the release's own bytes, copied: it built nothing. A
				// run records its rebuild once.
				var trigger string
				var seen int
				if err := t.queryRow(ctx, `SELECT run_trigger, (SELECT COUNT(*) FROM events WHERE run_id = ? AND kind = ?)
					FROM runs WHERE id = ?`, r.RunID, EventReleaseRebuilt, r.RunID).Scan(&trigger, &seen); err != nil ||
					seen > 0 || trigger == TriggerPromotion {
					return nil
				}
				return t.event(ctx, EventReleaseRebuilt, ids{repo: repoID, run: r.RunID}, map[string]any{
					"release": r.ID, "commit": r.Commit, "run": r.RunID,
				})
			}
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("looking up release: %w", err)
		}
		digests := make([]string, 0, len(r.Artifacts))
		for _, a := range r.Artifacts {
			if err := t.putArtifact(ctx, a, nil); err != nil {
				return err
			}
			digests = append(digests, a.Digest)
		}
		arts, err := json.Marshal(digests)
		if err != nil {
			return fmt.Errorf("encoding artifact digests: %w", err)
		}
		var runID *int64
		if r.RunID != 0 {
			runID = &r.RunID
		}
		if _, err := t.exec(ctx, `INSERT INTO releases (id, repo_id, run_id, version, commit_sha, ref, lock_hash,
			artifacts, rejected, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, repoID, nullID(runID), r.Version, r.Commit, r.Ref, r.LockHash, string(arts), boolInt(r.Rejected), ts(t.now)); err != nil {
			return t.db.conflict(fmt.Errorf("inserting release: %w", err), "release "+r.ID)
		}
		if out, err = getRelease(ctx, t, r.ID); err != nil {
			return err
		}
		created = true
		return t.event(ctx, EventReleaseCreated, ids{repo: repoID, run: r.RunID}, map[string]any{
			"release": r.ID, "version": r.Version, "commit": r.Commit, "ref": r.Ref,
		})
	})
	if err != nil {
		return nil, false, err
	}
	return out, created, nil
}

// GetRelease returns release id with its artifacts in the order they were recorded.
func (db *DB) GetRelease(ctx context.Context, id string) (*cd.Release, error) {
	return getRelease(ctx, db.rd(), id)
}

func getRelease(ctx context.Context, q queryer, id string) (*cd.Release, error) {
	r, err := scanRelease(q.queryRow(ctx, `SELECT `+releaseCols+releaseFrom+` WHERE r.id = ?`, id))
	if err != nil {
		return nil, notFound(err, "release", id)
	}
	if err := fillArtifacts(ctx, q, r); err != nil {
		return nil, err
	}
	return r, nil
}

// ListReleases returns up to limit (default 50) releases of repository repoID, newest first.
func (db *DB) ListReleases(ctx context.Context, repoID int64, limit int) ([]cd.Release, error) {
	if limit <= 0 {
		limit = defaultCDListLimit
	}
	q := db.rd()
	rows, err := q.query(ctx, `SELECT `+releaseCols+releaseFrom+` WHERE r.repo_id = ? ORDER BY r.seq DESC LIMIT ?`,
		repoID, limit)
	if err != nil {
		return nil, fmt.Errorf("listing releases: %w", err)
	}
	var out []cd.Release
	for rows.Next() {
		r, err := scanRelease(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading release: %w", err)
		}
		out = append(out, *r)
	}
	// Closed before the artifact queries so a small reader pool is never held twice.
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing releases: %w", err)
	}
	for i := range out {
		if err := fillArtifacts(ctx, q, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RejectRelease marks release id rejected, so no promotion may use it. Rejecting a rejected
// release is a no-op without an event.
func (db *DB) RejectRelease(ctx context.Context, id string) (*cd.Release, error) {
	var out *cd.Release
	err := db.write(ctx, "rejecting release "+id, func(t *tx) error {
		var repoID int64
		var rejected int
		if err := t.queryRow(ctx, `SELECT repo_id, rejected FROM releases WHERE id = ?`+t.db.d.forUpdate(), id).Scan(&repoID, &rejected); err != nil {
			return notFound(err, "release", id)
		}
		if rejected == 0 {
			if _, err := t.exec(ctx, `UPDATE releases SET rejected = 1 WHERE id = ?`, id); err != nil {
				return fmt.Errorf("updating release: %w", err)
			}
			if err := t.event(ctx, EventReleaseRejected, ids{repo: repoID}, map[string]any{"release": id}); err != nil {
				return err
			}
		}
		var err error
		out, err = getRelease(ctx, t, id)
		return err
	})
	return out, err
}

func scanRelease(s scanner) (*cd.Release, error) {
	var r cd.Release
	var run sql.NullInt64
	var arts string
	var rejected int
	var created int64
	if err := s.Scan(&r.ID, &r.Repo, &run, &r.Version, &r.Commit, &r.Ref, &r.LockHash, &arts, &rejected, &created); err != nil {
		return nil, err
	}
	var digests []string
	if err := fromJSONText(arts, &digests); err != nil {
		return nil, err
	}
	r.Artifacts = make([]cd.Artifact, len(digests))
	for i, d := range digests {
		r.Artifacts[i].Digest = d
	}
	r.RunID, r.Rejected, r.Created = run.Int64, rejected != 0, fromTS(created)
	return &r, nil
}

// fillArtifacts completes r's artifacts (digests only, from scanRelease) from the artifacts table.
func fillArtifacts(ctx context.Context, q queryer, r *cd.Release) error {
	for i := range r.Artifacts {
		a := &r.Artifacts[i]
		if err := q.queryRow(ctx, `SELECT name, size, media_type FROM artifacts WHERE digest = ?`, a.Digest).
			Scan(&a.Name, &a.Size, &a.MediaType); err != nil {
			return notFound(err, "artifact", a.Digest)
		}
	}
	return nil
}

// PutEnvironment records (or replaces) environment e of repository repoID, keyed by its name.
// Environments keep the order in which they were first put, which is their declaration order.
func (db *DB) PutEnvironment(ctx context.Context, repoID int64, e cd.Environment) error {
	return db.write(ctx, "recording environment "+e.Name, func(t *tx) error {
		if e.Name == "" {
			return fmt.Errorf("environment has no name")
		}
		config, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encoding environment: %w", err)
		}
		if _, err := t.exec(ctx, `INSERT INTO environments (repo_id, name, config, updated) VALUES (?, ?, ?, ?)
			ON CONFLICT (repo_id, name) DO UPDATE SET config = excluded.config, updated = excluded.updated`,
			repoID, e.Name, string(config), ts(t.now)); err != nil {
			return fmt.Errorf("inserting environment: %w", err)
		}
		return nil
	})
}

// ListEnvironments returns the environments of repository repoID in the order they were first put.
func (db *DB) ListEnvironments(ctx context.Context, repoID int64) ([]cd.Environment, error) {
	rows, err := db.rd().query(ctx, `SELECT config FROM environments WHERE repo_id = ? ORDER BY id`, repoID)
	if err != nil {
		return nil, fmt.Errorf("listing environments: %w", err)
	}
	defer rows.Close()
	var out []cd.Environment
	for rows.Next() {
		var config string
		if err := rows.Scan(&config); err != nil {
			return nil, fmt.Errorf("reading environment: %w", err)
		}
		var e cd.Environment
		if err := fromJSONText(config, &e); err != nil {
			return nil, fmt.Errorf("reading environment: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing environments: %w", err)
	}
	return out, nil
}

// CreatePromotion records promotion p of repository repoID. ID, Created, Updated and Approvals
// are assigned; State defaults to queued. The release must exist in repoID.
func (db *DB) CreatePromotion(ctx context.Context, repoID int64, p cd.Promotion) (*cd.Promotion, error) {
	var out *cd.Promotion
	err := db.write(ctx, fmt.Sprintf("creating %s promotion of %s to %s", p.Kind, p.ReleaseID, p.Env), func(t *tx) error {
		if p.State == "" {
			p.State = cd.StateQueued
		}
		if p.Env == "" || p.Kind == "" {
			return fmt.Errorf("a promotion needs an environment and a kind")
		}
		var owner int64
		if err := t.queryRow(ctx, `SELECT repo_id FROM releases WHERE id = ?`, p.ReleaseID).Scan(&owner); err != nil {
			return notFound(err, "release", p.ReleaseID)
		}
		if owner != repoID {
			return fmt.Errorf("release %s is not of repo %d: %w", p.ReleaseID, repoID, ErrNotFound)
		}
		gates, err := jsonText(p.Gates)
		if err != nil {
			return err
		}
		var prev *int64
		if p.Previous != 0 {
			prev = &p.Previous
		}
		if out, err = scanPromotion(t.queryRow(ctx, `INSERT INTO promotions (repo_id, environment, release_id, kind, state,
			started_by, auto, gates, previous, created, updated, run_id, url, reason)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+promotionCols,
			repoID, p.Env, p.ReleaseID, string(p.Kind), string(p.State), p.StartedBy, boolInt(p.Auto), gates,
			nullID(prev), ts(t.now), ts(t.now), nullID(nonZero(p.RunID)), p.URL, p.Reason)); err != nil {
			return fmt.Errorf("inserting promotion: %w", err)
		}
		return t.event(ctx, EventPromotionCreated, ids{repo: repoID, run: out.RunID}, map[string]any{
			"promotion": out.ID, "env": out.Env, "release": out.ReleaseID, "kind": out.Kind, "state": out.State,
			"started_by": out.StartedBy, "auto": out.Auto, "run": out.RunID, "reason": out.Reason,
		})
	})
	return out, err
}

// GetPromotion returns promotion id with its approvals in the order they were given.
func (db *DB) GetPromotion(ctx context.Context, id int64) (*cd.Promotion, error) {
	return getPromotion(ctx, db.rd(), id)
}

func getPromotion(ctx context.Context, q queryer, id int64) (*cd.Promotion, error) {
	p, err := scanPromotion(q.queryRow(ctx, `SELECT `+promotionCols+` FROM promotions WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "promotion", id)
	}
	if p.Approvals, err = listApprovals(ctx, q, id); err != nil {
		return nil, err
	}
	return p, nil
}

// ListPromotions returns up to limit (default 50) promotions of repository repoID, newest first;
// with env set, only that environment's: its history.
func (db *DB) ListPromotions(ctx context.Context, repoID int64, env string, limit int) ([]cd.Promotion, error) {
	if limit <= 0 {
		limit = defaultCDListLimit
	}
	if env != "" {
		return db.listPromotionsWhere(ctx, `repo_id = ? AND environment = ? ORDER BY id DESC LIMIT ?`, repoID, env, limit)
	}
	return db.listPromotionsWhere(ctx, `repo_id = ? ORDER BY id DESC LIMIT ?`, repoID, limit)
}

// SetPromotionState moves promotion id to state, writing promotion.state. Once a promotion is
// terminal only success → inactive is allowed; setting the state it has is a no-op without an
// event. When it becomes success, the environment's other successes become inactive in the
// same transaction, so an environment never shows two current deployments.
func (db *DB) SetPromotionState(ctx context.Context, id int64, state cd.State) (*cd.Promotion, error) {
	var out *cd.Promotion
	err := db.write(ctx, fmt.Sprintf("setting promotion %d %s", id, state), func(t *tx) error {
		if !knownState(state) {
			return fmt.Errorf("unknown promotion state %q", state)
		}
		var repoID int64
		var env string
		var cur cd.State
		if err := t.queryRow(ctx, `SELECT repo_id, environment, state FROM promotions WHERE id = ?`+t.db.d.forUpdate(), id).
			Scan(&repoID, &env, &cur); err != nil {
			return notFound(err, "promotion", id)
		}
		if cur != state {
			if cur.Terminal() && !(cur == cd.StateSuccess && state == cd.StateInactive) {
				return fmt.Errorf("promotion %d is %s: only a success can change, to inactive", id, cur)
			}
			if err := t.setPromotionState(ctx, repoID, id, cur, state); err != nil {
				return err
			}
			if state == cd.StateSuccess {
				if err := t.deactivateOthers(ctx, repoID, env, id); err != nil {
					return err
				}
			}
		}
		var err error
		out, err = getPromotion(ctx, t, id)
		return err
	})
	return out, err
}

func (t *tx) setPromotionState(ctx context.Context, repoID, id int64, from, to cd.State) error {
	if _, err := t.exec(ctx, `UPDATE promotions SET state = ?, updated = ? WHERE id = ?`, string(to), ts(t.now), id); err != nil {
		return fmt.Errorf("updating promotion %d: %w", id, err)
	}
	return t.event(ctx, EventPromotionState, ids{repo: repoID}, map[string]any{"promotion": id, "from": from, "to": to})
}

func (t *tx) deactivateOthers(ctx context.Context, repoID int64, env string, keep int64) error {
	rows, err := t.query(ctx, `SELECT id FROM promotions WHERE repo_id = ? AND environment = ? AND state = ? AND id != ? ORDER BY id`,
		repoID, env, string(cd.StateSuccess), keep)
	if err != nil {
		return fmt.Errorf("finding earlier successes: %w", err)
	}
	var others []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("finding earlier successes: %w", err)
		}
		others = append(others, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("finding earlier successes: %w", err)
	}
	for _, id := range others {
		if err := t.setPromotionState(ctx, repoID, id, cd.StateSuccess, cd.StateInactive); err != nil {
			return err
		}
	}
	return nil
}

func knownState(s cd.State) bool {
	switch s {
	case cd.StateQueued, cd.StateWaiting, cd.StateInProgress, cd.StateSuccess, cd.StateFailure, cd.StateError, cd.StateInactive:
		return true
	}
	return false
}

// AddApproval records a's decision on promotion promotionID; At is assigned. A second decision
// by the same person is ErrConflict: a reviewer decides once. Whether a counts (reviewer list,
// self-approval) is cd.CheckApproval's business, before this call.
func (db *DB) AddApproval(ctx context.Context, promotionID int64, a cd.Approval) (*cd.Promotion, error) {
	var out *cd.Promotion
	err := db.write(ctx, fmt.Sprintf("recording %s's decision on promotion %d", a.By, promotionID), func(t *tx) error {
		if a.By == "" {
			return fmt.Errorf("an approval needs a reviewer")
		}
		var repoID int64
		if err := t.queryRow(ctx, `SELECT repo_id FROM promotions WHERE id = ?`, promotionID).Scan(&repoID); err != nil {
			return notFound(err, "promotion", promotionID)
		}
		if _, err := t.exec(ctx, `INSERT INTO approvals (promotion_id, reviewer, approve, comment, at) VALUES (?, ?, ?, ?, ?)`,
			promotionID, a.By, boolInt(a.Approve), a.Comment, ts(t.now)); err != nil {
			return t.db.conflict(fmt.Errorf("inserting approval: %w", err), "approval by "+a.By)
		}
		if err := t.event(ctx, EventPromotionApproval, ids{repo: repoID}, map[string]any{
			"promotion": promotionID, "by": a.By, "approve": a.Approve,
		}); err != nil {
			return err
		}
		var err error
		out, err = getPromotion(ctx, t, promotionID)
		return err
	})
	return out, err
}

func listApprovals(ctx context.Context, q queryer, promotionID int64) ([]cd.Approval, error) {
	rows, err := q.query(ctx, `SELECT reviewer, approve, comment, at FROM approvals WHERE promotion_id = ? ORDER BY at, reviewer`,
		promotionID)
	if err != nil {
		return nil, fmt.Errorf("listing approvals of promotion %d: %w", promotionID, err)
	}
	defer rows.Close()
	var out []cd.Approval
	for rows.Next() {
		var a cd.Approval
		var approve int
		var at int64
		if err := rows.Scan(&a.By, &approve, &a.Comment, &at); err != nil {
			return nil, fmt.Errorf("reading approval: %w", err)
		}
		a.Approve, a.At = approve != 0, fromTS(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

func scanPromotion(s scanner) (*cd.Promotion, error) {
	var p cd.Promotion
	var kind, state, gates string
	var auto int
	var prev, run sql.NullInt64
	var created, updated int64
	if err := s.Scan(&p.ID, &p.Env, &p.ReleaseID, &kind, &state, &p.StartedBy, &auto, &gates, &prev, &created, &updated,
		&run, &p.URL, &p.Reason, &p.RepoID); err != nil {
		return nil, err
	}
	if err := fromJSONText(gates, &p.Gates); err != nil {
		return nil, err
	}
	if len(p.Gates) == 0 {
		p.Gates = nil
	}
	p.Kind, p.State, p.Auto, p.Previous, p.RunID = cd.Kind(kind), cd.State(state), auto != 0, prev.Int64, run.Int64
	p.Created, p.Updated = fromTS(created), fromTS(updated)
	return &p, nil
}
