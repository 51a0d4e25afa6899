package search

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/connectors/fsstore"
	"github.com/liaison-project/liaison/connectors/localkeys"
	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/selector"
)

func testKeyring(t *testing.T) (objstore.Store, *localkeys.Keyring) {
	t.Helper()
	dir := t.TempDir()
	st, err := fsstore.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	kr, err := localkeys.Open(filepath.Join(dir, "keyring.json"), localkeys.Options{AutoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kr.Close(); st.Close() })
	return st, kr
}

// TestKeyringRotation: the first key is created on first use; a rotation
// adds a version with another secret; a second keyring over the same
// store (another replica) reads the same secrets; retiring destroys the
// old version's wrapped key.
func TestKeyringRotation(t *testing.T) {
	ctx := context.Background()
	st, kp := testKeyring(t)
	a, err := OpenKeyring(ctx, st, kp, "liaison-blind-index", nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := a.Versions(); len(v) != 1 || v[0] != 1 {
		t.Fatalf("first versions %v", v)
	}
	if v, err := a.Rotate(ctx); err != nil || v != 2 {
		t.Fatalf("rotate: %d %v", v, err)
	}
	ks := a.Keys()
	if len(ks) != 2 || bytes.Equal(ks[0].Secret, ks[1].Secret) || len(ks[1].Secret) != 32 {
		t.Fatalf("two versions must have two distinct 32-byte secrets: %d keys", len(ks))
	}
	b, err := OpenKeyring(ctx, st, kp, "liaison-blind-index", nil)
	if err != nil {
		t.Fatal(err)
	}
	kb := b.Keys()
	if len(kb) != 2 || !bytes.Equal(kb[0].Secret, ks[0].Secret) || !bytes.Equal(kb[1].Secret, ks[1].Secret) {
		t.Fatal("a second keyring over the same store reads other secrets")
	}
	// Nothing in the store holds a secret in clear.
	raw, err := st.Get(ctx, blindKeyKey(1))
	if err != nil || bytes.Contains(raw, ks[0].Secret) {
		t.Fatalf("key object holds the secret in clear (err %v)", err)
	}
	n := selector.Normalized{Type: "phone", Canonical: "phone:+442079460018"}
	if bytes.Equal(ks[0].Blind(n), ks[1].Blind(n)) {
		t.Fatal("two key versions give one blind value")
	}
}

// TestRefs: a reference opens only for the agency it was issued to, under
// the key it was sealed with, unaltered and unexpired.
func TestRefs(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	r := Ref{RecordID: record.NewID(now), Holder: "met-police", DSA: "dsa-uk-soc", Searcher: "nca", Issued: now.Unix()}
	s, err := SealRef(key, r)
	if err != nil || !strings.HasPrefix(s, RefPrefix) || strings.Contains(s, r.RecordID) {
		t.Fatalf("seal: %q %v", s, err)
	}
	if got, err := OpenRef(key, "nca", s, now.Add(time.Hour)); err != nil || got != r {
		t.Fatalf("open: %+v %v", got, err)
	}
	other := bytes.Repeat([]byte{8}, 32)
	altered := s[:len(s)-2] + map[bool]string{true: "AA", false: "AB"}[strings.HasSuffix(s, "AB")]
	for name, c := range map[string]struct {
		key      []byte
		searcher string
		ref      string
		at       time.Time
	}{
		"another agency": {key, "rocu-nw", s, now},
		"another key":    {other, "nca", s, now},
		"altered":        {key, "nca", altered, now},
		"expired":        {key, "nca", s, now.Add(RefTTL + time.Hour)},
		"no prefix":      {key, "nca", strings.TrimPrefix(s, RefPrefix), now},
		"empty":          {key, "nca", "", now},
	} {
		if _, err := OpenRef(c.key, c.searcher, c.ref, c.at); err != ErrBadRef {
			t.Errorf("%s: err %v, want ErrBadRef", name, err)
		}
	}
}

// FuzzOpenRef: references come from clients. Nothing panics, and only a
// reference sealed under the key for the searcher opens.
func FuzzOpenRef(f *testing.F) {
	key := bytes.Repeat([]byte{7}, 32)
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	good, _ := SealRef(key, Ref{RecordID: record.NewID(now), Holder: "met-police", DSA: "dsa-uk-soc", Searcher: "nca", Issued: now.Unix()})
	f.Add("nca", good)
	f.Add("nca", "hit_")
	f.Add("nca", "hit_"+strings.Repeat("A", 2000))
	f.Add("rocu-nw", good)
	f.Fuzz(func(t *testing.T, searcher, s string) {
		r, err := OpenRef(key, searcher, s, now)
		if err == nil && (r.Searcher != searcher || s != good) {
			t.Fatalf("opened a reference that was not issued: %q for %q", s, searcher)
		}
	})
}

// FuzzParseBlindKey: key objects come from the (untrusted) store. Nothing
// panics; what parses is well formed.
func FuzzParseBlindKey(f *testing.F) {
	f.Add([]byte(`{"format":"liaison.blind-key/v1","version":1,"key_name":"k","wrapped":"AAAA","created":"2026-12-06T12:00:00Z"}`))
	f.Add([]byte(`{"format":"liaison.blind-key/v1","version":2,"key_name":"k","created":"","retired":"2026-12-06T12:00:00Z"}`))
	f.Add([]byte(`{"format":"liaison.blind-key/v1","version":0}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := parseBlindKey(b)
		if err != nil {
			return
		}
		if o.Version < 1 || o.KeyName == "" || (o.Retired == "") == (len(o.Wrapped) == 0) {
			t.Fatalf("accepted a malformed key object: %+v", o)
		}
	})
}
