package recordstore

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/liaison-project/liaison/connectors/fsstore"
	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/record"
)

// verifiedFixture is a Store over a filesystem object store whose record
// objects are framed and signed by encode (with stand-in sealed bytes:
// LoadListed never opens content), counting integrity failures.
type verifiedFixture struct {
	t        *testing.T
	rs       *Store
	objects  *fsstore.Store
	tampered int
	now      time.Time
}

func newVerifiedFixture(t *testing.T) *verifiedFixture {
	t.Helper()
	signer, err := jose.LoadOrCreateSigner(filepath.Join(t.TempDir(), "signing.jwk.json"))
	if err != nil {
		t.Fatal(err)
	}
	objects, err := fsstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { objects.Close() })
	fx := &verifiedFixture{t: t, objects: objects, now: time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)}
	fx.rs = New(Options{Objects: objects, Signer: signer, Tampered: func() { fx.tampered++ }})
	return fx
}

// record returns an active record (not stored) with its id's own metadata.
func (fx *verifiedFixture) record() *Record {
	fx.t.Helper()
	fx.now = fx.now.Add(time.Second)
	meta := record.Meta{RecordID: record.NewID(fx.now), Version: 1, Created: fx.now.Format(time.RFC3339),
		Originator: record.Originator{OrgID: "met-police"}, TLP: "AMBER", AllowedPurposes: []string{"investigation"},
		DSAIDs: []string{"dsa-uk-soc"}, Recipients: []string{"rocu-nw", "nca"}, OCGIDs: []string{"ocg-2291"}}
	digest, err := meta.Digest()
	if err != nil {
		fx.t.Fatal(err)
	}
	return &Record{Format: storedFormat, Meta: meta, MetaDigest: digest, State: StateActive,
		Content: &ContentRef{Alg: "A256GCM-envelope", KeyName: "k", WrappedKey: []byte("wrapped"), Size: 3},
		sealed:  []byte("sealed-content")}
}

func (fx *verifiedFixture) encode(st *Record) []byte {
	fx.t.Helper()
	obj, err := fx.rs.encode(st)
	if err != nil {
		fx.t.Fatal(err)
	}
	return obj
}

// put stores obj as record id's object, replacing what is there.
func (fx *verifiedFixture) put(id string, obj []byte) {
	fx.t.Helper()
	if err := fx.objects.Put(context.Background(), recordKey(id), obj, objstore.PutOptions{}); err != nil {
		fx.t.Fatal(err)
	}
}

// cached loads id through LoadListed until the second load is a hit, and
// returns what it loaded.
func (fx *verifiedFixture) cached(id string) *Record {
	fx.t.Helper()
	ctx := context.Background()
	if _, err := fx.rs.LoadListed(ctx, id); err != nil {
		fx.t.Fatal(err)
	}
	hits := fx.rs.verified.hits
	st, err := fx.rs.LoadListed(ctx, id)
	if err != nil {
		fx.t.Fatal(err)
	}
	if fx.rs.verified.hits != hits+1 {
		fx.t.Fatalf("the second load of %s was not served from the cache", id)
	}
	return st
}

// same checks that LoadListed and Load give the same result for id (the
// same record, every field, or errors of the same kind) and count the same
// integrity failures; it returns LoadListed's.
func (fx *verifiedFixture) same(id string) (*Record, error) {
	fx.t.Helper()
	ctx := context.Background()
	before := fx.tampered
	want, werr := fx.rs.Load(ctx, id)
	failures := fx.tampered - before
	got, gerr := fx.rs.LoadListed(ctx, id)
	if fx.tampered-before-failures != failures {
		fx.t.Errorf("%s: LoadListed counted %d integrity failures, Load %d", id, fx.tampered-before-failures, failures)
	}
	for _, kind := range []error{ErrTampered, ErrNotFound} {
		if errors.Is(gerr, kind) != errors.Is(werr, kind) {
			fx.t.Errorf("%s: LoadListed: %v; Load: %v", id, gerr, werr)
		}
	}
	if (gerr == nil) != (werr == nil) || !reflect.DeepEqual(got, want) {
		fx.t.Errorf("%s: LoadListed gave %+v, %v; Load %+v, %v", id, got, gerr, want, werr)
	}
	return got, gerr
}

// TestLoadListedRecalled: a record recalled or erased (its object replaced
// by a signed tombstone) after it was cached is loaded as the tombstone,
// and a record whose object is gone is not found, exactly as Load says.
func TestLoadListedRecalled(t *testing.T) {
	fx := newVerifiedFixture(t)
	ctx := context.Background()
	for _, how := range []string{"recall", "remove"} {
		st := fx.record()
		id := st.Meta.RecordID
		fx.put(id, fx.encode(st))
		fx.cached(id)
		switch how {
		case "recall":
			base, err := fx.rs.Load(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if err := fx.rs.Recall(ctx, base, "met-police", "", fx.now); err != nil {
				t.Fatal(err)
			}
			got, err := fx.same(id)
			if err != nil || got.State != StateRecalled || got.Content != nil {
				t.Fatalf("recalled after caching: LoadListed gave %+v, %v; want the tombstone", got, err)
			}
		case "remove":
			fx.rs.Remove(ctx, id)
			if _, err := fx.same(id); !errors.Is(err, ErrNotFound) {
				t.Fatalf("removed after caching: LoadListed gave %v, want ErrNotFound", err)
			}
		}
	}
}

// TestLoadListedAltered: a record object altered in the store after it
// was cached is refused as Load refuses it — an integrity failure, counted
// — whether the signature no longer verifies, the validly signed metadata
// of another record was copied over it, or content was put beside its
// tombstone; and a later version (a re-sign, a rewrap) is loaded as that
// version, not as the cached one.
func TestLoadListedAltered(t *testing.T) {
	fx := newVerifiedFixture(t)
	st := fx.record()
	id := st.Meta.RecordID
	obj := fx.encode(st)
	fx.put(id, obj)
	fx.cached(id)

	// One byte of the signed metadata changed (in the JWS payload).
	bad := append([]byte(nil), obj...)
	bad[len(objectMagic)+4+bytes.IndexByte(obj[len(objectMagic)+4:], '.')+20] ^= 1
	fx.put(id, bad)
	before := fx.tampered
	if _, err := fx.same(id); !errors.Is(err, ErrTampered) {
		t.Fatalf("altered metadata after caching: LoadListed gave %v, want ErrTampered", err)
	}
	if fx.tampered-before != 2 {
		t.Fatalf("the altered object counted %d integrity failures over Load and LoadListed, want 2", fx.tampered-before)
	}

	// Another record's object, validly signed and cached under its own
	// id, copied over this one.
	other := fx.record()
	otherObj := fx.encode(other)
	fx.put(other.Meta.RecordID, otherObj)
	fx.cached(other.Meta.RecordID)
	fx.put(id, otherObj)
	if _, err := fx.same(id); !errors.Is(err, ErrTampered) {
		t.Fatalf("another record's object over a cached one: LoadListed gave %v, want ErrTampered", err)
	}

	// Content beside the cached record's tombstone.
	tomb := *st
	tomb.State, tomb.Content, tomb.sealed = StateRecalled, nil, nil
	tomb.Recalled = &RecallEvent{At: fx.now.Format(time.RFC3339), By: "met-police"}
	tombObj := fx.encode(&tomb)
	fx.put(id, tombObj)
	fx.cached(id)
	fx.put(id, append(append([]byte(nil), tombObj...), "sealed-content"...))
	if _, err := fx.same(id); !errors.Is(err, ErrTampered) {
		t.Fatalf("content beside a cached tombstone: LoadListed gave %v, want ErrTampered", err)
	}

	// The same record re-signed with another wrapped key (a rewrap): the
	// new version's metadata, not the cached one's.
	fx.put(id, obj)
	fx.cached(id)
	rewrapped := *st
	rewrapped.Content = &ContentRef{Alg: "A256GCM-envelope", KeyName: "k", WrappedKey: []byte("rewrapped"), Size: 3}
	fx.put(id, fx.encode(&rewrapped))
	got, err := fx.same(id)
	if err != nil || string(got.Content.WrappedKey) != "rewrapped" {
		t.Fatalf("rewrapped after caching: LoadListed gave %+v, %v", got, err)
	}
}

// TestLoadListedKeyChange: entries verified under one signer are not
// served under another: a record whose key the new signer does not trust
// is refused (as Load refuses it), and one it does trust is verified again.
func TestLoadListedKeyChange(t *testing.T) {
	fx := newVerifiedFixture(t)
	st := fx.record()
	id := st.Meta.RecordID
	fx.put(id, fx.encode(st))
	fx.cached(id)
	old := fx.rs.signer.(*jose.Signer)

	next, err := jose.LoadOrCreateSigner(filepath.Join(t.TempDir(), "next.jwk.json"))
	if err != nil {
		t.Fatal(err)
	}
	fx.rs.signer = next // the old key is no longer trusted
	if _, err := fx.same(id); !errors.Is(err, ErrTampered) {
		t.Fatalf("after the old key stopped being trusted: LoadListed gave %v, want ErrTampered", err)
	}

	jwks, err := old.PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	if fx.rs.signer, err = next.AcceptAlso(jwks); err != nil { // trusted again
		t.Fatal(err)
	}
	misses := fx.rs.verified.misses
	if got, err := fx.same(id); err != nil || got.Meta.RecordID != id {
		t.Fatalf("under a signer that trusts the old key: LoadListed gave %v", err)
	}
	if fx.rs.verified.misses != misses+1 {
		t.Fatal("an entry verified under another signer was served")
	}
}

// TestLoadListedSame: over records in every state the store may hold,
// LoadListed gives what Load gives, on a miss and on a hit, and a caller
// changing its copy's own fields does not change what the cache serves.
func TestLoadListedSame(t *testing.T) {
	fx := newVerifiedFixture(t)
	active := fx.record()
	tomb := fx.record()
	tomb.State, tomb.Content, tomb.sealed = StateRecalled, nil, nil
	tomb.Recalled = &RecallEvent{At: fx.now.Format(time.RFC3339), By: "met-police"}
	received := fx.record()
	received.Origin = &Origin{From: "gw-b", Provenance: []string{"gw-b"}, MessageID: "m-1"}
	var ids []string
	for _, st := range []*Record{active, tomb, received} {
		fx.put(st.Meta.RecordID, fx.encode(st))
		ids = append(ids, st.Meta.RecordID)
	}
	garbage := record.NewID(fx.now.Add(time.Hour))
	fx.put(garbage, []byte("LSR2\x00\x00\x00\x05abcde"))
	ids = append(ids, garbage, record.NewID(fx.now.Add(2*time.Hour))) // the last one is absent
	for round := range 3 {
		for _, id := range ids {
			got, _ := fx.same(id)
			if got != nil {
				got.State, got.sealed, got.tag = "changed", nil, ""
			}
		}
		if round > 0 && fx.rs.verified.hits == 0 {
			t.Fatal("nothing was served from the cache")
		}
	}
}

// stubSigner stands for a signer in tests of the cache alone.
type stubSigner struct{ _ int }

func (*stubSigner) Sign([]byte) ([]byte, error)   { return nil, errors.New("stub") }
func (*stubSigner) Verify([]byte) ([]byte, error) { return nil, errors.New("stub") }

// TestVerifiedCacheBounds: the cache keeps at most its number of entries
// and its estimated bytes, dropping the least recently used first, keeps
// nothing larger than itself, and drops everything for another signer.
func TestVerifiedCacheBounds(t *testing.T) {
	signer := &stubSigner{}
	var keys []verifiedKey
	for i := range 12 {
		keys = append(keys, verifiedKeyOf("rec", []byte{byte(i)}))
	}
	c := newVerifiedCache(4, 1<<20)
	for _, k := range keys[:4] {
		c.put(k, signer, &Record{}, 100)
	}
	c.get(keys[0], signer) // keys[1] is now the least recently used
	c.put(keys[4], signer, &Record{}, 100)
	if len(c.entries) != 4 || c.get(keys[1], signer) != nil || c.get(keys[0], signer) == nil {
		t.Fatalf("entry bound: %d entries, or not the least recently used evicted", len(c.entries))
	}

	c = newVerifiedCache(100, 1000)
	for _, k := range keys[:11] {
		c.put(k, signer, &Record{}, 100)
	}
	if len(c.entries) != 10 || c.bytes != 1000 || c.get(keys[0], signer) != nil || c.get(keys[10], signer) == nil {
		t.Fatalf("byte bound: %d bytes in %d entries", c.bytes, len(c.entries))
	}
	c.put(keys[11], signer, &Record{}, 1001) // larger than the whole cache
	if c.get(keys[11], signer) != nil || len(c.entries) != 10 {
		t.Fatal("an entry above the byte bound was kept, or others dropped for it")
	}
	if c.get(keys[10], &stubSigner{}) != nil || len(c.entries) != 0 || c.bytes != 0 {
		t.Fatal("entries survived a change of signer")
	}
}
