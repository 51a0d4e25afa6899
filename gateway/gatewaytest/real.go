package gatewaytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/liaison-project/liaison/deploy/devstack"
	"github.com/liaison-project/liaison/gateway/config"
)

// Unique returns a short random lower-case tag, for bucket and key names
// that must not collide with other tests on a shared server.
func Unique(t testing.TB) string {
	t.Helper()
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// UseVault configures the gateway's keys on the Vault at addr, with key
// names unique to this test.
func UseVault(t testing.TB, addr, token string) func(*config.Config) {
	tag := Unique(t)
	return func(c *config.Config) {
		c.Keys.Provider = "vault"
		c.Keys.Vault.Address = addr
		c.Keys.Vault.Auth.Method = "token"
		c.Keys.Vault.Auth.Token = token
		c.Keys.Vault.AutoCreate = true
		c.Keys.Vault.KeyNamePattern = "t" + tag + "-{name}"
		c.Keys.Vault.RequestTimeout = 2 * time.Second
		c.Keys.Vault.MaxAttempts = 2
	}
}

// UseMinIO configures the gateway's store on the MinIO at endpoint, in a
// bucket of its own.
func UseMinIO(t testing.TB, endpoint, access, secret string) (func(*config.Config), string) {
	bucket := "liaison-" + Unique(t)
	return func(c *config.Config) {
		c.Store.Backend = "minio"
		c.Store.MinIO.Endpoint = endpoint
		c.Store.MinIO.Bucket = bucket
		c.Store.MinIO.CreateBucket = true
		c.Store.MinIO.Versioning = true
		c.Store.MinIO.Credentials.AccessKey = access
		c.Store.MinIO.Credentials.SecretKey = secret
		c.Store.MinIO.RequestTimeout = 3 * time.Second
	}, bucket
}

// UseDevStack configures Vault and MinIO from the shared dev stack (skips,
// or fails under LIAISON_INTEGRATION=required, when it is not running).
func UseDevStack(t testing.TB) (func(*config.Config), string) {
	v := devstack.Vault(t)
	m := devstack.MinIO(t)
	vault := UseVault(t, v.Addr, v.Token)
	minio, bucket := UseMinIO(t, m.Endpoint, m.AccessKey, m.SecretKey)
	return func(c *config.Config) { vault(c); minio(c) }, bucket
}

// UsePostgres configures the index on the dev stack's PostgreSQL, in a
// schema of its own (so tests sharing the server do not see each other's
// entries), dropped at the end of the test. Returns the configure function
// and the schema.
func UsePostgres(t testing.TB) (func(*config.Config), string) {
	t.Helper()
	pg := devstack.Postgres(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, pg.DSN)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
	})
	return func(c *config.Config) {
		c.Index.Backend = "postgres"
		c.Index.Postgres.DSN = pg.DSN
		c.Index.Postgres.Schema = schema
	}, schema
}
