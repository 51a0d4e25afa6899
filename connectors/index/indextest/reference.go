package indextest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/liaison-project/liaison/connectors/index"
)

// reference is the index contract written as plainly as possible: a map
// and a linear scan. The property test compares a backend with it; the
// suite's own test runs the suite against it, so the suite's expectations
// and the reference cannot drift apart. Test-only: it has no indexes.
type reference struct {
	mu      sync.Mutex
	entries map[string]index.Entry
	state   map[string]string
	closed  bool
}

func newReference() *reference {
	return &reference{entries: map[string]index.Entry{}, state: map[string]string{}}
}

var errClosed = errors.New("reference index closed")

func (r *reference) check() error {
	if r.closed {
		return errClosed
	}
	return nil
}

func (r *reference) Upsert(_ context.Context, e index.Entry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check(); err != nil {
		return err
	}
	if err := validEntry(e); err != nil {
		return err
	}
	if old, ok := r.entries[e.RecordID]; ok && old.Version > e.Version {
		return nil
	}
	r.entries[e.RecordID] = normalise(e)
	return nil
}

func validEntry(e index.Entry) error {
	if e.RecordID == "" || e.Version < 0 || (e.State != "active" && e.State != "recalled") ||
		(e.ReviewDue != "" && !validDate(e.ReviewDue)) {
		return index.ErrInvalid
	}
	for _, b := range e.Selectors {
		if len(b.Value) != 32 {
			return index.ErrInvalid
		}
	}
	return nil
}

func validDate(s string) bool {
	_, err := time.Parse(time.DateOnly, s)
	return len(s) == 10 && err == nil
}

// normalise is the form in which entries are compared: Created at
// microsecond resolution in UTC, selectors deduplicated by (key version,
// value) and sorted, empty lists nil.
func normalise(e index.Entry) index.Entry {
	e.Created = time.UnixMicro(e.Created.UnixMicro()).UTC()
	list := func(s []string) []string {
		if len(s) == 0 {
			return nil
		}
		return slices.Clone(s)
	}
	e.Readers, e.Recipients, e.DSAIDs, e.OCGIDs, e.FourP = list(e.Readers), list(e.Recipients), list(e.DSAIDs), list(e.OCGIDs), list(e.FourP)
	sel := slices.Clone(e.Selectors)
	slices.SortStableFunc(sel, func(a, b index.Blind) int {
		if a.KeyVersion != b.KeyVersion {
			return a.KeyVersion - b.KeyVersion
		}
		return bytes.Compare(a.Value, b.Value)
	})
	sel = slices.CompactFunc(sel, func(a, b index.Blind) bool {
		return a.KeyVersion == b.KeyVersion && bytes.Equal(a.Value, b.Value)
	})
	if len(sel) == 0 {
		sel = nil
	}
	e.Selectors = sel
	return e
}

func anyOf(want, have []string) bool {
	if len(want) == 0 {
		return true
	}
	for _, w := range want {
		if slices.Contains(have, w) {
			return true
		}
	}
	return false
}

func one(want []string, have string) bool {
	return len(want) == 0 || slices.Contains(want, have)
}

// matches is the contract's Query semantics for one entry.
func matches(e index.Entry, q index.Query) bool {
	created := e.Created.UnixMicro()
	switch {
	case e.State != "active", !slices.Contains(e.Readers, q.Reader), q.After != "" && e.RecordID <= q.After,
		!anyOf(q.DSAIDs, e.DSAIDs), !one(q.Originators, e.Originator), !anyOf(q.Recipients, e.Recipients),
		!one(q.Operations, e.Operation), !anyOf(q.OCGIDs, e.OCGIDs), !anyOf(q.FourP, e.FourP),
		!one(q.Tiers, e.Tier), !one(q.TLPs, e.TLP), !one(q.HandlingCode, e.HandlingCode),
		!q.CreatedFrom.IsZero() && created < q.CreatedFrom.UnixMicro(),
		!q.CreatedTo.IsZero() && created >= q.CreatedTo.UnixMicro(),
		(q.ReviewFrom != "" || q.ReviewTo != "") && e.ReviewDue == "",
		q.ReviewFrom != "" && e.ReviewDue < q.ReviewFrom,
		q.ReviewTo != "" && e.ReviewDue > q.ReviewTo:
		return false
	}
	return true
}

func (r *reference) Query(_ context.Context, q index.Query) ([]index.Hit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check(); err != nil {
		return nil, err
	}
	if q.Reader == "" || q.Limit < 1 || q.Limit > index.MaxLimit ||
		(q.ReviewFrom != "" && !validDate(q.ReviewFrom)) || (q.ReviewTo != "" && !validDate(q.ReviewTo)) {
		return nil, index.ErrInvalid
	}
	var hits []index.Hit
	for _, e := range r.entries {
		if matches(e, q) {
			hits = append(hits, index.Hit{RecordID: e.RecordID, Version: e.Version})
		}
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].RecordID < hits[j].RecordID })
	if len(hits) > q.Limit {
		hits = hits[:q.Limit]
	}
	return hits, nil
}

func (r *reference) Lookup(_ context.Context, values []index.Blind, limit int) ([]index.Match, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check(); err != nil {
		return nil, err
	}
	if limit < 1 || limit > index.MaxLimit {
		return nil, index.ErrInvalid
	}
	for _, v := range values {
		if len(v.Value) != 32 {
			return nil, index.ErrInvalid
		}
	}
	var out []index.Match
	for _, e := range r.entries {
		if e.State != "active" {
			continue
		}
		var types []string
		for _, v := range values {
			for _, s := range e.Selectors {
				if s.KeyVersion == v.KeyVersion && bytes.Equal(s.Value, v.Value) {
					types = append(types, v.Type)
				}
			}
		}
		if len(types) == 0 {
			continue
		}
		slices.Sort(types)
		out = append(out, index.Match{RecordID: e.RecordID, Version: e.Version, Originator: e.Originator,
			DSAIDs: slices.Clone(e.DSAIDs), Types: slices.Compact(types)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RecordID < out[j].RecordID })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (r *reference) Get(_ context.Context, id string) (index.Entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check(); err != nil {
		return index.Entry{}, err
	}
	e, ok := r.entries[id]
	if !ok {
		return index.Entry{}, index.ErrNotFound
	}
	return e, nil
}

func (r *reference) Count(context.Context) (entries, blinds int64, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check(); err != nil {
		return 0, 0, err
	}
	for _, e := range r.entries {
		entries++
		blinds += int64(len(e.Selectors))
	}
	return entries, blinds, nil
}

func (r *reference) DeleteBlinds(_ context.Context, keyVersion int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check(); err != nil {
		return err
	}
	for id, e := range r.entries {
		e.Selectors = slices.DeleteFunc(slices.Clone(e.Selectors), func(b index.Blind) bool { return b.KeyVersion == keyVersion })
		if len(e.Selectors) == 0 {
			e.Selectors = nil
		}
		r.entries[id] = e
	}
	return nil
}

func (r *reference) GetState(_ context.Context, name string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check(); err != nil {
		return "", err
	}
	return r.state[name], nil
}

func (r *reference) SetState(_ context.Context, name, value string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check(); err != nil {
		return err
	}
	r.state[name] = value
	return nil
}

func (r *reference) Ping(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.check()
}

func (r *reference) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}
