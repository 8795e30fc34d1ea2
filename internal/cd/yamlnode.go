package cd

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 64; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return "scalar"
	}
	return "node"
}

// pairs calls fn for each key of a mapping, reporting non-string, merge and duplicate keys.
func (p *parser) pairs(m *yaml.Node, fn func(k, v *yaml.Node)) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := resolve(m.Content[i]), resolve(m.Content[i+1])
		switch {
		case k == nil || v == nil:
			continue
		case k.Kind != yaml.ScalarNode:
			p.errAt(k, "use a plain name as the key", "a key must be a string, not a %s", kindName(k))
			continue
		case k.Tag == "!!merge":
			p.errAt(k, "write the keys out instead of merging them with <<", "merge keys are not supported")
			continue
		case seen[k.Value]:
			p.errAt(k, "remove one of them", "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		fn(k, v)
	}
}

func (p *parser) str(n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errAt(n, "write a string", "expected a string, got a %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

// strList accepts one string or a list of them, and returns the items' nodes for positions.
func (p *parser) strList(n *yaml.Node) ([]string, []*yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return []string{n.Value}, []*yaml.Node{n}
	}
	if n.Kind != yaml.SequenceNode {
		p.errAt(n, "write a string or a list of strings", "expected a list, got a %s", kindName(n))
		return nil, nil
	}
	var ss []string
	var ns []*yaml.Node
	for _, item := range n.Content {
		item = resolve(item)
		if s, ok := p.str(item); ok {
			ss = append(ss, s)
			ns = append(ns, item)
		}
	}
	return ss, ns
}

func (p *parser) integer(n *yaml.Node) (int, bool) {
	var i int
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
		p.errAt(n, "write a whole number", "expected an integer, got %q", n.Value)
		return 0, false
	}
	return i, true
}

func (p *parser) boolean(n *yaml.Node) (bool, bool) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		p.errAt(n, "write true or false", "expected a boolean, got %q", n.Value)
		return false, false
	}
	return b, true
}

// duration accepts a Go duration ("90s", "1h30m") or, as GitHub's wait_timer does, an integer
// number of minutes.
func (p *parser) duration(n *yaml.Node) (time.Duration, bool) {
	const hint = `use a duration like "30s", "15m" or "1h30m", or a number of minutes`
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errAt(n, hint, "expected a duration, got a %s", kindName(n))
		return 0, false
	}
	if n.Tag == "!!int" {
		var m int64
		if err := n.Decode(&m); err != nil || m < 0 || m > int64(maxWaitTimer/time.Minute)*1000 {
			p.errAt(n, hint, "invalid duration %q", n.Value)
			return 0, false
		}
		return time.Duration(m) * time.Minute, true
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		p.errAt(n, hint, "invalid duration %q", n.Value)
		return 0, false
	}
	return d, true
}

// patterns reads a branches, tags or hotfix list, checking each pattern's syntax.
func (p *parser) patterns(n *yaml.Node) []string {
	ss, items := p.strList(n)
	ok := true
	for i, s := range ss {
		if _, err := compileRefPattern(s); err != nil {
			p.errAt(items[i], `see GitHub's filter pattern syntax: *, **, ?, +, [...], \ and a leading !`, "%v", err)
			ok = false
		}
	}
	if ok {
		if _, err := compileRefFilter(ss); err != nil {
			p.errAt(n, "add a pattern without ! for what to include, before the exclusions", "%v", err)
		}
	}
	return ss
}

func (p *parser) windows(n *yaml.Node) []Window {
	if n.Kind != yaml.SequenceNode {
		p.errAt(n, "write a list of windows, each with days, hours and timezone", "windows must be a list, not a %s", kindName(n))
		return nil
	}
	ws := []Window{}
	for _, item := range n.Content {
		item = resolve(item)
		if item.Kind != yaml.MappingNode {
			p.errAt(item, "write days, hours and timezone keys", "a window must be a mapping, not a %s", kindName(item))
			continue
		}
		w := Window{End: 24 * 60}
		p.pairs(item, func(k, v *yaml.Node) {
			switch k.Value {
			case "days":
				w.Days = p.days(v)
			case "hours":
				if s, ok := p.str(v); ok {
					w.Start, w.End, ok = parseHours(s)
					if !ok {
						p.errAt(v, `write "HH:MM-HH:MM" in 24-hour time, e.g. "09:00-17:00" or "22:00-02:00"; the two must differ`, "invalid hours %q", s)
					}
				}
			case "timezone":
				if s, ok := p.str(v); ok {
					if _, err := time.LoadLocation(s); err != nil || s == "Local" {
						p.errAt(v, "use an IANA time zone name such as UTC or Europe/Paris", "unknown time zone %q", s)
					}
					w.Timezone = s
				}
			default:
				p.errAt(k, suggest(k.Value, []string{"days", "hours", "timezone"}), "unknown key %q in window", k.Value)
			}
		})
		ws = append(ws, w)
	}
	return ws
}

// days reads day names ("mon", "monday") and ranges ("mon-fri", "fri-mon" wraps the week).
func (p *parser) days(n *yaml.Node) []time.Weekday {
	ss, items := p.strList(n)
	var out []time.Weekday
	add := func(d time.Weekday) {
		for _, have := range out {
			if have == d {
				return
			}
		}
		out = append(out, d)
	}
	for i, s := range ss {
		from, to, isRange := strings.Cut(s, "-")
		a, okA := weekday(from)
		b, okB := a, okA
		if isRange {
			b, okB = weekday(to)
		}
		if !okA || !okB {
			p.errAt(items[i], "use mon, tue, wed, thu, fri, sat, sun (or full names) and ranges like mon-fri", "invalid day %q", s)
			continue
		}
		for d := a; ; d = (d + 1) % 7 {
			add(d)
			if d == b {
				break
			}
		}
	}
	return out
}

func weekday(s string) (time.Weekday, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	for d := time.Sunday; d <= time.Saturday; d++ {
		full := strings.ToLower(d.String())
		if s == full || s == full[:3] {
			return d, true
		}
	}
	return 0, false
}

// parseHours reads "HH:MM-HH:MM" into minutes after midnight; the end may be 24:00.
func parseHours(s string) (start, end int, ok bool) {
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	start, okA := clock(a)
	end, okB := clock(b)
	if !okA || !okB || start == 24*60 || start == end {
		return 0, 0, false
	}
	return start, end, true
}

func clock(s string) (int, bool) {
	h, m, found := strings.Cut(strings.TrimSpace(s), ":")
	if !found || len(m) != 2 || len(h) < 1 || len(h) > 2 {
		return 0, false
	}
	var hh, mm int
	if _, err := fmt.Sscanf(h+" "+m, "%d %d", &hh, &mm); err != nil {
		return 0, false
	}
	if !digits(h) || !digits(m) || hh > 24 || mm > 59 || (hh == 24 && mm != 0) {
		return 0, false
	}
	return hh*60 + mm, true
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func (p *parser) verify(n *yaml.Node) *Verify {
	if n.Kind != yaml.MappingNode {
		p.errAt(n, "write http: {url: …} or command: {run: …}", "verify must be a mapping, not a %s", kindName(n))
		return nil
	}
	v := &Verify{}
	p.pairs(n, func(k, val *yaml.Node) {
		switch k.Value {
		case "http":
			v.HTTP = p.httpCheck(val)
		case "command":
			v.Command = p.commandCheck(val)
		default:
			p.errAt(k, suggest(k.Value, []string{"http", "command"}), "unknown key %q in verify", k.Value)
		}
	})
	if (v.HTTP == nil) == (v.Command == nil) {
		p.errAt(n, "keep exactly one of http: and command:", "verify needs exactly one check")
		return nil
	}
	return v
}

func (p *parser) httpCheck(n *yaml.Node) *HTTPCheck {
	c := &HTTPCheck{Status: 200, Timeout: 10 * time.Second}
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		c.URL = n.Value
	} else if n.Kind != yaml.MappingNode {
		p.errAt(n, "write a URL or {url, status, contains, timeout, retries}", "http must be a mapping, not a %s", kindName(n))
		return nil
	} else {
		p.pairs(n, func(k, v *yaml.Node) {
			switch k.Value {
			case "url":
				c.URL, _ = p.str(v)
			case "status":
				if s, ok := p.integer(v); ok {
					if s < 100 || s > 599 {
						p.errAt(v, "use an HTTP status code from 100 to 599", "invalid status %d", s)
					}
					c.Status = s
				}
			case "contains":
				c.Contains, _ = p.str(v)
			case "timeout":
				c.Timeout = p.timeout(v, c.Timeout)
			case "retries":
				if r, ok := p.integer(v); ok {
					if r < 0 {
						p.errAt(v, "use 0 or more", "retries cannot be negative")
					}
					c.Retries = r
				}
			default:
				p.errAt(k, suggest(k.Value, []string{"url", "status", "contains", "timeout", "retries"}), "unknown key %q in http check", k.Value)
			}
		})
	}
	if !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
		p.errAt(n, "give an http:// or https:// URL", "http check needs a url, got %q", c.URL)
	}
	return c
}

func (p *parser) commandCheck(n *yaml.Node) *CommandCheck {
	c := &CommandCheck{Timeout: 5 * time.Minute}
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		c.Run = n.Value
	} else if n.Kind != yaml.MappingNode {
		p.errAt(n, "write a command line or {run, timeout}", "command must be a mapping, not a %s", kindName(n))
		return nil
	} else {
		p.pairs(n, func(k, v *yaml.Node) {
			switch k.Value {
			case "run":
				c.Run, _ = p.str(v)
			case "timeout":
				c.Timeout = p.timeout(v, c.Timeout)
			default:
				p.errAt(k, suggest(k.Value, []string{"run", "timeout"}), "unknown key %q in command check", k.Value)
			}
		})
	}
	if strings.TrimSpace(c.Run) == "" {
		p.errAt(n, "give the command line to run under run:", "command check needs run")
	}
	return c
}

func (p *parser) timeout(n *yaml.Node, def time.Duration) time.Duration {
	d, ok := p.duration(n)
	if !ok {
		return def
	}
	if d <= 0 {
		p.errAt(n, "use a positive duration", "timeout must be positive, got %s", d)
		return def
	}
	return d
}
