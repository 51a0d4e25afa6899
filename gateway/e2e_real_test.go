package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.uber.org/zap"

	"github.com/liaison-project/liaison/deploy/devstack"
	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// These tests run the gateway on a real Vault and a real MinIO (the dev
// stack `make test` starts). Under LIAISON_INTEGRATION=required a missing
// server fails them; plain `go test` skips them with a message.

func rawBucket(t testing.TB, endpoint, access, secret string) *miniogo.Client {
	t.Helper()
	// Its own transport, closed at the end of the test: the server outlives
	// the test, and a kept-alive connection to it is a goroutine the
	// package's leak check would (rightly) report.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	c, err := miniogo.New(endpoint, &miniogo.Options{Creds: credentials.NewStaticV4(access, secret, ""), Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bucketObjects returns every version of every object in bucket, read
// directly with minio-go: what an attacker holding the store would see.
func bucketObjects(t *testing.T, c *miniogo.Client, bucket string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	out := map[string][]byte{}
	for o := range c.ListObjects(ctx, bucket, miniogo.ListObjectsOptions{Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		if o.IsDeleteMarker {
			continue
		}
		obj, err := c.GetObject(ctx, bucket, o.Key, miniogo.GetObjectOptions{VersionID: o.VersionID})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(obj)
		obj.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[o.Key+"@"+o.VersionID] = b
	}
	return out
}

func readerClient(env *gatewaytest.Env) *gatewaytest.Client {
	return env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")
}

func TestRealBackendsLifecycle(t *testing.T) {
	use, bucket := gatewaytest.UseDevStack(t)
	m := devstack.MinIO(t)
	env := gatewaytest.Start(t, gatewaytest.Options{Configure: use})
	met := env.Client("met-police")
	id := publish(t, met, recordBody())
	other := publish(t, met, recordBody())
	if r := readerClient(env).MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 || !bytes.Contains(r.Body, []byte("Salford")) {
		t.Fatalf("read on Vault+MinIO: %d %s", r.Status, r.Body)
	}
	raw := rawBucket(t, m.Endpoint, m.AccessKey, m.SecretKey)
	objs := bucketObjects(t, raw, bucket)
	if len(objs) == 0 {
		t.Fatal("nothing in the bucket")
	}
	for k, b := range objs {
		if bytes.Contains(b, []byte("Salford")) || bytes.Contains(b, []byte("CHIS-7781")) {
			t.Fatalf("plaintext in stored object %s", k)
		}
	}
	if r := met.MustDo("DELETE", "/v1/records/"+id, nil); r.Status != 200 {
		t.Fatalf("recall: %d %s", r.Status, r.Body)
	}
	if r := readerClient(env).MustDo("GET", "/v1/records/"+id, nil); r.Status != http.StatusGone {
		t.Fatalf("read after recall: %d", r.Status)
	}
	// No version of the recalled record's content survives in the versioned
	// bucket: exactly one version of its object is left, the tombstone.
	versions := 0
	for k, b := range bucketObjects(t, raw, bucket) {
		if strings.HasPrefix(k, "records/"+id+"@") {
			versions++
			if _, sealed := splitRecordObject(t, b); len(sealed) != 0 {
				t.Fatalf("content survives recall in %s", k)
			}
		}
	}
	if versions != 1 {
		t.Fatalf("versions of the recalled record's object = %d, want 1 (the tombstone)", versions)
	}
	if r := readerClient(env).MustDo("GET", "/v1/records/"+other, nil); r.Status != 200 {
		t.Fatalf("the other record must be unaffected: %d", r.Status)
	}
	if st := env.GW.KeyCacheStats(); st.DataKeyProviderCalls != 1 {
		t.Fatalf("two publishes with the cache on should make one Vault datakey call, made %d", st.DataKeyProviderCalls)
	}
}

func TestVaultOutageFailsClosed(t *testing.T) {
	m := devstack.MinIO(t)
	v := devstack.StartVault(t)
	useMinIO, bucket := gatewaytest.UseMinIO(t, m.Endpoint, m.AccessKey, m.SecretKey)
	useVault := gatewaytest.UseVault(t, v.Addr, v.Token)
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: func(c *config.Config) {
		useMinIO(c)
		useVault(c)
		c.Keys.Cache.MaxRecords = 2 // a data key serves two records,
		c.Keys.Cache.UnwrapTTL = 0  // and every read unwraps at Vault
		c.Keys.Cache.MaxUnwrapEntries = 0
	}})
	met := env.Client("met-police")
	first := publish(t, met, recordBody()) // fetches a data key good for two records
	raw := rawBucket(t, m.Endpoint, m.AccessKey, m.SecretKey)

	for _, outage := range []struct {
		name     string
		down, up func(testing.TB)
	}{
		{"sealed", v.Seal, v.Unseal},
		{"hung", v.Freeze, v.Thaw},
	} {
		t.Run(outage.name, func(t *testing.T) {
			outage.down(t)
			restored := false
			defer func() {
				if !restored {
					outage.up(t)
				}
			}()
			// Publishes may use what is left of the cached data key; once it is
			// spent they fail closed. Either way nothing unencrypted is written.
			var failed bool
			for i := 0; i < 3; i++ {
				r := met.MustDo("POST", "/v1/records", recordBody())
				if r.Status == 503 {
					failed = true
					break
				}
				if r.Status != 201 {
					t.Fatalf("publish during outage: %d %s", r.Status, r.Body)
				}
			}
			if !failed {
				t.Fatal("publishes kept succeeding with Vault down: the cached key must be bounded")
			}
			for k, b := range bucketObjects(t, raw, bucket) {
				if bytes.Contains(b, []byte("Salford")) {
					t.Fatalf("plaintext stored during outage: %s", k)
				}
			}
			if r := readerClient(env).MustDo("GET", "/v1/records/"+first, nil); r.Status != 503 || bytes.Contains(r.Body, []byte("Salford")) {
				t.Fatalf("read during outage: %d %s", r.Status, r.Body)
			}
			outage.up(t)
			restored = true
			deadline := time.Now().Add(30 * time.Second)
			for {
				r := met.MustDo("POST", "/v1/records", recordBody())
				if r.Status == 201 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no recovery after Vault came back: %d %s", r.Status, r.Body)
				}
				time.Sleep(500 * time.Millisecond)
			}
			if r := readerClient(env).MustDo("GET", "/v1/records/"+first, nil); r.Status != 200 {
				t.Fatalf("read after recovery: %d %s", r.Status, r.Body)
			}
		})
	}
}

func TestMinIOOutageFailsClosed(t *testing.T) {
	v := devstack.Vault(t)
	ms := devstack.StartMinIO(t)
	useMinIO, _ := gatewaytest.UseMinIO(t, ms.Endpoint, ms.AccessKey, ms.SecretKey)
	useVault := gatewaytest.UseVault(t, v.Addr, v.Token)
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: func(c *config.Config) { useMinIO(c); useVault(c) }})
	met := env.Client("met-police")
	id := publish(t, met, recordBody())
	ready := func() int {
		resp, err := env.AdminGet("/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if ready() != 200 {
		t.Fatal("not ready with MinIO up")
	}
	ms.Stop(t)
	if r := met.MustDo("POST", "/v1/records", recordBody()); r.Status != 503 {
		t.Fatalf("publish with MinIO down: %d %s", r.Status, r.Body)
	}
	if r := readerClient(env).MustDo("GET", "/v1/records/"+id, nil); r.Status != 503 {
		t.Fatalf("read with MinIO down: %d %s", r.Status, r.Body)
	}
	if ready() != 503 {
		t.Fatal("ready with MinIO down")
	}
	ms.Restart(t)
	deadline := time.Now().Add(30 * time.Second)
	for ready() != 200 {
		if time.Now().After(deadline) {
			t.Fatal("not ready after MinIO came back")
		}
		time.Sleep(300 * time.Millisecond)
	}
	if r := readerClient(env).MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 {
		t.Fatalf("read after recovery: %d %s", r.Status, r.Body)
	}
	publish(t, met, recordBody())
}

func TestRotateRewrapShred(t *testing.T) {
	use, _ := gatewaytest.UseDevStack(t)
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: func(c *config.Config) {
		use(c)
		c.Keys.Cache.Disabled = true // every record its own data key; every read unwraps at Vault
	}})
	met, hmrc := env.Client("met-police"), env.Client("hmrc")
	ctx := context.Background()
	ops, err := gateway.OpenKeyOps(ctx, env.Cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Close()

	a1, a2 := publish(t, met, recordBody()), publish(t, met, recordBody())
	b1 := publish(t, hmrc, recordBody()) // hmrc's own key
	info, err := ops.Rotate(ctx, "met-police", "")
	if err != nil || info.LatestVersion != 2 {
		t.Fatalf("rotate: %+v %v", info, err)
	}
	a3 := publish(t, met, recordBody()) // under v2

	st, err := ops.Rewrap(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rewrapped != 2 || st.Current != 2 || st.Failed != 0 {
		t.Fatalf("rewrap: %+v", st)
	}
	// Custody is audited beside the running gateway, which holds its own log.
	custody, err := audit.ReadFile(gateway.CustodyLogPath(env.Cfg))
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range custody {
		actions = append(actions, e.Action)
	}
	if want := []string{"keys.rotate", "keys.rewrap", "keys.rewrap"}; !slices.Equal(actions, want) ||
		custody[2].Custody == nil || custody[2].Custody.RecordsAffected != 2 {
		t.Fatalf("custody entries %v, want %v (the last with 2 records)", actions, want)
	}
	st, err = ops.Rewrap(ctx, "", nil) // resumable: a second run finds nothing to do
	if err != nil || st.Rewrapped != 0 || st.Current != 4 {
		t.Fatalf("second rewrap: %+v %v", st, err)
	}
	hmrcReader := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")
	for _, id := range []string{a1, a2, a3, b1} {
		if r := hmrcReader.MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 {
			t.Fatalf("read %s after rewrap: %d %s", id, r.Status, r.Body)
		}
	}

	// Crypto-shredding: rotate again, publish one record under v3, and
	// destroy versions below 3. Exactly met-police's older records go.
	if _, err := ops.Rotate(ctx, "met-police", ""); err != nil {
		t.Fatal(err)
	}
	a4 := publish(t, met, recordBody())
	if err := ops.Shred(ctx, "met-police", "", 3); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{a1, a2, a3} {
		r := hmrcReader.MustDo("GET", "/v1/records/"+id, nil)
		if r.Status != http.StatusGone || !bytes.Contains(r.Body, []byte("shredded")) || bytes.Contains(r.Body, []byte("Salford")) {
			t.Fatalf("shredded record %s: %d %s, want 410 shredded", id, r.Status, r.Body)
		}
	}
	for _, id := range []string{a4, b1} {
		if r := hmrcReader.MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 {
			t.Fatalf("record %s must survive the shredding of other versions: %d %s", id, r.Status, r.Body)
		}
	}
	st, err = ops.Rewrap(ctx, "met-police", nil)
	if err != nil || st.Failed != 3 || st.Current != 1 {
		t.Fatalf("rewrap after shred must report the shredded records: %+v %v", st, err)
	}
}

// TestPerDSAKeysDestroy: with {dsa} in keys.name_pattern each originator
// has one Vault key per DSA, and destroying one makes exactly the records
// shared under that DSA unreadable (410 shredded): the same originator's
// records under another DSA, and another originator's under the same DSA,
// stay readable.
func TestPerDSAKeysDestroy(t *testing.T) {
	use, _ := gatewaytest.UseDevStack(t)
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: func(c *config.Config) {
		use(c)
		c.Keys.NamePattern = "agency-{agency}-{dsa}"
		c.Keys.Cache.Disabled = true // every read unwraps at Vault
	}})
	met, hmrc := env.Client("met-police"), env.Client("hmrc")
	toHMRC := func(dsa string) map[string]any {
		return recordBody(func(m map[string]any) { m["dsa_ids"] = []any{dsa}; m["recipients"] = []any{"hmrc"} })
	}
	soc := publish(t, met, toHMRC("dsa-uk-soc"))
	selecOps := publish(t, met, toHMRC("dsa-selec-ops"))
	hmrcOwn := publish(t, hmrc, recordBody(func(m map[string]any) { m["dsa_ids"] = []any{"dsa-uk-soc"} }))

	ctx := context.Background()
	ops, err := gateway.OpenKeyOps(ctx, env.Cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Close()
	for _, k := range [][2]string{{"met-police", "dsa-uk-soc"}, {"met-police", "dsa-selec-ops"}, {"hmrc", "dsa-uk-soc"}} {
		if _, err := ops.Info(ctx, k[0], k[1]); err != nil {
			t.Fatalf("key of %s under %s: %v", k[0], k[1], err)
		}
	}
	if _, err := ops.Info(ctx, "met-police", ""); err == nil {
		t.Fatal("with per-DSA keys, a key without a DSA must be refused")
	}
	if _, err := ops.Destroy(ctx, "met-police", "dsa-typo"); err == nil {
		t.Fatal("destroying a key that does not exist must fail, not look done")
	}
	if _, err := ops.Destroy(ctx, "met-police", "dsa-selec-ops"); err != nil {
		t.Fatal(err)
	}
	reader := hmrc.With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")
	if r := reader.MustDo("GET", "/v1/records/"+selecOps, nil); r.Status != http.StatusGone || !bytes.Contains(r.Body, []byte("shredded")) {
		t.Fatalf("record under the destroyed DSA key: %d %s, want 410 shredded", r.Status, r.Body)
	}
	for _, id := range []string{soc, hmrcOwn} {
		if r := reader.MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 || !bytes.Contains(r.Body, []byte("Salford")) {
			t.Fatalf("record %s must survive another DSA key's destruction: %d %s", id, r.Status, r.Body)
		}
	}
}

// TestAuditShippedToWORMBucket ships audit segments to an object-locked
// bucket (audit.store) while records live in an ordinary bucket: shipped
// evidence cannot be deleted, records can still be recalled, and the
// shipped copy verifies on its own.
func TestAuditShippedToWORMBucket(t *testing.T) {
	use, _ := gatewaytest.UseDevStack(t)
	m := devstack.MinIO(t)
	auditBucket := "liaison-audit-" + gatewaytest.Unique(t)
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: func(c *config.Config) {
		use(c)
		c.Audit.ShipInterval = 200 * time.Millisecond
		c.Audit.SegmentMaxEntries = 5
		c.Audit.Store = c.Store.MinIO
		c.Audit.Store.Bucket = auditBucket
		c.Audit.Store.ObjectLock = true
		c.Audit.Store.Retention.Mode = "GOVERNANCE"
		c.Audit.Store.Retention.Days = 1
	}})
	met := env.Client("met-police")
	var ids []string
	for i := 0; i < 12; i++ {
		ids = append(ids, publish(t, met, recordBody()))
	}
	raw := rawBucket(t, m.Endpoint, m.AccessKey, m.SecretKey)
	ctx := context.Background()
	var shipped miniogo.ObjectInfo
	deadline := time.Now().Add(20 * time.Second)
	for shipped.Key == "" {
		for o := range raw.ListObjects(ctx, auditBucket, miniogo.ListObjectsOptions{Recursive: true, WithVersions: true}) {
			if o.Err == nil && strings.Contains(o.Key, "segment-") {
				shipped = o
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no audit segment shipped")
		}
		time.Sleep(200 * time.Millisecond)
	}
	err := raw.RemoveObject(ctx, auditBucket, shipped.Key, miniogo.RemoveObjectOptions{VersionID: shipped.VersionID})
	if err == nil {
		t.Fatalf("a shipped audit segment (%s) could be deleted: the bucket is not WORM", shipped.Key)
	}
	// Records are in their own bucket: recall still deletes content.
	if r := met.MustDo("DELETE", "/v1/records/"+ids[0], nil); r.Status != 200 {
		t.Fatalf("recall next to a WORM audit bucket: %d %s", r.Status, r.Body)
	}
	env.Stop() // the shipper's final pass copies the last segment and checkpoint
	st, closeStore, err := gateway.OpenStore(ctx, env.Cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	rep, err := audit.VerifyStore(ctx, st, env.Cfg.GatewayID, audit.VerifyOptions{})
	// Only sealed segments are shipped: 12 publishes in 5-entry segments
	// leave two sealed (10 entries) and the third still open.
	if err != nil || !rep.OK || rep.Entries < 10 || rep.Segments < 2 {
		t.Fatalf("shipped audit copy: %v ok=%v entries=%d segments=%d failure=%v", err, rep.OK, rep.Entries, rep.Segments, rep.Failure)
	}
}
