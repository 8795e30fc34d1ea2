package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// listen starts feeding the hub from other processes' notifications (see postgresDialect.notify):
// a waiter in this process wakes when a replica elsewhere commits a change to its topic. The
// listener holds one connection outside the pool and lives until Close.
func (db *DB) listen(ctx context.Context, d postgresDialect) error {
	conn, err := listenConn(ctx, d)
	if err != nil {
		return err
	}
	// The listener outlives Open's context (a start-up deadline, say); Close ends it.
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	db.stopListen = func() {
		cancel()
		<-done
	}
	go func() {
		defer close(done)
		db.listenLoop(lctx, d, conn)
	}()
	return nil
}

func listenConn(ctx context.Context, d postgresDialect) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, d.cfg.Copy())
	if err != nil {
		return nil, fmt.Errorf("connecting the change listener: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("listening for other replicas' changes: %w", err)
	}
	return conn, nil
}

// listenLoop delivers notifications until ctx ends, reconnecting when the connection drops.
// Notifications sent while it was down are lost, so after reconnecting it wakes every waiter:
// each re-reads the state it waits on, which is what a waiter does after any wake-up.
func (db *DB) listenLoop(ctx context.Context, d postgresDialect, conn *pgx.Conn) {
	defer func() {
		if conn != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
	}()
	backoff := 50 * time.Millisecond
	for {
		if conn == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			var err error
			if conn, err = listenConn(ctx, d); err != nil {
				backoff = min(2*backoff, 2*time.Second)
				continue
			}
			backoff = 50 * time.Millisecond
			db.hub.publishAll()
		}
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			conn.Close(context.WithoutCancel(ctx))
			conn = nil
			db.hub.publishAll()
			continue
		}
		origin, topics, all := decodeTopics(n.Payload)
		switch {
		case origin == db.origin:
			// Published in-process at commit already.
		case all:
			db.hub.publishAll()
		default:
			db.hub.publish(topics...)
		}
	}
}
