package engine

import (
	"fmt"
	"strings"
	"sync"

	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/plan"
)

// jobGroups keeps the job-level concurrency groups (jobs.<id>.concurrency) of one `sluice
// run` in memory, across its workflows, as the server keeps them in its database; both ask
// plan.Admit and plan.Next what happens, so the same workflow has the same result on both.
type jobGroups struct {
	mu      sync.Mutex
	next    int64
	members map[string][]*groupMember // by lower-cased group name
}

// groupMember is one job in its group: running (started) or pending.
type groupMember struct {
	id      int64
	name    string
	running bool
	// start launches the pending job; cancel stops it: a running job's context is cancelled,
	// a pending one ends cancelled, saying why, without running.
	start  func()
	cancel func(reason string)
}

// enter admits job c (display name name) to group c.Group: it cancels what plan.Admit says
// and either starts the job now or leaves it pending until leave lets it start. The returned
// member is what leave takes when the job has ended (or ended without running).
func (g *jobGroups) enter(c *jobspec.Concurrency, name string, start func(), cancel func(reason string)) *groupMember {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.members == nil {
		g.members = map[string][]*groupMember{}
	}
	g.next++
	m := &groupMember{id: g.next, name: name, start: start, cancel: cancel}
	key := strings.ToLower(c.Group) // group names are case-insensitive (plan.SameGroup)
	others := g.members[key]
	holders := make([]plan.Holder, 0, len(others))
	byID := map[int64]*groupMember{}
	for _, o := range others {
		holders = append(holders, plan.Holder{ID: o.id, Running: o.running})
		byID[o.id] = o
	}
	a := plan.Admit(holders, c.CancelInProgress)
	reason := fmt.Sprintf("cancelled: %s took its place in concurrency group %q", name, c.Group)
	for _, id := range a.Cancel {
		o := byID[id]
		if !o.running {
			g.remove(key, o)
		}
		go o.cancel(reason)
	}
	g.members[key] = append(g.members[key], m)
	if !a.Wait {
		m.running = true
		go m.start()
	}
	return m
}

// leave takes an ended member out of group c.Group and starts the group's next pending job,
// if nothing else runs there.
func (g *jobGroups) leave(c *jobspec.Concurrency, m *groupMember) {
	g.mu.Lock()
	defer g.mu.Unlock()
	key := strings.ToLower(c.Group)
	g.remove(key, m)
	holders := make([]plan.Holder, 0, len(g.members[key]))
	for _, o := range g.members[key] {
		holders = append(holders, plan.Holder{ID: o.id, Running: o.running})
	}
	if id, ok := plan.Next(holders); ok {
		for _, o := range g.members[key] {
			if o.id == id {
				o.running = true
				go o.start()
			}
		}
	}
}

func (g *jobGroups) remove(key string, m *groupMember) {
	list := g.members[key]
	for i, o := range list {
		if o == m {
			g.members[key] = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(g.members[key]) == 0 {
		delete(g.members, key)
	}
}
