// Package secrets holds sluice's at-rest encryption (a Keyring of one
// XChaCha20-Poly1305 key), API token generation and hashing, and argon2id
// password hashing.
//
// Nothing here logs or formats secret material into errors: callers can
// wrap and print every error returned.
package secrets
