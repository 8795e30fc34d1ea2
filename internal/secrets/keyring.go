package secrets

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// KeyEnv is the environment variable that, when set, holds the key (base64 of
// 32 bytes) and takes precedence over the key file.
const KeyEnv = "SLUICE_SECRET_KEY"

// KeyFile is the key file's name inside the data directory.
const KeyFile = "secret.key"

// KeySize is the length of the raw key in bytes.
const KeySize = chacha20poly1305.KeySize

// sealVersion prefixes every ciphertext so that a future key rotation or
// algorithm change can tell old rows from new ones.
const sealVersion byte = 1

// ErrDecrypt is returned by Open for any ciphertext that does not
// authenticate. The causes (wrong key, wrong context, tampering, truncation)
// are deliberately not told apart.
var ErrDecrypt = errors.New("cannot decrypt secret: wrong key, wrong context or damaged data")

// Keyring seals and opens secrets with one symmetric key. It is safe for
// concurrent use.
type Keyring struct {
	aead cipher.AEAD
}

// NewKeyring makes a Keyring from a raw 32-byte key.
func NewKeyring(key []byte) (*Keyring, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret key is %d bytes, want %d", len(key), KeySize)
	}
	// XChaCha20's 24-byte nonce makes random nonces safe for any realistic
	// number of seals under one key, unlike AES-GCM's 12 bytes.
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("making cipher: %w", err)
	}
	return &Keyring{aead: aead}, nil
}

// LoadKey returns the server's Keyring. The key comes from env(KeyEnv) when
// that is set (base64 of 32 bytes); otherwise from dataDir/secret.key, which
// is created with a fresh random key (mode 0600) on first use. A key file
// that group or others can access is refused, because anyone who reads it can
// decrypt every stored secret.
func LoadKey(dataDir string, env func(string) string) (*Keyring, error) {
	if env != nil {
		if v := strings.TrimSpace(env(KeyEnv)); v != "" {
			key, err := decodeKey(v)
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", KeyEnv, err)
			}
			return NewKeyring(key)
		}
	}
	path := filepath.Join(dataDir, KeyFile)
	key, err := readKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key, err = createKeyFile(dataDir, path)
	}
	if err != nil {
		return nil, err
	}
	return NewKeyring(key)
}

// decodeKey accepts standard or URL base64, padded or not, since people
// produce keys with whatever tool is at hand (openssl rand -base64 32, …).
func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) != KeySize {
				return nil, fmt.Errorf("key decodes to %d bytes, want %d (make one with: openssl rand -base64 32)", len(key), KeySize)
			}
			return key, nil
		}
	}
	return nil, errors.New("key is not valid base64 (make one with: openssl rand -base64 32)")
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("opening secret key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading secret key %s: %w", path, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("secret key %s has mode %#o: it must not be accessible by group or others; run: chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, fmt.Errorf("reading secret key %s: %w", path, err)
	}
	key, err := decodeKey(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("reading secret key %s: %w", path, err)
	}
	return key, nil
}

// createKeyFile writes a new key to a temporary file and hard-links it into
// place, so that two servers starting at once on the same data directory
// agree on one key and nobody ever reads a half-written file.
func createKeyFile(dataDir, path string) ([]byte, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory for the secret key: %w", err)
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generating secret key: %w", err)
	}
	tmp, err := os.CreateTemp(dataDir, ".secret.key-*")
	if err != nil {
		return nil, fmt.Errorf("creating secret key: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp already uses 0600; Chmod guards against that ever changing.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("creating secret key: %w", err)
	}
	if _, err := tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("writing secret key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("writing secret key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("writing secret key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return readKeyFile(path)
		}
		return nil, fmt.Errorf("installing secret key %s: %w", path, err)
	}
	return key, nil
}

// Seal encrypts plaintext. context names where the ciphertext belongs (for
// example "secret:repo:12:PYPI_TOKEN") and is authenticated but not stored:
// Open must be given the same context, so a ciphertext copied to another row
// does not decrypt.
func (k *Keyring) Seal(plaintext []byte, context string) ([]byte, error) {
	ns := k.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+k.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("generating nonce: %w", err)
	}
	return k.aead.Seal(out, out[1:1+ns], plaintext, additionalData(context)), nil
}

// Open decrypts what Seal produced with the same context. Any failure is
// ErrDecrypt.
func (k *Keyring) Open(ciphertext []byte, context string) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(ciphertext) < 1+ns+k.aead.Overhead() || ciphertext[0] != sealVersion {
		return nil, ErrDecrypt
	}
	pt, err := k.aead.Open(nil, ciphertext[1:1+ns], ciphertext[1+ns:], additionalData(context))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// additionalData binds the format version as well as the caller's context.
func additionalData(context string) []byte {
	ad := make([]byte, 0, 1+len(context))
	ad = append(ad, sealVersion)
	return append(ad, context...)
}
