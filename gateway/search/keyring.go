package search

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/connectors/index"
	"github.com/liaison-project/liaison/connectors/keys"
	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/selector"
)

// Wrapper is what the keyring needs of the key provider: a fresh random
// key with its wrapped form, and unwrapping (envelope.CachingKeys and
// every keys.Provider behind it).
type Wrapper interface {
	DataKeyFor(ctx context.Context, name string, plaintextLen int) (keys.DataKey, error)
	Unwrap(ctx context.Context, name string, wrapped []byte) ([]byte, error)
}

// Keyring holds the blind-index keys: random 256-bit HMAC keys, kept in
// the shared object store only wrapped by the key provider (Vault Transit
// in production), one object per version:
//
//	index/blind-keys/<version, 6 digits>   {"format":"liaison.blind-key/v1", ...}
//
// Every replica reads the same keys, so equal selectors give equal blind
// values whichever replica indexed or searched them. Rotation adds a
// version; while more than one is active, records are indexed under every
// active version and searches ask for all of them, so nothing is missed
// while `liaison index rebuild` re-indexes; retiring the old version then
// deletes its blind values and destroys its wrapped key.
type Keyring struct {
	store objstore.Store
	keys  Wrapper
	name  string
	log   *zap.Logger

	mu     sync.RWMutex
	active []selector.Key // ascending by version
	// loadMu serialises the on-demand loads of Ready.
	loadMu sync.Mutex
}

const (
	blindKeyPrefix = "index/blind-keys/"
	blindKeyFormat = "liaison.blind-key/v1"
	blindKeyLen    = 32
)

type blindKeyObject struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	KeyName string `json:"key_name"`
	Wrapped []byte `json:"wrapped,omitempty"`
	Created string `json:"created"`
	// Retired is set when the version was retired (its wrapped key is
	// then gone: the blind values it made can never be recomputed).
	Retired string `json:"retired,omitempty"`
}

func blindKeyKey(version int) string { return fmt.Sprintf("%s%06d", blindKeyPrefix, version) }

// OpenKeyring loads the keyring, creating the first key on first use.
func OpenKeyring(ctx context.Context, store objstore.Store, w Wrapper, keyName string, log *zap.Logger) (*Keyring, error) {
	if log == nil {
		log = zap.NewNop()
	}
	kr := &Keyring{store: store, keys: w, name: keyName, log: log}
	if err := kr.ensure(ctx); err != nil {
		if !errors.Is(err, keys.ErrUnavailable) && !errors.Is(err, objstore.ErrUnavailable) {
			return nil, err
		}
		// The key service or store is down at start: the gateway starts
		// anyway (requests fail closed while a backend is down, as
		// everywhere) and the keys are loaded when it answers. Until then
		// searches and publishes with selectors answer 503.
		log.Warn("blind-index keys not loaded yet; searches and records with selectors fail until the key service and store answer", zap.Error(err))
	}
	return kr, nil
}

// ensure loads the keyring and creates the first key if there is none.
func (kr *Keyring) ensure(ctx context.Context) error {
	if err := kr.Load(ctx); err != nil {
		return err
	}
	if len(kr.Keys()) == 0 {
		if _, err := kr.Rotate(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Ready loads the keyring if an earlier attempt failed (a key service down
// at start) and reports whether keys are loaded.
func (kr *Keyring) Ready(ctx context.Context) error {
	if len(kr.Keys()) > 0 {
		return nil
	}
	kr.loadMu.Lock()
	defer kr.loadMu.Unlock()
	if len(kr.Keys()) > 0 {
		return nil
	}
	if err := kr.ensure(ctx); err != nil {
		return fmt.Errorf("%w: blind-index keys: %w", index.ErrUnavailable, err)
	}
	return nil
}

// Load re-reads the keyring from the store.
func (kr *Keyring) Load(ctx context.Context) error {
	objs, err := kr.objects(ctx)
	if err != nil {
		return err
	}
	var active []selector.Key
	for _, o := range objs {
		if o.Retired != "" {
			continue
		}
		secret, err := kr.keys.Unwrap(ctx, o.KeyName, o.Wrapped)
		if err != nil {
			return fmt.Errorf("blind-index key v%d: unwrap: %w", o.Version, err)
		}
		if len(secret) != blindKeyLen {
			return fmt.Errorf("blind-index key v%d: unwrapped key has the wrong length", o.Version)
		}
		active = append(active, selector.Key{Version: o.Version, Secret: secret})
	}
	kr.mu.Lock()
	kr.active = active
	kr.mu.Unlock()
	return nil
}

func (kr *Keyring) objects(ctx context.Context) ([]blindKeyObject, error) {
	var out []blindKeyObject
	after := ""
	for {
		ks, err := kr.store.List(ctx, blindKeyPrefix, after, 100)
		if err != nil {
			return nil, fmt.Errorf("blind-index keys: %w", err)
		}
		for _, k := range ks {
			b, err := kr.store.Get(ctx, k)
			if errors.Is(err, objstore.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("blind-index keys: %w", err)
			}
			o, err := parseBlindKey(b)
			if err != nil || blindKeyKey(o.Version) != k {
				return nil, fmt.Errorf("blind-index key object %s is malformed", strings.TrimPrefix(k, blindKeyPrefix))
			}
			out = append(out, o)
		}
		if len(ks) < 100 {
			return out, nil
		}
		after = ks[len(ks)-1]
	}
}

// parseBlindKey reads a key object from the (untrusted) store
// (FuzzParseBlindKey).
func parseBlindKey(b []byte) (blindKeyObject, error) {
	var o blindKeyObject
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return o, err
	}
	if o.Format != blindKeyFormat || o.Version < 1 || o.Version > 999999 || o.KeyName == "" ||
		(o.Retired == "" && len(o.Wrapped) == 0) || (o.Retired != "" && len(o.Wrapped) != 0) {
		return o, errors.New("not a blind-index key object")
	}
	return o, nil
}

// Keys returns the active keys, oldest first.
func (kr *Keyring) Keys() []selector.Key {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	return slices.Clone(kr.active)
}

// Versions returns the active key versions, oldest first.
func (kr *Keyring) Versions() []int {
	var v []int
	for _, k := range kr.Keys() {
		v = append(v, k.Version)
	}
	return v
}

// Rotate creates the next key version and makes it active beside the
// others; it returns the new version.
func (kr *Keyring) Rotate(ctx context.Context) (int, error) {
	objs, err := kr.objects(ctx)
	if err != nil {
		return 0, err
	}
	next := 1
	for _, o := range objs {
		next = max(next, o.Version+1)
	}
	dk, err := kr.keys.DataKeyFor(ctx, kr.name, blindKeyLen)
	if err != nil {
		return 0, fmt.Errorf("blind-index key: %w", err)
	}
	clear(dk.Plaintext)
	b, err := json.Marshal(blindKeyObject{Format: blindKeyFormat, Version: next, KeyName: kr.name, Wrapped: dk.Wrapped,
		Created: time.Now().UTC().Format(time.RFC3339)})
	if err != nil {
		return 0, err
	}
	err = kr.store.Put(ctx, blindKeyKey(next), b, objstore.PutOptions{IfAbsent: true, ContentType: "application/json"})
	if err != nil && !errors.Is(err, objstore.ErrExists) {
		// ErrExists: another replica created this version first; use theirs.
		return 0, fmt.Errorf("store blind-index key: %w", err)
	}
	return next, kr.Load(ctx)
}

// Retire retires every active version older than the newest: their
// wrapped keys are destroyed (the object keeps only that the version
// existed) and their blind values deleted from db. Call it only after a
// rebuild has indexed every record under the newest version.
func (kr *Keyring) Retire(ctx context.Context, db index.Backend) ([]int, error) {
	if err := kr.Load(ctx); err != nil {
		return nil, err
	}
	act := kr.Keys()
	if len(act) < 2 {
		return nil, nil
	}
	var retired []int
	for _, k := range act[:len(act)-1] {
		b, err := json.Marshal(blindKeyObject{Format: blindKeyFormat, Version: k.Version, KeyName: kr.name,
			Created: "", Retired: time.Now().UTC().Format(time.RFC3339)})
		if err != nil {
			return retired, err
		}
		if err := kr.store.Put(ctx, blindKeyKey(k.Version), b, objstore.PutOptions{DropOlderVersions: true, ContentType: "application/json"}); err != nil {
			return retired, fmt.Errorf("retire blind-index key v%d: %w", k.Version, err)
		}
		if err := db.DeleteBlinds(ctx, k.Version); err != nil {
			return retired, fmt.Errorf("delete blind values of v%d: %w", k.Version, err)
		}
		retired = append(retired, k.Version)
	}
	return retired, kr.Load(ctx)
}

// NewestCreated is when the newest active key version was created.
func (kr *Keyring) NewestCreated(ctx context.Context) (time.Time, error) {
	objs, err := kr.objects(ctx)
	if err != nil {
		return time.Time{}, err
	}
	var newest blindKeyObject
	for _, o := range objs {
		if o.Retired == "" && o.Version > newest.Version {
			newest = o
		}
	}
	return time.Parse(time.RFC3339, newest.Created)
}

// Watch re-reads the keyring every interval until ctx ends, so that a
// rotation on one replica reaches the others.
func (kr *Keyring) Watch(ctx context.Context, interval time.Duration) {
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := kr.ensure(ctx); err != nil && ctx.Err() == nil {
					kr.log.Warn("blind-index keyring not re-read; the keys loaded before stay in use", zap.Error(err))
				}
			}
		}
	}()
}

// Blinder computes a record's blind selector values (recordstore.Blinder).
type Blinder struct {
	Keys *Keyring
	// Region gives an agency's jurisdiction (ISO 3166 code), the default
	// region of its records' phone numbers.
	Region func(agency string) string
	Log    *zap.Logger
}

// Blind normalises meta's selectors and keys each with every active key.
// A selector this gateway cannot normalise (one a peer accepted under
// another normalisation version) is left out of the index and counted in
// the log by position, never by value.
func (b *Blinder) Blind(ctx context.Context, meta *record.Meta) ([]index.Blind, error) {
	if err := b.Keys.Ready(ctx); err != nil {
		return nil, err
	}
	ks := b.Keys.Keys()
	region := ""
	if b.Region != nil {
		region = b.Region(meta.Originator.OrgID)
	}
	var ns []selector.Normalized
	for i, s := range meta.Selectors {
		n, err := selector.Normalize(s, region)
		if err != nil {
			if b.Log != nil {
				b.Log.Warn("selector not indexed: it does not normalise", zap.String("record_id", meta.RecordID),
					zap.String("selector", "/selectors/"+strconv.Itoa(i)), zap.String("selector_type", s.Type))
			}
			continue
		}
		ns = append(ns, n)
	}
	var out []index.Blind
	for _, k := range ks {
		out = append(out, k.IndexValues(ns)...)
	}
	return out, nil
}
