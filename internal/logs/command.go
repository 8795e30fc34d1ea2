package logs

import (
	"strconv"
	"strings"
)

// Command is one workflow command found in a step's output.
type Command struct {
	Name   string            // lower-cased: names are case-insensitive on GitHub
	Params map[string]string // keys lower-cased for the same reason; nil when none
	Value  string
}

// ResumeCommands is the Name CommandParser reports for the line that ends a
// stop-commands block ("::TOKEN::"). It is not a command users can write.
const ResumeCommands = "resume-commands"

// isKnownCommand reports whether GitHub's runner registers the command. A
// line naming any other command is ordinary output there, so it is here too.
func isKnownCommand(name string) bool {
	switch name {
	case "add-mask", "add-matcher", "remove-matcher", "echo", "group", "endgroup",
		"error", "warning", "notice", "debug", "stop-commands",
		"set-output", "save-state", "add-path", "set-env":
		return true
	}
	return false
}

// ParseCommand recognises a workflow command on one output line, either
// "::name key=v,key2=v2::value" or the legacy "##[name key=v;key2=v2]value",
// after leading whitespace. It reports false for anything else, including
// well-formed lines naming a command GitHub does not know.
func ParseCommand(line string) (Command, bool) {
	c, ok := parseAnyCommand(line)
	if !ok || !isKnownCommand(c.Name) {
		return Command{}, false
	}
	return c, true
}

// parseAnyCommand parses the syntax without checking the name, which the
// stop-commands resume token needs: the token is any string the step chose.
func parseAnyCommand(line string) (Command, bool) {
	line = strings.TrimLeft(line, " \t\r\n\v\f")
	switch {
	case strings.HasPrefix(line, "::"):
		rest := line[2:]
		end := strings.Index(rest, "::")
		if end < 0 {
			return Command{}, false
		}
		return buildCommand(rest[:end], ",", unescapeProperty,
			unescapeData(rest[end+2:]))
	case strings.HasPrefix(line, "##["):
		rest := line[3:]
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return Command{}, false
		}
		return buildCommand(rest[:end], ";", unescapeLegacy,
			unescapeLegacy(rest[end+1:]))
	}
	return Command{}, false
}

func buildCommand(info, sep string, unescape func(string) string, value string) (Command, bool) {
	name, props, hasProps := strings.Cut(info, " ")
	if name == "" {
		return Command{}, false
	}
	c := Command{Name: strings.ToLower(name), Value: value}
	if !hasProps {
		return c, true
	}
	for _, p := range strings.Split(strings.TrimSpace(props), sep) {
		k, v, ok := strings.Cut(p, "=")
		// Like the runner, a property needs a key and a value; others are dropped.
		if !ok || k == "" || v == "" {
			continue
		}
		if c.Params == nil {
			c.Params = map[string]string{}
		}
		c.Params[strings.ToLower(k)] = unescape(v)
	}
	return c, true
}

// The escapes GitHub's toolkit writes and its runner reads: data (a
// command's value), properties, and the legacy ##[...] form.
func dataEscape(e string) (string, bool) {
	switch e {
	case "%25":
		return "%", true
	case "%0D":
		return "\r", true
	case "%0A":
		return "\n", true
	}
	return "", false
}

func propertyEscape(e string) (string, bool) {
	switch e {
	case "%3A":
		return ":", true
	case "%2C":
		return ",", true
	}
	return dataEscape(e)
}

func legacyEscape(e string) (string, bool) {
	switch e {
	case "%3B":
		return ";", true
	case "%5D":
		return "]", true
	}
	return dataEscape(e)
}

func unescapeData(s string) string     { return unescape(s, dataEscape) }
func unescapeProperty(s string) string { return unescape(s, propertyEscape) }
func unescapeLegacy(s string) string   { return unescape(s, legacyEscape) }

// unescape decodes left to right in one pass, so "%250A" is "%0A" and not a
// newline: the output of an escape is never decoded again.
func unescape(s string, decode func(string) (string, bool)) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+3 <= len(s) {
			if r, ok := decode(s[i : i+3]); ok {
				b.WriteString(r)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Annotation returns the annotation an error, warning or notice command
// makes. Job and Step are left for the caller. Line and column properties
// that are not positive integers are ignored, as the runner ignores them.
func (c Command) Annotation() (Annotation, bool) {
	switch c.Name {
	case "error", "warning", "notice":
	default:
		return Annotation{}, false
	}
	num := func(key string) int {
		n, err := strconv.Atoi(strings.TrimSpace(c.Params[key]))
		if err != nil || n < 0 {
			return 0
		}
		return n
	}
	a := Annotation{
		Level:     c.Name,
		Message:   c.Value,
		Title:     c.Params["title"],
		File:      c.Params["file"],
		Line:      num("line"),
		EndLine:   num("endline"),
		Col:       num("col"),
		EndColumn: num("endcolumn"),
	}
	// A range needs its start: an end without a start is dropped, and a start
	// without an end is a single line.
	if a.Line == 0 {
		a.EndLine = 0
	} else if a.EndLine == 0 {
		a.EndLine = a.Line
	}
	if a.Col == 0 {
		a.EndColumn = 0
	}
	return a, true
}

// CommandParser reads one step's output for workflow commands and keeps the
// state that spans lines: after "::stop-commands::TOKEN", no command is
// recognised until a line "::TOKEN::". Use one per step; not safe for
// concurrent use.
type CommandParser struct {
	stopToken string
}

// Parse returns the command on line, if it is to be acted on. While commands
// are stopped it reports false (the line is plain output) except for the
// resume line, which it reports as a Command named ResumeCommands whose
// Value is the token. A stop-commands command whose token is not
// ValidStopToken does not stop anything; the caller should fail the step as
// GitHub does.
func (p *CommandParser) Parse(line string) (Command, bool) {
	if p.stopToken != "" {
		c, ok := parseAnyCommand(line)
		if !ok || !strings.EqualFold(c.Name, p.stopToken) {
			return Command{}, false
		}
		tok := p.stopToken
		p.stopToken = ""
		return Command{Name: ResumeCommands, Value: tok}, true
	}
	c, ok := ParseCommand(line)
	if !ok {
		return Command{}, false
	}
	if c.Name == "stop-commands" && ValidStopToken(c.Value) {
		p.stopToken = c.Value
	}
	return c, true
}

// ValidStopToken reports whether GitHub accepts token for stop-commands: it
// refuses an empty token and one that names a command, since such a token
// would let the step's own output resume commands by accident.
func ValidStopToken(token string) bool {
	t := strings.ToLower(token)
	return t != "" && !isKnownCommand(t) && t != "pause-logging"
}

// Stopped reports whether commands are stopped, waiting for the token line.
func (p *CommandParser) Stopped() bool { return p.stopToken != "" }
