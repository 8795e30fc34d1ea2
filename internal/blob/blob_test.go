package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluice-ci/sluice/internal/testenv"
)

// stores returns each implementation to run the contract against: a directory, and a bucket
// of the real S3-compatible test server.
func stores(t *testing.T) map[string]func(t *testing.T) Store {
	return map[string]func(t *testing.T) Store{
		"disk": func(t *testing.T) Store {
			s, err := Open(context.Background(), t.TempDir(), os.Getenv)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"s3": func(t *testing.T) Store {
			_, loc := testenv.S3Bucket(t)
			s, err := Open(context.Background(), loc, os.Getenv)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
}

func get(t *testing.T, s Store, key string) string {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	return string(b)
}

func TestContract(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			if _, err := s.Get(ctx, "logs/1/a"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
			}
			if _, err := s.Stat(ctx, "logs/1/a"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Stat of a missing key: %v, want ErrNotFound", err)
			}
			big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB, more than one read
			for key, body := range map[string]string{"logs/1/a": "first", "logs/1/b": big, "logs/2/a": "", "artifacts/x.zip": "zip"} {
				size := int64(len(body))
				if key == "logs/1/b" {
					size = -1 // unknown length streams too
				}
				if err := s.Put(ctx, key, strings.NewReader(body), size); err != nil {
					t.Fatalf("Put %s: %v", key, err)
				}
			}
			if got := get(t, s, "logs/1/b"); got != big {
				t.Errorf("logs/1/b: %d bytes back, want %d", len(got), len(big))
			}
			if err := s.Put(ctx, "logs/1/a", strings.NewReader("second"), 6); err != nil {
				t.Fatal(err)
			}
			if got := get(t, s, "logs/1/a"); got != "second" {
				t.Errorf("after replacing: %q", got)
			}
			st, err := s.Stat(ctx, "logs/1/b")
			if err != nil || st.Size != int64(len(big)) || st.Key != "logs/1/b" || st.Modified.IsZero() {
				t.Errorf("Stat = %+v, %v", st, err)
			}
			list := func(prefix string) []string {
				t.Helper()
				infos, err := s.List(ctx, prefix)
				if err != nil {
					t.Fatalf("List %q: %v", prefix, err)
				}
				var keys []string
				for _, i := range infos {
					keys = append(keys, i.Key)
				}
				return keys
			}
			if diff := cmp.Diff([]string{"logs/1/a", "logs/1/b"}, list("logs/1/")); diff != "" {
				t.Errorf("List logs/1/ (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"artifacts/x.zip", "logs/1/a", "logs/1/b", "logs/2/a"}, list("")); diff != "" {
				t.Errorf("List all (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"logs/1/a", "logs/1/b", "logs/2/a"}, list("logs/")); diff != "" {
				t.Errorf("List logs/ (-want +got):\n%s", diff)
			}
			if err := s.Delete(ctx, "logs/1/a"); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, "logs/1/a"); err != nil {
				t.Fatalf("deleting a missing key: %v", err)
			}
			if _, err := s.Get(ctx, "logs/1/a"); !errors.Is(err, ErrNotFound) {
				t.Errorf("after Delete: %v", err)
			}

			// Concurrent writers of one key: a reader sees one whole version, never a mix.
			var wg sync.WaitGroup
			for i := range 4 {
				body := strings.Repeat(fmt.Sprint(i), 200_000)
				wg.Go(func() {
					if err := s.Put(ctx, "race", strings.NewReader(body), int64(len(body))); err != nil {
						t.Errorf("Put: %v", err)
					}
				})
			}
			wg.Wait()
			got := get(t, s, "race")
			if len(got) != 200_000 || strings.Count(got, got[:1]) != len(got) {
				t.Errorf("a mixed or partial blob: %d bytes starting %q", len(got), got[:min(10, len(got))])
			}

			for _, key := range []string{"../escape", "a/../../b", "/abs", "a//b", "a/./b", "a\\b", "nul\x00", "", "a/"} {
				if err := s.Put(ctx, key, strings.NewReader("x"), 1); err == nil {
					t.Errorf("Put %q succeeded", key)
				}
				if _, err := s.Get(ctx, key); err == nil || errors.Is(err, ErrNotFound) {
					t.Errorf("Get %q: %v, want a key error", key, err)
				}
			}
		})
	}
}

// A symlink planted in the directory (by anything with write access to it) does not lead a
// key outside: reads and writes through it fail instead of touching the target.
func TestDiskSymlinkEscape(t *testing.T) {
	ctx := context.Background()
	dir, outside := t.TempDir(), t.TempDir()
	s, err := OpenDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "logs")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "logs/secret"); err == nil {
		t.Error("read a file outside the store through a symlink")
	}
	if err := s.Put(ctx, "logs/planted", strings.NewReader("x"), 1); err == nil {
		t.Error("wrote through a symlink")
	}
	if _, err := os.Stat(filepath.Join(outside, "planted")); err == nil {
		t.Error("a file appeared outside the store")
	}
	if err := s.Put(ctx, ".tmp/x", strings.NewReader("x"), 1); err == nil {
		t.Error("wrote into the store's own temporary directory")
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	env := func(string) string { return "" }
	for _, tc := range []struct{ spec, want string }{
		{"", "empty location"},
		{"ftp://x/y", "unknown scheme"},
		{"s3://bucket", "no endpoint"},
		{"s3://?endpoint=h:1", "no bucket"},
		{"s3://ak:sk@bucket?endpoint=h:1", "credentials do not belong in the URL"},
		{"s3://bucket?endpoint=h:1&secure=maybe", `secure="maybe"`},
		{"s3://bucket?endpoint=h:1&acess_key_file=/x", `unknown parameter "acess_key_file"`},
		{"s3://bucket?endpoint=h:1&access_key_file=/x", "give both"},
		{"s3://bucket?endpoint=h:1&access_key_file=/nonexistent/a&secret_key_file=/nonexistent/b", "reading the S3 access key file"},
		{"s3://bucket/../x?endpoint=h:1", "prefix"},
		{"file://host/x", "want file:///ABSOLUTE/PATH"},
	} {
		_, err := Open(ctx, tc.spec, env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) = %v, want an error containing %q", tc.spec, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), ":sk@") {
			t.Errorf("Open(%q) error shows the secret: %v", tc.spec, err)
		}
	}
}

func TestS3MissingBucketAndBadCredentials(t *testing.T) {
	srv, loc := testenv.S3Bucket(t)
	ctx := context.Background()
	missing := strings.Replace(loc, "s3://", "s3://no-such-bucket-", 1)
	if _, err := Open(ctx, missing, os.Getenv); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("a missing bucket: %v", err)
	}
	dir := t.TempDir()
	ak, sk := filepath.Join(dir, "ak"), filepath.Join(dir, "sk")
	os.WriteFile(ak, []byte("nobody\n"), 0o600)
	os.WriteFile(sk, []byte("wrong-secret\n"), 0o600)
	bucket := strings.TrimPrefix(loc[:strings.Index(loc, "?")], "s3://")
	wrong := "s3://" + bucket + "?endpoint=" + srv.Endpoint + "&secure=false&access_key_file=" + ak + "&secret_key_file=" + sk
	s, err := Open(ctx, wrong, os.Getenv)
	if err == nil {
		err = s.Put(ctx, "x", bytes.NewReader([]byte("x")), 1)
	}
	if err == nil {
		t.Error("wrong credentials were accepted")
	} else if strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("the error shows the secret: %v", err)
	}
}

func FuzzValidKey(f *testing.F) {
	for _, s := range []string{"logs/1/a", "../x", "a//b", "a/./b", "\x00", "a\\b", strings.Repeat("a", 2000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if ValidKey(key) != nil {
			return
		}
		// A valid key stays inside: joined to a directory it never climbs out of it.
		p := filepath.Join("/store", key)
		if !strings.HasPrefix(p, "/store/") || filepath.Clean(p) != p {
			t.Fatalf("valid key %q resolves to %s", key, p)
		}
	})
}
