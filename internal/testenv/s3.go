package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// defaultS3Dir is where scripts/s3-setup.sh (make deps) writes how to reach the S3-compatible
// server it runs (a SeaweedFS S3 gateway): files endpoint, access_key and secret_key.
const defaultS3Dir = "/var/tmp/sluice-s3/client"

// S3Server is a real S3-compatible server tests may use.
type S3Server struct {
	Endpoint       string // host:port, plain HTTP
	AccessKeyFile  string
	SecretKeyFile  string
	accessKey, key string
}

// FindS3 returns the test S3 server: the directory $SLUICE_TEST_S3 names, else the one
// scripts/s3-setup.sh writes, each holding the files endpoint, access_key and secret_key. It
// returns nil when there is none.
func FindS3() *S3Server {
	dir := os.Getenv("SLUICE_TEST_S3")
	if dir == "" {
		dir = defaultS3Dir
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	s := &S3Server{Endpoint: read("endpoint"), AccessKeyFile: filepath.Join(dir, "access_key"),
		SecretKeyFile: filepath.Join(dir, "secret_key"), accessKey: read("access_key"), key: read("secret_key")}
	if s.Endpoint == "" || s.accessKey == "" || s.key == "" {
		return nil
	}
	return s
}

// RequireS3 reports whether a missing S3 server fails tests instead of skipping them
// ($SLUICE_REQUIRE_S3, set by .ci/run).
func RequireS3() bool { return os.Getenv("SLUICE_REQUIRE_S3") != "" }

// S3Bucket creates an empty bucket for this test on the test S3 server and returns the server
// and the bucket's s3:// location (credentials by file); the bucket is emptied and removed
// when the test ends. Without a server the test is skipped (failed under SLUICE_REQUIRE_S3):
// run scripts/s3-setup.sh, which make deps does.
func S3Bucket(t testing.TB) (*S3Server, string) {
	t.Helper()
	s := FindS3()
	if s == nil {
		msg := "no S3 test server: run scripts/s3-setup.sh (make deps) or set SLUICE_TEST_S3"
		if RequireS3() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	c, err := s.Client()
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	bucket := "t-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("creating test bucket %s at %s: %v", bucket, s.Endpoint, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
			if o.Err == nil {
				_ = c.RemoveObject(ctx, bucket, o.Key, minio.RemoveObjectOptions{})
			}
		}
		if err := c.RemoveBucket(ctx, bucket); err != nil {
			t.Logf("removing test bucket %s: %v", bucket, err)
		}
	})
	return s, s.Location(bucket)
}

// Location is the s3:// blob location of bucket on this server, credentials by file.
func (s *S3Server) Location(bucket string) string {
	return "s3://" + bucket + "?endpoint=" + s.Endpoint + "&secure=false&access_key_file=" + s.AccessKeyFile +
		"&secret_key_file=" + s.SecretKeyFile
}

// Client is an S3 client of the server with the test credentials.
func (s *S3Server) Client() (*minio.Client, error) {
	return minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.accessKey, s.key, ""),
		BucketLookup: minio.BucketLookupPath})
}
