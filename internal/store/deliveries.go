package store

import (
	"context"
	"fmt"
	"time"
)

// Delivery is one webhook request as received, valid or not. The server records it before it
// answers the forge, so an acknowledged webhook survives a crash and can be processed again.
type Delivery struct {
	ID         int64     `json:"id"`
	Forge      string    `json:"forge"` // github, gitea, gitlab
	Event      string    `json:"event"`
	DeliveryID string    `json:"delivery_id"`
	Valid      bool      `json:"valid"`
	Reason     string    `json:"reason,omitempty"` // why it was rejected
	Body       []byte    `json:"-"`
	ReceivedAt time.Time `json:"received_at"`
	Processed  bool      `json:"processed"`
}

const deliveryCols = `id, forge, event, delivery_id, valid, reason, body, received_at, processed`

func scanDelivery(s scanner) (*Delivery, error) {
	var d Delivery
	var valid, processed int
	var received int64
	if err := s.Scan(&d.ID, &d.Forge, &d.Event, &d.DeliveryID, &valid, &d.Reason, &d.Body, &received, &processed); err != nil {
		return nil, err
	}
	d.Valid, d.Processed, d.ReceivedAt = valid != 0, processed != 0, fromTS(received)
	return &d, nil
}

// CreateDelivery records delivery d with a webhook.received event, or webhook.rejected when it
// is not valid. Rejected deliveries are stored as processed: there is nothing to do for them.
func (db *DB) CreateDelivery(ctx context.Context, d Delivery) (*Delivery, error) {
	var out *Delivery
	err := db.write(ctx, fmt.Sprintf("recording %s delivery %s", d.Forge, d.DeliveryID), func(t *tx) error {
		var err error
		out, err = scanDelivery(t.queryRow(ctx, `INSERT INTO deliveries (forge, event, delivery_id, valid, reason, body,
			received_at, processed) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+deliveryCols,
			d.Forge, d.Event, d.DeliveryID, boolInt(d.Valid), d.Reason, d.Body, ts(t.now), boolInt(!d.Valid)))
		if err != nil {
			return err
		}
		kind := EventWebhookReceived
		data := map[string]any{"delivery": out.ID, "forge": d.Forge, "event": d.Event, "delivery_id": d.DeliveryID}
		if !d.Valid {
			kind, data["reason"] = EventWebhookRejected, d.Reason
		}
		return t.event(ctx, kind, ids{}, data)
	})
	return out, err
}

// GetDelivery returns delivery id.
func (db *DB) GetDelivery(ctx context.Context, id int64) (*Delivery, error) {
	d, err := scanDelivery(db.rd().queryRow(ctx, `SELECT `+deliveryCols+` FROM deliveries WHERE id = ?`, id))
	return d, notFound(err, "delivery", id)
}

// DeliveryFilter selects deliveries; results are newest first.
type DeliveryFilter struct {
	Unprocessed bool  // only valid deliveries not yet processed, oldest first (for replay after a crash)
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

// FindDelivery returns the first valid delivery forge sent with its own delivery id deliveryID,
// or ErrNotFound (also for an empty id: a forge that sends none cannot be deduplicated).
func (db *DB) FindDelivery(ctx context.Context, forge, deliveryID string) (*Delivery, error) {
	if deliveryID == "" {
		return nil, fmt.Errorf("delivery without an id: %w", ErrNotFound)
	}
	d, err := scanDelivery(db.rd().queryRow(ctx, `SELECT `+deliveryCols+` FROM deliveries
		WHERE forge = ? AND delivery_id = ? AND valid = 1 ORDER BY id LIMIT 1`, forge, deliveryID))
	return d, notFound(err, "delivery", forge+" "+deliveryID)
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

func getDeliveryTx(ctx context.Context, t *tx, id int64) (*Delivery, error) {
	d, err := scanDelivery(t.queryRow(ctx, `SELECT `+deliveryCols+` FROM deliveries WHERE id = ?`, id))
	return d, notFound(err, "delivery", id)
}
