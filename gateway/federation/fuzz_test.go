package federation

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"
)

// FuzzParseManifest: a manifest comes from another operator or another
// gateway. Parsing any bytes never panics, and what it accepts keeps the
// rules: known format, valid ids, an https://host:port endpoint, agencies
// without duplicates, expires after issued; and it re-encodes to a payload
// that parses to the same manifest.
func FuzzParseManifest(f *testing.F) {
	g := newTestGateway(f, "gw-b")
	good, _ := json.Marshal(g.manifest(f, t0, "nca", "hmrc"))
	if _, _, _, err := parseManifest(good); err != nil {
		f.Fatalf("the good seed is refused: %v", err)
	}
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"format":"liaison.fed.manifest/v1","gateway_id":"gw-b","trust_domain":"b.dev","endpoint":"https://h:1",` +
		`"trust_bundle":"x","signing_keys":{"keys":[]},"agencies":["nca"],"issued":"2026-12-06T09:00:00Z","expires":"2026-12-07T09:00:00Z"}`))
	f.Add([]byte(`{"format":"liaison.fed.manifest/v1","endpoint":"https://h:1/path"}`))
	f.Add(append(good, good...))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, issued, expires, err := parseManifest(b)
		if err != nil {
			return
		}
		if m.Format != manifestFormat || m.GatewayID == "" || len(m.Agencies) == 0 || !expires.After(issued) ||
			m.Endpoint[:8] != "https://" || len(m.SigningKeys) == 0 {
			t.Fatalf("accepted %+v", m)
		}
		for i, a := range m.Agencies {
			if slices.Contains(m.Agencies[:i], a) {
				t.Fatalf("duplicate agency accepted: %v", m.Agencies)
			}
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, i2, e2, err := parseManifest(again)
		if err != nil || !i2.Equal(issued) || !e2.Equal(expires) || m2.GatewayID != m.GatewayID || !reflect.DeepEqual(m2.Agencies, m.Agencies) {
			t.Fatalf("re-encoded manifest does not parse the same: %v", err)
		}
	})
}

// FuzzParseEnvelope: an envelope's payload is a peer's (verified, but a
// peer is not trusted beyond its signature). Parsing never panics, and what
// is accepted keeps the envelope rules and parses the same re-encoded.
func FuzzParseEnvelope(f *testing.F) {
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	share := Envelope{Format: envelopeFormat, ID: "msg_01m94s2s21rbs404jbvevt5mek", Type: TypeShare, FromGateway: "gw-a", ToGateway: "gw-b",
		FromAgency: "met-police", ToAgencies: []string{"nca"}, RecordID: "rec_01m94s2s21rbs404jbvevt5mek", RecordVersion: 1,
		Provenance: []string{"gw-a"}, Seq: 1, Created: now.Format(time.RFC3339), Expires: now.Add(time.Hour).Format(time.RFC3339),
		PayloadDigest: "sha256:00"}
	b, _ := json.Marshal(share)
	if _, err := parseEnvelope(b); err != nil {
		f.Fatalf("the share seed is refused: %v", err)
	}
	f.Add(b)
	recall := share
	recall.Type, recall.Expires, recall.PayloadDigest, recall.ToAgencies = TypeRecall, "", "", []string{}
	b, _ = json.Marshal(recall)
	f.Add(b)
	ack := recall
	ack.Type, ack.Ref, ack.Acks = TypeRecallAck, share.ID, []ForwardedAck{{Gateway: "gw-c", Receipt: "x.y.z"}}
	b, _ = json.Marshal(ack)
	if _, err := parseEnvelope(b); err != nil {
		f.Fatalf("the recall-ack seed is refused: %v", err)
	}
	f.Add(b)
	f.Add([]byte(`{"format":"liaison.fed.message/v1"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := parseEnvelope(b)
		if err != nil {
			return
		}
		if e.Format != envelopeFormat || len(e.Provenance) == 0 || e.Provenance[len(e.Provenance)-1] != e.FromGateway || e.RecordVersion < 1 {
			t.Fatalf("accepted %+v", e)
		}
		switch e.Type {
		case TypeShare:
			if e.PayloadDigest == "" || e.Expires == "" || len(e.ToAgencies) == 0 {
				t.Fatalf("share accepted without digest, expiry or recipients: %+v", e)
			}
		case TypeRecall:
			if e.Expires != "" {
				t.Fatalf("recall with an expiry accepted: %+v", e)
			}
		case TypeRecallAck:
			if len(e.Acks) == 0 {
				t.Fatalf("recall-ack without acks accepted: %+v", e)
			}
		default:
			t.Fatalf("unknown type accepted: %q", e.Type)
		}
		again, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		e2, err := parseEnvelope(again)
		if err != nil || e2.ID != e.ID || e2.Type != e.Type || !reflect.DeepEqual(e2.Provenance, e.Provenance) {
			t.Fatalf("re-encoded envelope does not parse the same: %v", err)
		}
	})
}

// FuzzOpenManifest: `liaison peers add` and the refresh loop open whole
// manifest JWSs from outside. No input panics, and one is accepted only if
// the pinned key signed exactly its payload.
func FuzzOpenManifest(f *testing.F) {
	g := newTestGateway(f, "gw-b")
	good := g.sign(f, g.manifest(f, t0, "nca"))
	pin := g.signer.KeyID()
	f.Add(good)
	f.Add(good[:len(good)-2])
	f.Add([]byte("a.b.c"))
	f.Add([]byte("eyJhbGciOiJub25lIn0.e30."))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := OpenManifest(b, pin)
		if err != nil {
			return
		}
		payload, err := g.signer.Verify(m.JWS)
		if err != nil || m.Fingerprint != pin {
			t.Fatalf("accepted a manifest the pinned key did not sign: %v", err)
		}
		if _, _, _, err := parseManifest(payload); err != nil {
			t.Fatalf("accepted a payload that does not parse: %v", err)
		}
	})
}
