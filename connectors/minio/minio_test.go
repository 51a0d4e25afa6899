package minio

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/connectors/objstore/objstoretest"
	"github.com/liaison-project/liaison/deploy/devstack"
)

// sharedBucket is the bucket the tests use on the shared dev-stack MinIO;
// every test writes under its own random prefix.
const sharedBucket = "liaison-test"

func randHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func baseConfig(e devstack.MinIOEnv, bucket string) Config {
	return Config{
		Endpoint:     e.Endpoint,
		Bucket:       bucket,
		Credentials:  CredentialsConfig{AccessKey: e.AccessKey, SecretKey: e.SecretKey},
		CreateBucket: true,
	}
}

// openStore builds and initialises a Store, failing the test on error.
func openStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	e := devstack.MinIO(t)
	versionedBucket := "liaison-test-versioned"
	cases := []struct {
		name string
		cfg  func() Config
	}{
		{"no_prefix", func() Config { return baseConfig(e, sharedBucket) }},
		{"with_prefix", func() Config {
			c := baseConfig(e, sharedBucket)
			c.Prefix = "conformance-" + randHex(t, 4)
			return c
		}},
		{"versioned_with_prefix", func() Config {
			c := baseConfig(e, versionedBucket)
			c.Versioning = true
			c.Prefix = "conformance-" + randHex(t, 4) + "/nested/"
			return c
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg()
			objstoretest.Run(t, func(t *testing.T) objstore.Store { return openStore(t, cfg) })
		})
	}
}

func TestInitBucket(t *testing.T) {
	e := devstack.MinIO(t)
	bucket := "liaison-init-" + randHex(t, 4)

	cfg := baseConfig(e, bucket)
	cfg.CreateBucket = false
	if _, err := New(t.Context(), cfg, nil); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Init without create_bucket on a missing bucket: err = %v, want 'does not exist'", err)
	}

	cfg.CreateBucket = true
	cfg.Versioning = true
	s := openStore(t, cfg)
	ok, err := s.client.BucketExists(t.Context(), bucket)
	if err != nil || !ok {
		t.Fatalf("BucketExists after Init = %v, %v", ok, err)
	}
	vc, err := s.client.GetBucketVersioning(t.Context(), bucket)
	if err != nil || !vc.Enabled() {
		t.Fatalf("versioning after Init = %+v, %v; want enabled", vc, err)
	}
	// Init is idempotent (replicas all call it).
	openStore(t, cfg)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}

	// A store that is not told about versioning finds out in Init.
	plain := baseConfig(e, bucket)
	if st := openStore(t, plain); !st.versioned.Load() {
		t.Fatal("Init did not detect a versioned bucket")
	}
}

// versionCount counts every version and delete marker of exactly key.
func versionCount(t *testing.T, c *miniogo.Client, bucket, key string) int {
	t.Helper()
	n := 0
	for obj := range c.ListObjectsIter(t.Context(), bucket, miniogo.ListObjectsOptions{Prefix: key, WithVersions: true, Recursive: true}) {
		if obj.Err != nil {
			t.Fatalf("list versions: %v", obj.Err)
		}
		if obj.Key == key {
			n++
		}
	}
	return n
}

func TestVersionedDeleteRemovesEveryVersion(t *testing.T) {
	e := devstack.MinIO(t)
	cfg := baseConfig(e, "liaison-test-versioned")
	cfg.Versioning = true
	cfg.Prefix = "vdel-" + randHex(t, 4)
	s := openStore(t, cfg)
	ctx := t.Context()

	key := "records/r1/content"
	neighbour := "records/r1/content-2" // shares key as a string prefix
	for i, body := range []string{"v1 secret", "v2 secret", "v3 secret"} {
		if err := s.Put(ctx, key, []byte(body), objstore.PutOptions{}); err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
	}
	if err := s.Put(ctx, neighbour, []byte("keep"), objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	full := cfg.Prefix + "/" + key
	if n := versionCount(t, s.client, cfg.Bucket, full); n != 3 {
		t.Fatalf("versions before Delete = %d, want 3", n)
	}

	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if n := versionCount(t, s.client, cfg.Bucket, full); n != 0 {
		t.Fatalf("versions after Delete = %d, want 0 (old content recoverable)", n)
	}
	if _, err := s.Get(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	if got, err := s.Get(ctx, neighbour); err != nil || string(got) != "keep" {
		t.Fatalf("neighbour after Delete = %q, %v", got, err)
	}
	if n := versionCount(t, s.client, cfg.Bucket, cfg.Prefix+"/"+neighbour); n != 1 {
		t.Fatalf("neighbour versions = %d, want 1", n)
	}
	// A delete marker left by someone else's plain delete is removed too.
	if err := s.client.RemoveObject(ctx, cfg.Bucket, cfg.Prefix+"/"+neighbour, miniogo.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := versionCount(t, s.client, cfg.Bucket, cfg.Prefix+"/"+neighbour); n != 2 {
		t.Fatalf("neighbour versions after a plain S3 delete = %d, want 2 (object + marker)", n)
	}
	if err := s.Delete(ctx, neighbour); err != nil {
		t.Fatal(err)
	}
	if n := versionCount(t, s.client, cfg.Bucket, cfg.Prefix+"/"+neighbour); n != 0 {
		t.Fatalf("neighbour versions after Delete = %d, want 0", n)
	}
}

func TestPutDropOlderVersions(t *testing.T) {
	e := devstack.MinIO(t)
	cfg := baseConfig(e, "liaison-test-versioned")
	cfg.Versioning = true
	cfg.Prefix = "vdrop-" + randHex(t, 4)
	s := openStore(t, cfg)
	ctx := t.Context()
	key := "records/r1"
	full := cfg.Prefix + "/" + key
	for _, body := range []string{"v1 secret", "v2 secret"} {
		if err := s.Put(ctx, key, []byte(body), objstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := versionCount(t, s.client, cfg.Bucket, full); n != 2 {
		t.Fatalf("versions after two plain Puts = %d, want 2", n)
	}
	if err := s.Put(ctx, key, []byte("tombstone"), objstore.PutOptions{DropOlderVersions: true}); err != nil {
		t.Fatalf("Put DropOlderVersions: %v", err)
	}
	if n := versionCount(t, s.client, cfg.Bucket, full); n != 1 {
		t.Fatalf("versions after DropOlderVersions = %d, want 1 (superseded content recoverable)", n)
	}
	if got, err := s.Get(ctx, key); err != nil || string(got) != "tombstone" {
		t.Fatalf("Get = %q, %v; want the new object", got, err)
	}
}

func TestPrefixIsolation(t *testing.T) {
	e := devstack.MinIO(t)
	run := "iso-" + randHex(t, 4)
	mk := func(prefix string) *Store {
		c := baseConfig(e, sharedBucket)
		c.Prefix = prefix
		return openStore(t, c)
	}
	a, b, root := mk(run+"/tenant-a"), mk(run+"/tenant-b/"), mk("")
	ctx := t.Context()
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := root.List(ctx, run+"/", "", 100)
		for _, k := range keys {
			_ = root.Delete(ctx, k)
		}
	})

	for _, tc := range []struct {
		s    *Store
		body string
	}{{a, "from a"}, {b, "from b"}} {
		if err := tc.s.Put(ctx, "shared/key", []byte(tc.body), objstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := a.Get(ctx, "shared/key"); string(got) != "from a" {
		t.Fatalf("a sees %q", got)
	}
	if got, _ := b.Get(ctx, "shared/key"); string(got) != "from b" {
		t.Fatalf("b sees %q", got)
	}
	for name, s := range map[string]*Store{"a": a, "b": b} {
		keys, err := s.List(ctx, "", "", 10)
		if err != nil || !slices.Equal(keys, []string{"shared/key"}) {
			t.Fatalf("%s.List = %q, %v; want only its own key, without its prefix", name, keys, err)
		}
	}
	rootKeys, err := root.List(ctx, run+"/", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{run + "/tenant-a/shared/key", run + "/tenant-b/shared/key"}; !slices.Equal(rootKeys, want) {
		t.Fatalf("bucket holds %q, want %q", rootKeys, want)
	}
	// IfAbsent is judged per prefix.
	if err := a.Put(ctx, "only-a", []byte("x"), objstore.PutOptions{IfAbsent: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "only-a", []byte("y"), objstore.PutOptions{IfAbsent: true}); err != nil {
		t.Fatalf("IfAbsent in b of a key that only a has: %v", err)
	}
	if err := a.Delete(ctx, "shared/key"); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx, "shared/key"); err != nil || string(got) != "from b" {
		t.Fatalf("b after a's Delete: %q, %v", got, err)
	}
}

// TestUnavailable disturbs a private MinIO: frozen (a hung server) and
// stopped (connection refused). Both must fail closed with ErrUnavailable,
// and the same Store must work again once the server is back.
func TestUnavailable(t *testing.T) {
	srv := devstack.StartMinIO(t)
	cfg := baseConfig(srv.MinIOEnv, "liaison-outage")
	cfg.RequestTimeout = time.Second
	cfg.MaxAttempts = 2
	s := openStore(t, cfg)
	ctx := t.Context()
	if err := s.Put(ctx, "before", []byte("kept"), objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}

	allFail := func(t *testing.T) {
		t.Helper()
		ops := map[string]error{
			"put":    s.Put(ctx, "during", []byte("x"), objstore.PutOptions{}),
			"put_if": s.Put(ctx, "during-if", []byte("x"), objstore.PutOptions{IfAbsent: true}),
			"delete": s.Delete(ctx, "before"),
		}
		_, ops["get"] = s.Get(ctx, "before")
		_, ops["list"] = s.List(ctx, "", "", 10)
		for op, err := range ops {
			if !errors.Is(err, objstore.ErrUnavailable) {
				t.Errorf("%s: err = %v, want ErrUnavailable", op, err)
			}
		}
	}
	recovered := func(t *testing.T) {
		t.Helper()
		if got, err := s.Get(ctx, "before"); err != nil || string(got) != "kept" {
			t.Fatalf("Get after recovery = %q, %v", got, err)
		}
		if err := s.Put(ctx, "after", []byte("ok"), objstore.PutOptions{IfAbsent: true}); err != nil {
			t.Fatalf("Put after recovery: %v", err)
		}
		if err := s.Delete(ctx, "after"); err != nil {
			t.Fatalf("Delete after recovery: %v", err)
		}
	}

	t.Run("frozen", func(t *testing.T) {
		srv.Freeze(t)
		allFail(t)
		srv.Thaw(t)
		recovered(t)
	})
	t.Run("stopped", func(t *testing.T) {
		srv.Stop(t)
		allFail(t)
		srv.Restart(t)
		recovered(t)
	})
}

// TestObjectLock creates a WORM bucket (on a private MinIO, since its
// objects cannot be deleted afterwards).
func TestObjectLock(t *testing.T) {
	srv := devstack.StartMinIO(t)
	cfg := baseConfig(srv.MinIOEnv, "liaison-audit")
	cfg.ObjectLock = true
	cfg.Retention = RetentionConfig{Mode: "governance", Days: 1}
	s := openStore(t, cfg)
	ctx := t.Context()

	enabled, mode, validity, unit, err := s.client.GetObjectLockConfig(ctx, cfg.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	if enabled != "Enabled" || mode == nil || *mode != miniogo.Governance || validity == nil || *validity != 1 || unit == nil || *unit != miniogo.Days {
		t.Fatalf("object lock config = %q %v %v %v", enabled, mode, validity, unit)
	}
	if !s.versioned.Load() {
		t.Fatal("object-lock bucket not treated as versioned")
	}
	if err := s.Put(ctx, "audit/seg-000001", []byte("segment"), objstore.PutOptions{IfAbsent: true}); err != nil {
		t.Fatal(err)
	}
	// Retained versions cannot be deleted: Delete must report it, not
	// pretend the content is gone.
	if err := s.Delete(ctx, "audit/seg-000001"); err == nil {
		t.Fatal("Delete of a retained object succeeded")
	}
	if got, err := s.Get(ctx, "audit/seg-000001"); err != nil || string(got) != "segment" {
		t.Fatalf("retained object after refused Delete = %q, %v", got, err)
	}

	// Object lock cannot be added to an existing bucket: Init says so.
	plain := baseConfig(srv.MinIOEnv, "liaison-plain")
	openStore(t, plain)
	plain.ObjectLock = true
	if _, err := New(ctx, plain, nil); err == nil || !strings.Contains(err.Error(), "object lock") {
		t.Fatalf("Init with object_lock on an existing plain bucket: err = %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	good := Config{Endpoint: "127.0.0.1:9000", Bucket: "b", Credentials: CredentialsConfig{AccessKey: "a", SecretKey: "s"}}
	cases := []struct {
		name   string
		modify func(*Config)
		field  string // "" = valid
	}{
		{"valid", func(*Config) {}, ""},
		{"no_endpoint", func(c *Config) { c.Endpoint = "" }, "endpoint"},
		{"endpoint_with_scheme", func(c *Config) { c.Endpoint = "http://x:9000" }, "endpoint"},
		{"no_bucket", func(c *Config) { c.Bucket = "" }, "bucket"},
		{"bad_prefix", func(c *Config) { c.Prefix = "Upper/Case" }, "prefix"},
		{"prefix_dotdot", func(c *Config) { c.Prefix = "a/../b" }, "prefix"},
		{"prefix_ok_trailing_slash", func(c *Config) { c.Prefix = "liaison/prod/" }, ""},
		{"no_secret", func(c *Config) { c.Credentials.SecretKey = "" }, "credentials"},
		{"from_env_and_keys", func(c *Config) { c.Credentials.FromEnv = true }, "credentials"},
		{"from_env_only", func(c *Config) { c.Credentials = CredentialsConfig{FromEnv: true} }, ""},
		{"retention_without_lock", func(c *Config) { c.Retention = RetentionConfig{Mode: "COMPLIANCE", Days: 7} }, "retention"},
		{"retention_bad_mode", func(c *Config) { c.ObjectLock = true; c.Retention = RetentionConfig{Mode: "forever", Days: 7} }, "retention.mode"},
		{"retention_no_days", func(c *Config) { c.ObjectLock = true; c.Retention = RetentionConfig{Mode: "COMPLIANCE"} }, "retention.days"},
		{"negative_timeout", func(c *Config) { c.RequestTimeout = -time.Second }, "request_timeout"},
		{"too_many_attempts", func(c *Config) { c.MaxAttempts = 11 }, "max_attempts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.modify(&c)
			_, err := newStore(c, nil)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "config: "+tc.field) {
				t.Fatalf("New: err = %v, want ErrConfig naming %q", err, tc.field)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		c, err := good.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		if c.Region != DefaultRegion || c.RequestTimeout != DefaultRequestTimeout || c.MaxAttempts != DefaultMaxAttempts {
			t.Fatalf("defaults not applied: %+v", c)
		}
	})
	t.Run("secret_redacted", func(t *testing.T) {
		c := good
		c.Credentials.SecretKey = "very-secret-value"
		for _, s := range []string{c.Credentials.String(), fmtV(c)} {
			if strings.Contains(s, "very-secret-value") {
				t.Fatalf("secret key printed: %s", s)
			}
		}
	})
}

// BenchmarkPut64KiB compares minio-go's PutObject with Store.Put on the
// same payloads, so that the Store's own overhead shows.
func BenchmarkPut64KiB(b *testing.B) {
	e := devstack.MinIO(b)
	cfg := baseConfig(e, sharedBucket)
	cfg.Prefix = "bench-" + randHex(b, 4)
	s := openStore(b, cfg)
	payload := make([]byte, 64<<10)
	if _, err := rand.Read(payload); err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = "obj-" + randHex(b, 8)
	}
	b.Cleanup(func() {
		for _, k := range keys {
			_ = s.Delete(context.Background(), k)
			_ = s.client.RemoveObject(context.Background(), cfg.Bucket, cfg.Prefix+"/direct/"+k, miniogo.RemoveObjectOptions{})
		}
	})
	ctx := context.Background()

	b.Run("minio-go", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		i := 0
		for b.Loop() {
			k := cfg.Prefix + "/direct/" + keys[i%len(keys)]
			i++
			if _, err := s.client.PutObject(ctx, cfg.Bucket, k, bytes.NewReader(payload), int64(len(payload)),
				miniogo.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("store", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		i := 0
		for b.Loop() {
			k := keys[i%len(keys)]
			i++
			if err := s.Put(ctx, k, payload, objstore.PutOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func fmtV(c Config) string { return fmt.Sprintf("%v %+v", c, c) }
