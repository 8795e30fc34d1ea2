package logs

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		line   string
		want   Command
		wantOK bool
	}{
		{"::add-mask::s3cret", Command{Name: "add-mask", Value: "s3cret"}, true},
		{"   \t::group::Build wheel", Command{Name: "group", Value: "Build wheel"}, true},
		{"::endgroup::", Command{Name: "endgroup"}, true},
		{"::ERROR::Boom", Command{Name: "error", Value: "Boom"}, true},
		{"::debug::a::b::c", Command{Name: "debug", Value: "a::b::c"}, true},
		{
			"::error file=app.py,line=10,col=5,endColumn=7,title=Bad thing::Missing colon",
			Command{Name: "error", Value: "Missing colon", Params: map[string]string{
				"file": "app.py", "line": "10", "col": "5", "endcolumn": "7", "title": "Bad thing",
			}},
			true,
		},
		{
			"::warning File=a%3Ab%2Cc.py,Title=100%25 %0Adone::50%25 %0D%0Anext %3A %2C",
			Command{Name: "warning", Value: "50% \r\nnext %3A %2C", Params: map[string]string{
				"file": "a:b,c.py", "title": "100% \ndone",
			}},
			true,
		},
		// One pass: an escape's output is never decoded again.
		{"::debug::%250A", Command{Name: "debug", Value: "%0A"}, true},
		{"::debug::%0a stays", Command{Name: "debug", Value: "%0a stays"}, true},
		{"::debug::100%", Command{Name: "debug", Value: "100%"}, true},
		// Properties without key or value are dropped, like the runner does.
		{"::notice k1=v1,,=x,bare,k2=::m", Command{Name: "notice", Value: "m", Params: map[string]string{"k1": "v1"}}, true},
		{"::notice k=a=b::m", Command{Name: "notice", Value: "m", Params: map[string]string{"k": "a=b"}}, true},
		{"::set-output name=v::1", Command{Name: "set-output", Value: "1", Params: map[string]string{"name": "v"}}, true},
		{"::save-state name=pid::42", Command{Name: "save-state", Value: "42", Params: map[string]string{"name": "pid"}}, true},
		{"::add-path::/opt/bin", Command{Name: "add-path", Value: "/opt/bin"}, true},
		{"::set-env name=A::1", Command{Name: "set-env", Value: "1", Params: map[string]string{"name": "A"}}, true},
		{"::stop-commands::tok123", Command{Name: "stop-commands", Value: "tok123"}, true},
		// Legacy form.
		{"##[error]legacy boom", Command{Name: "error", Value: "legacy boom"}, true},
		{
			"  ##[warning file=a.py;line=3]x%3By%5Dz%25%0A",
			Command{Name: "warning", Value: "x;y]z%\n", Params: map[string]string{"file": "a.py", "line": "3"}},
			true,
		},
		{"##[set-output name=a%3Bb]v", Command{Name: "set-output", Value: "v", Params: map[string]string{"name": "a;b"}}, true},
		// Not commands.
		{"", Command{}, false},
		{"plain output", Command{}, false},
		{"echo ::error::x", Command{}, false},
		{"::error", Command{}, false},
		{":::: no name", Command{}, false},
		{"::unknown-cmd::x", Command{}, false},
		{"::mytoken::", Command{}, false},
		{"##[error no closing bracket", Command{}, false},
		{"##[]x", Command{}, false},
		{"#[error]x", Command{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got, ok := ParseCommand(tt.line)
			if ok != tt.wantOK {
				t.Fatalf("ParseCommand(%q) ok = %v, want %v", tt.line, ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseCommand(%q) mismatch (-want +got):\n%s", tt.line, diff)
			}
		})
	}
}

func TestCommandAnnotation(t *testing.T) {
	tests := []struct {
		line   string
		want   Annotation
		wantOK bool
	}{
		{"::error::boom", Annotation{Level: "error", Message: "boom"}, true},
		{
			"::warning file=a.py,line=3,endLine=5,col=2,endColumn=9,title=T::m",
			Annotation{Level: "warning", Message: "m", Title: "T", File: "a.py", Line: 3, EndLine: 5, Col: 2, EndColumn: 9},
			true,
		},
		{"::notice file=a.py,line=3::m", Annotation{Level: "notice", Message: "m", File: "a.py", Line: 3, EndLine: 3}, true},
		{"::error file=a.py,line=x,col=-1::m", Annotation{Level: "error", Message: "m", File: "a.py"}, true},
		{"::error endLine=4,endColumn=2::m", Annotation{Level: "error", Message: "m"}, true},
		{"##[error file=b.py;line=7;col=1]legacy", Annotation{Level: "error", Message: "legacy", File: "b.py", Line: 7, EndLine: 7, Col: 1}, true},
		{"::debug::x", Annotation{}, false},
		{"::group::x", Annotation{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			c, ok := ParseCommand(tt.line)
			if !ok {
				t.Fatalf("ParseCommand(%q) failed", tt.line)
			}
			got, ok := c.Annotation()
			if ok != tt.wantOK {
				t.Fatalf("Annotation() ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Annotation() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCommandParserStopCommands(t *testing.T) {
	type result struct {
		Name, Value string
		OK          bool
		Stopped     bool
	}
	tests := []struct {
		name  string
		lines []string
		want  []result
	}{
		{
			name: "stop and resume",
			lines: []string{
				"::stop-commands::pause-token-1",
				"::error::not an annotation",
				"::add-mask::not masked",
				"::PAUSE-TOKEN-1 extra=1::ignored",
				"::error::real",
			},
			want: []result{
				{"stop-commands", "pause-token-1", true, true},
				{"", "", false, true},
				{"", "", false, true},
				{ResumeCommands, "pause-token-1", true, false},
				{"error", "real", true, false},
			},
		},
		{
			name:  "legacy resume line",
			lines: []string{"::stop-commands::abc", "##[abc]", "::debug::d"},
			want: []result{
				{"stop-commands", "abc", true, true},
				{ResumeCommands, "abc", true, false},
				{"debug", "d", true, false},
			},
		},
		{
			name:  "token that names a command does not stop",
			lines: []string{"::stop-commands::error", "::error::still works"},
			want: []result{
				{"stop-commands", "error", true, false},
				{"error", "still works", true, false},
			},
		},
		{
			name:  "empty token does not stop",
			lines: []string{"::stop-commands::", "::debug::x"},
			want: []result{
				{"stop-commands", "", true, false},
				{"debug", "x", true, false},
			},
		},
		{
			name:  "token mentioned in text does not resume",
			lines: []string{"::stop-commands::tok", "echo ::tok::", "tok", "::tok::"},
			want: []result{
				{"stop-commands", "tok", true, true},
				{"", "", false, true},
				{"", "", false, true},
				{ResumeCommands, "tok", true, false},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p CommandParser
			var got []result
			for _, l := range tt.lines {
				c, ok := p.Parse(l)
				got = append(got, result{c.Name, c.Value, ok, p.Stopped()})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidStopToken(t *testing.T) {
	got := map[string]bool{}
	for _, tok := range []string{"", "abc", "ADD-MASK", "pause-logging", "a1b2c3"} {
		got[tok] = ValidStopToken(tok)
	}
	want := map[string]bool{"": false, "abc": true, "ADD-MASK": false, "pause-logging": false, "a1b2c3": true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}
