// Package minio implements objstore.Store on MinIO or any S3-compatible
// service through minio-go.
//
// Every key is stored under Config.Prefix in one bucket. Puts are single
// PUT requests (never multipart), so a reader sees the old object or the
// whole new one; PutOptions.IfAbsent maps to If-None-Match: * and
// PutOptions.IfMatch to If-Match: "<ETag>", with the server enforcing both.
// The version tag (GetVersion) is the object's ETag. When the bucket keeps versions, Delete removes every
// version of the key so that deleted content cannot be recovered.
//
// Failure policy: connection errors, timeouts, 5xx, 429 and SlowDown are
// retried by minio-go (bounded by Config.MaxAttempts and by the per-call
// Config.RequestTimeout), then reported as objstore.ErrUnavailable. The
// Store holds no state that a failure could spoil: it works again as soon as
// the server does.
package minio

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.uber.org/zap"

	"github.com/liaison-project/liaison/connectors/objstore"
)

var _ objstore.Store = (*Store)(nil)

// maxListPage is S3's largest ListObjects page.
const maxListPage = 1000

// Store is an objstore.Store on one S3 bucket. It is safe for concurrent use.
type Store struct {
	cfg       Config
	client    *miniogo.Client
	transport *http.Transport // owned: Close ends its idle connections
	log       *zap.Logger
	versioned atomic.Bool // delete every version (set by config or found by Init)
}

// New validates cfg, builds a Store and prepares the bucket (see Init), so
// that a gateway whose store is unreachable or misconfigured says so at
// start. log may be nil.
func New(ctx context.Context, cfg Config, log *zap.Logger) (*Store, error) {
	s, err := newStore(cfg, log)
	if err != nil {
		return nil, err
	}
	if err := s.Init(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close ends the Store's idle keep-alive connections (each holds two
// goroutines of the Store's own transport). The Store must not be used
// afterwards. It always returns nil.
func (s *Store) Close() error {
	s.transport.CloseIdleConnections()
	return nil
}

// newStore validates cfg and builds a Store without I/O.
func newStore(cfg Config, log *zap.Logger) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	tr, err := miniogo.DefaultTransport(cfg.Secure)
	if err != nil {
		return nil, fmt.Errorf("minio: transport: %w", err)
	}
	if cfg.Secure && cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, configErr("ca_file", "%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, configErr("ca_file", "no PEM certificates in %s", cfg.CAFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	// Gateway replicas issue many small concurrent requests.
	tr.MaxIdleConnsPerHost = 64

	var creds *credentials.Credentials
	if cfg.Credentials.FromEnv {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{},
			&credentials.EnvMinio{},
			&credentials.IAM{Client: &http.Client{Transport: http.DefaultTransport}},
		})
	} else {
		creds = credentials.NewStaticV4(cfg.Credentials.AccessKey, cfg.Credentials.SecretKey, "")
	}
	client, err := miniogo.New(cfg.Endpoint, &miniogo.Options{
		Creds:      creds,
		Secure:     cfg.Secure,
		Transport:  tr,
		Region:     cfg.Region,
		MaxRetries: cfg.MaxAttempts,
	})
	if err != nil {
		return nil, configErr("endpoint", "%v", err)
	}
	s := &Store{cfg: cfg, client: client, transport: tr, log: log}
	s.versioned.Store(cfg.Versioning || cfg.ObjectLock)
	return s, nil
}

// Init makes the bucket ready (New calls it; it is idempotent, so a caller
// may call it again after a failure): it creates a missing bucket when
// CreateBucket is set (with object lock and default retention when
// configured), enables versioning when configured, and finds out whether
// the bucket keeps versions so that Delete removes all of them.
func (s *Store) Init(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*s.cfg.RequestTimeout)
	defer cancel()
	b := s.cfg.Bucket
	exists, err := s.client.BucketExists(ctx, b)
	if err != nil {
		return s.mapErr(ctx, "check bucket", "", err)
	}
	created := false
	if !exists {
		if !s.cfg.CreateBucket {
			return fmt.Errorf("minio: bucket %q does not exist (set create_bucket to create it)", b)
		}
		err := s.client.MakeBucket(ctx, b, miniogo.MakeBucketOptions{Region: s.cfg.Region, ObjectLocking: s.cfg.ObjectLock})
		if err != nil {
			// Another replica may have won the race.
			if code := miniogo.ToErrorResponse(err).Code; code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
				return s.mapErr(ctx, "create bucket", "", err)
			}
		} else {
			created = true
			s.log.Info("created bucket", zap.String("bucket", b), zap.Bool("object_lock", s.cfg.ObjectLock))
		}
	}
	if s.cfg.ObjectLock {
		enabled, _, _, _, err := s.client.GetObjectLockConfig(ctx, b)
		if err != nil && miniogo.ToErrorResponse(err).Code != "ObjectLockConfigurationNotFoundError" {
			return s.mapErr(ctx, "read object lock configuration", "", err)
		}
		if enabled != "Enabled" {
			return fmt.Errorf("minio: bucket %q has no object lock; it can only be enabled when a bucket is created", b)
		}
		if r := s.cfg.Retention; r.Mode != "" {
			mode := miniogo.RetentionMode(r.Mode)
			days, unit := r.Days, miniogo.Days
			if err := s.client.SetObjectLockConfig(ctx, b, &mode, &days, &unit); err != nil {
				return s.mapErr(ctx, "set default retention", "", err)
			}
		}
	}
	if s.cfg.Versioning && !s.cfg.ObjectLock {
		if err := s.client.EnableVersioning(ctx, b); err != nil {
			return s.mapErr(ctx, "enable versioning", "", err)
		}
	}
	vc, err := s.client.GetBucketVersioning(ctx, b)
	if err != nil {
		return s.mapErr(ctx, "read versioning", "", err)
	}
	// Suspended versioning still keeps the versions written before.
	if vc.Enabled() || vc.Suspended() {
		s.versioned.Store(true)
	}
	s.log.Debug("bucket ready", zap.String("bucket", b), zap.Bool("created", created), zap.Bool("versioned", s.versioned.Load()))
	return nil
}

// Ping checks that the bucket can be reached (for readiness probes).
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	ok, err := s.client.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		return s.mapErr(ctx, "ping", "", err)
	}
	if !ok {
		return fmt.Errorf("minio: bucket %q does not exist", s.cfg.Bucket)
	}
	return nil
}

// Put writes data at key in one PUT request.
func (s *Store) Put(ctx context.Context, key string, data []byte, opts objstore.PutOptions) error {
	if !objstore.ValidKey(key) {
		return fmt.Errorf("%w: %q", objstore.ErrInvalidKey, key)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: put %s: %w", objstore.ErrUnavailable, key, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	po := miniogo.PutObjectOptions{
		ContentType: opts.ContentType,
		// One request, so that the write is atomic and If-None-Match is
		// judged once; objects are far below S3's 5 GiB single-PUT limit.
		DisableMultipart: true,
	}
	if po.ContentType == "" {
		po.ContentType = "application/octet-stream"
	}
	if err := objstore.CheckPutOptions(opts); err != nil {
		return err
	}
	if opts.IfAbsent {
		po.SetMatchETagExcept("*") // If-None-Match: *
	}
	if opts.IfMatch != "" {
		// If-Match: "<etag>": the server compares it with the current
		// object's ETag under its own lock and answers 412 otherwise (and
		// 404 when the object is gone), so two replicas cannot both win.
		po.SetMatchETag(opts.IfMatch)
	}
	// A bytes.Reader is seekable, so minio-go can resend the body on retry.
	info, err := s.client.PutObject(ctx, s.cfg.Bucket, s.cfg.Prefix+key, bytes.NewReader(data), int64(len(data)), po)
	if err != nil {
		err = s.mapErr(ctx, "put", key, err)
		if opts.IfMatch != "" && (errors.Is(err, objstore.ErrExists) || errors.Is(err, objstore.ErrNotFound)) {
			return fmt.Errorf("%w: %s", objstore.ErrConflict, key)
		}
		return err
	}
	if opts.DropOlderVersions && s.versioned.Load() {
		return s.dropVersionsExcept(ctx, key, info.VersionID)
	}
	return nil
}

// dropVersionsExcept removes every version of key but keep: the content a
// replacing write superseded must not stay readable in the version history.
func (s *Store) dropVersionsExcept(ctx context.Context, key, keep string) error {
	full := s.cfg.Prefix + key
	versions, err := s.versionsOf(ctx, full)
	if err != nil {
		return s.mapErr(ctx, "list versions", key, err)
	}
	for _, v := range versions {
		if v == keep || keep == "" {
			continue
		}
		err := s.client.RemoveObject(ctx, s.cfg.Bucket, full, miniogo.RemoveObjectOptions{VersionID: v})
		if err != nil && !errors.Is(s.mapErr(ctx, "delete", key, err), objstore.ErrNotFound) {
			return s.mapErr(ctx, "delete version", key, err)
		}
	}
	return nil
}

// Get returns the object at key.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	b, _, err := s.GetVersion(ctx, key)
	return b, err
}

// GetVersion returns the object at key and its ETag, from the headers of
// the same GET response as the bytes (so the tag is the tag of those bytes).
func (s *Store) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	if !objstore.ValidKey(key) {
		return nil, "", fmt.Errorf("%w: %q", objstore.ErrInvalidKey, key)
	}
	if err := ctx.Err(); err != nil {
		return nil, "", fmt.Errorf("%w: get %s: %w", objstore.ErrUnavailable, key, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	core := miniogo.Core{Client: s.client}
	body, info, _, err := core.GetObject(ctx, s.cfg.Bucket, s.cfg.Prefix+key, miniogo.GetObjectOptions{})
	if err != nil {
		return nil, "", s.mapErr(ctx, "get", key, err)
	}
	defer body.Close()
	var buf bytes.Buffer
	if info.Size > 0 && info.Size < 1<<30 {
		buf.Grow(int(info.Size))
	}
	if _, err := io.Copy(&buf, body); err != nil {
		return nil, "", s.mapErr(ctx, "get", key, err)
	}
	if info.Size >= 0 && int64(buf.Len()) != info.Size {
		return nil, "", fmt.Errorf("%w: get %s: short read", objstore.ErrUnavailable, key)
	}
	if info.ETag == "" {
		// Every S3 GET answers with an ETag; without one no conditional
		// write could be judged, so do not hand out an empty tag.
		return nil, "", fmt.Errorf("%w: get %s: no ETag in the answer", objstore.ErrUnavailable, key)
	}
	return buf.Bytes(), info.ETag, nil
}

// Delete removes key; in a versioned bucket it removes every version and
// delete marker of key. A concurrent Put of the same key may leave its new
// version behind, as it would without versioning.
func (s *Store) Delete(ctx context.Context, key string) error {
	if !objstore.ValidKey(key) {
		return fmt.Errorf("%w: %q", objstore.ErrInvalidKey, key)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: delete %s: %w", objstore.ErrUnavailable, key, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	full := s.cfg.Prefix + key
	if !s.versioned.Load() {
		if err := s.client.RemoveObject(ctx, s.cfg.Bucket, full, miniogo.RemoveObjectOptions{}); err != nil {
			if errors.Is(s.mapErr(ctx, "delete", key, err), objstore.ErrNotFound) {
				return nil
			}
			return s.mapErr(ctx, "delete", key, err)
		}
		return nil
	}
	versions, err := s.versionsOf(ctx, full)
	if err != nil {
		return s.mapErr(ctx, "list versions", key, err)
	}
	for _, v := range versions {
		err := s.client.RemoveObject(ctx, s.cfg.Bucket, full, miniogo.RemoveObjectOptions{VersionID: v})
		if err != nil && !errors.Is(s.mapErr(ctx, "delete", key, err), objstore.ErrNotFound) {
			return s.mapErr(ctx, "delete version", key, err)
		}
	}
	return nil
}

// versionsOf lists the version ids (objects and delete markers) of exactly
// the object full.
func (s *Store) versionsOf(ctx context.Context, full string) ([]string, error) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var versions []string
	for obj := range s.client.ListObjectsIter(lctx, s.cfg.Bucket, miniogo.ListObjectsOptions{
		Prefix: full, WithVersions: true, Recursive: true,
	}) {
		if obj.Err != nil {
			return nil, obj.Err
		}
		if obj.Key != full {
			// Keys sort after their own prefixes: once past full, done.
			break
		}
		versions = append(versions, obj.VersionID)
	}
	return versions, nil
}

// List returns up to limit keys under prefix, after startAfter, in byte
// order (S3 lists in UTF-8 binary order, which for valid keys is byte order).
func (s *Store) List(ctx context.Context, prefix, startAfter string, limit int) ([]string, error) {
	if !objstore.ValidPrefix(prefix) {
		return nil, fmt.Errorf("%w: prefix %q", objstore.ErrInvalidKey, prefix)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: list %s: %w", objstore.ErrUnavailable, prefix, err)
	}
	if limit <= 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	opts := miniogo.ListObjectsOptions{
		Prefix:    s.cfg.Prefix + prefix,
		Recursive: true,
		MaxKeys:   min(limit, maxListPage),
	}
	if startAfter != "" {
		opts.StartAfter = s.cfg.Prefix + startAfter
	}
	var out []string
	for obj := range s.client.ListObjectsIter(ctx, s.cfg.Bucket, opts) {
		if obj.Err != nil {
			return nil, s.mapErr(ctx, "list", prefix, obj.Err)
		}
		key, ok := strings.CutPrefix(obj.Key, s.cfg.Prefix)
		if !ok || !objstore.ValidKey(key) {
			continue // not written through a Store (e.g. a folder marker)
		}
		out = append(out, key)
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

// retryableCodes are S3 error codes that mean "try later".
var retryableCodes = map[string]bool{
	"SlowDown": true, "SlowDownRead": true, "SlowDownWrite": true,
	"ServiceUnavailable": true, "InternalError": true, "RequestTimeout": true,
	"XMinioServerNotInitialized": true,
}

// mapErr maps a minio-go error to the objstore sentinels. Messages name
// the operation and key, never credentials or object content.
func (s *Store) mapErr(ctx context.Context, op, key string, err error) error {
	var er miniogo.ErrorResponse
	if errors.As(err, &er) && (er.StatusCode != 0 || er.Code != "") {
		switch {
		case er.Code == "NoSuchKey" || er.Code == "NoSuchVersion":
			return fmt.Errorf("%w: %s", objstore.ErrNotFound, key)
		case er.Code == "PreconditionFailed" || er.StatusCode == http.StatusPreconditionFailed:
			return fmt.Errorf("%w: %s", objstore.ErrExists, key)
		case retryableCodes[er.Code], er.StatusCode >= 500, er.StatusCode == http.StatusTooManyRequests, er.StatusCode == http.StatusRequestTimeout:
			return fmt.Errorf("%w: %s %s: %s", objstore.ErrUnavailable, op, key, er.Code)
		case er.Code == "NoSuchBucket":
			return fmt.Errorf("minio: %s %s: bucket %q does not exist", op, key, s.cfg.Bucket)
		case er.StatusCode == http.StatusNotFound:
			return fmt.Errorf("%w: %s", objstore.ErrNotFound, key)
		default:
			return fmt.Errorf("minio: %s %s: %s: %s", op, key, er.Code, er.Message)
		}
	}
	// No S3 answer: connection refused or reset, DNS, TLS, or the per-call
	// timeout after minio-go's retries. Transient from where we stand.
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %s %s: %w", objstore.ErrUnavailable, op, key, ctx.Err())
	}
	return fmt.Errorf("%w: %s %s: %v", objstore.ErrUnavailable, op, key, err)
}
