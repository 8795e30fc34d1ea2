package logs

import (
	"strings"
	"testing"
)

func TestForTerminal(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain text", "hello world", "hello world"},
		{"colours kept", "\x1b[31mred\x1b[0m and \x1b[1;38;5;208mbold\x1b[m", "\x1b[31mred\x1b[0m and \x1b[1;38;5;208mbold\x1b[m"},
		{"truecolour with colons kept", "\x1b[38:2:255:0:0mx\x1b[0m", "\x1b[38:2:255:0:0mx\x1b[0m"},
		{"OSC 52 clipboard write", "a\x1b]52;c;ZWNobyBwd25lZA==\x07b", "ab"},
		{"OSC 8 hyperlink, ST-terminated", "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\", "click"},
		{"window title", "\x1b]0;fake title\x07x", "x"},
		{"cursor up and erase line", "ok\x1b[1A\x1b[2Kforged", "okforged"},
		{"private mode", "\x1b[?1049hx", "x"},
		{"device status report (makes the terminal answer)", "\x1b[6nx", "x"},
		{"DCS", "\x1bP+q544e\x1b\\x", "x"},
		{"carriage return overwrite", "innocent\rmalicious", "innocentmalicious"},
		{"backspace and bell", "a\bb\x07c", "abc"},
		{"C1 CSI", "a\u009b2Jb", "ab"},
		{"C1 OSC", "a\u009d0;title\u009cb", "ab"},
		{"charset switch", "\x1b(0x", "x"},
		{"tab kept, unicode kept", "a\tb é ✓", "a\tb é ✓"},
		{"lone escape at end", "abc\x1b", "abc"},
		{"unterminated OSC eats the rest", "a\x1b]52;c;AAAA", "a"},
		{"SGR with a private marker is not a colour", "\x1b[>4;2mx", "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ForTerminal(tt.in); got != tt.want {
				t.Errorf("ForTerminal(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzForTerminal(f *testing.F) {
	for _, s := range []string{"\x1b[31mx\x1b[0m", "\x1b]52;c;x\x07", "a\rb", "\u009b1J", "\x1bP\x1b\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := ForTerminal(s)
		// Nothing but SGR survives: every ESC left starts "ESC [" and a
		// run of digits, ';' and ':' ending in 'm'.
		for i := 0; i < len(out); i++ {
			c := out[i]
			if c < 0x20 && c != '\t' && c != 0x1b || c == 0x7f {
				t.Fatalf("control 0x%02x left in %q", c, out)
			}
			if c == 0x1b {
				j := i + 1
				if j >= len(out) || out[j] != '[' {
					t.Fatalf("non-CSI escape left in %q", out)
				}
				j++
				for j < len(out) && strings.IndexByte("0123456789;:", out[j]) >= 0 {
					j++
				}
				if j >= len(out) || out[j] != 'm' {
					t.Fatalf("non-SGR sequence left in %q", out)
				}
			}
		}
		for _, r := range out {
			if r >= 0x80 && r <= 0x9f {
				t.Fatalf("C1 control left in %q", out)
			}
		}
	})
}
