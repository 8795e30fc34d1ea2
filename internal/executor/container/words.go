package container

import (
	"errors"
	"fmt"

	"github.com/sluice-ci/sluice/internal/shellwords"
)

// splitWords splits an options string the way a POSIX shell would split a
// command line without expansions: blanks separate words, single quotes are
// literal, double quotes allow \" \\ \$ \` escapes, a backslash outside quotes
// escapes the next character.
func splitWords(s string) ([]string, error) {
	words, err := shellwords.Splitter{Blanks: " \t\n\r", Escapes: true}.Split(s)
	if qe := (*shellwords.QuoteError)(nil); errors.As(err, &qe) {
		kind := "single"
		if qe.Quote == '"' {
			kind = "double"
		}
		return nil, fmt.Errorf("unterminated %s quote in %q", kind, s)
	}
	return words, err
}
