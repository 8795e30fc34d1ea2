package workflow

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// pattern is one entry of a branches, tags or paths filter, in GitHub's filter syntax.
type pattern struct {
	negate bool
	re     *regexp.Regexp
}

// compilePattern translates GitHub's filter syntax: "*" matches anything but "/", "**" matches
// anything, "?" makes the preceding character optional and "+" repeats it (so "*.jsx?" matches
// .js and .jsx files), "[...]" is a character class, "\" escapes, and a leading "!" negates.
func compilePattern(s string) (pattern, error) {
	p := pattern{}
	if strings.HasPrefix(s, "!") {
		p.negate = true
		s = s[1:]
	}
	var b strings.Builder
	b.WriteString("^")
	// atom says whether the regexp so far ends in a single-character atom that "?" and "+"
	// may apply to.
	atom := false
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch c {
		case '*':
			atom = false
			if i+1 < len(rs) && rs[i+1] == '*' {
				i++
				// "**/" may also match nothing, so "**/README.md" matches a top-level README.md.
				if i+1 < len(rs) && rs[i+1] == '/' {
					i++
					b.WriteString("(?:.*/)?")
				} else {
					b.WriteString(".*")
				}
				continue
			}
			b.WriteString("[^/]*")
		case '?', '+':
			if !atom {
				return p, fmt.Errorf("pattern %q: %q must follow a character", s, c)
			}
			b.WriteRune(c)
			atom = false
		case '[':
			end := slices.Index(rs[i+1:], ']')
			if end < 0 {
				return p, fmt.Errorf("pattern %q: unclosed [", s)
			}
			class := rs[i+1 : i+1+end]
			if len(class) == 0 {
				return p, fmt.Errorf("pattern %q: empty []", s)
			}
			atom = true
			b.WriteString("[")
			for _, r := range class {
				if r == '-' {
					b.WriteRune(r)
					continue
				}
				b.WriteString(regexp.QuoteMeta(string(r)))
			}
			b.WriteString("]")
			i += end + 1
		case '\\':
			if i+1 >= len(rs) {
				return p, fmt.Errorf("pattern %q: trailing \\", s)
			}
			i++
			atom = true
			b.WriteString(regexp.QuoteMeta(string(rs[i])))
		default:
			atom = true
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return p, fmt.Errorf("pattern %q: %w", s, err)
	}
	p.re = re
	return p, nil
}

// patterns is an ordered filter list: later patterns override earlier ones, which is how
// "!" excludes what an earlier pattern included.
type patterns []pattern

func compilePatterns(ss []string) (patterns, error) {
	ps := make(patterns, 0, len(ss))
	for _, s := range ss {
		p, err := compilePattern(s)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// match reports whether the last pattern that matches s is a positive one.
func (ps patterns) match(s string) bool {
	matched := false
	for _, p := range ps {
		if p.re.MatchString(s) {
			matched = !p.negate
		}
	}
	return matched
}
