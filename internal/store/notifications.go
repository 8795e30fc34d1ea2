package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Notification records: channels (where to send what), the SMTP relay, the notifier's cursor
// over the event log and a log of deliveries. Secrets are ciphertext: the store never sees a
// webhook URL or an SMTP password in plaintext.

// Event kinds of notification settings.
const (
	EventNotifyChannelSet     = "notify.channel.set"
	EventNotifyChannelDeleted = "notify.channel.deleted"
	EventNotifySMTPSet        = "notify.smtp.set"
)

// NotifyChannel is one place notifications go: a Slack-compatible incoming webhook, a signed
// JSON webhook or email recipients. RepoID nil is a server-wide default.
type NotifyChannel struct {
	ID     int64    `json:"id"`
	RepoID *int64   `json:"repo_id,omitempty"`
	Kind   string   `json:"kind"`
	Name   string   `json:"name"`
	Events []string `json:"events"`
	// Target is what may be shown of where the channel sends: email recipients, or a webhook
	// URL's scheme and host. Secret (sealed) holds the rest.
	Target    string    `json:"target"`
	Secret    []byte    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

const notifyChannelCols = `id, repo_id, kind, name, events, target, secret, created_at, updated_at`

func scanNotifyChannel(s scanner) (*NotifyChannel, error) {
	var c NotifyChannel
	var repo sql.NullInt64
	var events string
	var created, updated int64
	if err := s.Scan(&c.ID, &repo, &c.Kind, &c.Name, &events, &c.Target, &c.Secret, &created, &updated); err != nil {
		return nil, err
	}
	if err := fromJSONText(events, &c.Events); err != nil {
		return nil, err
	}
	c.RepoID, c.CreatedAt, c.UpdatedAt = fromNullID(repo), fromTS(created), fromTS(updated)
	return &c, nil
}

// PutNotifyChannel creates c (ID 0) or replaces channel c.ID's kind, name, events, target and
// secret (a nil Secret keeps the stored one, so a form need not show it back). Names are unique
// per scope: ErrConflict.
func (db *DB) PutNotifyChannel(ctx context.Context, c NotifyChannel) (*NotifyChannel, error) {
	var out *NotifyChannel
	err := db.write(ctx, fmt.Sprintf("saving notification channel %s of %s", c.Name, scopeName(c.RepoID)), func(t *tx) error {
		events, err := jsonText(c.Events)
		if err != nil {
			return err
		}
		if c.ID == 0 {
			out, err = scanNotifyChannel(t.queryRow(ctx, `INSERT INTO notify_channels (repo_id, kind, name, events, target, secret,
				created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+notifyChannelCols,
				nullID(c.RepoID), c.Kind, c.Name, events, c.Target, c.Secret, ts(t.now), ts(t.now)))
		} else {
			out, err = scanNotifyChannel(t.queryRow(ctx, `UPDATE notify_channels SET kind = ?, name = ?, events = ?, target = ?,
				secret = COALESCE(?, secret), updated_at = ? WHERE id = ? RETURNING `+notifyChannelCols,
				c.Kind, c.Name, events, c.Target, c.Secret, ts(t.now), c.ID))
			if errors.Is(err, sql.ErrNoRows) {
				return notFound(err, "notification channel", c.ID)
			}
		}
		if err != nil {
			return db.conflict(err, "notification channel "+c.Name)
		}
		return t.event(ctx, EventNotifyChannelSet, ids{repo: derefID(out.RepoID)},
			map[string]any{"channel": out.ID, "kind": out.Kind, "name": out.Name, "events": out.Events})
	})
	return out, err
}

func derefID(id *int64) int64 {
	if id == nil {
		return 0
	}
	return *id
}

// GetNotifyChannel returns channel id.
func (db *DB) GetNotifyChannel(ctx context.Context, id int64) (*NotifyChannel, error) {
	c, err := scanNotifyChannel(db.rd().queryRow(ctx, `SELECT `+notifyChannelCols+` FROM notify_channels WHERE id = ?`, id))
	return c, notFound(err, "notification channel", id)
}

// ListNotifyChannels returns the channels of one scope (repoID nil: the server-wide ones), by
// name.
func (db *DB) ListNotifyChannels(ctx context.Context, repoID *int64) ([]NotifyChannel, error) {
	cond, args := scopeCond(repoID)
	rows, err := db.rd().query(ctx, `SELECT `+notifyChannelCols+` FROM notify_channels WHERE `+cond+` ORDER BY name, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("listing notification channels of %s: %w", scopeName(repoID), err)
	}
	defer rows.Close()
	var out []NotifyChannel
	for rows.Next() {
		c, err := scanNotifyChannel(rows)
		if err != nil {
			return nil, fmt.Errorf("reading notification channel: %w", err)
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

// DeleteNotifyChannel removes channel id with its delivery log.
func (db *DB) DeleteNotifyChannel(ctx context.Context, id int64) error {
	return db.write(ctx, fmt.Sprintf("deleting notification channel %d", id), func(t *tx) error {
		var repo sql.NullInt64
		if err := t.queryRow(ctx, `DELETE FROM notify_channels WHERE id = ? RETURNING repo_id`, id).Scan(&repo); err != nil {
			return notFound(err, "notification channel", id)
		}
		return t.event(ctx, EventNotifyChannelDeleted, ids{repo: derefID(fromNullID(repo))}, map[string]any{"channel": id})
	})
}

// NotifySMTP is the relay email notifications go through. Password is ciphertext.
type NotifySMTP struct {
	Host      string    `json:"host"`
	Port      int       `json:"port"`
	Username  string    `json:"username"`
	Password  []byte    `json:"-"`
	From      string    `json:"from"`
	TLS       string    `json:"tls"` // starttls (default), tls, none
	UpdatedAt time.Time `json:"updated_at"`
}

// GetNotifySMTP returns the SMTP relay, or ErrNotFound when none is set.
func (db *DB) GetNotifySMTP(ctx context.Context) (*NotifySMTP, error) {
	var s NotifySMTP
	var updated int64
	err := db.rd().queryRow(ctx, `SELECT host, port, username, password, sender, tls, updated_at FROM notify_smtp WHERE id = 1`).
		Scan(&s.Host, &s.Port, &s.Username, &s.Password, &s.From, &s.TLS, &updated)
	if err != nil {
		return nil, notFound(err, "smtp relay", "")
	}
	s.UpdatedAt = fromTS(updated)
	return &s, nil
}

// PutNotifySMTP sets the SMTP relay; a nil Password keeps the stored one.
func (db *DB) PutNotifySMTP(ctx context.Context, s NotifySMTP) error {
	return db.write(ctx, "saving the smtp relay", func(t *tx) error {
		if _, err := t.exec(ctx, `INSERT INTO notify_smtp (id, host, port, username, password, sender, tls, updated_at)
			VALUES (1, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET host = excluded.host, port = excluded.port, username = excluded.username,
			password = COALESCE(excluded.password, notify_smtp.password), sender = excluded.sender, tls = excluded.tls,
			updated_at = excluded.updated_at`,
			s.Host, s.Port, s.Username, s.Password, s.From, s.TLS, ts(t.now)); err != nil {
			return err
		}
		return t.event(ctx, EventNotifySMTPSet, ids{}, map[string]any{"host": s.Host, "port": s.Port})
	})
}

// NotifyCursor is the ID of the last event the notifier has handled; ok is false before the
// notifier ever ran.
func (db *DB) NotifyCursor(ctx context.Context) (id int64, ok bool, err error) {
	err = db.rd().queryRow(ctx, `SELECT event_id FROM notify_cursor WHERE id = 1`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("reading the notifier's cursor: %w", err)
	}
	return id, true, nil
}

// ClaimNotifyEvents moves the notifier's cursor from from to to, and reports false when another
// notifier moved it first (its events are theirs). from -1 claims a cursor that does not exist
// yet.
func (db *DB) ClaimNotifyEvents(ctx context.Context, from, to int64) (bool, error) {
	var claimed bool
	err := db.write(ctx, "moving the notifier's cursor", func(t *tx) error {
		var res sql.Result
		var err error
		if from < 0 {
			res, err = t.exec(ctx, `INSERT INTO notify_cursor (id, event_id) VALUES (1, ?) ON CONFLICT (id) DO NOTHING`, to)
		} else {
			res, err = t.exec(ctx, `UPDATE notify_cursor SET event_id = ? WHERE id = 1 AND event_id = ?`, to, from)
		}
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		claimed = n == 1
		return err
	})
	return claimed, err
}

// LastEventID is the ID of the newest event (0 when there is none).
func (db *DB) LastEventID(ctx context.Context) (int64, error) {
	var id sql.NullInt64
	if err := db.rd().queryRow(ctx, `SELECT MAX(id) FROM events`).Scan(&id); err != nil {
		return 0, fmt.Errorf("reading the last event: %w", err)
	}
	return id.Int64, nil
}

// NotifyDelivery is one attempt to notify a channel.
type NotifyDelivery struct {
	ID        int64     `json:"id"`
	ChannelID int64     `json:"channel_id"`
	Event     string    `json:"event"` // failure, recovery, approval, rollback, test
	Subject   string    `json:"subject"`
	OK        bool      `json:"ok"`
	Detail    string    `json:"detail,omitempty"` // the error, when not ok
	At        time.Time `json:"at"`
}

// notifyLogKeep bounds the delivery log per channel.
const notifyLogKeep = 50

// AddNotifyDelivery records a delivery, keeping the channel's newest notifyLogKeep.
func (db *DB) AddNotifyDelivery(ctx context.Context, d NotifyDelivery) error {
	return db.write(ctx, fmt.Sprintf("recording a delivery to channel %d", d.ChannelID), func(t *tx) error {
		if _, err := t.exec(ctx, `INSERT INTO notify_log (channel_id, event, subject, ok, detail, at) VALUES (?, ?, ?, ?, ?, ?)`,
			d.ChannelID, d.Event, d.Subject, boolInt(d.OK), d.Detail, ts(t.now)); err != nil {
			return err
		}
		_, err := t.exec(ctx, `DELETE FROM notify_log WHERE channel_id = ? AND id NOT IN
			(SELECT id FROM notify_log WHERE channel_id = ? ORDER BY id DESC LIMIT ?)`, d.ChannelID, d.ChannelID, notifyLogKeep)
		return err
	})
}

// ListNotifyDeliveries returns channel id's deliveries, newest first, at most limit.
func (db *DB) ListNotifyDeliveries(ctx context.Context, channelID int64, limit int) ([]NotifyDelivery, error) {
	if limit <= 0 {
		limit = notifyLogKeep
	}
	rows, err := db.rd().query(ctx, `SELECT id, channel_id, event, subject, ok, detail, at FROM notify_log
		WHERE channel_id = ? ORDER BY id DESC LIMIT ?`, channelID, limit)
	if err != nil {
		return nil, fmt.Errorf("listing deliveries of channel %d: %w", channelID, err)
	}
	defer rows.Close()
	var out []NotifyDelivery
	for rows.Next() {
		var d NotifyDelivery
		var ok int
		var at int64
		if err := rows.Scan(&d.ID, &d.ChannelID, &d.Event, &d.Subject, &ok, &d.Detail, &at); err != nil {
			return nil, fmt.Errorf("reading delivery: %w", err)
		}
		d.OK, d.At = ok != 0, fromTS(at)
		out = append(out, d)
	}
	return out, rows.Err()
}
