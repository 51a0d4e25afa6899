package fedproc_test

import (
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/devnet"
	"github.com/liaison-project/liaison/gateway/federation"
)

// Three gateways as separate processes, driven through the CLI as the
// README's federation walkthrough does: a share delivered with a signed
// receipt and read at the receiver; a share refused by the receiver under
// its own copy of the DSA; an onward share to a third gateway with the
// originator's consent; a recall reaching the copy two hops away, with the
// acknowledgement relayed back; and certificates of one kind presented
// where the other is expected.
func TestProcessesShareRefuseOnwardRecall(t *testing.T) {
	began := time.Now()
	// gw-national holds dsa-uk-soc suspended in its own copy of the DSAs:
	// the originator's gateway (which holds it active) sends, the receiver
	// refuses. Everything else here runs under dsa-selec-ops.
	f := start(t, func(_ *devnet.Net, nd *devnet.Node) {
		if slices.Contains(nd.Agencies, "hmrc") {
			dir := filepath.Join(t.TempDir(), "policy")
			suspendDSA(t, dir, "dsa-uk-soc")
			nd.Config.Policy.Dir = dir
		}
	})
	police, national, intl := f.Host("met-police"), f.Host("hmrc"), f.Host("selec")
	if police.ID == national.ID || national.ID == intl.ID || police.ID == intl.ID {
		t.Fatalf("layout: met-police on %s, hmrc on %s, selec on %s", police.ID, national.ID, intl.ID)
	}
	tok := func(agency string) string {
		return f.Token(agency, jose.Officer{ID: "off-" + agency, Clearance: "SC"}, 2*time.Hour)
	}
	read := func(agency, id string) cliResult {
		return cli(t, f, "records", "get", "--profile", agency, "--token", tok(agency), "--purpose", "investigation",
			"--justification", "OP-NIGHTJAR consignment check", "-o", "json", id)
	}
	put := func(file string) string {
		out := mustCLI(t, f, "records", "put", "--profile", "met-police", "--file", file, "-o", "json")
		return decode[api.Published](t, []byte(out)).ID
	}
	status := func(id string) api.Deliveries {
		return decode[api.Deliveries](t, []byte(mustCLI(t, f, "records", "status", "--profile", "met-police", "--wait", "60s", "-o", "json", id)))
	}
	selecRecord := writeTemp(t, "selec.json", recordBody(t, func(m map[string]any) {
		m["dsa_ids"] = []string{"dsa-selec-ops"}
		m["recipients"] = []string{"hmrc"}
	}))

	var shared string
	t.Run("share delivered with a signed receipt, read at the receiver", func(t *testing.T) {
		shared = put(selecRecord)
		ds := status(shared)
		d := find(ds, national.ID, "share")
		if d == nil || d.State != "delivered" || d.Receipt == "" || strings.Join(d.Agencies, ",") != "hmrc" {
			t.Fatalf("delivery to %s: %+v", national.ID, ds.Items)
		}
		rc := receipt(t, national, d.Receipt)
		if rc.Outcome != federation.OutcomeAccepted || rc.RecordID != shared || rc.From != national.ID || rc.To != police.ID || rc.MessageID != d.MessageID {
			t.Fatalf("receipt %+v", rc)
		}
		r := read("hmrc", shared)
		if r.code != 0 || !strings.Contains(r.stdout, "Salford") {
			t.Fatalf("hmrc reads at %s: %+v", national.ID, r)
		}
		rec := decode[api.Record](t, []byte(r.stdout))
		if rec.Meta.Originator.OrgID != "met-police" || rec.Meta.Version != 1 {
			t.Fatalf("hmrc's copy: %+v", rec.Meta)
		}
		// Same gateway, not a recipient.
		if r := read("nca", shared); r.code == 0 || !strings.Contains(r.stderr, "404") {
			t.Fatalf("nca reads a record not shared with it: %+v", r)
		}
		// Two-sided evidence: the sender keeps the receiver's receipt,
		// the receiver the sender's signed envelope, of the same message.
		sent := auditOf(t, police, audit.Filter{RecordID: shared, Action: "federation.deliver"})
		recv := auditOf(t, national, audit.Filter{RecordID: shared, Action: "federation.accept"})
		if len(sent) != 1 || len(recv) != 1 || sent[0].Federation == nil || recv[0].Federation == nil {
			t.Fatalf("evidence: sent %d entries, received %d", len(sent), len(recv))
		}
		if sent[0].Federation.Receipt != d.Receipt || recv[0].Federation.Envelope != sent[0].Federation.Envelope || recv[0].Status != http.StatusCreated {
			t.Fatalf("evidence: sent %+v, received %+v", sent[0].Federation, recv[0].Federation)
		}
		// The same through `liaison audit query`, as an auditor reads it.
		out := mustCLI(t, f, "audit", "query", "--config", national.ConfigFile, "--record", shared, "--action", "federation.accept", "-o", "json")
		if ev := decode[audit.Event](t, []byte(out)); ev.Federation == nil || ev.Federation.MessageID != d.MessageID || ev.Operation != audit.OpCollection {
			t.Fatalf("audit query at %s: %s", national.ID, out)
		}
	})

	t.Run("refused by the receiver under its own copy of the DSA", func(t *testing.T) {
		// deploy/examples/record-federated.json: dsa-uk-soc, recipients
		// hmrc (gw-national) and rocu-nw (local).
		id := put(filepath.Join("..", "..", "..", "deploy", "examples", "record-federated.json"))
		d := find(status(id), national.ID, "share")
		if d == nil || d.State != "refused" || len(d.Reasons) == 0 || d.Receipt == "" {
			t.Fatalf("delivery to %s: %+v", national.ID, d)
		}
		if rc := receipt(t, national, d.Receipt); rc.Outcome != federation.OutcomeRefused || len(rc.Reasons) == 0 {
			t.Fatalf("refusal receipt %+v", rc)
		}
		t.Logf("refused: %+v", d.Reasons)
		if r := read("hmrc", id); r.code == 0 || !strings.Contains(r.stderr, "404") {
			t.Fatalf("hmrc reads a refused record: %+v", r)
		}
		if r := read("rocu-nw", id); r.code != 0 {
			t.Fatalf("the local recipient rocu-nw: %+v", r)
		}
	})

	t.Run("onward share with consent, two hops from the originator", func(t *testing.T) {
		if shared == "" {
			t.Fatal("the first subtest did not leave a shared record")
		}
		if r := read("selec", shared); r.code == 0 || !strings.Contains(r.stderr, "404") {
			t.Fatalf("selec before the onward share: %+v", r)
		}
		out := mustCLI(t, f, "records", "share", "--profile", "hmrc", "--token", tok("hmrc"), "--purpose", "investigation",
			"--justification", "SELEC leads on the Constanta route", "--to", "selec", "--note", "SELEC leads", "-o", "json", shared)
		consentID := decode[api.ConsentFiled](t, []byte(out)).ConsentID
		// The request travels to the originator's gateway.
		var items []api.ConsentItem
		deadline := time.Now().Add(settle)
		for len(items) == 0 {
			items = decode[api.ConsentList](t, []byte(mustCLI(t, f, "consents", "list", "--profile", "met-police", "-o", "json"))).Items
			if len(items) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the consent request never reached the originator")
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		if len(items) != 1 || items[0].ConsentID != consentID || items[0].RequestedBy != "hmrc" || items[0].Role != "originator" {
			t.Fatalf("met-police's pending requests: %+v", items)
		}
		mustCLI(t, f, "consents", "approve", "--profile", "met-police", consentID)
		// The approval travels back, gw-national shares, gw-intl verifies
		// the originator gateway's consent receipt and accepts.
		deadline = time.Now().Add(settle)
		for {
			r := read("selec", shared)
			if r.code == 0 {
				if !strings.Contains(r.stdout, "Salford") {
					t.Fatalf("selec reads: %s", r.stdout)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("selec never read the onward share: %+v", r)
			}
			time.Sleep(200 * time.Millisecond)
		}
		acc := auditOf(t, intl, audit.Filter{RecordID: shared, Action: "federation.accept"})
		if len(acc) != 1 || acc[0].Federation.PeerGateway != national.ID || acc[0].Status != http.StatusCreated {
			t.Fatalf("gw-intl's acceptance: %+v", acc)
		}
	})

	t.Run("recall propagates two hops, acknowledged through the middle gateway", func(t *testing.T) {
		if shared == "" {
			t.Fatal("the first subtest did not leave a shared record")
		}
		mustCLI(t, f, "records", "recall", "--profile", "met-police", "-o", "json", shared)
		var ds api.Deliveries
		deadline := time.Now().Add(settle)
		for {
			ds = status(shared)
			far, near := find(ds, intl.ID, "recall"), find(ds, national.ID, "recall")
			if far != nil && far.State == "acknowledged" && near != nil && near.State == "acknowledged" {
				if far.Via != national.ID || !far.Verified || far.Receipt == "" {
					t.Fatalf("acknowledgement of %s: %+v", intl.ID, far)
				}
				if rc := receipt(t, intl, far.Receipt); rc.Outcome != federation.OutcomeRecalled || rc.RecordID != shared {
					t.Fatalf("%s's recall receipt: %+v", intl.ID, rc)
				}
				if rc := receipt(t, national, near.Receipt); !slices.Contains(rc.Downstream, intl.ID) {
					t.Fatalf("%s's recall receipt names no downstream %s: %+v", national.ID, intl.ID, rc)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("recall not acknowledged: %+v", ds.Items)
			}
			time.Sleep(200 * time.Millisecond)
		}
		for _, a := range []string{"met-police", "hmrc", "selec"} {
			if r := read(a, shared); r.code == 0 || !strings.Contains(r.stderr, "410") {
				t.Errorf("%s reads a recalled record: %+v", a, r)
			}
		}
		// The text view names the relay.
		text := mustCLI(t, f, "records", "status", "--profile", "met-police", "-o", "text", shared)
		if !strings.Contains(text, "via "+national.ID) {
			t.Fatalf("records status -o text:\n%s", text)
		}
	})

	t.Run("a certificate of one kind where the other is expected", func(t *testing.T) {
		// An agency certificate at the federation listener: met-police's
		// is issued by gw-police's CA, the bundle gw-national pins for
		// gw-police, so it verifies; it names no gateway: 404.
		agency, err := pki.ClientTLSConfig(police.PKI.AgencyCertFile("met-police"), police.PKI.AgencyKeyFile("met-police"), []string{national.PKI.CAFile}, "localhost")
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: agency}, Timeout: 30 * time.Second}
		defer c.CloseIdleConnections()
		st, _ := mustDo(t, c, http.MethodPost, national.FederationURL()+"/fed/v1/messages", []byte(`{"envelope":"x"}`), nil)
		if st != http.StatusNotFound {
			t.Fatalf("agency certificate at %s's federation listener: %d", national.ID, st)
		}
		// A peer's gateway certificate at the agency API: refused (the
		// handshake, or an error status), never served.
		st, _, err = do(t.Context(), f.GatewayClient(police.ID, national.ID), http.MethodGet, national.APIURL()+"/v1/records", nil, nil)
		if err == nil && st < 400 {
			t.Fatalf("%s's gateway certificate served at %s's agency API: %d", police.ID, national.ID, st)
		}
		var denied int
		for _, e := range auditOf(t, national, audit.Filter{Action: "federation.connect"}) {
			if e.Status == http.StatusNotFound && e.CertFingerprint != "" {
				denied++
			}
		}
		if denied == 0 {
			t.Fatalf("the agency certificate refused at %s's federation listener was not audited", national.ID)
		}
	})
	t.Logf("took %v", time.Since(began).Round(time.Second))
}
