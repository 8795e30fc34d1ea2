package pypi

import (
	"hash"

	"golang.org/x/crypto/blake2b"
)

// newBlake2b256 is the blake2_256_digest the upload API asks for.
func newBlake2b256() hash.Hash {
	h, err := blake2b.New256(nil)
	if err != nil {
		panic(err) // only a key longer than 64 bytes fails, and there is none
	}
	return h
}
