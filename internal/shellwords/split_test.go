package shellwords

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var errRefused = errors.New("refused")

// refuse refuses $ anywhere and ; outside quotes, and a trailing backslash.
func refuse(c byte, inDouble bool) error {
	if c == '$' || (!inDouble && (c == ';' || c == '\\')) {
		return errRefused
	}
	return nil
}

func TestSplit(t *testing.T) {
	posix := Splitter{Blanks: " \t\n", Escapes: true}
	literal := Splitter{Blanks: " \t\n"}
	checked := Splitter{Blanks: " ", Escapes: true, Check: refuse}
	tests := []struct {
		name    string
		sp      Splitter
		in      string
		want    []string
		wantErr error
	}{
		{"blanks", posix, "  -a  b\t c\n", []string{"-a", "b", "c"}, nil},
		{"empty", posix, "", nil, nil},
		{"empty quotes are a word", posix, `''`, []string{""}, nil},
		{"quotes join", posix, `a'b'"c"d`, []string{"abcd"}, nil},
		{"double quote escapes", posix, `"x \"y\" \$z \n"`, []string{`x "y" $z \n`}, nil},
		{"escape outside quotes", posix, `a\ b \'`, []string{"a b", "'"}, nil},
		{"single quotes keep backslashes", posix, `'a\'`, []string{`a\`}, nil},
		{"trailing backslash dropped", posix, `a\`, []string{"a"}, nil},
		{"literal backslash", literal, `C:\x "a\b" "c\"`, []string{`C:\x`, `a\b`, `c\`}, nil},
		{"blanks are the caller's", literal, "a\rb", []string{"a\rb"}, nil},
		{"unterminated single", posix, `'open`, nil, &QuoteError{Quote: '\''}},
		{"unterminated double", literal, `"open`, nil, &QuoteError{Quote: '"'}},
		{"check passes plain words", checked, `pip install "a;b" \$x`, []string{"pip", "install", "a;b", "$x"}, nil},
		{"check refuses unquoted", checked, `a;b`, nil, errRefused},
		{"check refuses in double quotes", checked, `"$x"`, nil, errRefused},
		{"single quotes are not checked", checked, `'$x;'`, []string{"$x;"}, nil},
		{"check sees a trailing backslash", checked, `a\`, nil, errRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.sp.Split(tt.in)
			if !sameError(tt.wantErr, err) {
				t.Fatalf("Split(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Split(%q) (-want +got):\n%s", tt.in, d)
			}
		})
	}
}

func sameError(want, got error) bool {
	var wq, gq *QuoteError
	switch {
	case want == nil:
		return got == nil
	case errors.As(want, &wq):
		return errors.As(got, &gq) && *gq == *wq
	}
	return errors.Is(got, want)
}
