package fedproc_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/devnet"
	"github.com/liaison-project/liaison/gateway/devnet/devnettest"
	"github.com/liaison-project/liaison/gateway/federation"
	"github.com/liaison-project/liaison/gateway/record"
)

// The wire format's format strings (docs/federation.md); the package's
// constants are unexported.
const envelopeFormat = "liaison.fed.message/v1"

// peerSide speaks to a gateway as one of its peers would: the peer's
// gateway certificate on the connection, its signing key (the node's own
// key file) on the envelopes.
type peerSide struct {
	t      *testing.T
	from   *devnet.Node
	to     *devnet.Node
	signer interface{ Sign([]byte) ([]byte, error) }
	client *http.Client
}

func newPeerSide(t *testing.T, f *devnettest.Federation, from, to *devnet.Node) *peerSide {
	t.Helper()
	s, err := jose.LoadOrCreateSigner(from.Config.Signing.Key)
	if err != nil {
		t.Fatal(err)
	}
	return &peerSide{t: t, from: from, to: to, signer: s, client: f.GatewayClient(from.ID, to.ID)}
}

// post signs env (with the side's key unless signer is given) and posts it
// with body; it returns the status and, on 200, the verified receipt and
// its compact JWS.
func (p *peerSide) post(env federation.Envelope, body []byte) (int, *federation.Receipt, string) {
	p.t.Helper()
	eb, err := json.Marshal(env)
	if err != nil {
		p.t.Fatal(err)
	}
	sig, err := p.signer.Sign(eb)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.postSigned(string(sig), body)
}

func (p *peerSide) postSigned(envelope string, body []byte) (int, *federation.Receipt, string) {
	p.t.Helper()
	wb, err := json.Marshal(federation.Wire{Envelope: envelope, Body: body})
	if err != nil {
		p.t.Fatal(err)
	}
	st, b := mustDo(p.t, p.client, http.MethodPost, p.to.FederationURL()+"/fed/v1/messages", wb, nil)
	if st != http.StatusOK {
		return st, nil, string(b)
	}
	wr := decode[federation.WireReceipt](p.t, b)
	rc := receipt(p.t, p.to, wr.Receipt)
	if rc.EnvelopeDigest != federation.Digest([]byte(envelope)) || rc.From != p.to.ID || rc.To != p.from.ID {
		p.t.Fatalf("the receipt does not answer the message: %+v", rc)
	}
	return st, &rc, wr.Receipt
}

// share builds the envelope and body of a share of version v of record id
// from met-police to hmrc, with marker in its content.
func (p *peerSide) share(id string, v int, marker string) (federation.Envelope, []byte) {
	p.t.Helper()
	req, err := record.ParsePublish(recordBody(p.t, func(m map[string]any) { m["recipients"] = []string{"hmrc"} }))
	if err != nil {
		p.t.Fatal(err)
	}
	now := time.Now().UTC()
	meta := req.Meta
	meta.RecordID, meta.Version, meta.Created = id, v, now.Format(time.RFC3339)
	meta.Originator = record.Originator{OrgID: "met-police"}
	var content map[string]any
	if err := json.Unmarshal(req.Content, &content); err != nil {
		p.t.Fatal(err)
	}
	content["summary"] = marker
	cb, _ := json.Marshal(content)
	body, err := json.Marshal(federation.ShareBody{Meta: meta, Content: cb})
	if err != nil {
		p.t.Fatal(err)
	}
	env := federation.Envelope{Format: envelopeFormat, ID: record.NewMessageID(now), Type: federation.TypeShare,
		FromGateway: p.from.ID, ToGateway: p.to.ID, FromAgency: "met-police", ToAgencies: []string{"hmrc"},
		DSAID: "dsa-uk-soc", RecordID: id, RecordVersion: v, Provenance: []string{p.from.ID}, Seq: 1 << 40,
		Created: now.Format(time.RFC3339), Expires: now.Add(time.Hour).Format(time.RFC3339),
		PayloadDigest: federation.Digest(body), Handling: meta.HandlingSnapshot()}
	return env, body
}

// recall builds the envelope of met-police's recall of record id.
func (p *peerSide) recall(id string) federation.Envelope {
	now := time.Now().UTC()
	return federation.Envelope{Format: envelopeFormat, ID: record.NewMessageID(now), Type: federation.TypeRecall,
		FromGateway: p.from.ID, ToGateway: p.to.ID, FromAgency: "met-police", ToAgencies: []string{},
		RecordID: id, RecordVersion: 1, Provenance: []string{p.from.ID}, Seq: 1 << 40, Created: now.Format(time.RFC3339)}
}

// The federation API of a gateway process at the protocol level, with the
// real signing keys and certificates of its peers (the nodes' own files):
// duplicated, reused, reordered, forged and replayed messages, and a peer
// speaking for an agency it does not host.
func TestProcessesProtocolDuplicatesReorderingForgery(t *testing.T) {
	began := time.Now()
	f := start(t, nil)
	police, national, intl := f.Host("met-police"), f.Host("hmrc"), f.Host("selec")
	p := newPeerSide(t, f, police, national)
	hmrc := newReader(t, f, "hmrc", "customs referral 9")
	accepts := func(id string) []audit.Event {
		return auditOf(t, national, audit.Filter{RecordID: id, Action: "federation.accept"})
	}

	t.Run("the same signed message twice: the same receipt, one effect", func(t *testing.T) {
		id := record.NewID(time.Now())
		env, body := p.share(id, 1, "first delivery")
		eb, _ := json.Marshal(env)
		sig, err := p.signer.Sign(eb)
		if err != nil {
			t.Fatal(err)
		}
		st1, rc1, jws1 := p.postSigned(string(sig), body)
		st2, rc2, jws2 := p.postSigned(string(sig), body)
		if st1 != 200 || st2 != 200 || rc1.Outcome != federation.OutcomeAccepted || jws1 != jws2 || rc1.AuditSeq != rc2.AuditSeq {
			t.Fatalf("first %d %+v, replay %d %+v (same receipt: %v)", st1, rc1, st2, rc2, jws1 == jws2)
		}
		if b := hmrc.waitRead(t, id, 200); !strings.Contains(string(b), "first delivery") {
			t.Fatalf("hmrc reads %s", b)
		}
		if evs := accepts(id); len(evs) != 1 || evs[0].Status != http.StatusCreated {
			t.Fatalf("%d acceptance entries for one message sent twice: %+v", len(evs), evs)
		}

		t.Run("the same id with another body: 409, nothing changes", func(t *testing.T) {
			env2, body2 := p.share(id, 1, "another body")
			env2.ID = env.ID
			st, _, detail := p.post(env2, body2)
			if st != http.StatusConflict || !strings.Contains(detail, "id-reused") {
				t.Fatalf("same id, other body: %d %s", st, detail)
			}
			if _, b := hmrc.get(t, id); !strings.Contains(string(b), "first delivery") || strings.Contains(string(b), "another body") {
				t.Fatalf("hmrc reads %s", b)
			}
			var rejected int
			for _, e := range accepts(id) {
				if e.Federation != nil && e.Federation.Outcome == "rejected" && e.Status == http.StatusConflict {
					rejected++
				}
			}
			if rejected != 1 {
				t.Fatalf("the reused id was audited %d times", rejected)
			}
		})
	})

	t.Run("a recall before its share: the share is answered recalled", func(t *testing.T) {
		id := record.NewID(time.Now())
		st, rc, _ := p.post(p.recall(id), nil)
		if st != 200 || rc.Outcome != federation.OutcomeRecalled {
			t.Fatalf("recall of a record never received: %d %+v", st, rc)
		}
		env, body := p.share(id, 1, "arrived after its recall")
		st, rc, _ = p.post(env, body)
		if st != 200 || rc.Outcome != federation.OutcomeRecalled {
			t.Fatalf("share after its recall: %d %+v", st, rc)
		}
		if st, b := hmrc.get(t, id); st == http.StatusOK || strings.Contains(string(b), "arrived after") {
			t.Fatalf("hmrc reads a share that arrived after its recall: %d %s", st, b)
		}
		for _, it := range hmrc.list(t) {
			if it.ID == id {
				t.Fatalf("hmrc lists the recalled record %s", id)
			}
		}
	})

	t.Run("version 1 after version 2: no downgrade", func(t *testing.T) {
		id := record.NewID(time.Now())
		env2, body2 := p.share(id, 2, "version two")
		if st, rc, _ := p.post(env2, body2); st != 200 || rc.Outcome != federation.OutcomeAccepted {
			t.Fatalf("version 2: %d %+v", st, rc)
		}
		env1, body1 := p.share(id, 1, "version one")
		if st, rc, _ := p.post(env1, body1); st != 200 || rc.Outcome != federation.OutcomeAccepted {
			t.Fatalf("version 1 after 2: %d %+v", st, rc)
		}
		b := hmrc.waitRead(t, id, 200)
		rec := decode[api.Record](t, b)
		if rec.Meta.Version != 2 || !strings.Contains(string(rec.Content), "version two") {
			t.Fatalf("after version 1 arrived late hmrc reads version %d: %s", rec.Meta.Version, rec.Content)
		}
		var created, dup int
		for _, e := range accepts(id) {
			switch e.Status {
			case http.StatusCreated:
				created++
			case http.StatusOK:
				dup++
			}
		}
		if created != 1 || dup != 1 {
			t.Fatalf("acceptance entries: %d created, %d unchanged", created, dup)
		}
	})

	t.Run("forged: signed with another key, or by a peer other than the connection's", func(t *testing.T) {
		other, err := jose.LoadOrCreateSigner(filepath.Join(t.TempDir(), "forger.jwk"))
		if err != nil {
			t.Fatal(err)
		}
		id := record.NewID(time.Now())
		forged := *p
		forged.signer = other
		env, body := forged.share(id, 1, "forged")
		if st, _, detail := forged.post(env, body); st != http.StatusBadRequest || !strings.Contains(detail, "bad-signature") {
			t.Fatalf("envelope signed with a stranger's key: %d %s", st, detail)
		}
		// gw-police's genuinely signed envelope, presented on gw-intl's
		// connection: verified with gw-intl's keys, it fails.
		env, body = p.share(id, 1, "relayed by another peer")
		eb, _ := json.Marshal(env)
		sig, _ := p.signer.Sign(eb)
		other2 := newPeerSide(t, f, intl, national)
		if st, _, detail := other2.postSigned(string(sig), body); st != http.StatusBadRequest || !strings.Contains(detail, "bad-signature") {
			t.Fatalf("gw-police's envelope on gw-intl's connection: %d %s", st, detail)
		}
		if st, _ := hmrc.get(t, id); st == http.StatusOK {
			t.Fatal("hmrc reads a forged share")
		}
	})

	t.Run("a peer speaking for an agency it does not host", func(t *testing.T) {
		q := newPeerSide(t, f, intl, national)
		id := record.NewID(time.Now())
		env, body := q.share(id, 1, "selec's gateway speaks for met-police")
		st, rc, _ := q.post(env, body)
		if st != 200 || rc.Outcome != federation.OutcomeRefused || len(rc.Reasons) == 0 || rc.Reasons[0].Code != "agency_not_hosted_by_peer" {
			t.Fatalf("gw-intl speaking for met-police: %d %+v", st, rc)
		}
		// And signed as gw-intl while claiming to be gw-police.
		env, body = q.share(id, 1, "claims another sender")
		env.FromGateway, env.Provenance = police.ID, []string{police.ID}
		st, rc, _ = q.post(env, body)
		if st != 200 || rc.Outcome != federation.OutcomeRefused || rc.Reasons[0].Code != "sender_mismatch" {
			t.Fatalf("gw-intl claiming to be gw-police: %d %+v", st, rc)
		}
		if st, _ := hmrc.get(t, id); st == http.StatusOK {
			t.Fatal("hmrc reads a share from a peer that does not host its originator")
		}
		var denied int
		for _, e := range accepts(id) {
			if e.Operation == audit.OpDenial && e.Federation != nil && e.Federation.PeerGateway == intl.ID {
				denied++
			}
		}
		if denied != 2 {
			t.Fatalf("%d denials audited, want 2", denied)
		}
	})

	t.Run("a peer cannot recall in advance a record another peer will share", func(t *testing.T) {
		// gw-intl learns a record id (it is a recipient too, or got an
		// onward copy) and sends gw-national a recall of it, naming the
		// originator, before gw-police's share arrives. gw-intl never
		// sent gw-national that record and does not host met-police: its
		// recall must not suppress gw-police's share.
		q := newPeerSide(t, f, intl, national)
		id := record.NewID(time.Now())
		env := q.recall(id)
		if st, rc, detail := q.post(env, nil); st == 200 && rc.Outcome != federation.OutcomeRecalled && rc.Outcome != federation.OutcomeRefused {
			t.Fatalf("gw-intl's recall of a record it never sent: %d %+v %s", st, rc, detail)
		}
		shareEnv, body := p.share(id, 1, "the originator's share")
		st, rc, _ := p.post(shareEnv, body)
		if st != 200 || rc.Outcome != federation.OutcomeAccepted {
			t.Fatalf("gw-police's share after gw-intl's recall of it: %d %+v", st, rc)
		}
		hmrc.waitRead(t, id, http.StatusOK)
	})

	t.Run("a real recall replayed off the wire", func(t *testing.T) {
		// A real share and recall by the gateways themselves; the signed
		// recall envelope, as gw-police's audit log keeps it, replayed.
		met := f.Client("met-police")
		st, b := mustDo(t, met, http.MethodPost, f.URL("met-police")+"/v1/records",
			recordBody(t, func(m map[string]any) { m["recipients"] = []string{"hmrc"} }), nil)
		if st != http.StatusCreated {
			t.Fatalf("publish: %d %s", st, b)
		}
		id := decode[api.Published](t, b).ID
		hmrc.waitRead(t, id, 200)
		if st, b := mustDo(t, met, http.MethodDelete, f.URL("met-police")+"/v1/records/"+id, nil, nil); st != 200 {
			t.Fatalf("recall: %d %s", st, b)
		}
		var sent *audit.Event
		deadline := time.Now().Add(settle)
		for sent == nil {
			for _, e := range auditOf(t, police, audit.Filter{RecordID: id, Action: "federation.recall"}) {
				if e.Federation != nil && e.Federation.Direction == "sent" && e.Federation.Receipt != "" {
					sent = &e
				}
			}
			if sent == nil {
				if time.Now().After(deadline) {
					t.Fatal("the recall was never acknowledged")
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		st, rc, jws := p.postSigned(sent.Federation.Envelope, nil)
		if st != 200 || jws != sent.Federation.Receipt || rc.Outcome != federation.OutcomeRecalled {
			t.Fatalf("replayed recall: %d %+v (the original receipt: %v)", st, rc, jws == sent.Federation.Receipt)
		}
		if st, _, detail := newPeerSide(t, f, intl, national).postSigned(sent.Federation.Envelope, nil); st != http.StatusBadRequest {
			t.Fatalf("gw-police's recall replayed by gw-intl: %d %s", st, detail)
		}
		if st, _ := hmrc.get(t, id); st != http.StatusGone {
			t.Fatalf("hmrc after the recall and its replays: %d", st)
		}
	})
	t.Logf("took %v", time.Since(began).Round(time.Second))
}
