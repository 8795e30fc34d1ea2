package python

import (
	"errors"
	"strings"
)

var errShellSyntax = errors.New("command uses shell features beyond plain words")

// splitWords splits a command like a POSIX shell would for plain words, and refuses anything
// whose meaning depends on the shell at run time: control operators, redirections, expansions,
// globs and comments.
func splitWords(s string) ([]string, error) {
	s = strings.ReplaceAll(s, "\\\r\n", " ")
	s = strings.ReplaceAll(s, "\\\n", " ")
	var (
		words []string
		cur   strings.Builder
		inTok bool
	)
	flush := func() {
		if inTok {
			words = append(words, cur.String())
			cur.Reset()
			inTok = false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			flush()
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			inTok = true
			i += j + 1
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				switch s[i] {
				case '$', '`':
					return nil, errShellSyntax
				case '\\':
					if i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
						i++
					}
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New("unterminated quote")
			}
			inTok = true
		case c == '\\':
			if i+1 >= len(s) {
				return nil, errShellSyntax
			}
			i++
			cur.WriteByte(s[i])
			inTok = true
		case strings.IndexByte(";&|<>`$(){}\n\r*?#~!", c) >= 0:
			// '#' only starts a comment at a word's start, but a literal '#' elsewhere is rare
			// enough in install commands that refusing it keeps this simple and safe. The same
			// goes for '[' being left alone: extras like ".[dev]" are common and only glob
			// when a matching file exists, which pip users quote against anyway.
			return nil, errShellSyntax
		default:
			cur.WriteByte(c)
			inTok = true
		}
	}
	flush()
	return words, nil
}
