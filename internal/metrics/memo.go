package metrics

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"time"
)

// gitMemo remembers, for one repository, what its mirror answered that cannot change: the files
// between two commits (and whether only dependency files), whether a commit is an emergency pin,
// the default branch's recent history while its tip stays, and the lead times of one set of
// deployments. A Cache holds one per repository; a computation without a Cache has none and asks
// git every time.
type gitMemo struct {
	mu      sync.Mutex
	changes map[[2]string]depChange
	pins    map[string]*Pin // by commit; nil: not a pin
	history struct {
		tip     string
		since   time.Time
		commits []logCommit // newest first, committed at or after since
	}
	lead struct {
		key    string
		result LeadTime
	}
}

// depChange is what a change between two commits did: the files it touched, whether all of them
// are dependency files, and whether they changed only what declares or locks dependencies
// (pyproject.toml only in its dependency tables).
type depChange struct {
	files    []string
	depFiles bool
	depOnly  bool
}

func newGitMemo() *gitMemo {
	return &gitMemo{changes: map[[2]string]depChange{}, pins: map[string]*Pin{}}
}

// historySince returns the remembered history from since when the tip is the one remembered and
// the window within the remembered one.
func (m *gitMemo) historySince(tip string, since time.Time) ([]logCommit, bool) {
	if m == nil {
		return nil, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.history.tip != tip || since.Before(m.history.since) {
		return nil, false
	}
	var out []logCommit
	for _, c := range m.history.commits {
		if !c.Time.Before(since) {
			out = append(out, c)
		}
	}
	return out, true
}

func (m *gitMemo) rememberHistory(tip string, since time.Time, commits []logCommit) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.history.tip, m.history.since, m.history.commits = tip, since, commits
	m.mu.Unlock()
}

// pin returns what is remembered of commit sha being a pin.
func (m *gitMemo) pin(sha string) (*Pin, bool) {
	if m == nil {
		return nil, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pins[sha]
	return p, ok
}

func (m *gitMemo) rememberPin(sha string, p *Pin) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.pins[sha] = p
	m.mu.Unlock()
}

func (m *gitMemo) change(pair [2]string) (depChange, bool) {
	if m == nil {
		return depChange{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.changes[pair]
	return c, ok
}

func (m *gitMemo) rememberChange(pair [2]string, c depChange) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.changes[pair] = c
	m.mu.Unlock()
}

// leadKey names the question lead time answers: which deployments, in what order, after which
// commits the environment had, counted from commits or pushes.
func leadKey(from string, deployments []deployment, prior []string) string {
	h := sha256.New()
	fmt.Fprintln(h, from)
	for _, d := range deployments {
		fmt.Fprintln(h, d.ID, d.Commit, d.ended.UnixNano())
	}
	p := slices.Clone(prior)
	slices.Sort(p)
	for _, c := range p {
		fmt.Fprintln(h, c)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func (m *gitMemo) leadFor(key string) (LeadTime, bool) {
	if m == nil {
		return LeadTime{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lead.result, m.lead.key == key
}

func (m *gitMemo) rememberLead(key string, lt LeadTime) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.lead.key, m.lead.result = key, lt
	m.mu.Unlock()
}
