package logs

import (
	"sort"
	"strings"
	"sync"
)

// maskText is what a secret becomes in a log line, as on GitHub.
const maskText = "***"

// Masker hides registered secrets in log lines. It is safe for concurrent
// use: a step may add a mask (::add-mask::) while other jobs are printing.
type Masker struct {
	mu      sync.RWMutex
	secrets []string // longest first, no duplicates
	seen    map[string]bool
}

// NewMasker returns a Masker that masks nothing yet.
func NewMasker() *Masker {
	return &Masker{seen: map[string]bool{}}
}

// Add registers a secret. Empty and whitespace-only values are ignored: they
// would mask every blank in the log. A multi-line secret is registered whole
// and line by line, because programs print it one line at a time.
func (m *Masker) Add(secret string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.add(secret)
	if strings.ContainsAny(secret, "\r\n") {
		for _, line := range strings.Split(secret, "\n") {
			m.add(strings.TrimRight(line, "\r"))
		}
	}
}

func (m *Masker) add(s string) {
	if strings.TrimSpace(s) == "" || m.seen[s] {
		return
	}
	m.seen[s] = true
	m.secrets = append(m.secrets, s)
	sort.SliceStable(m.secrets, func(i, j int) bool { return len(m.secrets[i]) > len(m.secrets[j]) })
}

// Mask replaces every occurrence of a secret in s by "***". Occurrences that
// overlap or touch are merged into one "***" so that no fragment of either
// secret is left visible (GitHub's runner merges them the same way).
func (m *Masker) Mask(s string) string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if len(m.secrets) == 0 || s == "" {
		return s
	}
	var spans [][2]int
	for _, secret := range m.secrets {
		for from := 0; from < len(s); {
			i := strings.Index(s[from:], secret)
			if i < 0 {
				break
			}
			start := from + i
			spans = append(spans, [2]int{start, start + len(secret)})
			// Step by one byte, not len(secret), so overlapping occurrences of
			// the same secret ("aa" in "aaa") are all covered.
			from = start + 1
		}
	}
	if len(spans) == 0 {
		return s
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i][0] < spans[j][0] })
	var b strings.Builder
	b.Grow(len(s))
	pos := 0
	cur := spans[0]
	flush := func() {
		b.WriteString(s[pos:cur[0]])
		b.WriteString(maskText)
		pos = cur[1]
	}
	for _, sp := range spans[1:] {
		if sp[0] <= cur[1] {
			cur[1] = max(cur[1], sp[1])
			continue
		}
		flush()
		cur = sp
	}
	flush()
	b.WriteString(s[pos:])
	return b.String()
}
