package logs

import (
	"strings"
	"testing"
)

// FuzzParseCommand checks properties that hold for any line: parsing never
// panics, a recognised command has a lower-case known name, and the value
// of a modern command never grows beyond the line it came from.
func FuzzParseCommand(f *testing.F) {
	f.Add("::error file=a.py,line=1::boom")
	f.Fuzz(func(t *testing.T, line string) {
		c, ok := ParseCommand(line)
		if !ok {
			if c.Name != "" || c.Value != "" || c.Params != nil {
				t.Fatalf("ParseCommand(%q) = %+v with ok=false", line, c)
			}
			return
		}
		if c.Name != strings.ToLower(c.Name) || !isKnownCommand(c.Name) {
			t.Fatalf("ParseCommand(%q) name %q is not a known lower-case name", line, c.Name)
		}
		if len(c.Value) > len(line) {
			t.Fatalf("ParseCommand(%q) value %q longer than line", line, c.Value)
		}
		for k, v := range c.Params {
			if k == "" || k != strings.ToLower(k) || v == "" {
				t.Fatalf("ParseCommand(%q) bad param %q=%q", line, k, v)
			}
		}
		// Annotation must not panic and must agree with the name.
		_, isAnn := c.Annotation()
		if want := c.Name == "error" || c.Name == "warning" || c.Name == "notice"; isAnn != want {
			t.Fatalf("Annotation() ok = %v for %q", isAnn, c.Name)
		}
		var p CommandParser
		p.Parse(line)
		p.Parse(line)
	})
}

// FuzzEscapeRoundTrip checks that unescaping inverts GitHub's escaping for
// any value, as data and as a property.
func FuzzEscapeRoundTrip(f *testing.F) {
	for _, s := range []string{"", "100%", "%0A", "a:b,c", "x\r\ny", "%25%3A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		esc := strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
		c, ok := ParseCommand("::debug::" + esc.Replace(s))
		if !ok || c.Value != s {
			t.Fatalf("data round trip of %q: got %q ok=%v", s, c.Value, ok)
		}
		if s == "" {
			return
		}
		prop := strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C")
		// Not last: the runner trims the end of the property list.
		c, ok = ParseCommand("::error title=" + prop.Replace(s) + ",file=f::m")
		if !ok || c.Params["title"] != s {
			t.Fatalf("property round trip of %q: got %q ok=%v", s, c.Params["title"], ok)
		}
	})
}
