package recordstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/record"
)

// FuzzVerifyCursor: a listing cursor comes from the client. Nothing but
// what signCursor produced for that agency is accepted, and no input
// panics.
func FuzzVerifyCursor(f *testing.F) {
	key := bytes.Repeat([]byte{7}, 32)
	good := signCursor(key, "rocu-nw", "rec_01m94s2s21rbs404jbvevt5mek")
	f.Add("rocu-nw", good)
	f.Add("met-police", good)
	f.Add("rocu-nw", "rec_01m94s2s21rbs404jbvevt5mek")
	f.Add("rocu-nw", "1796530594893-0001-0b7e883e.rec_01m94s2s21rbs404jbvevt5mek.AAAA")
	f.Add("rocu-nw", good[:len(good)-1])
	f.Add("rocu-nw", "..")
	f.Add("rocu-nw", "%zz")
	f.Add("rocu-nw", "")
	f.Fuzz(func(t *testing.T, agency, s string) {
		c, ok := verifyCursor(key, agency, s)
		if !ok {
			return
		}
		if s == "" {
			if c != "" {
				t.Fatalf("empty cursor gave a position")
			}
			return
		}
		// Accepted: it must be exactly the cursor this key issues for the
		// position, to this agency, and that position must be well formed.
		if signCursor(key, agency, c) != s || !record.ValidID(c) {
			t.Fatalf("accepted %q for %q as %+v", s, agency, c)
		}
	})
}

// FuzzDecodeRecordObject: the record store is untrusted. Decoding any
// bytes as a record object never panics, and what it accepts is exactly a
// frame this gateway signed (re-encoding gives the same bytes).
func FuzzDecodeRecordObject(f *testing.F) {
	signer, err := jose.LoadOrCreateSigner(filepath.Join(f.TempDir(), "signing.jwk.json"))
	if err != nil {
		f.Fatal(err)
	}
	rs := &Store{signer: signer}
	now := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	meta := record.Meta{RecordID: record.NewID(now), Version: 1, Created: now.Format(time.RFC3339),
		Originator: record.Originator{OrgID: "met-police"}, TLP: "AMBER", DSAIDs: []string{"dsa-uk-soc"}, Recipients: []string{"rocu-nw"}}
	digest, err := meta.Digest()
	if err != nil {
		f.Fatal(err)
	}
	st := Record{Format: storedFormat, Meta: meta, MetaDigest: digest, State: StateActive,
		Content: &ContentRef{Alg: "A256GCM-envelope", KeyName: "k", WrappedKey: []byte("wrapped"), Size: 3},
		sealed:  []byte("sealed-content")}
	obj, err := rs.encode(&st)
	if err != nil {
		f.Fatal(err)
	}
	tomb := st
	tomb.State, tomb.Content, tomb.sealed = StateRecalled, nil, nil
	tombObj, err := rs.encode(&tomb)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(obj)
	f.Add(tombObj)
	f.Add(append(append([]byte(nil), tombObj...), 'x')) // content beside a tombstone
	f.Add(obj[:len(obj)-3])
	f.Add([]byte("LSR2\xff\xff\xff\xff"))
	f.Add([]byte("LSR2\x00\x00\x00\x00"))
	f.Add([]byte("LSR1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := rs.decode(meta.RecordID, b)
		if err != nil {
			return
		}
		again, err := rs.encode(got)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("accepted a frame this gateway did not write: %q", b)
		}
	})
}

// FuzzDecodeConsent: consent objects come from the untrusted store. Any
// bytes decode without panicking, and only a consent this gateway signed,
// for the id asked, is accepted.
func FuzzDecodeConsent(f *testing.F) {
	signer, err := jose.LoadOrCreateSigner(filepath.Join(f.TempDir(), "signing.jwk.json"))
	if err != nil {
		f.Fatal(err)
	}
	rs := &Store{signer: signer}
	now := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	id := record.NewConsentID(now)
	good, err := json.Marshal(Consent{Format: ConsentFormat, ID: id, RecordID: record.NewID(now), Originator: "met-police",
		RequestedBy: "rocu-nw", Recipients: []string{"nca"}, State: ConsentPending})
	if err != nil {
		f.Fatal(err)
	}
	jws, err := signer.Sign(good)
	if err != nil {
		f.Fatal(err)
	}
	other, err := signer.Sign([]byte(`{"format":"liaison.consent/v1","id":"someone-else"}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(jws)
	f.Add(other)
	f.Add(good)
	f.Add(jws[:len(jws)-2])
	f.Fuzz(func(t *testing.T, b []byte) {
		cr, err := rs.decodeConsent(id, b)
		if err != nil {
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("a bad consent object is not an integrity failure: %v", err)
			}
			return
		}
		if cr.ID != id || cr.Format != ConsentFormat {
			t.Fatalf("accepted %+v for %s", cr, id)
		}
		if _, err := signer.Verify(b); err != nil {
			t.Fatalf("accepted an object that does not verify")
		}
	})
}

// FuzzDecodeIdem: idempotency reservations come from the untrusted store.
// Any bytes decode without panicking, and only a reservation this gateway
// signed for this very key is accepted (never one copied from another key).
func FuzzDecodeIdem(f *testing.F) {
	signer, err := jose.LoadOrCreateSigner(filepath.Join(f.TempDir(), "signing.jwk.json"))
	if err != nil {
		f.Fatal(err)
	}
	rs := &Store{signer: signer}
	key := IdemKey("met-police", "k-1")
	sign := func(rec *Idem) []byte {
		b, err := json.Marshal(rec)
		if err != nil {
			f.Fatal(err)
		}
		jws, err := signer.Sign(b)
		if err != nil {
			f.Fatal(err)
		}
		return jws
	}
	good := NewIdem(key)
	good.Agency, good.State, good.Status = "met-police", IdemDone, 201
	f.Add(sign(good))
	f.Add(sign(NewIdem(IdemKey("rocu-nw", "k-1"))))
	f.Add([]byte(`{"format":"liaison.idempotency/v1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := rs.decodeIdem(key, b)
		if err != nil {
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("a bad reservation is not an integrity failure: %v", err)
			}
			return
		}
		if rec.Object != key || rec.Format != idemFormat {
			t.Fatalf("accepted %+v for %s", rec, key)
		}
	})
}
