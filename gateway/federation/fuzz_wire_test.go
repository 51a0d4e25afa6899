package federation

import (
	"encoding/json"
	"testing"
)

// The other bytes a peer controls: its receipts, share bodies, the wire
// object around them, its ledger answers, and the ledger keys read back
// from the (untrusted) store. None may panic; what parses must hold the
// invariants the code after it relies on.

func FuzzParseReceipt(f *testing.F) {
	good, _ := json.Marshal(Receipt{Format: receiptFormat, MessageID: "msg_01m95aagyb455y3jhr03c0ytxq", EnvelopeDigest: "sha256:00",
		From: "gw-a", To: "gw-b", RecordID: "rec_01m95aagyb455y3jhr03c0ytxq", Outcome: OutcomeAccepted, Time: "2026-12-06T09:00:00Z"})
	for _, s := range []string{string(good), `{}`, `{"format":"liaison.fed.receipt/v1"}`, `[]`, `null`, `{"outcome":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseReceipt(b)
		if err != nil {
			return
		}
		switch r.Outcome {
		case OutcomeAccepted, OutcomeRefused, OutcomeRecalled, OutcomeAcknowledged:
		default:
			t.Fatalf("outcome %q parsed", r.Outcome)
		}
		if r.Format != receiptFormat {
			t.Fatalf("format %q parsed", r.Format)
		}
	})
}

func FuzzParseShareBody(f *testing.F) {
	for _, s := range []string{`{"meta":{"record_id":"rec_x","version":1},"content":"e30="}`, `{"meta":{},"content":null}`, `{"content":"!!"}`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sb, err := parseShareBody(b)
		if err != nil {
			return
		}
		// What parsed re-encodes and parses to the same record id.
		again, err := json.Marshal(sb)
		if err != nil {
			t.Fatal(err)
		}
		sb2, err := parseShareBody(again)
		if err != nil || sb2.Meta.RecordID != sb.Meta.RecordID || string(sb2.Content) != string(sb.Content) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzDecodeWire(f *testing.F) {
	for _, s := range []string{`{"envelope":"a.b.c","body":"e30="}`, `{"envelope":"a.b.c"}`, `{"answer":"a.b.c"}`, `{"envelope":1}`, `{"body":"***"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var w Wire
		_ = strictJSON(b, &w)
		var wr WireReceipt
		_ = strictJSON(b, &wr)
		var wl WireLedger
		_ = strictJSON(b, &wl)
		var la LedgerAnswer
		_ = strictJSON(b, &la)
	})
}

func FuzzParseLedgerKeys(f *testing.F) {
	for _, s := range []string{"00000000000000000001", "00000000000000000001.msg_01m95aagyb455y3jhr03c0ytxq", "gw-a.00000000000000000002", "", ".", "x.y.z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, ok := parseSeq("p/"+s, "p/"); ok && seqName(n) != s {
			t.Fatalf("seq %q parsed as %d", s, n)
		}
		if peer, n, ok := parseEdge("e/"+s, "e/"); ok && peer+"."+seqName(n) != s {
			t.Fatalf("edge %q parsed as %s %d", s, peer, n)
		}
		_, _, _ = parseInseq(s)
	})
}
