package forge

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"unicode/utf8"
)

// Badge colours, as shields.io draws them.
const (
	colorPassing = "#4c1"
	colorFailing = "#e05d44"
	colorError   = "#fe7d37"
	colorRunning = "#dfb317"
	colorUnknown = "#9f9f9f"
)

// Badge draws a shields-style flat SVG badge "label | message", coloured by
// st (success green, failure red, error orange, pending yellow, anything
// else grey). Both texts are XML-escaped.
func Badge(label, message string, st State) []byte {
	color := colorUnknown
	switch st {
	case Success:
		color = colorPassing
	case Failure:
		color = colorFailing
	case Error:
		color = colorError
	case Pending:
		color = colorRunning
	}
	lw, mw := textWidth(label)+10, textWidth(message)+10
	w := lw + mw
	l, m := escape(label), escape(message)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="20" role="img" aria-label="%s: %s">`, w, l, m)
	fmt.Fprintf(&b, `<title>%s: %s</title>`, l, m)
	b.WriteString(`<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>`)
	fmt.Fprintf(&b, `<clipPath id="r"><rect width="%d" height="20" rx="3" fill="#fff"/></clipPath>`, w)
	fmt.Fprintf(&b, `<g clip-path="url(#r)"><rect width="%d" height="20" fill="#555"/><rect x="%d" width="%d" height="20" fill="%s"/><rect width="%d" height="20" fill="url(#s)"/></g>`, lw, lw, mw, color, w)
	b.WriteString(`<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">`)
	fmt.Fprintf(&b, `<text x="%d" y="15" fill="#010101" fill-opacity=".3" aria-hidden="true">%s</text><text x="%d" y="14">%s</text>`, lw/2, l, lw/2, l)
	fmt.Fprintf(&b, `<text x="%d" y="15" fill="#010101" fill-opacity=".3" aria-hidden="true">%s</text><text x="%d" y="14">%s</text>`, lw+mw/2, m, lw+mw/2, m)
	b.WriteString(`</g></svg>`)
	return b.Bytes()
}

// textWidth approximates the width in pixels of s in 11px Verdana, which is
// close enough for the box to fit the text.
func textWidth(s string) int {
	w := 0.0
	for _, r := range s {
		switch {
		case r == 'i' || r == 'l' || r == 'j' || r == '.' || r == ',' || r == ':' || r == '\'' || r == '|' || r == '!':
			w += 3.5
		case r == ' ' || r == 'f' || r == 't' || r == 'r' || r == '(' || r == ')' || r == '/' || r == '-':
			w += 4.5
		case r == 'm' || r == 'w' || r == 'M' || r == 'W':
			w += 10.5
		case r >= 'A' && r <= 'Z':
			w += 7.5
		case r < utf8.RuneSelf:
			w += 7
		default:
			w += 9
		}
	}
	return int(w + 0.5)
}

func escape(s string) string {
	var b bytes.Buffer
	// EscapeText also replaces characters XML cannot hold with U+FFFD.
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
