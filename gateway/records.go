package gateway

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/liaison-project/liaison/connectors/keys"
	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/crypto/envelope"
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

// storedFormat names the signed metadata inside a record object. v2 keeps
// metadata and ciphertext in one object (v1 had them apart), so that a
// publish is one conditional PUT and a read one GET.
const storedFormat = "liaison.record/v2"

// objectMagic opens every record object: the signed metadata (a compact
// JWS) and the sealed content follow, framed as
//
//	"LSR2" | uint32 big-endian length of the JWS | JWS | sealed content
//
// The frame itself is not trusted: the JWS is verified and the sealed
// content's AAD binds record id, version and metadata digest, so swapping or
// editing either part is an integrity failure.
const objectMagic = "LSR2"

// storedRecord is the signed metadata of a record. The object store is
// untrusted, so everything read back is checked: the signature, the record
// id, and the metadata digest that the content's AAD binds.
type storedRecord struct {
	Format     string       `json:"format"`
	Meta       record.Meta  `json:"meta"`
	MetaDigest string       `json:"meta_digest"`
	State      string       `json:"state"`
	Content    *contentRef  `json:"content,omitempty"`
	Recalled   *recallEvent `json:"recalled,omitempty"`

	// sealed is the ciphertext read with the metadata (not signed: the AEAD
	// and its AAD protect it).
	sealed []byte
}

type contentRef struct {
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
	errShredded       = errors.New("record content crypto-shredded")
)

type recordStore struct {
	store   objstore.Store
	keys    DataKeys
	signer  Signer
	keyName func(*record.Meta) string
	index   *readerIndex
	// tampered, if set, is told of every record that fails an integrity
	// check, whichever path loaded or opened it (the integrity metric).
	tampered func()
}

// checked reports err to the tampered hook when it is an integrity
// failure, and returns it.
func (rs *recordStore) checked(err error) error {
	if rs.tampered != nil && errors.Is(err, errTampered) {
		rs.tampered()
	}
	return err
}

const recordPrefix = "records/"

func recordKey(id string) string { return recordPrefix + id }

// aad binds a ciphertext to one record, version and metadata digest, so a
// ciphertext moved to another record, or paired with edited metadata, fails
// to open.
func aad(id string, version int, digest string) []byte {
	return envelope.BindAAD("liaison.record.v1", id, strconv.Itoa(version), digest)
}

// pendingRecord is a sealed and signed record version, ready to store.
type pendingRecord struct {
	st      storedRecord
	object  []byte
	readers []string
}

// seal encrypts content for meta and signs the result. No plaintext leaves
// this function except into the sealed envelope.
func (rs *recordStore) seal(ctx context.Context, meta record.Meta, content []byte) (*pendingRecord, error) {
	digest, err := meta.Digest()
	if err != nil {
		return nil, err
	}
	name := rs.keyName(&meta)
	dk, err := rs.keys.DataKeyFor(ctx, name, len(content))
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	sealed, err := envelope.Seal(dk.Plaintext, content, aad(meta.RecordID, meta.Version, digest))
	clear(dk.Plaintext)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	p := &pendingRecord{
		st: storedRecord{Format: storedFormat, Meta: meta, MetaDigest: digest, State: stateActive,
			Content: &contentRef{Alg: "A256GCM-envelope", KeyName: name, WrappedKey: dk.Wrapped, Size: len(content)},
			sealed:  sealed},
		readers: meta.Readers(),
	}
	if p.object, err = rs.encode(&p.st); err != nil {
		return nil, err
	}
	return p, nil
}

// encode signs st and frames it with its sealed content.
func (rs *recordStore) encode(st *storedRecord) ([]byte, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	jws, err := rs.signer.Sign(b)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(objectMagic)+4+len(jws)+len(st.sealed))
	out = append(out, objectMagic...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(jws)))
	out = append(out, jws...)
	return append(out, st.sealed...), nil
}

// create stores a new record: the conditional PUT is the commit point.
func (rs *recordStore) create(ctx context.Context, p *pendingRecord) error {
	if err := rs.store.Put(ctx, recordKey(p.st.Meta.RecordID), p.object, objstore.PutOptions{IfAbsent: true, ContentType: "application/octet-stream"}); err != nil {
		return fmt.Errorf("store record: %w", err)
	}
	return nil
}

// replace stores a new version of an existing record (a share, a rewrap, a
// recall's tombstone) and drops the versions it supersedes, so that older
// metadata and ciphertext do not linger in a versioned bucket.
func (rs *recordStore) replace(ctx context.Context, id string, object []byte) error {
	if err := rs.store.Put(ctx, recordKey(id), object, objstore.PutOptions{DropOlderVersions: true, ContentType: "application/octet-stream"}); err != nil {
		return fmt.Errorf("store record: %w", err)
	}
	return nil
}

// remove deletes a record object that was created but whose publish did
// not complete (best effort: its id was never given out or indexed).
func (rs *recordStore) remove(ctx context.Context, id string) {
	_ = rs.store.Delete(context.WithoutCancel(ctx), recordKey(id))
}

// load reads and verifies a record object.
func (rs *recordStore) load(ctx context.Context, id string) (*storedRecord, error) {
	obj, err := rs.store.Get(ctx, recordKey(id))
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, errRecordNotFound
	}
	if err != nil {
		return nil, err
	}
	st, err := rs.decode(id, obj)
	return st, rs.checked(err)
}

// decode parses and verifies the record object obj read for id from the
// (untrusted) store; FuzzDecodeRecordObject exercises it.
func (rs *recordStore) decode(id string, obj []byte) (*storedRecord, error) {
	if len(obj) < len(objectMagic)+4 || string(obj[:len(objectMagic)]) != objectMagic {
		return nil, fmt.Errorf("%w: not a record object", errTampered)
	}
	n := binary.BigEndian.Uint32(obj[len(objectMagic):])
	rest := obj[len(objectMagic)+4:]
	if uint64(n) > uint64(len(rest)) {
		return nil, fmt.Errorf("%w: truncated record object", errTampered)
	}
	payload, err := rs.signer.Verify(rest[:n])
	if err != nil {
		return nil, fmt.Errorf("%w: metadata signature: %v", errTampered, err)
	}
	var st storedRecord
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil || st.Format != storedFormat {
		return nil, fmt.Errorf("%w: metadata format", errTampered)
	}
	// A validly signed record object of another record copied over this one.
	if st.Meta.RecordID != id {
		return nil, fmt.Errorf("%w: metadata belongs to another record", errTampered)
	}
	if d, err := st.Meta.Digest(); err != nil || d != st.MetaDigest {
		return nil, fmt.Errorf("%w: metadata digest", errTampered)
	}
	st.sealed = rest[n:]
	if st.State != stateActive && len(st.sealed) != 0 {
		return nil, fmt.Errorf("%w: content beside a tombstone", errTampered)
	}
	return &st, nil
}

// open decrypts a loaded record's content.
func (rs *recordStore) open(ctx context.Context, st *storedRecord) ([]byte, error) {
	pt, err := rs.openContent(ctx, st)
	return pt, rs.checked(err)
}

func (rs *recordStore) openContent(ctx context.Context, st *storedRecord) ([]byte, error) {
	if st.State != stateActive || st.Content == nil {
		return nil, errRecordNotFound
	}
	if len(st.sealed) == 0 {
		return nil, fmt.Errorf("%w: content missing", errTampered)
	}
	dk, err := rs.keys.Unwrap(ctx, st.Content.KeyName, st.Content.WrappedKey)
	if errors.Is(err, keys.ErrShredded) || errors.Is(err, keys.ErrNotFound) {
		// The key version was retired or the key destroyed on purpose.
		return nil, fmt.Errorf("%w: %v", errShredded, err)
	}
	if errors.Is(err, keys.ErrInvalidCiphertext) {
		return nil, fmt.Errorf("%w: data key: %v", errTampered, err)
	}
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	pt, err := envelope.Open(dk, st.sealed, aad(st.Meta.RecordID, st.Meta.Version, st.MetaDigest))
	clear(dk)
	if err != nil {
		return nil, fmt.Errorf("%w: content: %v", errTampered, err)
	}
	return pt, nil
}

// recall makes a record unreadable for everyone: the record object is
// replaced by a signed tombstone without content or wrapped data key, and
// every earlier version (with its ciphertext) is dropped. Index entries
// stay: listings skip records that are not active.
func (rs *recordStore) recall(ctx context.Context, st *storedRecord, agency, officer string, now time.Time) error {
	tomb := *st
	tomb.State = stateRecalled
	tomb.Content = nil
	tomb.sealed = nil
	if tomb.Recalled == nil { // a repeat keeps the first recall's time and author
		tomb.Recalled = &recallEvent{At: now.UTC().Format(time.RFC3339), By: agency, ByOff: officer}
	}
	obj, err := rs.encode(&tomb)
	if err != nil {
		return err
	}
	if err := rs.replace(ctx, st.Meta.RecordID, obj); err != nil {
		return fmt.Errorf("store tombstone: %w", err)
	}
	return nil
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

// rewrite re-signs a record whose wrapped data key changed (a rewrap); the
// ciphertext is unchanged.
func (rs *recordStore) rewrite(ctx context.Context, st *storedRecord) error {
	obj, err := rs.encode(st)
	if err != nil {
		return err
	}
	return rs.replace(ctx, st.Meta.RecordID, obj)
}
