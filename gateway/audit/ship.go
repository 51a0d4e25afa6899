package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/crypto/jose"
)

// Store layout, per gateway node:
//
//	audit/<gateway>/segment-000001.jsonl          sealed segments, byte for byte
//	audit/<gateway>/checkpoint-<tree size, 20 digits>.jws
//	audit/<gateway>/checkpoint-<tree size, 20 digits>.note  the note form, as of each pass
//	audit/<gateway>/keys-<16 hex of SHA-256>.jwks.json
//
// Every object is written once (IfAbsent) and never replaced: with S3
// object lock (connectors/minio object_lock + retention) not even by an
// operator.
const storePrefix = "audit/"

func storeDir(gateway string) string { return storePrefix + gateway + "/" }

func checkpointKey(gateway string, size uint64) string {
	return fmt.Sprintf("%scheckpoint-%020d.jws", storeDir(gateway), size)
}

func noteKey(gateway string, size uint64) string {
	return fmt.Sprintf("%scheckpoint-%020d.note", storeDir(gateway), size)
}

// ShipperOptions configure a Shipper.
type ShipperOptions struct {
	// Interval between passes; default one minute.
	Interval time.Duration
	// OnError is told about a failed pass (the gateway logs it).
	OnError func(error)
	// Node, when set, names this replica: objects go under
	// audit/<gateway>.<node>/, so that replicas of one gateway, each with
	// its own log whose segments bear the same names, do not collide.
	Node string
}

// Shipper copies a log's sealed segments, its checkpoints and its public
// keys to an object store, so that a copy exists off the gateway's disk.
type Shipper struct {
	store   objstore.Store
	dir     string
	gateway string
	opts    ShipperOptions

	mu        sync.Mutex // one pass at a time
	shipped   map[string]bool
	cpShipped int // checkpoint lines already shipped
	lastErr   atomic.Pointer[string]
	cancel    context.CancelFunc
	done      chan struct{}
}

// NewShipper ships l's directory to store under audit/<gateway>/ (or
// audit/<gateway>.<node>/ with opts.Node).
func NewShipper(store objstore.Store, l *Log, opts ShipperOptions) *Shipper {
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	gateway := l.opts.Gateway
	if opts.Node != "" {
		gateway += "." + opts.Node
	}
	return &Shipper{store: store, dir: l.dir, gateway: gateway, opts: opts, shipped: map[string]bool{}}
}

// Start runs a pass every interval until ctx ends or Close. The first is
// one interval after start, so that starting never waits on the store.
func (s *Shipper) Start(ctx context.Context) error {
	if !objstore.ValidKey(storeDir(s.gateway) + "x") {
		return fmt.Errorf("audit: gateway id %q cannot name store objects", s.gateway)
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.opts.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if _, err := s.Ship(ctx); err != nil && ctx.Err() == nil && s.opts.OnError != nil {
				s.opts.OnError(err)
			}
		}
	}()
	return nil
}

// Close stops the shipper and makes a last pass (sealed segments and the
// final checkpoint, if the log was closed first).
func (s *Shipper) Close() error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	<-s.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := s.Ship(ctx)
	return err
}

// Healthy reports the last pass's error.
func (s *Shipper) Healthy() error {
	if msg := s.lastErr.Load(); msg != nil {
		return errors.New("audit shipping: " + *msg)
	}
	return nil
}

// Ship makes one pass and returns how many objects it copied.
func (s *Shipper) Ship(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.ship(ctx)
	if err != nil {
		msg := err.Error()
		s.lastErr.Store(&msg)
	} else {
		s.lastErr.Store(nil)
	}
	return n, err
}

func (s *Shipper) ship(ctx context.Context) (int, error) {
	n := 0
	if keys, err := os.ReadFile(filepath.Join(s.dir, keysFile)); err == nil {
		sum := sha256.Sum256(keys)
		key := storeDir(s.gateway) + "keys-" + hex.EncodeToString(sum[:8]) + ".jwks.json"
		if !s.shipped[key] {
			if err := s.put(ctx, key, keys); err != nil {
				return n, err
			}
			s.shipped[key] = true
			n++
		}
	}
	segs, err := listSegments(s.dir)
	if err != nil {
		return n, fmt.Errorf("audit: %w", err)
	}
	for i := 0; i+1 < len(segs); i++ { // the last segment is still being written
		key := storeDir(s.gateway) + segs[i].name
		if s.shipped[key] {
			continue
		}
		data, err := os.ReadFile(filepath.Join(s.dir, segs[i].name))
		if err != nil {
			return n, fmt.Errorf("audit: %w", err)
		}
		if err := s.put(ctx, key, data); err != nil {
			return n, err
		}
		s.shipped[key] = true
		n++
	}
	cps, err := os.ReadFile(filepath.Join(s.dir, checkpointsFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return n, fmt.Errorf("audit: %w", err)
	}
	lines := bytes.Split(cps, []byte("\n"))
	for i := s.cpShipped; i+1 < len(lines); i++ { // the text after the last newline is incomplete
		size, err := checkpointSize(lines[i])
		if err != nil {
			return n, fmt.Errorf("audit: checkpoint line %d: %w", i+1, err)
		}
		if err := s.put(ctx, checkpointKey(s.gateway, size), append(bytes.Clone(lines[i]), '\n')); err != nil {
			return n, err
		}
		s.cpShipped = i + 1
		n++
	}
	// The latest note, after the JWS checkpoints: the note at a size is
	// written after the JWS at that size, so the store never holds a note
	// without its JWS. A note is written whole (renamed into place).
	msg, err := readNote(s.dir)
	if err != nil {
		return n, err
	}
	if msg != nil {
		size, err := noteSize(msg)
		if err != nil {
			return n, fmt.Errorf("audit: %s: %w", noteFile, err)
		}
		if key := noteKey(s.gateway, size); !s.shipped[key] {
			if err := s.put(ctx, key, msg); err != nil {
				return n, err
			}
			s.shipped[key] = true
			n++
		}
	}
	return n, nil
}

// put writes once; an object already there must hold the same bytes, or
// the local log and its shipped copy disagree — which verification of
// either will then show.
func (s *Shipper) put(ctx context.Context, key string, data []byte) error {
	err := s.store.Put(ctx, key, data, objstore.PutOptions{IfAbsent: true, ContentType: "application/octet-stream"})
	if errors.Is(err, objstore.ErrExists) {
		have, gerr := s.store.Get(ctx, key)
		if gerr != nil {
			return fmt.Errorf("audit: ship %s: %w", key, gerr)
		}
		if !bytes.Equal(have, data) {
			return fmt.Errorf("%w: %s in the store differs from the local copy", ErrTampered, key)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("audit: ship %s: %w", key, err)
	}
	return nil
}

// checkpointSize reads the tree size from a checkpoint JWS without
// verifying it (the shipper names objects; verifiers check signatures).
func checkpointSize(jws []byte) (uint64, error) {
	parts := strings.Split(string(jws), ".")
	if len(parts) != 3 {
		return 0, errors.New("not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return 0, errors.New("not a compact JWS")
	}
	var c Checkpoint
	if err := json.Unmarshal(payload, &c); err != nil {
		return 0, errors.New("payload is not a checkpoint")
	}
	return c.TreeSize, nil
}

// StoreGateways lists the gateways with audit objects in store.
func StoreGateways(ctx context.Context, store objstore.Store) ([]string, error) {
	keys, err := listAll(ctx, store, storePrefix)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, k := range keys {
		g, _, ok := strings.Cut(strings.TrimPrefix(k, storePrefix), "/")
		if ok && !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	sort.Strings(out)
	return out, nil
}

func listAll(ctx context.Context, store objstore.Store, prefix string) ([]string, error) {
	var out []string
	after := ""
	for {
		keys, err := store.List(ctx, prefix, after, 1000)
		if err != nil {
			return nil, fmt.Errorf("audit: list %s: %w", prefix, err)
		}
		out = append(out, keys...)
		if len(keys) < 1000 {
			return out, nil
		}
		after = keys[len(keys)-1]
	}
}

type storeSource struct {
	ctx   context.Context
	store objstore.Store
	keys  []string
	segs  []segFile
}

func (s storeSource) Len() int { return len(s.segs) }

func (s storeSource) Segment(i int) (string, int, []byte, error) {
	b, err := s.store.Get(s.ctx, s.keys[i])
	return s.segs[i].name, s.segs[i].num, b, err
}

// VerifyStore verifies the copy of gateway's log in store: the sealed
// segments and the checkpoints shipped there. Checkpoints beyond the
// shipped segments are reported as pending, not as missing entries.
func VerifyStore(ctx context.Context, store objstore.Store, gateway string, opts VerifyOptions) (*Report, error) {
	keys, err := listAll(ctx, store, storeDir(gateway))
	if err != nil {
		return nil, err
	}
	src := storeSource{ctx: ctx, store: store}
	var cpKeys, noteKeys []string
	jwks := opts.JWKS
	keySource := "pinned"
	if len(jwks) == 0 {
		keySource = "store (not pinned)"
	}
	for _, k := range keys {
		name := strings.TrimPrefix(k, storeDir(gateway))
		switch {
		case strings.HasPrefix(name, "checkpoint-") && strings.HasSuffix(name, ".note"):
			noteKeys = append(noteKeys, k)
		case strings.HasPrefix(name, "checkpoint-"):
			cpKeys = append(cpKeys, k)
		case strings.HasPrefix(name, "keys-") && len(opts.JWKS) == 0:
			b, err := store.Get(ctx, k)
			if err != nil {
				return nil, fmt.Errorf("audit: %s: %w", k, err)
			}
			if jwks == nil {
				jwks = b
			} else if jwks, _, err = mergeJWKS(jwks, b); err != nil {
				return nil, fmt.Errorf("audit: %s: %w", k, err)
			}
		default:
			if n, ok := parseSegmentName(name); ok {
				src.segs = append(src.segs, segFile{name: name, num: n})
				src.keys = append(src.keys, k)
			}
		}
	}
	sort.Strings(cpKeys) // zero-padded sizes: name order is size order
	var cpData []byte
	for _, k := range cpKeys {
		b, err := store.Get(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("audit: %s: %w", k, err)
		}
		cpData = append(cpData, b...)
	}
	var jv *jose.Verifier
	if len(jwks) > 0 {
		if jv, err = jose.NewVerifier(jwks); err != nil {
			return nil, fmt.Errorf("audit: store key set: %w", err)
		}
	}
	r, err := verifySource(src, cpData, jv, verifyRun{partial: true, progress: opts.Progress})
	// Every shipped note over shipped segments is checked; one over
	// entries still local counts as pending, like such a checkpoint.
	sort.Strings(noteKeys)
	for _, k := range noteKeys {
		if r == nil || !r.OK {
			break
		}
		msg, gerr := store.Get(ctx, k)
		if gerr != nil {
			return nil, fmt.Errorf("audit: %s: %w", k, gerr)
		}
		if size, serr := noteSize(msg); serr == nil && size > r.Entries {
			r.Pending++
			continue
		}
		checkNote(r, msg, jv)
		if r.Failure != nil {
			r.Failure.Reason = k + ": " + strings.TrimPrefix(r.Failure.Reason, noteFile+": ")
		}
	}
	if r != nil {
		r.Dir, r.KeySource = "store:"+storeDir(gateway), keySource
		if r.Gateway == "" {
			r.Gateway = gateway
		}
	}
	return r, err
}
