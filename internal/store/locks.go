package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"hash/fnv"
	mrand "math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// Locks that span several transactions, respected by every replica on the database: on Postgres
// they are session advisory locks, each held on a connection of its own (a pool apart from the
// one queries use, so holders never starve the queries they make while holding), released by
// the server when the holder's connection ends — a replica killed with -9 frees its locks at
// once. On SQLite, which has one server process, they are in-process locks.

// lock namespaces: the high 16 bits of a Postgres advisory lock key.
const (
	lockRun      = 1
	lockNamed    = 2
	lockDelivery = 3
)

func lockKey(ns int64, id int64) int64 { return ns<<48 | id&(1<<48-1) }

func namedKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return lockKey(lockNamed, int64(h.Sum64()&(1<<48-1)))
}

// WithRunLock runs fn while holding run runID's lock, waiting for it: whoever advances a run's
// job graph — any replica, any goroutine — does it alone, deciding from what it reads.
func (db *DB) WithRunLock(ctx context.Context, runID int64, fn func(ctx context.Context) error) error {
	return db.withLock(ctx, poolRun, lockKey(lockRun, runID), fmt.Sprintf("run %d", runID), fn)
}

// WithLock runs fn while holding the cluster-wide lock called name, waiting for it.
func (db *DB) WithLock(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	return db.withLock(ctx, poolNamed, namedKey(name), name, fn)
}

// Lock takes the cluster-wide lock called name, waiting for it, and returns its release.
func (db *DB) Lock(ctx context.Context, name string) (release func(), err error) {
	h, err := db.lockDriver(poolNamed).acquire(ctx, namedKey(name))
	if err != nil {
		return nil, fmt.Errorf("taking the lock %s: %w", name, err)
	}
	return h.release, nil
}

// TryDeliveryLock takes delivery id's lock if it is free: the replica that received a webhook
// holds it while turning it into runs, and a replica replaying deliveries left unprocessed
// skips the ones held. The lock is released by calling release.
func (db *DB) TryDeliveryLock(ctx context.Context, id int64) (release func(), ok bool, err error) {
	h, ok, err := db.lockDriver(poolHeld).try(ctx, lockKey(lockDelivery, id))
	if err != nil || !ok {
		return func() {}, ok, err
	}
	return func() { h.release() }, true, nil
}

func (db *DB) withLock(ctx context.Context, pool int, key int64, what string, fn func(ctx context.Context) error) error {
	h, err := db.lockDriver(pool).acquire(ctx, key)
	if err != nil {
		return fmt.Errorf("taking the lock of %s: %w", what, err)
	}
	defer h.release()
	return fn(ctx)
}

// Lease is a named lock held until Release or until the holder loses its connection to the
// database: background work that must run once across all replicas (cron, polling, the lease
// reaper…) runs under one, and stops when Lost is closed.
type Lease struct {
	Name string
	h    lockHandle
	lost chan struct{}
	stop chan struct{}
	once sync.Once
	done chan struct{}
}

// Lost is closed when the lease can no longer be trusted (its connection failed), and after
// Release.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Release gives the lease up.
func (l *Lease) Release() {
	l.once.Do(func() { close(l.stop) })
	<-l.done
}

// leaseCheck is how often a held lease checks its connection.
const leaseCheck = 2 * time.Second

// TryLease takes the lease called name if no replica holds it. ok is false when another does.
func (db *DB) TryLease(ctx context.Context, name string) (*Lease, bool, error) {
	h, ok, err := db.lockDriver(poolHeld).try(ctx, namedKey("lease:"+name))
	if err != nil || !ok {
		return nil, ok, err
	}
	l := &Lease{Name: name, h: h, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		defer close(l.lost)
		defer h.release()
		t := time.NewTicker(leaseCheck)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				if !h.alive(ctx) {
					return
				}
			}
		}
	}()
	return l, true, nil
}

// lockDriver holds locks for a DB: Postgres advisory locks or in-process ones.
type lockDriver interface {
	acquire(ctx context.Context, key int64) (lockHandle, error)
	try(ctx context.Context, key int64) (lockHandle, bool, error)
}

type lockHandle interface {
	release()
	alive(ctx context.Context) bool
}

// Locks are held on connections of three pools, by how they nest: a lease or a delivery's lock
// is held longest and outermost (the work under it advances runs); a run's lock is taken under
// those; a named lock (deployments, an artifact or cache index) under a run's. A holder only
// ever waits for a connection of a pool nested inside its own, so the pools cannot all be held
// by holders waiting on each other — one shared pool could be, by a burst of webhooks each
// holding its delivery's lock while waiting for a connection to lock its run.
const (
	poolHeld = iota
	poolRun
	poolNamed
	lockPools
)

// lockPoolConns is a pool's size; with the query pool and the listener, one replica uses at
// most defaultPostgresConns+12+12+6+1 = 47 connections.
func lockPoolConns(pool int) int {
	if pool == poolNamed {
		return 6
	}
	return 12
}

func (db *DB) lockDriver(pool int) lockDriver {
	if db.locks[pool] != nil {
		return pgLocks{pool: db.locks[pool], hub: db.hub, origin: db.origin}
	}
	return db.local
}

// pgLocks takes session advisory locks on connections of their own pool.
type pgLocks struct {
	pool *sql.DB
	// A release is announced on the lock's topic (lockTopic), here and to the other replicas,
	// so that a waiter tries again at once instead of when its poll comes round.
	hub    *hub
	origin string
}

// lockTopic changes when the advisory lock key is released.
func lockTopic(key int64) Topic { return Topic("lock:" + strconv.FormatInt(key, 10)) }

type pgHandle struct {
	conn *sql.Conn
	key  int64
	p    pgLocks
}

// acquire polls pg_try_advisory_lock rather than waiting in pg_advisory_lock: a waiter must
// not hold one of the pool's connections while another replica holds the lock, or a burst of
// waiters (every leg of a matrix ending at once) would take every connection from the holders
// that would free them.
func (p pgLocks) acquire(ctx context.Context, key int64) (lockHandle, error) {
	wait := 2 * time.Millisecond
	for {
		// Watch before trying, so a release between the two still wakes us.
		released, stop := p.hub.watch([]Topic{lockTopic(key)})
		h, ok, err := p.try(ctx, key)
		if err != nil || ok {
			stop()
			return h, err
		}
		t := time.NewTimer(wait/2 + time.Duration(mrand.Int64N(int64(wait))))
		select {
		case <-ctx.Done():
			t.Stop()
			stop()
			return nil, ctx.Err()
		case <-released:
			// Free now: try at once. The poll stays for a release whose notice was lost.
		case <-t.C:
			wait = min(2*wait, 50*time.Millisecond)
		}
		t.Stop()
		stop()
	}
}

func (p pgLocks) try(ctx context.Context, key int64) (lockHandle, bool, error) {
	conn, err := p.pool.Conn(ctx)
	if err != nil {
		return nil, false, err
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
		discard(conn)
		return nil, false, err
	}
	if !ok {
		conn.Close()
		return nil, false, nil
	}
	return pgHandle{conn, key, p}, true, nil
}

func (h pgHandle) release() {
	// Unlocked whatever the caller's context: a lock must not outlive its holder's work.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ok bool
	// One round trip: the unlock, and the notice to the other replicas' waiters (delivered when
	// this statement commits, after the unlock).
	topic := lockTopic(h.key)
	err := h.conn.QueryRowContext(ctx, `SELECT pg_advisory_unlock($1) FROM (SELECT pg_notify($2, $3)) n`,
		h.key, notifyChannel, encodeTopics(h.p.origin, []Topic{topic})).Scan(&ok)
	if err != nil || !ok {
		// The session may still hold it: end the session, which frees every lock it holds.
		discard(h.conn)
		h.p.hub.publish(topic)
		return
	}
	h.conn.Close()
	h.p.hub.publish(topic)
}

func (h pgHandle) alive(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaseCheck)
	defer cancel()
	return h.conn.PingContext(ctx) == nil
}

// discard closes conn's session instead of returning it to the pool.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}

// localLocks are in-process locks keyed like advisory locks: each is a channel of one slot, so
// waiting for one respects the context.
type localLocks struct {
	mu    sync.Mutex
	locks map[int64]*localLock
}

type localLock struct {
	slot chan struct{}
	refs int
}

type localHandle struct {
	l   *localLocks
	key int64
}

func newLocalLocks() *localLocks { return &localLocks{locks: map[int64]*localLock{}} }

func (l *localLocks) get(key int64) *localLock {
	l.mu.Lock()
	defer l.mu.Unlock()
	lk := l.locks[key]
	if lk == nil {
		lk = &localLock{slot: make(chan struct{}, 1)}
		l.locks[key] = lk
	}
	lk.refs++
	return lk
}

func (l *localLocks) put(key int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lk := l.locks[key]; lk != nil {
		if lk.refs--; lk.refs == 0 {
			delete(l.locks, key)
		}
	}
}

func (l *localLocks) acquire(ctx context.Context, key int64) (lockHandle, error) {
	lk := l.get(key)
	select {
	case lk.slot <- struct{}{}:
		return localHandle{l, key}, nil
	case <-ctx.Done():
		l.put(key)
		return nil, ctx.Err()
	}
}

func (l *localLocks) try(_ context.Context, key int64) (lockHandle, bool, error) {
	lk := l.get(key)
	select {
	case lk.slot <- struct{}{}:
		return localHandle{l, key}, true, nil
	default:
		l.put(key)
		return nil, false, nil
	}
}

func (h localHandle) release() {
	h.l.mu.Lock()
	lk := h.l.locks[h.key]
	h.l.mu.Unlock()
	if lk != nil {
		<-lk.slot
	}
	h.l.put(h.key)
}

func (localHandle) alive(context.Context) bool { return true }
