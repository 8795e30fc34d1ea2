package forge

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestVerify(t *testing.T) {
	body := []byte(`{"ref":"refs/heads/main"}`)
	secret := []byte("It's a Secret to Everybody")
	mac := func(key, b []byte) string {
		m := hmac.New(sha256.New, key)
		m.Write(b)
		return hex.EncodeToString(m.Sum(nil))
	}
	good := mac(secret, body)
	sha1mac := hmac.New(sha1.New, secret)
	sha1mac.Write(body)
	sha1sig := "sha1=" + hex.EncodeToString(sha1mac.Sum(nil))

	tests := []struct {
		name   string
		kind   Kind
		h      http.Header
		body   []byte
		secret []byte
		// wantIn is empty for success, else a fragment of the error.
		wantIn string
	}{
		{"github good", GitHub, headers("X-Hub-Signature-256", "sha256="+good), body, secret, ""},
		{"github upper-case hex", GitHub, headers("X-Hub-Signature-256", "sha256="+strings.ToUpper(good)), body, secret, ""},
		{"github bad", GitHub, headers("X-Hub-Signature-256", "sha256="+mac([]byte("other"), body)), body, secret, "X-Hub-Signature-256 does not match"},
		{"github body changed", GitHub, headers("X-Hub-Signature-256", "sha256="+good), append([]byte(" "), body...), secret, "does not match"},
		{"github missing", GitHub, headers(), body, secret, "X-Hub-Signature-256 header missing"},
		{"github only sha1", GitHub, headers("X-Hub-Signature", sha1sig), body, secret, "SHA-1"},
		{"github sha1 prefix", GitHub, headers("X-Hub-Signature-256", sha1sig), body, secret, "does not start with sha256="},
		{"github no prefix", GitHub, headers("X-Hub-Signature-256", good), body, secret, "does not start with sha256="},
		{"github not hex", GitHub, headers("X-Hub-Signature-256", "sha256=zz"+good[2:]), body, secret, "not a hex SHA-256"},
		{"github truncated", GitHub, headers("X-Hub-Signature-256", "sha256="+good[:40]), body, secret, "not a hex SHA-256"},
		{"github empty secret", GitHub, headers("X-Hub-Signature-256", "sha256="+mac(nil, body)), body, nil, "no webhook secret"},
		{"gitea good", Gitea, headers("X-Gitea-Signature", good), body, secret, ""},
		{"forgejo good", Gitea, headers("X-Forgejo-Signature", good), body, secret, ""},
		{"gitea bad", Gitea, headers("X-Gitea-Signature", mac([]byte("other"), body)), body, secret, "X-Gitea-Signature does not match"},
		{"gitea github-style prefix", Gitea, headers("X-Gitea-Signature", "sha256="+good), body, secret, "not a hex SHA-256"},
		{"gitea missing", Gitea, headers("X-Hub-Signature-256", "sha256="+good), body, secret, "X-Gitea-Signature (or X-Forgejo-Signature) header missing"},
		{"gitlab good", GitLab, headers("X-Gitlab-Token", string(secret)), body, secret, ""},
		{"gitlab bad", GitLab, headers("X-Gitlab-Token", "It's a Secret to Everybody!"), body, secret, "X-Gitlab-Token does not match"},
		{"gitlab prefix of secret", GitLab, headers("X-Gitlab-Token", "It's"), body, secret, "does not match"},
		{"gitlab missing", GitLab, headers(), body, secret, "X-Gitlab-Token header missing"},
		{"gitlab empty secret", GitLab, headers(), body, []byte{}, "no webhook secret"},
		{"unknown forge", Kind("svn"), headers(), body, secret, "unknown forge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.kind, tt.h, tt.body, tt.secret)
			if tt.wantIn == "" {
				if err != nil {
					t.Fatalf("Verify = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrBadSignature) {
				t.Fatalf("Verify = %v, want ErrBadSignature", err)
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("Verify = %q, want it to mention %q", err, tt.wantIn)
			}
			if len(tt.secret) > 0 && strings.Contains(err.Error(), string(tt.secret)) {
				t.Errorf("error %q echoes the secret", err)
			}
		})
	}
}

func TestSignVerifies(t *testing.T) {
	body := []byte(`{"x":1}`)
	secret := []byte("s3cret")
	for _, k := range []Kind{GitHub, Gitea, GitLab} {
		name, value := Sign(k, body, secret)
		if err := Verify(k, headers(name, value), body, secret); err != nil {
			t.Errorf("%s: Verify(Sign) = %v", k, err)
		}
	}
}

// GitHub's documented test vector for X-Hub-Signature-256.
func TestVerifyGitHubDocumentedVector(t *testing.T) {
	h := headers("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
	if err := Verify(GitHub, h, []byte("Hello, World!"), []byte("It's a Secret to Everybody")); err != nil {
		t.Fatal(err)
	}
}
