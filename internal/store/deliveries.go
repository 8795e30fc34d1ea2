package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Delivery is one webhook request as received, valid or not. A valid one is recorded before the
// server answers the forge, so an acknowledged webhook survives a crash and can be processed
// again; a rejected one leaves a trace without its body.
type Delivery struct {
	ID         int64  `json:"id"`
	Forge      string `json:"forge"` // github, gitea, gitlab
	Event      string `json:"event"`
	DeliveryID string `json:"delivery_id"`
	// RepoID is the repository a valid delivery was verified for.
	RepoID     int64     `json:"repo_id,omitempty"`
	Valid      bool      `json:"valid"`
	Reason     string    `json:"reason,omitempty"` // why it was rejected, or why processing it last failed
	Body       []byte    `json:"-"`
	ReceivedAt time.Time `json:"received_at"`
	Processed  bool      `json:"processed"`
	// Attempts counts the times processing it failed.
	Attempts int `json:"attempts,omitempty"`
}

// Bounds on what webhooks can make the server keep.
const (
	// MaxRejectedDeliveries is how many rejected deliveries (bodiless) are kept; older ones go.
	MaxRejectedDeliveries = 1000
	// MaxDeliveryAttempts is how often a valid delivery whose processing fails is tried before
	// it is given up (recorded, never executed again).
	MaxDeliveryAttempts = 5
)

const deliveryCols = `id, forge, event, delivery_id, repo_id, valid, reason, body, received_at, processed, attempts`

func scanDelivery(s scanner) (*Delivery, error) {
	var d Delivery
	var valid, processed int
	var received int64
	var repo sql.NullInt64
	if err := s.Scan(&d.ID, &d.Forge, &d.Event, &d.DeliveryID, &repo, &valid, &d.Reason, &d.Body, &received, &processed, &d.Attempts); err != nil {
		return nil, err
	}
	d.Valid, d.Processed, d.ReceivedAt, d.RepoID = valid != 0, processed != 0, fromTS(received), repo.Int64
	return &d, nil
}

// CreateDelivery records a delivery. A rejected one (not valid) is stored without its body,
// processed, without an event, and only the newest MaxRejectedDeliveries of them are kept: an
// unauthenticated flood cannot grow the database. A valid one gets a webhook.received event; when
// its repository already has a delivery with the same non-empty delivery id, nothing is stored
// and that delivery is returned with existed true (a replay).
func (db *DB) CreateDelivery(ctx context.Context, d Delivery) (out *Delivery, existed bool, err error) {
	err = db.write(ctx, fmt.Sprintf("recording %s delivery %s", d.Forge, d.DeliveryID), func(t *tx) error {
		if !d.Valid {
			var err error
			out, err = scanDelivery(t.queryRow(ctx, `INSERT INTO deliveries (forge, event, delivery_id, valid, reason, body,
				received_at, processed) VALUES (?, ?, ?, 0, ?, NULL, ?, 1) RETURNING `+deliveryCols,
				clipText(d.Forge, 32), clipText(d.Event, 128), clipText(d.DeliveryID, 128), clipText(d.Reason, 512), ts(t.now)))
			if err != nil {
				return err
			}
			_, err = t.exec(ctx, `DELETE FROM deliveries WHERE valid = 0 AND id <= (SELECT id FROM deliveries WHERE valid = 0
				ORDER BY id DESC LIMIT 1 OFFSET ?)`, MaxRejectedDeliveries)
			return err
		}
		var repo any
		if d.RepoID != 0 {
			repo = d.RepoID
		}
		if d.RepoID != 0 && d.DeliveryID != "" {
			prev, err := scanDelivery(t.queryRow(ctx, `SELECT `+deliveryCols+` FROM deliveries WHERE repo_id = ? AND delivery_id = ?`,
				d.RepoID, d.DeliveryID))
			if err == nil {
				out, existed = prev, true
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		// Two replicas given the same redelivery at once: one row, the other finds it.
		var err error
		out, err = scanDelivery(t.queryRow(ctx, `INSERT INTO deliveries (forge, event, delivery_id, repo_id, valid, reason, body,
			received_at, processed) VALUES (?, ?, ?, ?, 1, ?, ?, ?, 0)
			ON CONFLICT (repo_id, delivery_id) WHERE repo_id IS NOT NULL AND delivery_id != '' DO NOTHING
			RETURNING `+deliveryCols,
			d.Forge, d.Event, d.DeliveryID, repo, d.Reason, d.Body, ts(t.now)))
		if errors.Is(err, sql.ErrNoRows) {
			out, err = scanDelivery(t.queryRow(ctx, `SELECT `+deliveryCols+` FROM deliveries WHERE repo_id = ? AND delivery_id = ?`,
				d.RepoID, d.DeliveryID))
			existed = err == nil
			return err
		}
		if err != nil {
			return err
		}
		return t.event(ctx, EventWebhookReceived, ids{}, map[string]any{"delivery": out.ID, "forge": d.Forge, "event": d.Event, "delivery_id": d.DeliveryID})
	})
	return out, existed, err
}

// clipText bounds a string a stranger chose before it is stored.
func clipText(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// GetDelivery returns delivery id.
func (db *DB) GetDelivery(ctx context.Context, id int64) (*Delivery, error) {
	d, err := scanDelivery(db.rd().queryRow(ctx, `SELECT `+deliveryCols+` FROM deliveries WHERE id = ?`, id))
	return d, notFound(err, "delivery", id)
}

// DeliveryFilter selects deliveries; results are newest first.
type DeliveryFilter struct {
	// Unprocessed selects valid deliveries not yet processed and not given up, oldest first
	// (for replay after a crash).
	Unprocessed bool
	Before      int64 // only IDs below (paging)
	Limit       int   // default 100
}

// ListDeliveries returns deliveries matching f.
func (db *DB) ListDeliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error) {
	q := `SELECT ` + deliveryCols + ` FROM deliveries WHERE id < ?`
	before := f.Before
	if before == 0 {
		before = 1<<63 - 1
	}
	order := ` ORDER BY id DESC`
	if f.Unprocessed {
		q += ` AND processed = 0 AND valid = 1`
		order = ` ORDER BY id`
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.rd().query(ctx, q+order+` LIMIT ?`, before, limit)
	if err != nil {
		return nil, fmt.Errorf("listing deliveries: %w", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("reading delivery: %w", err)
		}
		out = append(out, *d)
	}
	return out, rows.Err()
}

// MarkDeliveryProcessed records that delivery id has been turned into runs (or ignored), with
// a webhook.processed event naming the runs it created.
func (db *DB) MarkDeliveryProcessed(ctx context.Context, id int64, runIDs []int64) error {
	return db.write(ctx, fmt.Sprintf("marking delivery %d processed", id), func(t *tx) error {
		res, err := t.exec(ctx, `UPDATE deliveries SET processed = 1 WHERE id = ? AND processed = 0`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := getDeliveryTx(ctx, t, id); err != nil {
				return err
			}
			return nil // already processed
		}
		return t.event(ctx, EventWebhookHandled, ids{}, map[string]any{"delivery": id, "runs": runIDs})
	})
}

// RunsOfDelivery returns the IDs of the runs made for delivery id, oldest first.
func (db *DB) RunsOfDelivery(ctx context.Context, id int64) ([]int64, error) {
	rows, err := db.rd().query(ctx, `SELECT id FROM runs WHERE delivery_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("listing the runs of delivery %d: %w", id, err)
	}
	defer rows.Close()
	out := []int64{}
	for rows.Next() {
		var r int64
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeliveryFailed records that processing delivery id failed with reason. After
// MaxDeliveryAttempts failures it is given up: marked processed with a webhook.abandoned event,
// never executed again. It returns the attempts made and whether it was given up.
func (db *DB) DeliveryFailed(ctx context.Context, id int64, reason string) (attempts int, gaveUp bool, err error) {
	err = db.write(ctx, fmt.Sprintf("recording delivery %d's failure", id), func(t *tx) error {
		if err := t.queryRow(ctx, `UPDATE deliveries SET attempts = attempts + 1, reason = ? WHERE id = ? AND processed = 0
			RETURNING attempts`, clipText(reason, 1024), id).Scan(&attempts); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				_, gerr := getDeliveryTx(ctx, t, id)
				return gerr // already processed (or gone)
			}
			return err
		}
		if attempts < MaxDeliveryAttempts {
			return nil
		}
		gaveUp = true
		if _, err := t.exec(ctx, `UPDATE deliveries SET processed = 1 WHERE id = ?`, id); err != nil {
			return err
		}
		return t.event(ctx, EventWebhookAbandoned, ids{}, map[string]any{"delivery": id, "attempts": attempts, "reason": clipText(reason, 1024)})
	})
	return attempts, gaveUp, err
}

// PruneDeliveries removes processed and rejected deliveries received before cutoff, bodies
// and all; it returns how many went. Unprocessed valid ones stay until processed or given up.
func (db *DB) PruneDeliveries(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := db.write(ctx, "pruning old webhook deliveries", func(t *tx) error {
		res, err := t.exec(ctx, `DELETE FROM deliveries WHERE received_at < ? AND processed = 1`, ts(cutoff))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

func getDeliveryTx(ctx context.Context, t *tx, id int64) (*Delivery, error) {
	d, err := scanDelivery(t.queryRow(ctx, `SELECT `+deliveryCols+` FROM deliveries WHERE id = ?`, id))
	return d, notFound(err, "delivery", id)
}
