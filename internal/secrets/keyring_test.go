package secrets

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func testKeyring(t *testing.T, fill byte) *Keyring {
	t.Helper()
	k, err := NewKeyring(bytes.Repeat([]byte{fill}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k := testKeyring(t, 7)
	other := testKeyring(t, 8)
	for _, pt := range [][]byte{nil, []byte("x"), []byte("hunter2"), bytes.Repeat([]byte("long secret "), 1000)} {
		ct, err := k.Seal(pt, "secret:repo:12:NAME")
		if err != nil {
			t.Fatal(err)
		}
		if len(pt) > 3 && bytes.Contains(ct, pt) {
			t.Errorf("ciphertext contains the plaintext")
		}
		got, err := k.Open(ct, "secret:repo:12:NAME")
		if err != nil {
			t.Fatalf("Open(len %d): %v", len(pt), err)
		}
		if !bytes.Equal(got, pt) {
			t.Errorf("round trip: got %q, want %q", got, pt)
		}
		if _, err := k.Open(ct, "secret:repo:13:NAME"); !errors.Is(err, ErrDecrypt) {
			t.Errorf("Open with another context: err = %v, want ErrDecrypt", err)
		}
		if _, err := other.Open(ct, "secret:repo:12:NAME"); !errors.Is(err, ErrDecrypt) {
			t.Errorf("Open with another key: err = %v, want ErrDecrypt", err)
		}
	}
}

func TestSealUsesFreshNonces(t *testing.T) {
	k := testKeyring(t, 7)
	a, _ := k.Seal([]byte("same"), "c")
	b, _ := k.Seal([]byte("same"), "c")
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical")
	}
}

func TestOpenRejectsTampering(t *testing.T) {
	k := testKeyring(t, 7)
	ct, err := k.Seal([]byte("a secret value"), "ctx")
	if err != nil {
		t.Fatal(err)
	}
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		if _, err := k.Open(bad, "ctx"); !errors.Is(err, ErrDecrypt) {
			t.Errorf("byte %d flipped: err = %v, want ErrDecrypt", i, err)
		}
	}
	for _, n := range []int{0, 1, 25, len(ct) - 1} {
		if _, err := k.Open(ct[:n], "ctx"); !errors.Is(err, ErrDecrypt) {
			t.Errorf("truncated to %d: err = %v, want ErrDecrypt", n, err)
		}
	}
	if _, err := k.Open(append(bytes.Clone(ct), 0), "ctx"); !errors.Is(err, ErrDecrypt) {
		t.Errorf("extended: err = %v, want ErrDecrypt", err)
	}
}

func TestNewKeyringSize(t *testing.T) {
	if _, err := NewKeyring(make([]byte, 16)); err == nil {
		t.Fatal("16-byte key accepted")
	}
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadKeyFromEnv(t *testing.T) {
	key := bytes.Repeat([]byte{0xfe}, KeySize)
	dir := t.TempDir()
	for name, enc := range map[string]*base64.Encoding{"std": base64.StdEncoding, "raw": base64.RawStdEncoding, "url": base64.URLEncoding} {
		t.Run(name, func(t *testing.T) {
			k, err := LoadKey(dir, envOf(map[string]string{KeyEnv: enc.EncodeToString(key) + "\n"}))
			if err != nil {
				t.Fatal(err)
			}
			ct, err := testKeyringFrom(t, key).Seal([]byte("v"), "c")
			if err != nil {
				t.Fatal(err)
			}
			if got, err := k.Open(ct, "c"); err != nil || string(got) != "v" {
				t.Fatalf("env key does not open what the same key sealed: %q, %v", got, err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a key file was created although the env var was set: %v", err)
	}
	for _, bad := range []string{"not base64!!", base64.StdEncoding.EncodeToString(make([]byte, 16))} {
		if _, err := LoadKey(dir, envOf(map[string]string{KeyEnv: bad})); err == nil || !strings.Contains(err.Error(), KeyEnv) {
			t.Errorf("LoadKey with %s=%q: err = %v, want an error naming the variable", KeyEnv, bad, err)
		}
	}
}

func testKeyringFrom(t *testing.T, key []byte) *Keyring {
	t.Helper()
	k, err := NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestLoadKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	k1, err := LoadKey(dir, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, KeyFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %#o, want 0600", perm)
	}
	ct, err := k1.Seal([]byte("persisted"), "c")
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadKey(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k2.Open(ct, "c"); err != nil || string(got) != "persisted" {
		t.Fatalf("second load does not reuse the key: %q, %v", got, err)
	}
	// The file holds the same encoding SLUICE_SECRET_KEY takes, so it can be moved there.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k3, err := LoadKey(t.TempDir(), envOf(map[string]string{KeyEnv: string(data)}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k3.Open(ct, "c"); err != nil {
		t.Fatalf("key file content used as %s: %v", KeyEnv, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only %s", len(entries), KeyFile)
	}

	for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadKey(dir, nil)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %#o: err = %v, want a refusal telling how to fix it", mode, err)
		}
	}
}

func TestLoadKeyFileMalformed(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, KeyFile), []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(dir, nil); err == nil {
		t.Fatal("malformed key file accepted")
	}
}

func TestLoadKeyConcurrentFirstUse(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	rings := make([]*Keyring, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { rings[i], errs[i] = LoadKey(dir, nil) })
	}
	wg.Wait()
	ct, err := testKeyringOrFatal(t, rings[0], errs[0]).Seal([]byte("v"), "c")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < n; i++ {
		if _, err := testKeyringOrFatal(t, rings[i], errs[i]).Open(ct, "c"); err != nil {
			t.Errorf("loader %d got a different key: %v", i, err)
		}
	}
}

func testKeyringOrFatal(t *testing.T, k *Keyring, err error) *Keyring {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
