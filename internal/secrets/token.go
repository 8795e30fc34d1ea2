package secrets

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"math/big"
	"strings"
)

// TokenPrefix starts every API token, so that secret scanners and people can
// recognise one.
const TokenPrefix = "slc_"

// tokenBodyLen is the number of base62 digits that hold 32 bytes
// (62^43 > 2^256), kept fixed by left-padding with '0'.
const tokenBodyLen = 43

// NewToken returns a new API token and the hash to store for it. Only the
// hash is kept; the token is shown to its owner once.
func NewToken() (token string, hash []byte, err error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", nil, fmt.Errorf("generating token: %w", err)
	}
	body := new(big.Int).SetBytes(raw[:]).Text(62)
	token = TokenPrefix + strings.Repeat("0", tokenBodyLen-len(body)) + body
	return token, HashToken(token), nil
}

// HashToken is the lookup key stored for a token. A plain SHA-256 is enough
// (and lets the store index it) because tokens carry 256 random bits: there
// is nothing for a slow hash to protect against.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// ValidTokenFormat reports whether s looks like a token NewToken made, so
// that obviously wrong credentials are rejected without a store lookup.
func ValidTokenFormat(s string) bool {
	body, ok := strings.CutPrefix(s, TokenPrefix)
	if !ok || len(body) != tokenBodyLen {
		return false
	}
	for _, c := range []byte(body) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// EqualHash compares two hashes in constant time.
func EqualHash(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}

// TokenMatches reports whether token hashes to want, in constant time.
func TokenMatches(token string, want []byte) bool {
	return EqualHash(HashToken(token), want)
}
