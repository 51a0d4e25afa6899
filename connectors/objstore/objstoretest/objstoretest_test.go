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
}

var _ objstore.Store = (*memStore)(nil)

func (m *memStore) Put(ctx context.Context, key string, data []byte, opts objstore.PutOptions) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !objstore.ValidKey(key) {
		return fmt.Errorf("mem: %w", objstore.ErrInvalidKey)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objs[key]; ok && opts.IfAbsent {
		return objstore.ErrExists
	}
	m.objs[key] = bytes.Clone(data)
	return nil
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
