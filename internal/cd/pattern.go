package cd

import (
	"fmt"
	"regexp"
	"strings"
)

// refPattern is one entry of a branches, tags or hotfix list in GitHub's filter syntax.
type refPattern struct {
	negate bool
	re     *regexp.Regexp
}

// compileRefPattern translates GitHub's filter syntax into a regexp: "*" matches any run of
// characters but "/", "**" any run at all, "?" makes the preceding character optional, "+"
// repeats it, "[...]" is a character class (with ranges), "\" escapes the next character and a
// leading "!" negates the pattern.
func compileRefPattern(s string) (refPattern, error) {
	var p refPattern
	body, neg := strings.CutPrefix(s, "!")
	p.negate = neg
	if body == "" {
		return p, fmt.Errorf("pattern %q is empty", s)
	}
	var re strings.Builder
	re.WriteString("^")
	// quantifiable says whether "?" or "+" may follow: they apply to one character or class.
	quantifiable := false
	rs := []rune(body)
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; c {
		case '*':
			if i+1 < len(rs) && rs[i+1] == '*' {
				i++
				re.WriteString(".*")
			} else {
				re.WriteString("[^/]*")
			}
			quantifiable = false
		case '?', '+':
			if !quantifiable {
				return p, fmt.Errorf("pattern %q: %q must follow a character", s, c)
			}
			re.WriteRune(c)
			quantifiable = false
		case '[':
			end := strings.IndexRune(string(rs[i+1:]), ']')
			if end <= 0 {
				return p, fmt.Errorf("pattern %q: unclosed or empty [ ]", s)
			}
			class := []rune(string(rs[i+1:])[:end])
			re.WriteString("[")
			for _, r := range class {
				if r == '-' {
					re.WriteRune(r)
				} else {
					re.WriteString(regexp.QuoteMeta(string(r)))
				}
			}
			re.WriteString("]")
			i += len(class) + 1
			quantifiable = true
		case '\\':
			if i+1 >= len(rs) {
				return p, fmt.Errorf("pattern %q ends with \\", s)
			}
			i++
			re.WriteString(regexp.QuoteMeta(string(rs[i])))
			quantifiable = true
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
			quantifiable = true
		}
	}
	re.WriteString("$")
	compiled, err := regexp.Compile(re.String())
	if err != nil {
		return p, fmt.Errorf("pattern %q: %w", s, err)
	}
	p.re = compiled
	return p, nil
}

// refFilter is an ordered pattern list: the last pattern that matches decides, which is how a
// "!" pattern excludes part of what an earlier one included.
type refFilter []refPattern

func compileRefFilter(ss []string) (refFilter, error) {
	f := make(refFilter, 0, len(ss))
	positive := false
	for _, s := range ss {
		p, err := compileRefPattern(s)
		if err != nil {
			return nil, err
		}
		positive = positive || !p.negate
		f = append(f, p)
	}
	if len(ss) > 0 && !positive {
		return nil, fmt.Errorf("patterns %q only exclude; add at least one pattern without !", ss)
	}
	return f, nil
}

func (f refFilter) match(name string) bool {
	matched := false
	for _, p := range f {
		if p.re.MatchString(name) {
			matched = !p.negate
		}
	}
	return matched
}
