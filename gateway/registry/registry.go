// Package registry is the gateway's registry of agencies and agreements as
// data (docs/registry.md): agencies added, suspended and removed, and DSAs
// activated, suspended, terminated and renewed through the API, stored as
// signed, numbered versions in the gateway's shared object store and laid
// over the policy data (policy.Overlay) on every replica.
//
// Why versions in the object store: replicas of one gateway share the
// store and nothing else, and the store offers one conditional write —
// create if absent. Version N+1 is the object registry/v/<N+1, zero
// padded>; the replica that creates it wins, a concurrent writer finds it
// there, reloads and tries again on top of it, so no change is lost
// without any other store feature. Every replica polls the prefix (a
// List after the version it holds: cheap when nothing changed) and applies
// the newest version: the policy engine checks the data with the overlay as
// a data reload (schemas, samples) before swapping it in, and the TLS and
// officer-token verifiers pick up the agencies' trust anchors and keys. A
// change is checked the same way before it is written, so an invalid
// change is refused at write time and never reaches a replica.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/policy"
)

// Prefix is where the versions live in the object store.
const Prefix = "registry/v/"

// DefaultInterval is how often a replica polls for a new version: twice a
// second, so that a change made on one replica is in force on every other
// within a second.
const DefaultInterval = 500 * time.Millisecond

// maxAttempts bounds the retries of a change that keeps losing the race
// for the next version number.
const maxAttempts = 20

var (
	// ErrNotFound: no such agency or agreement.
	ErrNotFound = errors.New("registry: not found")
	// ErrConflict: the change contradicts the entry's state (a terminated
	// agreement cannot be reactivated; an agency id already taken).
	ErrConflict = errors.New("registry: conflict")
	// ErrUnavailable: the object store could not be read or written;
	// nothing was changed.
	ErrUnavailable = errors.New("registry: store unavailable")
	// ErrInvalid: the change would make the policy data invalid (schemas,
	// samples); nothing was changed.
	ErrInvalid = errors.New("registry: change refused by the policy checks")
)

// FieldError is bad input in one member of a request: a 400 naming it.
type FieldError struct {
	Pointer string // JSON pointer into the request body, e.g. /expiry_date
	Detail  string
}

func (e *FieldError) Error() string { return e.Pointer + ": " + e.Detail }

// Signer signs and verifies the stored versions (the gateway's metadata
// signing key, shared by its replicas).
type Signer interface {
	Sign(payload []byte) ([]byte, error)
	Verify(jws []byte) ([]byte, error)
}

// Policy is what the registry needs of the policy engine.
type Policy interface {
	SetOverlay(ctx context.Context, ov *policy.Overlay) error
	CheckOverlay(ctx context.Context, ov *policy.Overlay) error
	DSA(id string) (map[string]any, bool)
	DSAs() []string
	Agency(id string) (policy.Agency, bool)
	Agencies() []string
}

// Who made a change: the caller as authenticated, for the version's record.
type Who struct {
	Agency    string `json:"agency"`
	Officer   string `json:"officer,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	Gateway   string `json:"gateway,omitempty"`
}

// State is one version of the registry: everything the registry lays over
// the policy data. It is immutable once stored.
type State struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time,omitzero"`
	By   Who       `json:"by"`
	// Agencies are the agencies the registry added (Added) or whose state
	// it changed, by id.
	Agencies map[string]Agency `json:"agencies,omitempty"`
	// DSAs are the agreements whose state the registry changed, by id.
	DSAs map[string]DSA `json:"dsas,omitempty"`
	// Enumerations are the values the registry added to agency_types and
	// recipient_types, with their descriptions.
	Enumerations map[string]map[string]string `json:"enumerations,omitempty"`
}

// Agency is an agency's entry in a version.
type Agency struct {
	// Status is active or suspended: a suspended agency's requests are
	// refused (403) and its trust anchor is no longer trusted.
	Status string `json:"status"`
	// Added: the registry added it (it is not in the policy data); its
	// Attributes are its data.agencies entry, and it may be removed.
	Added      bool            `json:"added,omitempty"`
	Attributes json.RawMessage `json:"attributes,omitempty"`
	// CACert is the PEM certificate of the agency's own CA.
	CACert string `json:"ca_cert,omitempty"`
	// JWKS is its officer-token key set, or JWKSURL where to fetch it.
	JWKS    json.RawMessage `json:"jwks,omitempty"`
	JWKSURL string          `json:"jwks_url,omitempty"`
}

// DSA is the state the registry lays over an agreement of the policy
// data: only the members set replace the policy's.
type DSA struct {
	Status     string `json:"status,omitempty"`
	Version    string `json:"version,omitempty"`
	ReviewDate string `json:"review_date,omitempty"`
	ExpiryDate string `json:"expiry_date,omitempty"`
}

func (s *State) clone() *State {
	c := *s
	c.Agencies = maps.Clone(s.Agencies)
	c.DSAs = maps.Clone(s.DSAs)
	if c.Agencies == nil {
		c.Agencies = map[string]Agency{}
	}
	if c.DSAs == nil {
		c.DSAs = map[string]DSA{}
	}
	return &c
}

// Overlay is what the version lays over the policy data.
func (s *State) Overlay() *policy.Overlay {
	ov := &policy.Overlay{Version: "registry v" + strconv.FormatUint(s.Seq, 10), Patches: map[string]map[string]json.RawMessage{}}
	for id, d := range s.DSAs {
		b, _ := json.Marshal(d)
		put(ov, "dsas", id, b)
	}
	for id, a := range s.Agencies {
		if a.Added {
			put(ov, "agencies", id, a.Attributes)
		}
	}
	s.enumPatches(ov)
	return ov
}

func put(ov *policy.Overlay, key, id string, raw json.RawMessage) {
	if ov.Patches[key] == nil {
		ov.Patches[key] = map[string]json.RawMessage{}
	}
	ov.Patches[key][id] = raw
}

// Key is the object key of version seq. Zero padding makes the store's
// byte order the version order.
func Key(seq uint64) string { return fmt.Sprintf("%s%020d", Prefix, seq) }

func seqOf(key string) (uint64, bool) {
	n, err := strconv.ParseUint(strings.TrimPrefix(key, Prefix), 10, 64)
	return n, err == nil && strings.HasPrefix(key, Prefix)
}

// Options configure a Registry.
type Options struct {
	Store  objstore.Store
	Signer Signer
	Policy Policy
	// Interval is the poll interval (default DefaultInterval).
	Interval time.Duration
	// OnApply, if set, is called with each version applied (the TLS trust
	// bundle and the officer-token keys follow it). It must not block long.
	OnApply func(*State)
	Log     *zap.Logger
	Now     func() time.Time
}

// Registry is one replica's view of the registry.
type Registry struct {
	o   Options
	mu  sync.Mutex // serialises refreshes and changes on this replica
	cur atomic.Pointer[State]
	// key is the newest version key seen; a poll lists after it. latest
	// is that version: a change builds on it even if this replica could
	// not apply it (so the next number is free).
	key    string
	latest *State
	// ready is set after the first successful read of the store.
	ready atomic.Bool
	// applied is when the version in force was applied (metrics, tests).
	appliedAt atomic.Int64
	// anchors maps the fingerprint of each trust anchor the registry added
	// to the agency it vouches for.
	anchors atomic.Pointer[map[string]string]
}

// New returns a registry with no version in force yet; Refresh (or Start)
// reads the store.
func New(o Options) *Registry {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &Registry{o: o}
	r.cur.Store(&State{})
	return r
}

// Current is the version in force on this replica.
func (r *Registry) Current() *State { return r.cur.Load() }

// Ready reports whether the store has been read at least once: until then
// a suspension made on another replica might not be in force here.
func (r *Registry) Ready(context.Context) error {
	if !r.ready.Load() {
		return fmt.Errorf("%w: the registry has not been read from the store yet", ErrUnavailable)
	}
	return nil
}

// Suspended reports whether the registry suspends agency.
func (r *Registry) Suspended(agency string) bool {
	a, ok := r.cur.Load().Agencies[agency]
	return ok && a.Status == StatusSuspended
}

// AnchorAllows reports whether a client certificate whose verified chain
// ends at root may name agency. A CA the registry added vouches for its
// own agency only: an agency's CA cannot issue certificates that speak for
// another agency. The configured trust bundle (tls.client_cas) vouches
// for the federation as before.
func (r *Registry) AnchorAllows(rootFingerprint, agency string) bool {
	m := r.anchors.Load()
	if m == nil {
		return true
	}
	owner, ok := (*m)[rootFingerprint]
	return !ok || owner == agency
}

// States.
const (
	StatusActive     = "active"
	StatusSuspended  = "suspended"
	StatusTerminated = "terminated"
	StatusDraft      = "draft"
)

// Start polls the store every Interval until ctx ends.
func (r *Registry) Start(ctx context.Context) error {
	go func() {
		t := time.NewTicker(r.o.Interval)
		defer t.Stop()
		failing := false
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				// Logged when the poll starts failing and when it recovers,
				// not twice a second while the store is down.
				err := r.Refresh(ctx)
				switch {
				case err != nil && ctx.Err() == nil && !failing:
					failing = true
					r.o.Log.Warn("registry poll failing; the version in force stays until the store answers", zap.Error(err))
				case err == nil && failing:
					failing = false
					r.o.Log.Info("registry poll recovered", zap.Uint64("registry_version", r.cur.Load().Seq))
				}
			}
		}
	}()
	return nil
}

// Refresh reads the newest version from the store and applies it if it is
// newer than the one in force.
func (r *Registry) Refresh(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refreshLocked(ctx)
}

func (r *Registry) refreshLocked(ctx context.Context) error {
	last := ""
	after := r.key
	for {
		keys, err := r.o.Store.List(ctx, Prefix, after, 1000)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		for _, k := range keys {
			if _, ok := seqOf(k); ok {
				last = k
			}
		}
		if len(keys) < 1000 {
			break
		}
		after = keys[len(keys)-1]
	}
	r.ready.Store(true)
	if last == "" {
		return nil
	}
	st, err := r.read(ctx, last)
	if err != nil {
		return err
	}
	r.key, r.latest = last, st
	r.applyLocked(ctx, st)
	return nil
}

func (r *Registry) read(ctx context.Context, key string) (*State, error) {
	b, err := r.o.Store.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, key, err)
	}
	payload, err := r.o.Signer.Verify(b)
	if err != nil {
		// Not written by this gateway's key: never applied.
		return nil, fmt.Errorf("registry: %s fails its signature check: %w", key, err)
	}
	var st State
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, fmt.Errorf("registry: %s: %w", key, err)
	}
	if seq, _ := seqOf(key); st.Seq != seq {
		return nil, fmt.Errorf("registry: %s holds version %d", key, st.Seq)
	}
	return &st, nil
}

// applyLocked puts st in force: the policy data first (checked as a data
// reload), then the verifiers. A version the policy refuses (the policy
// directory changed under it) is logged and not applied; the next version
// is tried when it comes.
func (r *Registry) applyLocked(ctx context.Context, st *State) {
	if st.Seq <= r.cur.Load().Seq {
		return
	}
	if err := r.o.Policy.SetOverlay(ctx, st.Overlay()); err != nil {
		r.o.Log.Error("registry version refused by the policy checks; the previous version stays in force",
			zap.Uint64("registry_version", st.Seq), zap.Error(err))
		return
	}
	_, owner := st.TrustAnchors()
	r.anchors.Store(&owner)
	r.cur.Store(st)
	r.appliedAt.Store(r.o.Now().UnixNano())
	if r.o.OnApply != nil {
		r.o.OnApply(st)
	}
	r.o.Log.Info("registry version applied", zap.Uint64("registry_version", st.Seq),
		zap.String("registry_changed_by", st.By.Agency), zap.String("registry_written_by", st.By.Gateway))
}

// Change is what a mutation did, for the answer and the audit entry.
type Change struct {
	Kind, ID, Change string
	Old, New         string
	// Unchanged: already in that state; no version written.
	Unchanged bool
	Version   uint64
}

// mutation edits next (a copy of cur) and says what it changed.
type mutation func(next *State) (Change, error)

// Before is called with a change once it is checked, just before its
// version is written: the gateway writes the change's audit entry there,
// so that no change is in force without its entry. An error stops the
// change. It is called again if the write loses the race and the change
// is retried on a newer version.
type Before func(Change) error

// commit applies m on top of the newest version and stores the result as
// the next version; a writer that loses the race for that number reloads
// and tries again. The new version is in force on this replica when commit
// returns; the others apply it at their next poll.
func (r *Registry) commit(ctx context.Context, who Who, before Before, m mutation) (Change, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for range maxAttempts {
		if err := r.refreshLocked(ctx); err != nil {
			return Change{}, err
		}
		cur := r.latest
		if cur == nil {
			cur = &State{}
		}
		next := cur.clone()
		ch, err := m(next)
		if err != nil || ch.Unchanged {
			ch.Version = cur.Seq
			return ch, err
		}
		next.Seq, next.Time, next.By = cur.Seq+1, r.o.Now().UTC(), who
		if err := r.o.Policy.CheckOverlay(ctx, next.Overlay()); err != nil {
			return ch, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		payload, err := json.Marshal(next)
		if err != nil {
			return ch, err
		}
		jws, err := r.o.Signer.Sign(payload)
		if err != nil {
			return ch, err
		}
		ch.Version = next.Seq
		if before != nil {
			if err := before(ch); err != nil {
				return ch, err
			}
		}
		err = r.o.Store.Put(ctx, Key(next.Seq), jws, objstore.PutOptions{IfAbsent: true, ContentType: "application/jose"})
		if errors.Is(err, objstore.ErrExists) {
			continue // another replica wrote this version first: on top of it
		}
		if err != nil {
			return ch, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		r.key, r.latest = Key(next.Seq), next
		r.applyLocked(ctx, next)
		ch.Version = next.Seq
		return ch, nil
	}
	return Change{}, fmt.Errorf("%w: %d concurrent changes in a row won the race; retry", ErrUnavailable, maxAttempts)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
