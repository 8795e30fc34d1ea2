package store

import (
	"strconv"
	"sync"
)

// Topic names something a waiter can watch. Writes publish their topics after they commit.
type Topic string

const (
	// TopicQueue changes whenever a job becomes claimable or stops being one, or an agent frees
	// a slot (queued, claimed, completed, expired, cancelled jobs; agents registered).
	TopicQueue Topic = "queue"
	// TopicEvents changes whenever any event row is written.
	TopicEvents Topic = "events"
)

// TopicJob changes when job id changes state, gets steps, or gets log lines.
func TopicJob(id int64) Topic { return Topic("job:" + strconv.FormatInt(id, 10)) }

// TopicRun changes when run id or any of its jobs changes.
func TopicRun(id int64) Topic { return Topic("run:" + strconv.FormatInt(id, 10)) }

// Watch registers interest in topics and returns a channel that is closed on the next change to
// any of them, and a stop function that unregisters it (call it when giving up; calling it after
// the channel closed is harmless).
//
// To wait without missing a change, call Watch first, then read the state, then wait:
//
//	ch, stop := db.Watch(store.TopicQueue)
//	defer stop()
//	if job, err := db.Claim(ctx, agent, labels, lease); !errors.Is(err, store.ErrNoJob) {
//		return job, err
//	}
//	select { case <-ch: /* try again */ case <-ctx.Done(): }
//
// On SQLite the broadcaster is in-process. On Postgres each commit also NOTIFYs its topics and
// every other DB handle on the database (another replica) wakes its own waiters, so a change
// made through any replica wakes waiters on all of them.
func (db *DB) Watch(topics ...Topic) (<-chan struct{}, func()) {
	return db.hub.watch(topics)
}

type waiter struct {
	ch     chan struct{}
	topics []Topic
}

type hub struct {
	mu      sync.Mutex
	waiters map[Topic]map[*waiter]struct{}
}

func newHub() *hub { return &hub{waiters: map[Topic]map[*waiter]struct{}{}} }

func (h *hub) watch(topics []Topic) (<-chan struct{}, func()) {
	w := &waiter{ch: make(chan struct{}), topics: topics}
	h.mu.Lock()
	for _, t := range topics {
		set := h.waiters[t]
		if set == nil {
			set = map[*waiter]struct{}{}
			h.waiters[t] = set
		}
		set[w] = struct{}{}
	}
	h.mu.Unlock()
	return w.ch, func() {
		h.mu.Lock()
		h.remove(w)
		h.mu.Unlock()
	}
}

// remove unregisters w from all its topics; h.mu must be held.
func (h *hub) remove(w *waiter) {
	for _, t := range w.topics {
		if set := h.waiters[t]; set != nil {
			delete(set, w)
			if len(set) == 0 {
				delete(h.waiters, t)
			}
		}
	}
}

func (h *hub) publish(topics ...Topic) {
	if len(topics) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range topics {
		for w := range h.waiters[t] {
			// remove before close so a waiter is closed exactly once across topics.
			h.remove(w)
			close(w.ch)
		}
	}
}

// publishAll wakes every waiter: after a lost connection to the other replicas' notifications,
// any topic may have changed.
func (h *hub) publishAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, set := range h.waiters {
		for w := range set {
			h.remove(w)
			close(w.ch)
		}
	}
}
