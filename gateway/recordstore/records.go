// Package recordstore keeps records in the (untrusted) object store: the
// stored object format (signed metadata framed with the sealed content),
// sealing and opening with envelope encryption, loading with integrity
// checks, the listing index and its crash recovery. Handlers reach stored
// objects only through its methods, so every path that loads a record
// verifies it and counts integrity failures the same way.
package recordstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/connectors/index"
	"github.com/liaison-project/liaison/connectors/keys"
	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/crypto/envelope"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/selector"
	"github.com/liaison-project/liaison/gateway/tracing"
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
	StateActive   = "active"
	StateRecalled = "recalled"
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

// Record is the signed metadata of a record. The object store is
// untrusted, so everything read back is checked: the signature, the record
// id, and the metadata digest that the content's AAD binds.
type Record struct {
	Format     string       `json:"format"`
	Meta       record.Meta  `json:"meta"`
	MetaDigest string       `json:"meta_digest"`
	State      string       `json:"state"`
	Content    *ContentRef  `json:"content,omitempty"`
	Recalled   *RecallEvent `json:"recalled,omitempty"`
	// Selectors are the metadata's selectors (Meta.Selectors) sealed under
	// the content's data key, with an AAD of their own bound to the record
	// id, version and metadata digest: selectors are personal data and the
	// store is untrusted for confidentiality. Absent when there are none.
	Selectors []byte `json:"selectors,omitempty"`
	// Origin is set on a copy received from a peer gateway: where it came
	// from, so that only that gateway may recall it and recalls and their
	// acknowledgements travel back the way the record came.
	Origin *Origin `json:"origin,omitempty"`

	// sealed is the ciphertext read with the metadata (not signed: the AEAD
	// and its AAD protect it).
	sealed []byte
	// tag is the store's version tag of the object this was loaded from:
	// a change writes the new version only if the object still has it
	// (objstore.PutOptions.IfMatch), so that two replicas changing one
	// record cannot lose either change.
	tag string
}

type ContentRef struct {
	Alg        string `json:"alg"`
	KeyName    string `json:"key_name"`
	WrappedKey []byte `json:"wrapped_key"`
	Size       int    `json:"size"`
}

type RecallEvent struct {
	At    string `json:"at"`
	By    string `json:"by"`
	ByOff string `json:"by_officer,omitempty"`
	// Gateway is the peer gateway whose recall message this applied.
	Gateway string `json:"gateway,omitempty"`
	// MessageID is that recall message's id.
	MessageID string `json:"message_id,omitempty"`
}

// Origin is where a received copy came from (docs/federation.md).
type Origin struct {
	// From is the peer gateway that delivered the copy.
	From string `json:"from"`
	// Provenance lists the gateways the record passed through before this
	// one, the originator's first.
	Provenance []string `json:"provenance"`
	// MessageID is the share message that delivered this version.
	MessageID string `json:"message_id"`
}

var (
	ErrNotFound = errors.New("record not found")
	ErrTampered = errors.New("stored record failed integrity checks")
	ErrShredded = errors.New("record content crypto-shredded")
)

// Store is the record store over one object store.
type Store struct {
	store   objstore.Store
	keys    DataKeys
	signer  Signer
	keyName func(*record.Meta) string
	index   *Index
	// tampered, if set, is told of every record that fails an integrity
	// check, whichever path loaded or opened it (the integrity metric).
	tampered func()
	// locks serialise changes to one record in this process (Lock).
	locks recordLocks
	// verified keeps verified record metadata for LoadListed (verified.go).
	verified *verifiedCache
}

// Options are a Store's collaborators and settings.
type Options struct {
	// Objects is where records, index batches, consents and idempotency
	// records are kept.
	Objects objstore.Store
	// Keys seals and opens content; nil for a store that only reads and
	// re-signs metadata (key operations without the data-key cache).
	Keys DataKeys
	// Signer signs and verifies stored metadata.
	Signer Signer
	// KeyName names the key that protects a record's content.
	KeyName func(*record.Meta) string
	// Now is the clock (index batch ids).
	Now func() time.Time
	// Index is the query and selector index database.
	Index index.Backend
	// Blinder computes the blind values of selectors for the index.
	Blinder Blinder
	Log     *zap.Logger
	// Tampered is told of every record that fails an integrity check.
	Tampered func()
	// IndexWritten is told the size and result of every index write.
	IndexWritten func(entries int, err error)
}

// New returns a Store. It starts no goroutine.
func New(o Options) *Store {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	rs := &Store{store: o.Objects, keys: o.Keys, signer: o.Signer, keyName: o.KeyName, tampered: o.Tampered,
		verified: newVerifiedCache(verifiedMaxEntries, verifiedMaxBytes)}
	rs.index = &Index{db: o.Index, rs: rs, blind: o.Blinder, signer: o.Signer, now: o.Now,
		log: o.Log.Named("index"), observe: o.IndexWritten}
	return rs
}

// Index is the listing index kept beside the records.
func (rs *Store) Index() *Index { return rs.index }

// checked reports err to the tampered hook when it is an integrity
// failure, and returns it.
func (rs *Store) checked(err error) error {
	if rs.tampered != nil && errors.Is(err, ErrTampered) {
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

// selectorsAAD binds sealed selectors likewise, under a label of their own
// so that they can never be opened as content nor content as selectors.
func selectorsAAD(id string, version int, digest string) []byte {
	return envelope.BindAAD("liaison.record.selectors.v1", id, strconv.Itoa(version), digest)
}

// Pending is a sealed and signed record version, ready to store.
type Pending struct {
	Record Record
	// Object is the framed record object to store.
	Object []byte
	// base is the version tag of the stored version this one replaces
	// (Reseal), empty for a new record.
	base string
}

// seal encrypts content for meta and signs the result. No plaintext leaves
// this function except into the sealed envelope.
func (rs *Store) Seal(ctx context.Context, meta record.Meta, content []byte) (*Pending, error) {
	ctx, span := tracing.Tracer().Start(ctx, "record.seal")
	defer span.End()
	digest, err := meta.Digest()
	if err != nil {
		return nil, err
	}
	name := rs.keyName(&meta)
	dk, err := rs.keys.DataKeyFor(ctx, name, len(content))
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	defer clear(dk.Plaintext)
	var sealedSel []byte
	if len(meta.Selectors) > 0 {
		pt, err := json.Marshal(meta.Selectors)
		if err != nil {
			return nil, err
		}
		sealedSel, err = envelope.Seal(dk.Plaintext, pt, selectorsAAD(meta.RecordID, meta.Version, digest))
		clear(pt)
		if err != nil {
			return nil, fmt.Errorf("seal selectors: %w", err)
		}
	}
	p := &Pending{
		Record: Record{Format: storedFormat, Meta: meta, MetaDigest: digest, State: StateActive,
			Content:   &ContentRef{Alg: "A256GCM-envelope", KeyName: name, WrappedKey: dk.Wrapped, Size: len(content)},
			Selectors: sealedSel},
	}
	// The signed metadata does not depend on the ciphertext (the AAD binds
	// them), so it is signed first and the content is sealed straight into
	// the object after it: the ciphertext is written once, not sealed into
	// a buffer of its own and copied into the frame.
	jws, err := rs.signMeta(&p.Record)
	if err != nil {
		return nil, err
	}
	obj := frameHead(jws, envelope.Overhead+len(content))
	head := len(obj)
	if obj, err = envelope.SealAppend(obj, dk.Plaintext, content, aad(meta.RecordID, meta.Version, digest)); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	p.Record.sealed, p.Object = obj[head:len(obj):len(obj)], obj
	return p, nil
}

// SealReceived is Seal for a copy delivered by a peer gateway: sealed under
// this gateway's keys, with its origin signed into the metadata.
func (rs *Store) SealReceived(ctx context.Context, meta record.Meta, content []byte, origin Origin) (*Pending, error) {
	p, err := rs.Seal(ctx, meta, content)
	if err != nil {
		return nil, err
	}
	p.Record.Origin = &origin
	if p.Object, err = rs.encode(&p.Record); err != nil {
		return nil, err
	}
	return p, nil
}

// RecallReceived applies a peer's recall. A copy is replaced by a signed
// tombstone (as Recall does); a record this gateway never received gets a
// tombstone all the same, created only if absent, so that a share arriving
// after its recall (reordered, or delayed by a partition) finds it and is
// dropped instead of resurrecting the record. st is nil when no copy exists.
func (rs *Store) RecallReceived(ctx context.Context, st *Record, id, originator, gateway, messageID string, now time.Time) error {
	ev := &RecallEvent{At: now.UTC().Format(time.RFC3339), By: originator, Gateway: gateway, MessageID: messageID}
	if st != nil {
		if st.Recalled != nil {
			return nil
		}
		tomb := *st
		tomb.State, tomb.Content, tomb.sealed, tomb.Recalled = StateRecalled, nil, nil, ev
		tomb.Selectors, tomb.Meta.Selectors = nil, nil
		obj, err := rs.encode(&tomb)
		if err != nil {
			return err
		}
		return rs.Replace(ctx, st, obj)
	}
	meta := record.Meta{RecordID: id, Version: 1, Originator: record.Originator{OrgID: originator}, Recipients: []string{}}
	digest, err := meta.Digest()
	if err != nil {
		return err
	}
	tomb := Record{Format: storedFormat, Meta: meta, MetaDigest: digest, State: StateRecalled, Recalled: ev}
	obj, err := rs.encode(&tomb)
	if err != nil {
		return err
	}
	err = rs.store.Put(ctx, recordKey(id), obj, objstore.PutOptions{IfAbsent: true, ContentType: "application/octet-stream"})
	if errors.Is(err, objstore.ErrExists) {
		// A share got there first: recall the copy it stored.
		cur, lerr := rs.Load(ctx, id)
		if lerr != nil {
			return lerr
		}
		return rs.RecallReceived(ctx, cur, id, originator, gateway, messageID, now)
	}
	return err
}

// encode signs st and frames it with its sealed content.
func (rs *Store) encode(st *Record) ([]byte, error) {
	jws, err := rs.signMeta(st)
	if err != nil {
		return nil, err
	}
	return append(frameHead(jws, len(st.sealed)), st.sealed...), nil
}

// signMeta signs st's metadata (the JWS of a record object).
func (rs *Store) signMeta(st *Record) ([]byte, error) {
	// Clear selectors never reach the store, whatever the caller opened.
	c := *st
	c.Meta.Selectors = nil
	b, err := json.Marshal(&c)
	if err != nil {
		return nil, err
	}
	return rs.signer.Sign(b)
}

// frameHead starts a record object with jws, with room for sealed more
// bytes of sealed content after it.
func frameHead(jws []byte, sealed int) []byte {
	out := make([]byte, 0, len(objectMagic)+4+len(jws)+sealed)
	out = append(out, objectMagic...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(jws)))
	return append(out, jws...)
}

// create stores a new record: the conditional PUT is the commit point.
func (rs *Store) Create(ctx context.Context, p *Pending) error {
	if err := rs.store.Put(ctx, recordKey(p.Record.Meta.RecordID), p.Object, objstore.PutOptions{IfAbsent: true, ContentType: "application/octet-stream"}); err != nil {
		return fmt.Errorf("store record: %w", err)
	}
	return nil
}

// Replace stores a new version of the record base was loaded as (a
// rewrap, a recall's tombstone, a received copy's new version) and drops the
// versions it supersedes, so that older metadata and ciphertext do not
// linger in a versioned bucket. It is a compare-and-swap: if the stored
// object is no longer the one base was loaded from — another replica, or
// another path here, changed it — nothing is written and the error wraps
// objstore.ErrConflict; the caller loads the record again, decides again
// on what it finds and retries.
func (rs *Store) Replace(ctx context.Context, base *Record, object []byte) error {
	return rs.replace(ctx, base.Meta.RecordID, base.tag, object)
}

// ReplaceWith stores p, a new version made by Reseal, in place of the
// version it was made from (compare-and-swap, as Replace).
func (rs *Store) ReplaceWith(ctx context.Context, p *Pending) error {
	return rs.replace(ctx, p.Record.Meta.RecordID, p.base, p.Object)
}

func (rs *Store) replace(ctx context.Context, id, tag string, object []byte) error {
	if tag == "" {
		// Every replacement starts from a loaded version; an unconditional
		// write here could undo a change made since.
		return fmt.Errorf("store record %s: no version tag to replace (the record was not loaded from the store)", id)
	}
	if err := rs.store.Put(ctx, recordKey(id), object, objstore.PutOptions{IfMatch: tag, DropOlderVersions: true, ContentType: "application/octet-stream"}); err != nil {
		return fmt.Errorf("store record: %w", err)
	}
	return nil
}

// remove deletes a record object that was created but whose publish did
// not complete (best effort: its id was never given out or indexed).
func (rs *Store) Remove(ctx context.Context, id string) {
	_ = rs.store.Delete(context.WithoutCancel(ctx), recordKey(id))
}

// load reads and verifies a record object.
func (rs *Store) Load(ctx context.Context, id string) (*Record, error) {
	obj, tag, err := rs.store.GetVersion(ctx, recordKey(id))
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	st, err := rs.decode(id, obj)
	if st != nil {
		st.tag = tag
	}
	return st, rs.checked(err)
}

// decode parses and verifies the record object obj read for id from the
// (untrusted) store; FuzzDecodeRecordObject exercises it.
func (rs *Store) decode(id string, obj []byte) (*Record, error) {
	jws, sealed, err := splitObject(obj)
	if err != nil {
		return nil, err
	}
	st, err := rs.verifyMeta(id, jws)
	if err != nil {
		return nil, err
	}
	st.sealed = sealed
	if err := checkSealed(st); err != nil {
		return nil, err
	}
	return st, nil
}

// splitObject takes a record object's frame apart: the signed metadata
// (a compact JWS, not yet verified) and the sealed content after it.
func splitObject(obj []byte) (jws, sealed []byte, err error) {
	if len(obj) < len(objectMagic)+4 || string(obj[:len(objectMagic)]) != objectMagic {
		return nil, nil, fmt.Errorf("%w: not a record object", ErrTampered)
	}
	n := binary.BigEndian.Uint32(obj[len(objectMagic):])
	rest := obj[len(objectMagic)+4:]
	if uint64(n) > uint64(len(rest)) {
		return nil, nil, fmt.Errorf("%w: truncated record object", ErrTampered)
	}
	return rest[:n], rest[n:], nil
}

// verifyMeta verifies the signed metadata jws of record id and decodes
// it. Its result depends on nothing but id, the bytes of jws and the
// signer's trusted keys, which is what lets verified.go keep it.
func (rs *Store) verifyMeta(id string, jws []byte) (*Record, error) {
	payload, err := rs.signer.Verify(jws)
	if err != nil {
		return nil, fmt.Errorf("%w: metadata signature: %v", ErrTampered, err)
	}
	var st Record
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil || st.Format != storedFormat {
		return nil, fmt.Errorf("%w: metadata format", ErrTampered)
	}
	// A validly signed record object of another record copied over this one.
	if st.Meta.RecordID != id {
		return nil, fmt.Errorf("%w: metadata belongs to another record", ErrTampered)
	}
	if d, err := st.Meta.Digest(); err != nil || d != st.MetaDigest {
		return nil, fmt.Errorf("%w: metadata digest", ErrTampered)
	}
	if len(st.Meta.Selectors) != 0 {
		return nil, fmt.Errorf("%w: selectors in clear in stored metadata", ErrTampered)
	}
	return &st, nil
}

// checkSealed checks what the frame holds beside verified metadata: a
// tombstone carries no content (its content was dropped on purpose).
func checkSealed(st *Record) error {
	if st.State != StateActive && (len(st.sealed) != 0 || len(st.Selectors) != 0) {
		return fmt.Errorf("%w: content beside a tombstone", ErrTampered)
	}
	return nil
}

// open decrypts a loaded record's content.
func (rs *Store) Open(ctx context.Context, st *Record) ([]byte, error) {
	pt, err := rs.openContent(ctx, st)
	return pt, rs.checked(err)
}

func (rs *Store) openContent(ctx context.Context, st *Record) ([]byte, error) {
	if st.State != StateActive || st.Content == nil {
		return nil, ErrNotFound
	}
	if len(st.sealed) == 0 {
		return nil, fmt.Errorf("%w: content missing", ErrTampered)
	}
	dk, err := rs.keys.Unwrap(ctx, st.Content.KeyName, st.Content.WrappedKey)
	if errors.Is(err, keys.ErrShredded) || errors.Is(err, keys.ErrNotFound) {
		// The key version was retired or the key destroyed on purpose.
		return nil, fmt.Errorf("%w: %v", ErrShredded, err)
	}
	if errors.Is(err, keys.ErrInvalidCiphertext) {
		return nil, fmt.Errorf("%w: data key: %v", ErrTampered, err)
	}
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	defer clear(dk)
	pt, err := envelope.Open(dk, st.sealed, aad(st.Meta.RecordID, st.Meta.Version, st.MetaDigest))
	if err != nil {
		return nil, fmt.Errorf("%w: content: %v", ErrTampered, err)
	}
	if err := openSelectors(dk, st); err != nil {
		clear(pt)
		return nil, err
	}
	return pt, nil
}

// openSelectors decrypts st's sealed selectors into st.Meta.Selectors (in
// memory only: encode strips them again).
func openSelectors(dk []byte, st *Record) error {
	if len(st.Selectors) == 0 {
		st.Meta.Selectors = nil
		return nil
	}
	pt, err := envelope.Open(dk, st.Selectors, selectorsAAD(st.Meta.RecordID, st.Meta.Version, st.MetaDigest))
	if err != nil {
		return fmt.Errorf("%w: selectors: %v", ErrTampered, err)
	}
	defer clear(pt)
	var sel []selector.Selector
	dec := json.NewDecoder(bytes.NewReader(pt))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sel); err != nil {
		return fmt.Errorf("%w: selectors: %v", ErrTampered, err)
	}
	st.Meta.Selectors = sel
	return nil
}

// OpenSelectors decrypts a loaded record's selectors into st.Meta.Selectors
// without its content (indexing, rebuild). A record without selectors needs
// no key.
func (rs *Store) OpenSelectors(ctx context.Context, st *Record) error {
	if len(st.Selectors) == 0 || st.Meta.Selectors != nil {
		return nil
	}
	if st.State != StateActive || st.Content == nil {
		return ErrNotFound
	}
	dk, err := rs.keys.Unwrap(ctx, st.Content.KeyName, st.Content.WrappedKey)
	if errors.Is(err, keys.ErrShredded) || errors.Is(err, keys.ErrNotFound) {
		return fmt.Errorf("%w: %v", ErrShredded, err)
	}
	if errors.Is(err, keys.ErrInvalidCiphertext) {
		return rs.checked(fmt.Errorf("%w: data key: %v", ErrTampered, err))
	}
	if err != nil {
		return fmt.Errorf("data key: %w", err)
	}
	defer clear(dk)
	return rs.checked(openSelectors(dk, st))
}

// recall makes a record unreadable for everyone: the record object is
// replaced by a signed tombstone without content or wrapped data key, and
// every earlier version (with its ciphertext) is dropped. Index entries
// stay: listings skip records that are not active.
func (rs *Store) Recall(ctx context.Context, st *Record, agency, officer string, now time.Time) error {
	tomb := *st
	tomb.State = StateRecalled
	tomb.Content = nil
	tomb.sealed = nil
	tomb.Selectors, tomb.Meta.Selectors = nil, nil
	if tomb.Recalled == nil { // a repeat keeps the first recall's time and author
		tomb.Recalled = &RecallEvent{At: now.UTC().Format(time.RFC3339), By: agency, ByOff: officer}
	}
	obj, err := rs.encode(&tomb)
	if err != nil {
		return err
	}
	if err := rs.Replace(ctx, st, obj); err != nil {
		return fmt.Errorf("store tombstone: %w", err)
	}
	return nil
}

// reseal prepares a new version of a record whose metadata changed: the
// content is decrypted and sealed again, because its AAD binds the version
// and the metadata digest.
func (rs *Store) Reseal(ctx context.Context, st *Record, meta record.Meta) (*Pending, error) {
	content, err := rs.Open(ctx, st)
	if err != nil {
		return nil, err
	}
	defer clear(content)
	meta.Version = st.Meta.Version + 1
	meta.Selectors = st.Meta.Selectors // opened with the content
	var p *Pending
	if st.Origin == nil {
		p, err = rs.Seal(ctx, meta, content)
	} else {
		// A received copy stays one: its origin decides who may recall it.
		p, err = rs.SealReceived(ctx, meta, content, *st.Origin)
	}
	if err != nil {
		return nil, err
	}
	p.base = st.tag
	return p, nil
}

// rewrite re-signs a record whose wrapped data key changed (a rewrap); the
// ciphertext is unchanged.
func (rs *Store) Rewrite(ctx context.Context, st *Record) error {
	obj, err := rs.encode(st)
	if err != nil {
		return err
	}
	return rs.Replace(ctx, st, obj)
}

// IDs lists every record id in the store, in key order (key operations
// walk them all).
func (rs *Store) IDs(ctx context.Context) ([]string, error) {
	var ids []string
	after := ""
	for {
		page, err := rs.store.List(ctx, recordPrefix, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, key := range page {
			if id := strings.TrimPrefix(key, recordPrefix); record.ValidID(id) {
				ids = append(ids, id)
			}
		}
		if len(page) < 1000 {
			return ids, nil
		}
		after = page[len(page)-1]
	}
}

// Ping checks that the store answers: its own health check where it has
// one, else a one-key listing of the records.
func (rs *Store) Ping(ctx context.Context) error {
	if p, ok := rs.store.(interface{ Ping(context.Context) error }); ok {
		return p.Ping(ctx)
	}
	_, err := rs.store.List(ctx, recordPrefix, "", 1)
	return err
}

// WarnOldLayout says so when the store holds records in the layout of
// earlier development builds (records/<id>/meta and …/v<n>/content), which
// this version does not read: such records would otherwise just seem gone.
func (rs *Store) WarnOldLayout(ctx context.Context, log *zap.Logger) {
	keys, err := rs.store.List(ctx, recordPrefix, "", 100)
	if err != nil {
		return // the store's health is checked and reported elsewhere
	}
	for _, k := range keys {
		if strings.Contains(strings.TrimPrefix(k, recordPrefix), "/") {
			log.Warn("the store holds records in an older layout that this version does not read; "+
				"re-create the development data directory (or migrate)", zap.String("example_key", k))
			return
		}
	}
}

// HasRecords reports whether store holds any record object (dev start-up
// checks it before creating a new signing key).
func HasRecords(ctx context.Context, store objstore.Store) (bool, error) {
	keys, err := store.List(ctx, recordPrefix, "", 1)
	if err != nil {
		return false, err
	}
	return len(keys) > 0, nil
}

// putSigned stores v as a compact JWS under the gateway's key at key (only
// if absent, with ifAbsent; only if the object still has version tag
// ifMatch, when set): consents and idempotency reservations are signed like
// record metadata, since the store is untrusted.
func (rs *Store) putSigned(ctx context.Context, key string, v any, ifAbsent bool, ifMatch string) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	jws, err := rs.signer.Sign(b)
	if err != nil {
		return err
	}
	return rs.store.Put(ctx, key, jws, objstore.PutOptions{IfAbsent: ifAbsent, IfMatch: ifMatch, ContentType: "application/jose"})
}
