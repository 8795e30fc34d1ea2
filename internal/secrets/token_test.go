package secrets

import (
	"encoding/hex"
	"strings"
	"testing"
)

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		tok, hash, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if !ValidTokenFormat(tok) {
			t.Fatalf("token %q does not have the expected format", tok)
		}
		if len(tok) != len(TokenPrefix)+tokenBodyLen {
			t.Fatalf("token %q has length %d", tok, len(tok))
		}
		if seen[tok] {
			t.Fatalf("duplicate token %q", tok)
		}
		seen[tok] = true
		if !EqualHash(hash, HashToken(tok)) || !TokenMatches(tok, hash) {
			t.Fatalf("returned hash does not match HashToken")
		}
		if TokenMatches(tok+"x", hash) {
			t.Fatalf("a different token matches")
		}
	}
}

func TestHashTokenStable(t *testing.T) {
	// Known answer from coreutils: printf slc_example | sha256sum
	const want = "0ca22726cf0aace9d87852838dd01e1278d41ac8264a3d6365acf29f3d025aa7"
	if got := hex.EncodeToString(HashToken("slc_example")); got != want {
		t.Fatalf("HashToken = %s, want %s", got, want)
	}
}

func TestValidTokenFormat(t *testing.T) {
	body := strings.Repeat("aZ9", 14) + "b"
	tests := []struct {
		in   string
		want bool
	}{
		{TokenPrefix + body, true},
		{"", false},
		{body, false},
		{"slc-" + body, false},
		{TokenPrefix + body[1:], false},
		{TokenPrefix + body + "c", false},
		{TokenPrefix + body[1:] + "_", false},
		{TokenPrefix + body[1:] + "é"[:1], false},
	}
	for _, tt := range tests {
		if got := ValidTokenFormat(tt.in); got != tt.want {
			t.Errorf("ValidTokenFormat(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestEqualHash(t *testing.T) {
	a := HashToken("a")
	if !EqualHash(a, HashToken("a")) || EqualHash(a, HashToken("b")) || EqualHash(a, a[:16]) || EqualHash(nil, a) {
		t.Fatal("EqualHash gives a wrong answer")
	}
}
