package policy

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// The decision cache (issue 15).
//
// A decision is a function of the input, the policy's code and its data.
// Each loaded policy (state) is immutable — a code, data or registry change
// builds a new state — so a cache that belongs to a state is invalidated by
// every change of policy or data without any bookkeeping: the new state
// starts with an empty cache.
//
// Inputs are rarely repeated byte for byte (every request has its own time,
// every record its own id), so the cache is keyed not by the whole input but
// by the part of it the decision depends on. What that part is depends on
// the Rego code, so the cache is used only for code that has been reviewed
// for it: the live modules must be byte for byte those whose digest is
// reviewedModules. Any other code — a security officer's edit, a
// deployment's own policy — is decided by the reference evaluation, every
// time. TestDecisionCacheReviewedCode fails when the bundled modules change,
// so that whoever changes them reviews the projections below against the
// new code, runs `make decide-diff`, and only then updates the digest.
//
// What the reviewed code reads of the input, and so what the key keeps:
//
//   - input.time is read only by now_ns (time.parse_rfc3339_ns), and now_ns
//     only (a) against agreement dates and review dates, which date_ns reads
//     as midnight UTC, and through today_ns (midnight of now's day), and (b)
//     against handling-condition expiry times (unexpired: expires > now),
//     which are strings of the input. So two inputs whose times parse, fall
//     on the same UTC day and lie on the same side of every instant written
//     in the input get the same decision: the key keeps the day and, beside
//     every string of the input that parses as an RFC 3339 instant, whether
//     that instant is after now. A time that does not parse, or lies outside
//     1970–2262, is kept as it is (no sharing).
//   - input.record.record_id, version and created are never read (the
//     gateway's list-sharing check proves it for the bundled code,
//     TestListShareSafe): dropped.
//   - input.request.justification is read only as count(trim_space(j)) and
//     compared with min_justification_length: the key keeps the count,
//     capped at that minimum (every count at or above it is alike).
//   - input.subject.officer.id is read only as "a non-empty string" (the
//     rule officer) and by the explanation, which is not part of a decision:
//     a non-empty string is kept as one marker.
//   - input.subject.cert_fingerprint and input.request.case are never read:
//     dropped.
//
// Everything else is kept exactly. The key is the SHA-256 of that canonical
// form, so the cache holds no input content (officer ids, selectors,
// justifications) — only digests and decisions.
//
// Each projection is checked against the reference evaluation on the real
// policy by TestDecisionCacheProjections (mutate the dropped part, the
// decision must not change), the time cells by TestDecisionCacheTimeBoundaries
// (never served across a midnight, an agreement's dates, a review date or a
// handling expiry), and the whole by the differential corpus.

// reviewedModules is the digest (moduleDigest) of the live Rego modules the
// projections above were reviewed against.
const reviewedModules = "0061cc1e7965332356fce546b70f494b138bc27fb33cf17fe6d886baf276cd42"

// DefaultDecisionCacheEntries bounds a policy state's cache. A decision is
// a few hundred bytes: 16,384 entries are a few megabytes.
const DefaultDecisionCacheEntries = 16384

const dayNs = int64(24 * time.Hour)

// decisionCache is one state's cache.
type decisionCache struct {
	lru *lru.Cache[[sha256.Size]byte, Decision]
	// minJustification is the reviewed code's min_justification_length on
	// this state's data, when it is a whole number; -1 otherwise (the count
	// is then kept exactly).
	minJustification int64
	// hits and misses count lookups, for benchmarks and metrics.
	hits, misses atomic.Int64
}

// moduleDigest identifies live Rego modules by content.
func moduleDigest(modules map[string][]byte) string {
	h := sha256.New()
	writeFiles(h, "module", modules)
	return hex.EncodeToString(h.Sum(nil))
}

// newDecisionCache builds a state's cache, or returns nil when the state's
// code is not the reviewed code or the cache is switched off (entries < 0).
func newDecisionCache(ctx context.Context, st *state, modules string, entries int) *decisionCache {
	if entries < 0 || modules != reviewedModules {
		return nil
	}
	if entries == 0 {
		entries = DefaultDecisionCacheEntries
	}
	c := &decisionCache{minJustification: -1}
	c.lru, _ = lru.New[[sha256.Size]byte, Decision](entries)
	// min_justification_length on this data, by the policy itself.
	rs, err := rego.New(
		rego.Query("data.liaison.authz.min_justification_length"),
		rego.Compiler(st.compiler),
		rego.Store(st.store),
	).Eval(ctx)
	if err != nil {
		return nil
	}
	if len(rs) == 1 && len(rs[0].Expressions) == 1 {
		if n, ok := rs[0].Expressions[0].Value.(json.Number); ok {
			if i, err := n.Int64(); err == nil && i >= 0 {
				c.minJustification = i
			}
		}
	}
	return c
}

// get returns the cached decision for key with a fresh id, if any.
func (c *decisionCache) get(key [sha256.Size]byte) (Decision, bool) {
	d, ok := c.lru.Get(key)
	if !ok {
		return Decision{}, false
	}
	return d.clone(newID()), true
}

// put remembers d (a copy: callers may change the one they hold).
func (c *decisionCache) put(key [sha256.Size]byte, d Decision) {
	c.lru.Add(key, d.clone(""))
}

// clone is a deep copy of d with id as its ID.
func (d Decision) clone(id string) Decision {
	out := d
	out.ID = id
	out.Reasons = slices.Clone(d.Reasons)
	out.Obligations.Redact = slices.Clone(d.Obligations.Redact)
	out.Obligations.Conditions = slices.Clone(d.Obligations.Conditions)
	if d.AuditScope != nil {
		s := *d.AuditScope
		s.DSAs = slices.Clone(s.DSAs)
		out.AuditScope = &s
	}
	if d.Explanation != nil {
		// Never set by decide; a cache never holds one.
		out.Explanation = nil
	}
	return out
}

// key is the digest of the decision-relevant part of input v (see the
// comment at the top of this file); ok is false when v is not an object.
func (c *decisionCache) key(v ast.Value) (key [sha256.Size]byte, ok bool) {
	obj, isObj := v.(ast.Object)
	if !isObj {
		return key, false
	}
	bp := keyBuffers.Get().(*[]byte)
	k := keyWriter{buf: (*bp)[:0], minJust: c.minJustification, now: math.MinInt64}
	if t := obj.Get(ast.InternedTerm("time")); t != nil {
		if s, isStr := t.Value.(ast.String); isStr {
			if ns, ok := parseInstant(string(s)); ok && ns >= 0 {
				k.now = ns
			}
		}
	}
	k.value(v, pathRoot)
	key = sha256.Sum256(k.buf)
	if cap(k.buf) <= 1<<16 {
		*bp = k.buf
		keyBuffers.Put(bp)
	}
	return key, true
}

// parseInstant is time.parse_rfc3339_ns exactly (OPA's builtin: time.Parse
// with time.RFC3339, then the int64 nanosecond range).
func parseInstant(s string) (int64, bool) {
	// Cheap refusal first: every string of the input is tried.
	if len(s) < 20 || s[4] != '-' || s[10] != 'T' && s[10] != 't' {
		return 0, false
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || t.Before(time.Unix(0, math.MinInt64)) || t.After(time.Unix(0, math.MaxInt64)) {
		return 0, false
	}
	return t.UnixNano(), true
}

// keyPath is where in the input a value is, as far as the projections need
// to know.
type keyPath uint8

const (
	pathOther keyPath = iota
	pathRoot
	pathRecord  // input.record
	pathRequest // input.request
	pathSubject // input.subject
	pathOfficer // input.subject.officer
)

type keyWriter struct {
	// buf collects the canonical form; its digest is the key.
	buf     []byte
	minJust int64
	// now is input.time in ns when it parses within 1970–2262, else
	// math.MinInt64 (the time is then kept exactly).
	now int64
}

// keyBuffers recycles the canonical forms' buffers: a key is computed on
// every decision.
var keyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func (k *keyWriter) tag(b byte) { k.buf = append(k.buf, b) }

func (k *keyWriter) str(b byte, s string) {
	k.buf = append(k.buf, b)
	k.buf = binary.BigEndian.AppendUint64(k.buf, uint64(len(s)))
	k.buf = append(k.buf, s...)
}

func (k *keyWriter) num(b byte, n int64) {
	k.buf = append(k.buf, b)
	k.buf = binary.BigEndian.AppendUint64(k.buf, uint64(n))
}

// value writes v, found at path, in a form where different values (of the
// kept parts) never write the same bytes.
func (k *keyWriter) value(v ast.Value, at keyPath) {
	switch x := v.(type) {
	case ast.Null:
		k.tag('n')
	case ast.Boolean:
		if x {
			k.tag('t')
		} else {
			k.tag('f')
		}
	case ast.Number:
		k.str('#', string(x))
	case ast.String:
		k.str('s', string(x))
		if k.now != math.MinInt64 {
			// Which side of this instant now is on: unexpired compares
			// handling expiry times with now.
			if ns, ok := parseInstant(string(x)); ok {
				if ns > k.now {
					k.tag('>')
				} else {
					k.tag('<')
				}
			}
		}
	case *ast.Array:
		k.num('[', int64(x.Len()))
		for i := range x.Len() {
			k.value(x.Elem(i).Value, pathOther)
		}
	case ast.Object:
		k.num('{', int64(x.Len()))
		x.Foreach(func(kt, vt *ast.Term) {
			name, isStr := kt.Value.(ast.String)
			if !isStr {
				k.str('?', kt.String())
				k.value(vt.Value, pathOther)
				return
			}
			if k.field(at, string(name), vt.Value) {
				return
			}
			k.str('k', string(name))
			k.value(vt.Value, childPath(at, string(name)))
		})
	default:
		// Not a JSON value (a set, a ref): keep its text; such input is
		// never built by the gateway and is denied by the policy.
		k.str('x', v.String())
	}
}

func childPath(at keyPath, name string) keyPath {
	switch {
	case at == pathRoot && name == "record":
		return pathRecord
	case at == pathRoot && name == "request":
		return pathRequest
	case at == pathRoot && name == "subject":
		return pathSubject
	case at == pathSubject && name == "officer":
		return pathOfficer
	}
	return pathOther
}

// field writes the projected form of the fields the key does not keep
// exactly, and reports whether it did.
func (k *keyWriter) field(at keyPath, name string, v ast.Value) bool {
	switch at {
	case pathRoot:
		if name == "time" && k.now != math.MinInt64 {
			k.num('T', k.now/dayNs)
			return true
		}
	case pathRecord:
		switch name {
		case "record_id", "version", "created":
			return true
		}
	case pathRequest:
		switch name {
		case "case":
			return true
		case "justification":
			if s, isStr := v.(ast.String); isStr {
				n := int64(utf8.RuneCountInString(strings.TrimSpace(string(s))))
				if k.minJust >= 0 && n > k.minJust {
					n = k.minJust
				}
				k.num('J', n)
				return true
			}
		}
	case pathSubject:
		if name == "cert_fingerprint" {
			return true
		}
	case pathOfficer:
		if s, isStr := v.(ast.String); name == "id" && isStr && s != "" {
			k.tag('I')
			return true
		}
	}
	return false
}

// CacheStats describe the decision cache (cache.go) for metrics.
type CacheStats struct {
	// Enabled: the policy in force is the reviewed code and the cache is
	// on; otherwise every decision is evaluated in full.
	Enabled bool
	// Entries are the decisions the policy in force's cache holds now.
	Entries int
	// Hits and Misses count lookups since the engine was built, over every
	// policy it has had in force.
	Hits, Misses int64
}

// DecisionCacheStats reports the decision cache's state and counters.
func (e *Engine) DecisionCacheStats() CacheStats {
	s := CacheStats{Hits: e.cacheHits.Load(), Misses: e.cacheMisses.Load()}
	if st := e.cur.Load(); st != nil && st.cache != nil {
		s.Enabled, s.Entries = true, st.cache.lru.Len()
	}
	return s
}
