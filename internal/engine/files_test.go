package engine

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseKeyValues(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    [][2]string
		wantErr []string
	}{
		{name: "empty file", in: ""},
		{name: "simple", in: "a=b\n", want: [][2]string{{"a", "b"}}},
		{name: "no trailing newline", in: "a=b", want: [][2]string{{"a", "b"}}},
		{name: "value with equals", in: "url=https://x/?a=1&b=2\n", want: [][2]string{{"url", "https://x/?a=1&b=2"}}},
		{name: "empty value", in: "a=\n", want: [][2]string{{"a", ""}}},
		{name: "value keeps spaces", in: "a= b c \n", want: [][2]string{{"a", " b c "}}},
		{name: "heredoc marker after equals is a value", in: "a=x<<EOF\n", want: [][2]string{{"a", "x<<EOF"}}},
		{name: "order and repeats kept", in: "a=1\nb=2\na=3\n", want: [][2]string{{"a", "1"}, {"b", "2"}, {"a", "3"}}},
		{name: "heredoc", in: "json<<EOF\n{\"a\": 1}\nEOF\n", want: [][2]string{{"json", `{"a": 1}`}}},
		{name: "heredoc multi-line with blank lines and markers inside",
			in:   "body<<ghadelim_123\nline one\n\nk=v\nx<<y\n  EOF\n\nghadelim_123\nnext=1\n",
			want: [][2]string{{"body", "line one\n\nk=v\nx<<y\n  EOF\n"}, {"next", "1"}}},
		{name: "heredoc empty value", in: "e<<EOF\nEOF\n", want: [][2]string{{"e", ""}}},
		{name: "heredoc delimiter with equals", in: "n<<a=b\nv\na=b\n", want: [][2]string{{"n", "v"}}},
		{name: "heredoc closing line without newline", in: "n<<EOF\nv\nEOF", want: [][2]string{{"n", "v"}}},
		{name: "crlf", in: "a=b\r\nm<<EOF\r\nx\r\ny\r\nEOF\r\nc=d\r\n",
			want: [][2]string{{"a", "b"}, {"m", "x\ny"}, {"c", "d"}}},
		{name: "empty lines between entries", in: "\n\na=1\n\n   \nb=2\n\n", want: [][2]string{{"a", "1"}, {"b", "2"}}},
		{name: "long value", in: "big=" + strings.Repeat("x", 200000) + "\n", want: [][2]string{{"big", strings.Repeat("x", 200000)}}},
		{name: "missing delimiter", in: "a=1\nm<<EOF\nx\ny\n", wantErr: []string{"line 4", "m", `"EOF"`, "closing delimiter"}},
		{name: "delimiter must match whole line", in: "m<<EOF\nx\nEOF \n", wantErr: []string{"closing delimiter"}},
		{name: "bad line", in: "a=1\n\njust text\n", wantErr: []string{"line 3", `"just text"`}},
		{name: "empty name", in: "=v\n", wantErr: []string{"line 1", "NAME=value"}},
		{name: "heredoc without name", in: "<<EOF\nx\nEOF\n", wantErr: []string{"line 1", "needs a name and a delimiter"}},
		{name: "heredoc without delimiter", in: "n<<\nx\n", wantErr: []string{"line 1", "needs a name and a delimiter"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseKeyValues([]byte(tt.in))
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("parseKeyValues = %q, want an error", got)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("parseKeyValues: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseKeyValues (-want +got):\n%s", diff)
			}
		})
	}
}
