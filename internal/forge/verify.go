package forge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// Verify checks that a delivery was made by someone who knows secret:
// GitHub's X-Hub-Signature-256 ("sha256=" + hex HMAC-SHA256 of the body),
// Gitea's X-Gitea-Signature or Forgejo's X-Forgejo-Signature (bare hex
// HMAC-SHA256), GitLab's X-Gitlab-Token (the secret itself). Comparisons are
// constant time. An empty secret fails: an unsigned hook must never be
// mistaken for a verified one.
func Verify(kind Kind, h http.Header, body []byte, secret []byte) error {
	if len(secret) == 0 {
		return fmt.Errorf("%w: no webhook secret is configured for this repository", ErrBadSignature)
	}
	switch kind {
	case GitHub:
		const name = "X-Hub-Signature-256"
		v := h.Get(name)
		if v == "" {
			if h.Get("X-Hub-Signature") != "" {
				return fmt.Errorf("%w: only the SHA-1 X-Hub-Signature header was sent; %s is required", ErrBadSignature, name)
			}
			return fmt.Errorf("%w: %s header missing", ErrBadSignature, name)
		}
		hexSig, ok := strings.CutPrefix(v, "sha256=")
		if !ok {
			return fmt.Errorf("%w: %s does not start with sha256=", ErrBadSignature, name)
		}
		return checkHMAC(name, hexSig, body, secret)
	case Gitea:
		for _, name := range []string{"X-Gitea-Signature", "X-Forgejo-Signature"} {
			if v := h.Get(name); v != "" {
				return checkHMAC(name, v, body, secret)
			}
		}
		return fmt.Errorf("%w: X-Gitea-Signature (or X-Forgejo-Signature) header missing", ErrBadSignature)
	case GitLab:
		const name = "X-Gitlab-Token"
		v := h.Get(name)
		if v == "" {
			return fmt.Errorf("%w: %s header missing", ErrBadSignature, name)
		}
		// Comparing digests keeps the comparison constant time in the
		// secret's length as well as its content.
		got, want := sha256.Sum256([]byte(v)), sha256.Sum256(secret)
		if !hmac.Equal(got[:], want[:]) {
			return fmt.Errorf("%w: %s does not match the webhook secret", ErrBadSignature, name)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown forge %q", ErrBadSignature, kind)
}

func checkHMAC(header, hexSig string, body, secret []byte) error {
	got, err := hex.DecodeString(strings.TrimSpace(hexSig))
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: %s is not a hex SHA-256 HMAC", ErrBadSignature, header)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("%w: %s does not match the body signed with the webhook secret", ErrBadSignature, header)
	}
	return nil
}

// Sign returns the signature header a forge would send for body, for tests
// and for tools that replay deliveries.
func Sign(kind Kind, body, secret []byte) (header, value string) {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	sig := hex.EncodeToString(mac.Sum(nil))
	switch kind {
	case GitHub:
		return "X-Hub-Signature-256", "sha256=" + sig
	case Gitea:
		return "X-Gitea-Signature", sig
	case GitLab:
		return "X-Gitlab-Token", string(secret)
	}
	return "", ""
}
