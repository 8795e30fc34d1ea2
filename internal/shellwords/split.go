// Package shellwords splits a command line into words the way a POSIX shell
// does for plain words, for the places sluice starts a program without a
// shell: custom step shells, docker action args, container options and
// recognised install commands.
package shellwords

import "strings"

// Splitter says how a line is split. The zero Splitter splits on nothing;
// callers name their blanks.
type Splitter struct {
	// Blanks are the bytes that separate words outside quotes.
	Blanks string
	// Escapes makes a backslash escape as in sh: outside quotes it quotes
	// the next byte, inside double quotes it does so only before " \ $ and
	// `. Without it a backslash is an ordinary byte, as shell templates and
	// docker action args want.
	Escapes bool
	// Check, when set, vets every byte a shell might give a meaning to:
	// each unescaped byte outside single quotes that is not a blank or a
	// quote (inDouble tells whether it is inside double quotes), and a
	// backslash that ends the line with nothing to escape. An error it
	// returns ends the split. Without Check such bytes are taken literally
	// and a final backslash is dropped.
	Check func(c byte, inDouble bool) error
}

// QuoteError reports a quote the line opens and never closes.
type QuoteError struct {
	Quote byte // ' or "
}

func (e *QuoteError) Error() string { return "unterminated quote" }

// Split splits s into words. Quotes join what they hold into the current
// word: a'b'"c" is the word abc, and an empty pair of quotes an empty word.
func (sp Splitter) Split(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		inTok bool
	)
	check := func(c byte, inDouble bool) error {
		if sp.Check == nil {
			return nil
		}
		return sp.Check(c, inDouble)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case strings.IndexByte(sp.Blanks, c) >= 0:
			if inTok {
				words = append(words, cur.String())
				cur.Reset()
				inTok = false
			}
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, &QuoteError{Quote: c}
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inTok = true
		case c == '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if sp.Escapes && s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				} else if err := check(s[i], true); err != nil {
					return nil, err
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, &QuoteError{Quote: c}
			}
			inTok = true
		case c == '\\' && sp.Escapes:
			if i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			} else if err := check(c, false); err != nil {
				return nil, err
			}
			inTok = true
		default:
			if err := check(c, false); err != nil {
				return nil, err
			}
			cur.WriteByte(c)
			inTok = true
		}
	}
	if inTok {
		words = append(words, cur.String())
	}
	return words, nil
}
