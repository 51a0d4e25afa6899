package objstoretest_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/connectors/objstore/objstoretest"
)

// memStore is the simplest correct Store; running the suite against it
// checks the suite itself (a failure here is a bug in the suite).
type memStore struct {
	mu   sync.Mutex
	objs map[string][]byte
	// tags holds each key's version tag: a store-wide write counter, so
	// that (unlike the real backends) every write changes it.
	tags  map[string]string
	write int
}

var _ objstore.Store = (*memStore)(nil)

func (m *memStore) Put(ctx context.Context, key string, data []byte, opts objstore.PutOptions) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !objstore.ValidKey(key) {
		return fmt.Errorf("mem: %w", objstore.ErrInvalidKey)
	}
	if err := objstore.CheckPutOptions(opts); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objs[key]; ok && opts.IfAbsent {
		return objstore.ErrExists
	}
	if opts.IfMatch != "" && m.tags[key] != opts.IfMatch {
		return objstore.ErrConflict // also when the key is missing: no tag
	}
	m.objs[key] = bytes.Clone(data)
	m.write++
	if m.tags == nil {
		m.tags = map[string]string{}
	}
	m.tags[key] = fmt.Sprintf("w%d", m.write)
	return nil
}

func (m *memStore) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	if !objstore.ValidKey(key) {
		return nil, "", objstore.ErrInvalidKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.objs[key]
	if !ok {
		return nil, "", objstore.ErrNotFound
	}
	return bytes.Clone(d), m.tags[key], nil
}

func (m *memStore) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !objstore.ValidKey(key) {
		return nil, objstore.ErrInvalidKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.objs[key]
	if !ok {
		return nil, objstore.ErrNotFound
	}
	return bytes.Clone(d), nil
}

func (m *memStore) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !objstore.ValidKey(key) {
		return objstore.ErrInvalidKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objs, key)
	delete(m.tags, key)
	return nil
}

func (m *memStore) List(ctx context.Context, prefix, startAfter string, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !objstore.ValidPrefix(prefix) {
		return nil, objstore.ErrInvalidKey
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.objs {
		if strings.HasPrefix(k, prefix) && k > startAfter {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func TestSuiteAgainstMemStore(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store {
		return &memStore{objs: map[string][]byte{}}
	})
}

func TestUniquePrefix(t *testing.T) {
	tests := []struct{ name string }{{"simple"}, {"With Spaces & UPPER/and:odd!chars"}, {strings.Repeat("long", 60)}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := objstoretest.UniquePrefix(t), objstoretest.UniquePrefix(t)
			if a == b {
				t.Fatalf("two prefixes are equal: %q", a)
			}
			for _, p := range []string{a, b} {
				if !objstore.ValidPrefix(p) || !strings.HasSuffix(p, "/") {
					t.Fatalf("bad prefix %q", p)
				}
			}
		})
	}
}
