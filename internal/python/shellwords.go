package python

import (
	"errors"
	"strings"

	"github.com/sluice-ci/sluice/internal/shellwords"
)

var errShellSyntax = errors.New("command uses shell features beyond plain words")

// splitWords splits a command like a POSIX shell would for plain words, and refuses anything
// whose meaning depends on the shell at run time: control operators, redirections, expansions,
// globs and comments.
func splitWords(s string) ([]string, error) {
	s = strings.ReplaceAll(s, "\\\r\n", " ")
	s = strings.ReplaceAll(s, "\\\n", " ")
	return shellwords.Splitter{Blanks: " \t", Escapes: true, Check: refuseShellSyntax}.Split(s)
}

// refuseShellSyntax refuses expansions inside double quotes and, outside quotes, operators,
// expansions, globs, comments, line breaks and a backslash with nothing to escape.
func refuseShellSyntax(c byte, inDouble bool) error {
	special := ";&|<>`$(){}\n\r*?#~!\\"
	if inDouble {
		special = "$`"
	}
	// '#' only starts a comment at a word's start, but a literal '#' elsewhere is rare enough in
	// install commands that refusing it keeps this simple and safe. The same goes for '[' being
	// left alone: extras like ".[dev]" are common and only glob when a matching file exists,
	// which pip users quote against anyway.
	if strings.IndexByte(special, c) >= 0 {
		return errShellSyntax
	}
	return nil
}
