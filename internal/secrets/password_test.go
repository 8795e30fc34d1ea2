package secrets

import (
	"errors"
	"strings"
	"testing"
)

func TestHashPassword(t *testing.T) {
	enc, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=32768,t=2,p=1$") {
		t.Errorf("encoding %q lacks the expected PHC prefix", enc)
	}
	if strings.Contains(enc, "correct horse") {
		t.Errorf("encoding contains the password")
	}
	for _, tt := range []struct {
		pw   string
		want bool
	}{{"correct horse", true}, {"correct hors", false}, {"Correct horse", false}, {"", false}} {
		got, err := VerifyPassword(enc, tt.pw)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("VerifyPassword(%q) = %v, want %v", tt.pw, got, tt.want)
		}
	}
	enc2, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if enc == enc2 {
		t.Error("two hashes of one password are equal: salt not random")
	}
	if NeedsRehash(enc) {
		t.Error("NeedsRehash is true for a fresh hash")
	}
}

// Vectors made by the reference implementation (libargon2 via ctypes,
// argon2id_hash_encoded), so our encoding and parameters interoperate.
func TestVerifyPasswordReferenceVectors(t *testing.T) {
	vectors := []string{
		"$argon2id$v=19$m=1024,t=2,p=1$c2x1aWNlLXNhbHQtMDAwMQ$q7OTvnlBoaSTxZHOVSFCCoFWtVN6QtJFO15dpl0+M14",
		"$argon2id$v=19$m=2048,t=1,p=2$c2x1aWNlLXNhbHQtMDAwMQ$jgIYtxFPCsxHEhhQg/zebrwiy1bkNuwI",
	}
	for _, v := range vectors {
		ok, err := VerifyPassword(v, "correct horse")
		if err != nil || !ok {
			t.Errorf("VerifyPassword(%s) = %v, %v; want true", v, ok, err)
		}
		ok, err = VerifyPassword(v, "wrong horse")
		if err != nil || ok {
			t.Errorf("VerifyPassword(%s, wrong) = %v, %v; want false", v, ok, err)
		}
		if !NeedsRehash(v) {
			t.Errorf("NeedsRehash(%s) = false for old parameters", v)
		}
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	const salt, sum = "c2x1aWNlLXNhbHQtMDAwMQ", "q7OTvnlBoaSTxZHOVSFCCoFWtVN6QtJFO15dpl0+M14"
	bad := []string{
		"",
		"plain",
		"$argon2i$v=19$m=1024,t=2,p=1$" + salt + "$" + sum,
		"$argon2id$v=16$m=1024,t=2,p=1$" + salt + "$" + sum,
		"$argon2id$m=1024,t=2,p=1$" + salt + "$" + sum,
		"argon2id$v=19$m=1024,t=2,p=1$" + salt + "$" + sum + "$",
		"$argon2id$v=19$m=1024,t=2$" + salt + "$" + sum,
		"$argon2id$v=19$m=1024,t=2,p=1,x=3$" + salt + "$" + sum,
		"$argon2id$v=19$m=1024,t=2,t=2$" + salt + "$" + sum,
		"$argon2id$v=19$m=1024,t=0,p=1$" + salt + "$" + sum,
		"$argon2id$v=19$m=1024,t=2,p=0$" + salt + "$" + sum,
		"$argon2id$v=19$m=1024,t=2,p=256$" + salt + "$" + sum,
		"$argon2id$v=19$m=4,t=2,p=1$" + salt + "$" + sum,
		"$argon2id$v=19$m=99999999,t=2,p=1$" + salt + "$" + sum,
		"$argon2id$v=19$m=1024,t=999,p=1$" + salt + "$" + sum,
		"$argon2id$v=19$m=-1,t=2,p=1$" + salt + "$" + sum,
		"$argon2id$v=19$m=1024,t=2,p=1$" + "c2FsdA" + "$" + sum,
		"$argon2id$v=19$m=1024,t=2,p=1$" + salt + "$" + "c2hvcnQ",
		"$argon2id$v=19$m=1024,t=2,p=1$" + salt + "==$" + sum,
		"$argon2id$v=19$m=1024,t=2,p=1$" + salt + "$" + sum + "!",
	}
	for _, enc := range bad {
		ok, err := VerifyPassword(enc, "correct horse")
		if ok || !errors.Is(err, ErrMalformedHash) {
			t.Errorf("VerifyPassword(%q) = %v, %v; want ErrMalformedHash", enc, ok, err)
		}
	}
}
