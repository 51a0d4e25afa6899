package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/crypto/envelope"
	"github.com/liaison-project/liaison/crypto/keys"
	"github.com/liaison-project/liaison/gateway/record"
)

// DataKeys is what the record store needs from the key layer: data keys for
// sealing, unwrapping for opening. envelope.CachingKeys implements it over
// any keys.Provider.
type DataKeys interface {
	DataKeyFor(ctx context.Context, name string, plaintextLen int) (keys.DataKey, error)
	Unwrap(ctx context.Context, name string, wrapped []byte) ([]byte, error)
}

// Signer signs and verifies stored metadata (compact JWS).
type Signer interface {
	Sign(payload []byte) ([]byte, error)
	Verify(jws []byte) ([]byte, error)
}

// Record states.
const (
	stateActive   = "active"
	stateRecalled = "recalled"
)

const storedFormat = "liaison.record/v1"

// storedRecord is the signed metadata object of a record: the commit point
// of a publish. The object store is untrusted, so everything read back is
// checked: the signature, the record id, and the metadata digest that the
// content's AAD binds.
type storedRecord struct {
	Format     string       `json:"format"`
	Meta       record.Meta  `json:"meta"`
	MetaDigest string       `json:"meta_digest"`
	State      string       `json:"state"`
	Content    *contentRef  `json:"content,omitempty"`
	Recalled   *recallEvent `json:"recalled,omitempty"`
}

type contentRef struct {
	Object     string `json:"object"`
	Alg        string `json:"alg"`
	KeyName    string `json:"key_name"`
	WrappedKey []byte `json:"wrapped_key"`
	Size       int    `json:"size"`
}

type recallEvent struct {
	At    string `json:"at"`
	By    string `json:"by"`
	ByOff string `json:"by_officer,omitempty"`
}

var (
	errRecordNotFound = errors.New("record not found")
	errTampered       = errors.New("stored record failed integrity checks")
)

type recordStore struct {
	store   objstore.Store
	keys    DataKeys
	signer  Signer
	keyName func(agency string) string
}

func metaKey(id string) string { return "records/" + id + "/meta" }
func contentKey(id string, v int) string {
	return "records/" + id + "/v" + strconv.Itoa(v) + "/content"
}
func readerPrefix(agency string) string  { return "index/readers/" + agency + "/" }
func readerKey(agency, id string) string { return readerPrefix(agency) + id }

// aad binds a ciphertext to one record, version and metadata digest, so a
// ciphertext moved to another record, or paired with edited metadata, fails
// to open.
func aad(id string, version int, digest string) []byte {
	return envelope.BindAAD("liaison.record.v1", id, strconv.Itoa(version), digest)
}

// pendingRecord is a publish between sealing and commit.
type pendingRecord struct {
	st      storedRecord
	sealed  []byte
	readers []string
}

// seal encrypts content for meta. No plaintext leaves this function except
// into the sealed envelope.
func (rs *recordStore) seal(ctx context.Context, meta record.Meta, content []byte) (*pendingRecord, error) {
	digest, err := meta.Digest()
	if err != nil {
		return nil, err
	}
	name := rs.keyName(meta.Originator.OrgID)
	dk, err := rs.keys.DataKeyFor(ctx, name, len(content))
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	sealed, err := envelope.Seal(dk.Plaintext, content, aad(meta.RecordID, meta.Version, digest))
	clear(dk.Plaintext)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &pendingRecord{
		st: storedRecord{Format: storedFormat, Meta: meta, MetaDigest: digest, State: stateActive,
			Content: &contentRef{Object: contentKey(meta.RecordID, meta.Version), Alg: "A256GCM-envelope", KeyName: name, WrappedKey: dk.Wrapped, Size: len(content)}},
		sealed:  sealed,
		readers: meta.Readers(),
	}, nil
}

// stage writes the ciphertext and the index entries, concurrently: none of
// it is visible as a record until commit writes the signed metadata, so
// their order does not matter and a publish pays one store round trip here.
func (rs *recordStore) stage(ctx context.Context, p *pendingRecord) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := rs.store.Put(gctx, p.st.Content.Object, p.sealed, objstore.PutOptions{IfAbsent: true, ContentType: "application/octet-stream"}); err != nil {
			return fmt.Errorf("store content: %w", err)
		}
		return nil
	})
	for _, a := range p.readers {
		g.Go(func() error {
			if err := rs.store.Put(gctx, readerKey(a, p.st.Meta.RecordID), nil, objstore.PutOptions{}); err != nil {
				return fmt.Errorf("store index: %w", err)
			}
			return nil
		})
	}
	return g.Wait()
}

// commit writes the signed metadata: from here the record exists.
func (rs *recordStore) commit(ctx context.Context, p *pendingRecord) error {
	jws, err := rs.signStored(&p.st)
	if err != nil {
		return err
	}
	if err := rs.store.Put(ctx, metaKey(p.st.Meta.RecordID), jws, objstore.PutOptions{IfAbsent: true, ContentType: "application/jose"}); err != nil {
		return fmt.Errorf("store metadata: %w", err)
	}
	return nil
}

// abort removes what stage wrote (best effort: leftovers are invisible).
func (rs *recordStore) abort(ctx context.Context, p *pendingRecord) {
	ctx = context.WithoutCancel(ctx)
	_ = rs.store.Delete(ctx, p.st.Content.Object)
	for _, a := range p.readers {
		_ = rs.store.Delete(ctx, readerKey(a, p.st.Meta.RecordID))
	}
}

func (rs *recordStore) signStored(st *storedRecord) ([]byte, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	return rs.signer.Sign(b)
}

// load reads and verifies a record's metadata object.
func (rs *recordStore) load(ctx context.Context, id string) (*storedRecord, error) {
	jws, err := rs.store.Get(ctx, metaKey(id))
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, errRecordNotFound
	}
	if err != nil {
		return nil, err
	}
	payload, err := rs.signer.Verify(jws)
	if err != nil {
		return nil, fmt.Errorf("%w: metadata signature: %v", errTampered, err)
	}
	var st storedRecord
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil || st.Format != storedFormat {
		return nil, fmt.Errorf("%w: metadata format", errTampered)
	}
	// A validly signed metadata object of another record copied over this one.
	if st.Meta.RecordID != id {
		return nil, fmt.Errorf("%w: metadata belongs to another record", errTampered)
	}
	if d, err := st.Meta.Digest(); err != nil || d != st.MetaDigest {
		return nil, fmt.Errorf("%w: metadata digest", errTampered)
	}
	return &st, nil
}

// open fetches and decrypts a record's content.
func (rs *recordStore) open(ctx context.Context, st *storedRecord) ([]byte, error) {
	if st.State != stateActive || st.Content == nil {
		return nil, errRecordNotFound
	}
	if st.Content.Object != contentKey(st.Meta.RecordID, st.Meta.Version) {
		return nil, fmt.Errorf("%w: content reference", errTampered)
	}
	sealed, err := rs.store.Get(ctx, st.Content.Object)
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, fmt.Errorf("%w: content missing", errTampered)
	}
	if err != nil {
		return nil, err
	}
	dk, err := rs.keys.Unwrap(ctx, st.Content.KeyName, st.Content.WrappedKey)
	if errors.Is(err, keys.ErrInvalidCiphertext) {
		return nil, fmt.Errorf("%w: data key: %v", errTampered, err)
	}
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	pt, err := envelope.Open(dk, sealed, aad(st.Meta.RecordID, st.Meta.Version, st.MetaDigest))
	clear(dk)
	if err != nil {
		return nil, fmt.Errorf("%w: content: %v", errTampered, err)
	}
	return pt, nil
}

// recall makes a record unreadable for everyone: the ciphertext is deleted
// (every version, where the store keeps versions), the wrapped data key is
// dropped from the metadata, which becomes a signed tombstone, and the
// index entries go.
func (rs *recordStore) recall(ctx context.Context, st *storedRecord, agency, officer string, now time.Time) error {
	if err := rs.deleteContent(ctx, st.Meta.RecordID, ""); err != nil {
		return err
	}
	tomb := *st
	tomb.State = stateRecalled
	tomb.Content = nil
	tomb.Recalled = &recallEvent{At: now.UTC().Format(time.RFC3339), By: agency, ByOff: officer}
	jws, err := rs.signStored(&tomb)
	if err != nil {
		return err
	}
	if err := rs.store.Put(ctx, metaKey(st.Meta.RecordID), jws, objstore.PutOptions{ContentType: "application/jose"}); err != nil {
		return fmt.Errorf("store tombstone: %w", err)
	}
	for _, a := range st.Meta.Readers() {
		if err := rs.store.Delete(ctx, readerKey(a, st.Meta.RecordID)); err != nil {
			return fmt.Errorf("delete index: %w", err)
		}
	}
	return nil
}

// deleteContent removes every content version of a record except keep
// (all of them when keep is empty): an earlier version left behind by an
// interrupted share must not survive a recall.
func (rs *recordStore) deleteContent(ctx context.Context, id, keep string) error {
	for {
		ks, err := rs.store.List(ctx, "records/"+id+"/", "", 100)
		if err != nil {
			return fmt.Errorf("list content: %w", err)
		}
		deleted := 0
		for _, k := range ks {
			if k == metaKey(id) || k == keep || !strings.HasSuffix(k, "/content") {
				continue
			}
			if err := rs.store.Delete(ctx, k); err != nil {
				return fmt.Errorf("delete content: %w", err)
			}
			deleted++
		}
		if len(ks) < 100 || deleted == 0 {
			return nil
		}
	}
}

// reseal prepares a new version of a record whose metadata changed: the
// content is decrypted and sealed again, because its AAD binds the version
// and the metadata digest.
func (rs *recordStore) reseal(ctx context.Context, st *storedRecord, meta record.Meta) (*pendingRecord, error) {
	content, err := rs.open(ctx, st)
	if err != nil {
		return nil, err
	}
	defer clear(content)
	meta.Version = st.Meta.Version + 1
	return rs.seal(ctx, meta, content)
}

// commitVersion replaces the signed metadata with a new version (the commit
// point of a share), then drops the older content.
func (rs *recordStore) commitVersion(ctx context.Context, p *pendingRecord) error {
	if err := rs.rewrite(ctx, &p.st); err != nil {
		return err
	}
	// Best effort: a leftover older version is unreadable (its metadata is
	// gone) and recall removes every version anyway.
	_ = rs.deleteContent(context.WithoutCancel(ctx), p.st.Meta.RecordID, p.st.Content.Object)
	return nil
}

// listFor returns up to n record ids that agency may find, after cursor.
func (rs *recordStore) listFor(ctx context.Context, agency, after string, n int) ([]string, error) {
	prefix := readerPrefix(agency)
	startAfter := ""
	if after != "" {
		startAfter = prefix + after
	}
	keys, err := rs.store.List(ctx, prefix, startAfter, n)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		id := strings.TrimPrefix(k, prefix)
		if record.ValidID(id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// rewrite replaces a record's signed metadata (after a rewrap).
func (rs *recordStore) rewrite(ctx context.Context, st *storedRecord) error {
	jws, err := rs.signStored(st)
	if err != nil {
		return err
	}
	return rs.store.Put(ctx, metaKey(st.Meta.RecordID), jws, objstore.PutOptions{ContentType: "application/jose"})
}
