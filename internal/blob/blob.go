// Package blob keeps the server's large bytes — logs of finished jobs, artifacts, caches and
// release files — where every replica of the server reaches them: a directory on local disk
// (the default for one server) or a bucket of an S3-compatible object store.
//
// A blob is written whole or not at all (readers never see half an object) and addressed by a
// key of slash-separated parts ("logs/12/0001.ndjson.gz"). Keys come from the server, never
// from a request as given, but are still checked (see ValidKey): a key never names anything
// outside the store.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
)

// ErrNotFound is returned by Get and Stat for a key that holds no blob.
var ErrNotFound = errors.New("blob not found")

// Info describes a stored blob.
type Info struct {
	Key      string
	Size     int64
	Modified time.Time
}

// Store holds blobs by key. Implementations are safe for concurrent use, also by several
// processes on the same directory or bucket.
type Store interface {
	// Put stores r's bytes under key, replacing any blob there; size is the length when known,
	// else -1. Readers see the old blob or the whole new one, never a part.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get opens the blob at key; ErrNotFound when there is none.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat describes the blob at key; ErrNotFound when there is none.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the blob at key; a missing one is not an error.
	Delete(ctx context.Context, key string) error
	// List returns the blobs whose keys start with prefix, by key.
	List(ctx context.Context, prefix string) ([]Info, error)
	// String says where the store is, without credentials, for messages.
	String() string
}

// maxKeyLen is S3's limit on object names.
const maxKeyLen = 1024

// ValidKey checks that key is relative, slash-separated parts, none empty, "." or "..", and
// free of backslashes and control characters: on disk it names a file under the store's
// directory and nothing else, in a bucket an object under the store's prefix.
func ValidKey(key string) error {
	if key == "" || len(key) > maxKeyLen {
		return fmt.Errorf("blob key %q: want 1 to %d bytes", key, maxKeyLen)
	}
	for _, r := range key {
		if r == '\\' || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return fmt.Errorf("blob key %q: backslashes, control characters and invalid UTF-8 are not allowed", key)
		}
	}
	for _, part := range strings.Split(key, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("blob key %q: each part between slashes must be a name (not empty, \".\" or \"..\")", key)
		}
	}
	return nil
}

// validPrefix is ValidKey for a List prefix, which may be empty or end in a slash.
func validPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return ValidKey(strings.TrimSuffix(prefix, "/"))
}

// Open returns the store spec names:
//
//	/var/lib/sluice/blobs, file:///var/lib/sluice/blobs   a directory (created if missing)
//	s3://BUCKET[/PREFIX]?endpoint=HOST:PORT[&region=R][&secure=false][&path_style=true]
//	                     [&access_key_file=PATH&secret_key_file=PATH]
//
// S3 credentials come from the files named (secrets stay out of the URL, the process list and
// the environment of anything the server starts), else from AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY read through getenv. The bucket must exist.
func Open(ctx context.Context, spec string, getenv func(string) string) (Store, error) {
	switch {
	case spec == "":
		return nil, errors.New("blob store: empty location: want a directory or s3://BUCKET?endpoint=HOST:PORT")
	case strings.HasPrefix(spec, "s3://"):
		return openS3(ctx, spec, getenv)
	case strings.HasPrefix(spec, "file://"):
		u, err := url.Parse(spec)
		if err != nil || u.Host != "" || u.RawQuery != "" {
			return nil, fmt.Errorf("blob store %q: want file:///ABSOLUTE/PATH", spec)
		}
		return OpenDisk(u.Path)
	case strings.Contains(spec, "://"):
		return nil, fmt.Errorf("blob store %q: unknown scheme: want a directory, file:///PATH or s3://BUCKET?endpoint=HOST:PORT", redact(spec))
	default:
		return OpenDisk(spec)
	}
}

// redact hides a password given in a URL's user part.
func redact(spec string) string {
	u, err := url.Parse(spec)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}

// readSecretFile reads a credential from a file, trimming one trailing newline.
func readSecretFile(what, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the %s file: %w", what, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("the %s file %s is empty", what, path)
	}
	return s, nil
}

func absDir(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("blob store: empty directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("blob store %s: %w", dir, err)
	}
	return abs, nil
}
