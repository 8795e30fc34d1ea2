package logs

import "regexp"

var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// stripANSI removes terminal escape sequences, so tests can assert on what
// a person would read.
func stripANSI(s string) string { return ansiEscape.ReplaceAllString(s, "") }
