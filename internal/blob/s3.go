package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 is a Store in a bucket of an S3-compatible object store (AWS S3, MinIO, SeaweedFS, Ceph,
// Garage…), under an optional key prefix. An S3 PUT is atomic: a reader gets the old object or
// the new one.
type S3 struct {
	c              *minio.Client
	bucket, prefix string
	where          string
}

// S3Config says how to reach a bucket.
type S3Config struct {
	Endpoint  string // host:port
	Bucket    string
	Prefix    string // key prefix inside the bucket, "" or ending in "/"
	Region    string
	Secure    bool // HTTPS
	PathStyle bool // http://endpoint/bucket/key instead of http://bucket.endpoint/key
	AccessKey string
	SecretKey string
}

// ParseS3 reads an s3:// location (see Open) into a config, reading credential files.
func ParseS3(spec string, getenv func(string) string) (S3Config, error) {
	u, err := url.Parse(spec)
	if err != nil {
		return S3Config{}, fmt.Errorf("blob store %s: %w", redact(spec), err)
	}
	bad := func(format string, args ...any) (S3Config, error) {
		return S3Config{}, fmt.Errorf("blob store %s: %s (want s3://BUCKET[/PREFIX]?endpoint=HOST:PORT[&secure=false]"+
			"[&access_key_file=PATH&secret_key_file=PATH])", redact(spec), fmt.Sprintf(format, args...))
	}
	if u.User != nil {
		return bad("credentials do not belong in the URL: name files with access_key_file and secret_key_file")
	}
	q := u.Query()
	cfg := S3Config{Bucket: u.Host, Endpoint: q.Get("endpoint"), Region: q.Get("region"), Secure: true, PathStyle: true}
	if cfg.Bucket == "" {
		return bad("no bucket")
	}
	if cfg.Endpoint == "" {
		return bad("no endpoint")
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		if err := ValidKey(p); err != nil {
			return bad("prefix: %v", err)
		}
		cfg.Prefix = p + "/"
	}
	for name, dst := range map[string]*bool{"secure": &cfg.Secure, "path_style": &cfg.PathStyle} {
		if v := q.Get(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return bad("%s=%q: want true or false", name, v)
			}
			*dst = b
		}
	}
	for k := range q {
		switch k {
		case "endpoint", "region", "secure", "path_style", "access_key_file", "secret_key_file":
		default:
			return bad("unknown parameter %q", k)
		}
	}
	akf, skf := q.Get("access_key_file"), q.Get("secret_key_file")
	switch {
	case akf != "" && skf != "":
		if cfg.AccessKey, err = readSecretFile("S3 access key", akf); err != nil {
			return S3Config{}, err
		}
		if cfg.SecretKey, err = readSecretFile("S3 secret key", skf); err != nil {
			return S3Config{}, err
		}
	case akf != "" || skf != "":
		return bad("give both access_key_file and secret_key_file")
	default:
		cfg.AccessKey, cfg.SecretKey = getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	}
	return cfg, nil
}

func openS3(ctx context.Context, spec string, getenv func(string) string) (*S3, error) {
	cfg, err := ParseS3(spec, getenv)
	if err != nil {
		return nil, err
	}
	return OpenS3(ctx, cfg)
}

// OpenS3 connects to the bucket cfg names and checks that it exists.
func OpenS3(ctx context.Context, cfg S3Config) (*S3, error) {
	lookup := minio.BucketLookupDNS
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	var creds *credentials.Credentials
	if cfg.AccessKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	} else {
		creds = credentials.New(&credentials.Static{}) // anonymous
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{Creds: creds, Secure: cfg.Secure, Region: cfg.Region, BucketLookup: lookup})
	if err != nil {
		return nil, fmt.Errorf("blob store s3://%s at %s: %w", cfg.Bucket, cfg.Endpoint, err)
	}
	s := &S3{c: c, bucket: cfg.Bucket, prefix: cfg.Prefix, where: "s3://" + cfg.Bucket + "/" + cfg.Prefix + " at " + cfg.Endpoint}
	ok, err := c.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("blob store %s: checking the bucket: %w", s.where, err)
	}
	if !ok {
		return nil, fmt.Errorf("blob store %s: bucket %q does not exist: create it first", s.where, cfg.Bucket)
	}
	return s, nil
}

func (s *S3) String() string { return s.where }

func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	if _, err := s.c.PutObject(ctx, s.bucket, s.prefix+key, r, size, minio.PutObjectOptions{
		ContentType: "application/octet-stream",
	}); err != nil {
		return fmt.Errorf("storing blob %s in %s: %w", key, s.where, err)
	}
	return nil
}

func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidKey(key); err != nil {
		return nil, err
	}
	obj, err := s.c.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.err("reading", key, err)
	}
	// GetObject is lazy: Stat makes the request, so a missing key is reported here.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, s.err("reading", key, err)
	}
	return obj, nil
}

func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	if err := ValidKey(key); err != nil {
		return Info{}, err
	}
	st, err := s.c.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		return Info{}, s.err("reading", key, err)
	}
	return Info{Key: key, Size: st.Size, Modified: st.LastModified.UTC()}, nil
}

func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	if err := s.c.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{}); err != nil {
		if err := s.err("deleting", key, err); errors.Is(err, ErrNotFound) {
			return nil
		}
		return fmt.Errorf("deleting blob %s in %s: %w", key, s.where, err)
	}
	return nil
}

func (s *S3) List(ctx context.Context, prefix string) ([]Info, error) {
	if err := validPrefix(prefix); err != nil {
		return nil, err
	}
	var out []Info
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("listing blobs %s* in %s: %w", prefix, s.where, o.Err)
		}
		out = append(out, Info{Key: strings.TrimPrefix(o.Key, s.prefix), Size: o.Size, Modified: o.LastModified.UTC()})
	}
	return out, nil
}

func (s *S3) err(doing, key string, err error) error {
	switch minio.ToErrorResponse(err).Code {
	case minio.NoSuchKey, "NotFound":
		return fmt.Errorf("blob %s: %w", key, ErrNotFound)
	}
	return fmt.Errorf("%s blob %s in %s: %w", doing, key, s.where, err)
}
