package secrets

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters for new hashes. On a 2-core server one hash takes about
// 50 ms and 32 MiB, with one lane so that a burst of sign-ins cannot occupy
// both cores per attempt.
const (
	argonTime    = 2
	argonMemory  = 32 * 1024 // KiB
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Bounds accepted when verifying, so that a corrupted or hostile stored hash
// cannot make one sign-in allocate gigabytes or spin for minutes.
const (
	maxArgonMemory = 1024 * 1024 // KiB: 1 GiB
	maxArgonTime   = 16
	minSaltLen     = 8
	minKeyLen      = 16
	maxKeyLen      = 128
)

// ErrMalformedHash is returned for an encoded password hash that is not a
// PHC-style argon2id string with sane parameters.
var ErrMalformedHash = errors.New("malformed password hash")

// HashPassword hashes pw with argon2id and a random salt, encoded as
// "$argon2id$v=19$m=32768,t=2,p=1$<salt>$<hash>" (unpadded standard base64).
func HashPassword(pw string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("generating salt: %w", err)
	}
	p := argonParams{time: argonTime, memory: argonMemory, threads: argonThreads}
	sum := argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, argonKeyLen)
	return p.encode(salt, sum), nil
}

// VerifyPassword reports whether pw matches encoded. A wrong password is
// (false, nil); an encoding it cannot read is an ErrMalformedHash error.
func VerifyPassword(encoded, pw string) (bool, error) {
	p, salt, want, err := decodeHash(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// NeedsRehash reports whether encoded was made with parameters other than
// the current ones, so that a caller can re-hash after a successful sign-in.
func NeedsRehash(encoded string) bool {
	p, salt, sum, err := decodeHash(encoded)
	if err != nil {
		return true
	}
	return p != (argonParams{time: argonTime, memory: argonMemory, threads: argonThreads}) ||
		len(salt) != argonSaltLen || len(sum) != argonKeyLen
}

type argonParams struct {
	time, memory uint32
	threads      uint8
}

func (p argonParams) encode(salt, sum []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memory, p.time, p.threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(sum))
}

func decodeHash(encoded string) (argonParams, []byte, []byte, error) {
	var p argonParams
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" {
		return p, nil, nil, fmt.Errorf("%w: want $argon2id$v=19$m=..,t=..,p=..$salt$hash", ErrMalformedHash)
	}
	if parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: algorithm %q is not argon2id", ErrMalformedHash, parts[1])
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: version %q is not v=%d", ErrMalformedHash, parts[2], argon2.Version)
	}
	seen := map[string]bool{}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || seen[k] {
			return p, nil, nil, fmt.Errorf("%w: parameter %q", ErrMalformedHash, kv)
		}
		seen[k] = true
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, nil, nil, fmt.Errorf("%w: parameter %q", ErrMalformedHash, kv)
		}
		switch k {
		case "m":
			p.memory = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			if n > 255 {
				return p, nil, nil, fmt.Errorf("%w: parameter %q", ErrMalformedHash, kv)
			}
			p.threads = uint8(n)
		default:
			return p, nil, nil, fmt.Errorf("%w: unknown parameter %q", ErrMalformedHash, k)
		}
	}
	switch {
	case len(seen) != 3:
		return p, nil, nil, fmt.Errorf("%w: want parameters m, t and p", ErrMalformedHash)
	case p.time < 1 || p.time > maxArgonTime:
		return p, nil, nil, fmt.Errorf("%w: t=%d out of range 1..%d", ErrMalformedHash, p.time, maxArgonTime)
	case p.threads < 1:
		return p, nil, nil, fmt.Errorf("%w: p=0", ErrMalformedHash)
	case p.memory < 8*uint32(p.threads) || p.memory > maxArgonMemory:
		return p, nil, nil, fmt.Errorf("%w: m=%d out of range %d..%d", ErrMalformedHash, p.memory, 8*uint32(p.threads), maxArgonMemory)
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < minSaltLen {
		return p, nil, nil, fmt.Errorf("%w: salt", ErrMalformedHash)
	}
	sum, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(sum) < minKeyLen || len(sum) > maxKeyLen {
		return p, nil, nil, fmt.Errorf("%w: hash", ErrMalformedHash)
	}
	return p, salt, sum, nil
}
