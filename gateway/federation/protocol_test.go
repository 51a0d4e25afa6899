package federation_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/federation"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
	"github.com/liaison-project/liaison/gateway/record"
)

// peerConn speaks the gateway-to-gateway protocol as one gateway of a
// test federation (its real certificate and signing key) to another.
type peerConn struct {
	t      *testing.T
	from   *gatewaytest.Env
	to     *gatewaytest.Env
	signer *jose.Signer
	http   *http.Client
	url    string
}

func dial(t *testing.T, from, to *gatewaytest.Env) *peerConn {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(from.Fed.GatewayCertFile, from.Fed.GatewayKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := os.ReadFile(to.Fed.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	signer, err := jose.LoadOrCreateSigner(from.Cfg.Signing.Key)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool,
		ServerName: "localhost", MinVersion: tls.VersionTLS13}}}
	t.Cleanup(c.CloseIdleConnections)
	_, port, _ := net.SplitHostPort(to.Cfg.Federation.Listen)
	return &peerConn{t: t, from: from, to: to, signer: signer, http: c, url: "https://localhost:" + port + "/fed/v1/messages"}
}

// share builds a share of a fresh record from agency to recipients (hosted
// by the receiver), signed by signer.
func (p *peerConn) share(agency string, recipients []string) (federation.Envelope, []byte) {
	p.t.Helper()
	now := time.Now().UTC()
	meta := record.Meta{RecordID: record.NewID(now), Version: 1, Created: now.Format(time.RFC3339),
		Originator: record.Originator{OrgID: agency}, Classification: record.Classification{Tier: "OFFICIAL"}, TLP: "AMBER",
		Grading: record.Grading{Source: "1", Intelligence: "B"}, Handling: record.Handling{Code: "P"},
		AllowedPurposes: []string{"investigation"}, DataSubjectCategory: "suspect", ContentBasis: "fact",
		DSAIDs: []string{"dsa-uk-soc"}, Recipients: recipients, ReviewDue: "2027-06-01"}
	body, err := json.Marshal(federation.ShareBody{Meta: meta, Content: []byte(`{"summary":"Salford yard"}`)})
	if err != nil {
		p.t.Fatal(err)
	}
	env := federation.Envelope{Format: "liaison.fed.message/v1", ID: record.NewMessageID(now), Type: federation.TypeShare,
		FromGateway: p.from.Cfg.GatewayID, ToGateway: p.to.Cfg.GatewayID, FromAgency: agency, ToAgencies: recipients,
		DSAID: "dsa-uk-soc", RecordID: meta.RecordID, RecordVersion: 1, Provenance: []string{p.from.Cfg.GatewayID}, Seq: 1,
		Created: now.Format(time.RFC3339), Expires: now.Add(time.Hour).Format(time.RFC3339), PayloadDigest: federation.Digest(body)}
	return env, body
}

// post signs env with signer and sends it with body; it returns the status
// and the answer.
func (p *peerConn) post(signer *jose.Signer, env federation.Envelope, body []byte) (int, []byte) {
	p.t.Helper()
	eb, _ := json.Marshal(env)
	sig, err := signer.Sign(eb)
	if err != nil {
		p.t.Fatal(err)
	}
	wb, _ := json.Marshal(federation.Wire{Envelope: string(sig), Body: body})
	return p.raw(wb)
}

func (p *peerConn) raw(b []byte) (int, []byte) {
	p.t.Helper()
	resp, err := p.http.Post(p.url, "application/json", bytes.NewReader(b))
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// receipt verifies and decodes the receiver's signed receipt.
func (p *peerConn) receipt(b []byte) federation.Receipt {
	p.t.Helper()
	var wr federation.WireReceipt
	if err := json.Unmarshal(b, &wr); err != nil {
		p.t.Fatalf("answer %s: %v", b, err)
	}
	jwks, err := os.ReadFile(p.to.Dir + "/signing-keys.jwks.json")
	if err != nil {
		p.t.Fatal(err)
	}
	v, err := jose.NewVerifier(jwks)
	if err != nil {
		p.t.Fatal(err)
	}
	payload, err := v.Verify([]byte(wr.Receipt))
	if err != nil {
		p.t.Fatalf("receipt does not verify with the receiver's key: %v", err)
	}
	var rc federation.Receipt
	if err := json.Unmarshal(payload, &rc); err != nil {
		p.t.Fatal(err)
	}
	return rc
}

func TestProtocolRefusals(t *testing.T) {
	f := gatewaytest.StartFederation(t, gatewaytest.FederationOptions{})
	police, national := f.Host("met-police"), f.Host("hmrc")
	p := dial(t, police, national)
	hmrc := f.Client("hmrc").With("Liaison-Purpose", "investigation", "Liaison-Justification", "customs referral 9")
	readable := func(id string) int { return hmrc.MustDo("GET", "/v1/records/"+id, nil).Status }

	t.Run("a well-formed share is accepted, and a replay gets the same receipt", func(t *testing.T) {
		env, body := p.share("met-police", []string{"hmrc"})
		st, b := p.post(p.signer, env, body)
		if st != 200 || p.receipt(b).Outcome != federation.OutcomeAccepted {
			t.Fatalf("share: %d %s", st, b)
		}
		st2, b2 := p.post(p.signer, env, body)
		if st2 != 200 || !bytes.Equal(b, b2) {
			t.Fatalf("replay: %d %s (first %s)", st2, b2, b)
		}
		if readable(env.RecordID) != 200 {
			t.Fatal("accepted share not readable")
		}
		// The same id with another body is refused, and nothing changes.
		env.RecordVersion = 2
		if st, b := p.post(p.signer, env, body); st != http.StatusConflict && st != http.StatusBadRequest {
			t.Fatalf("id reused: %d %s", st, b)
		}
	})
	t.Run("forged: signed with another key", func(t *testing.T) {
		forger, err := jose.LoadOrCreateSigner(t.TempDir() + "/k.jwk.json")
		if err != nil {
			t.Fatal(err)
		}
		env, body := p.share("met-police", []string{"hmrc"})
		if st, b := p.post(forger, env, body); st != http.StatusBadRequest || !strings.Contains(string(b), "bad-signature") {
			t.Fatalf("forged: %d %s", st, b)
		}
		if readable(env.RecordID) != 404 {
			t.Fatal("a forged share was stored")
		}
	})
	refusedWith := func(t *testing.T, env federation.Envelope, body []byte, code string) {
		t.Helper()
		st, b := p.post(p.signer, env, body)
		if st != 200 {
			t.Fatalf("%d %s", st, b)
		}
		rc := p.receipt(b)
		if rc.Outcome != federation.OutcomeRefused || len(rc.Reasons) == 0 || rc.Reasons[0].Code != code {
			t.Fatalf("receipt %+v, want refused %s", rc, code)
		}
		if readable(env.RecordID) != 404 {
			t.Fatalf("refused share %s is readable", env.RecordID)
		}
	}
	t.Run("a peer speaking for an agency it does not host", func(t *testing.T) {
		env, body := p.share("selec", []string{"hmrc"}) // selec is hosted by the third gateway
		refusedWith(t, env, body, "agency_not_hosted_by_peer")
	})
	t.Run("signed as another gateway than the connection's", func(t *testing.T) {
		env, body := p.share("met-police", []string{"hmrc"})
		env.FromGateway = f.HostID("selec")
		env.Provenance = []string{env.FromGateway}
		refusedWith(t, env, body, "sender_mismatch")
	})
	t.Run("for another gateway", func(t *testing.T) {
		env, body := p.share("met-police", []string{"hmrc"})
		env.ToGateway = f.HostID("selec")
		refusedWith(t, env, body, "wrong_receiver")
	})
	t.Run("a loop", func(t *testing.T) {
		env, body := p.share("met-police", []string{"hmrc"})
		env.Provenance = []string{national.Cfg.GatewayID, police.Cfg.GatewayID}
		refusedWith(t, env, body, "loop")
	})
	t.Run("expired", func(t *testing.T) {
		env, body := p.share("met-police", []string{"hmrc"})
		env.Expires = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
		refusedWith(t, env, body, "expired")
	})
	t.Run("a recipient the receiver does not host", func(t *testing.T) {
		env, body := p.share("met-police", []string{"selec"})
		refusedWith(t, env, body, "recipient_not_hosted")
	})
	t.Run("body does not match the digest", func(t *testing.T) {
		env, body := p.share("met-police", []string{"hmrc"})
		body = append(bytes.Clone(body[:len(body)-1]), ' ', '}')
		if st, b := p.post(p.signer, env, body); st != http.StatusBadRequest || !strings.Contains(string(b), "digest-mismatch") {
			t.Fatalf("%d %s", st, b)
		}
	})
	t.Run("malformed bytes over raw HTTP change nothing", func(t *testing.T) {
		before := len(national.Audit())
		for _, b := range []string{``, `{`, `[]`, `{"envelope":""}`, `{"envelope":"a.b.c"}`, `{"envelope":"x","extra":1}`,
			`{"envelope":"x"} trailing`, strings.Repeat(`{"envelope":`, 100)} {
			if st, out := p.raw([]byte(b)); st != http.StatusBadRequest || !strings.Contains(string(out), "problem") && !strings.Contains(string(out), "type") {
				t.Errorf("%q: %d %s", b, st, out)
			}
		}
		// Each refusal is audited; nothing else was written.
		var n int
		for _, e := range national.Audit()[before:] {
			if e.Operation != audit.OpDenial {
				t.Errorf("unexpected entry %+v", e)
			}
			n++
		}
		if n == 0 {
			t.Error("refusals not audited")
		}
	})
}

func TestRecallBeforeShareDoesNotResurrect(t *testing.T) {
	f := gatewaytest.StartFederation(t, gatewaytest.FederationOptions{})
	police, national := f.Host("met-police"), f.Host("hmrc")
	p := dial(t, police, national)
	hmrc := f.Client("hmrc").With("Liaison-Purpose", "investigation", "Liaison-Justification", "customs referral 9")
	share, body := p.share("met-police", []string{"hmrc"})
	now := time.Now().UTC()
	recall := federation.Envelope{Format: "liaison.fed.message/v1", ID: record.NewMessageID(now), Type: federation.TypeRecall,
		FromGateway: share.FromGateway, ToGateway: share.ToGateway, FromAgency: "met-police", ToAgencies: []string{},
		RecordID: share.RecordID, RecordVersion: 1, Provenance: share.Provenance, Seq: 2, Created: now.Format(time.RFC3339)}
	// Reordered: the recall arrives first.
	if st, b := p.post(p.signer, recall, nil); st != 200 || p.receipt(b).Outcome != federation.OutcomeRecalled {
		t.Fatalf("recall: %d %s", st, b)
	}
	st, b := p.post(p.signer, share, body)
	if st != 200 || p.receipt(b).Outcome != federation.OutcomeRecalled {
		t.Fatalf("share after its recall: %d %s", st, b)
	}
	if r := hmrc.MustDo("GET", "/v1/records/"+share.RecordID, nil); r.Status == 200 {
		t.Fatalf("recalled record resurrected: %s", r.Body)
	}
}

// A recall repeated after a recall that found no copy (the share was never
// sent: the record was recalled first) is acknowledged again, not refused.
func TestRepeatedRecallOfARecordNeverHeld(t *testing.T) {
	f := gatewaytest.StartFederation(t, gatewaytest.FederationOptions{Gateways: 2})
	p := dial(t, f.Host("met-police"), f.Host("hmrc"))
	share, _ := p.share("met-police", []string{"hmrc"})
	for i := range 2 {
		now := time.Now().UTC()
		recall := federation.Envelope{Format: "liaison.fed.message/v1", ID: record.NewMessageID(now), Type: federation.TypeRecall,
			FromGateway: share.FromGateway, ToGateway: share.ToGateway, FromAgency: "met-police", ToAgencies: []string{},
			RecordID: share.RecordID, RecordVersion: 1, Provenance: share.Provenance, Seq: uint64(i + 1), Created: now.Format(time.RFC3339)}
		if st, b := p.post(p.signer, recall, nil); st != 200 || p.receipt(b).Outcome != federation.OutcomeRecalled {
			t.Fatalf("recall %d: %d %s", i+1, st, b)
		}
	}
}
