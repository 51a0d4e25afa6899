package gateway_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/federation"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
	"github.com/liaison-project/liaison/gateway/record"
)

// manifestFederation is gw-police (met-police, rocu-nw) and gw-national
// (nca, hmrc, …) with no peers declared: they know each other only by
// imported manifests.
const gwA, gwB = "gw-police", "gw-national"

func manifestFederation(t *testing.T, reload time.Duration) *gatewaytest.Federation {
	return gatewaytest.StartFederation(t, gatewaytest.FederationOptions{
		Gateways:      2,
		ManifestPeers: true,
		Configure: func(_ string, cfg *config.Config) {
			cfg.Federation.ReloadInterval = reload
		},
	})
}

// localRecord publishes a record at the gateway hosting from, to a
// recipient hosted there too, and returns its metadata with remote added
// as a recipient, for asking the federation service to share it directly
// (to a gateway the API would not route to).
func localRecord(t *testing.T, f *gatewaytest.Federation, from, local, remote string) *record.Meta {
	t.Helper()
	id := publish(t, f.Client(from), recordBody(func(m map[string]any) { m["recipients"] = []any{local} }))
	st, err := f.Host(from).GW.Records().Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	m := st.Meta
	m.Recipients = append(slices.Clone(m.Recipients), remote)
	return &m
}

// TestManifestImportWithoutRestart: a peer imported by manifest is picked
// up by the running gateway's reload loop, and a share then travels to it
// over mutual TLS pinned by the manifest's bundle, signed and answered with
// a receipt verified by the manifest's keys. A wrong fingerprint imports
// nothing.
func TestManifestImportWithoutRestart(t *testing.T) {
	f := manifestFederation(t, 50*time.Millisecond)
	a, b := f.Gateways[gwA], f.Gateways[gwB]
	ctx := context.Background()
	meta := localRecord(t, f, "met-police", "rocu-nw", "nca")
	if err := a.GW.Federation().Share(ctx, meta, "met-police", "", map[string][]string{gwB: {"nca"}}, nil); err == nil {
		t.Fatal("a share to a gateway not yet a peer was queued")
	}

	mb, err := b.GW.Federation().Manifest()
	if err != nil {
		t.Fatal(err)
	}
	// What gw-b wrote for its operator is what it serves.
	if own, err := federation.ReadOwnManifest(b.Cfg); err != nil || string(own.JWS) != string(mb.JWS) {
		t.Fatalf("manifest file: %v", err)
	}
	ma, _ := a.GW.Federation().Manifest()
	if _, _, err := federation.ImportManifest(a.Cfg, mb.JWS, ma.Fingerprint, a.Now()); err == nil {
		t.Fatal("gw-b's manifest was imported under gw-a's fingerprint")
	}
	if _, err := os.Stat(federation.ManifestPath(a.Cfg, gwB)); !os.IsNotExist(err) {
		t.Fatalf("a refused import left a file: %v", err)
	}
	// gw-b must know gw-a too, to accept its messages.
	f.Import(t, gwB, gwA)
	// `liaison peers add` on gw-a: no reload asked for, the loop finds it.
	if _, _, err := federation.ImportManifest(a.Cfg, mb.JWS, mb.Fingerprint, a.Now()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if p, ok := a.GW.Federation().Peers().HostOf("nca"); ok && p.ID == gwB && p.Source == "manifest" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the running gateway did not pick up the imported manifest")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Now a publish at gw-police naming an agency of gw-national travels
	// there over mutual TLS pinned by the manifest's bundle, signed, and is
	// answered with a receipt verified by the manifest's keys.
	met := f.Client("met-police")
	id := publish(t, met, recordBody(func(m map[string]any) { m["recipients"] = []string{"rocu-nw", "hmrc"} }))
	if d := deliveryState(t, met, id, gwB, "share"); d.State != "delivered" || d.Receipt == "" {
		t.Fatalf("share to an imported peer: %+v", d)
	}
	hmrc := f.Client("hmrc").With(hPurpose, "investigation", hJust, "customs referral 9")
	if r := hmrc.MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 || !strings.Contains(string(r.Body), "Salford") {
		t.Fatalf("hmrc reads at its gateway: %d %s", r.Status, r.Body)
	}
	// The admin view shows where the peer came from and until when.
	states := a.GW.Federation().PeerStates()
	if len(states) != 1 || states[0].Source != "manifest" || states[0].Fingerprint != mb.Fingerprint ||
		!states[0].ManifestExpires.Equal(mb.Expires) || states[0].ManifestExpired {
		t.Fatalf("peer states: %+v", states)
	}
	// Removed: gone at the next reload, and nothing more is queued for it.
	if _, err := federation.RemoveManifest(a.Cfg, gwB); err != nil {
		t.Fatal(err)
	}
	if err := a.GW.Federation().ReloadPeers(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.GW.Federation().Peers().Peer(gwB); ok {
		t.Fatal("a removed peer is still known")
	}
	if err := a.GW.Federation().Share(ctx, meta, "met-police", "", map[string][]string{gwB: {"nca"}}, nil); err == nil {
		t.Fatal("a share to a removed peer was queued")
	}
	// A recall still succeeds here, and the copy it cannot reach is shown.
	if r := met.MustDo("DELETE", "/v1/records/"+id, nil); r.Status != 200 {
		t.Fatalf("recall with a copy at a removed peer: %d %s", r.Status, r.Body)
	}
	ds := gatewaytest.Decode[api.Deliveries](t, met.MustDo("GET", "/v1/records/"+id+"/deliveries", nil))
	var shown bool
	for _, d := range ds.Items {
		shown = shown || d.Gateway == gwB && d.Type == "recall" && d.State == "pending" && strings.Contains(d.Error, "no longer a peer")
	}
	if !shown {
		t.Fatalf("the unreachable copy is not shown: %+v", ds.Items)
	}
}

// TestManifestExpiredBlocksSharesNotRecalls: when a peer's manifest has
// expired the peer stays known; shares to it are settled failed by the
// sender and shares from it refused (manifest_expired) by the receiver,
// while recalls flow both ways.
func TestManifestExpiredBlocksSharesNotRecalls(t *testing.T) {
	f := manifestFederation(t, time.Hour) // no reload or refresh but those asked for
	a, b := f.Gateways[gwA], f.Gateways[gwB]
	f.Import(t, gwA, gwB)
	f.Import(t, gwB, gwA)
	mb, _ := b.GW.Federation().Manifest()

	// gw-a's clock passes gw-b's manifest's expiry (gw-b's does not).
	a.SetClock(mb.Expires.Add(time.Minute))
	pb, ok := a.GW.Federation().Peers().Peer(gwB)
	if !ok || !pb.Expired(a.Now()) {
		t.Fatal("gw-b is not known as expired at gw-a")
	}

	// gw-police → gw-national: settled failed, with a reason, by the
	// sender.
	met := f.Client("met-police")
	idA := publish(t, met, recordBody(func(m map[string]any) { m["recipients"] = []string{"rocu-nw", "hmrc"} }))
	if d := deliveryState(t, met, idA, gwB, "share"); d.State != "failed" || !strings.Contains(d.Error, "manifest of peer "+gwB+" expired") {
		t.Fatalf("share to an expired peer: %+v", d)
	}
	// gw-national → gw-police: gw-national sends (gw-police's manifest is
	// valid there), gw-police refuses it.
	nca := f.Client("nca")
	idB := publish(t, nca, recordBody(func(m map[string]any) { m["recipients"] = []string{"hmrc", "met-police"} }))
	if d := deliveryState(t, nca, idB, gwA, "share"); d.State != "refused" || len(d.Reasons) != 1 || d.Reasons[0].Code != "manifest_expired" || d.Receipt == "" {
		t.Fatalf("share from an expired peer: %+v", d)
	}
	// Recalls pass both ways: from the expired peer …
	if r := nca.MustDo("DELETE", "/v1/records/"+idB, nil); r.Status != 200 {
		t.Fatalf("recall at gw-national: %d %s", r.Status, r.Body)
	}
	if d := deliveryState(t, nca, idB, gwA, "recall"); d.State != "acknowledged" {
		t.Fatalf("recall from the expired peer: %+v", d)
	}
	// … and to it.
	if r := met.MustDo("DELETE", "/v1/records/"+idA, nil); r.Status != 200 {
		t.Fatalf("recall at gw-police: %d %s", r.Status, r.Body)
	}
	if d := deliveryState(t, met, idA, gwB, "recall"); d.State != "acknowledged" {
		t.Fatalf("recall to the expired peer: %+v", d)
	}
	for _, ps := range a.GW.Federation().PeerStates() {
		if ps.ID == gwB && !ps.ManifestExpired {
			t.Fatalf("peer state does not show the expiry: %+v", ps)
		}
	}
}

// TestManifestRefresh: a peer's newer manifest is fetched over the pinned
// connection and replaces the stored one; an unreachable peer keeps its
// last good manifest.
func TestManifestRefresh(t *testing.T) {
	f := manifestFederation(t, time.Hour)
	a, b := f.Gateways[gwA], f.Gateways[gwB]
	ctx := context.Background()
	f.Import(t, gwA, gwB)
	f.Import(t, gwB, gwA)
	first, _ := b.GW.Federation().Manifest()

	// Nothing newer: nothing changes.
	if err := a.GW.Federation().RefreshPeers(ctx); err != nil {
		t.Fatal(err)
	}
	p0, _ := a.GW.Federation().Peers().Peer(gwB)
	if !p0.ManifestExpires().Equal(first.Expires) {
		t.Fatal("the manifest changed without a newer one")
	}
	// Past half its validity gw-b re-signs; gw-a fetches the new one.
	b.SetClock(first.Issued.Add(first.Expires.Sub(first.Issued)/2 + time.Hour))
	second, err := b.GW.Federation().Manifest()
	if err != nil || !second.Issued.After(first.Issued) {
		t.Fatalf("gw-b did not re-sign: %v", err)
	}
	if err := a.GW.Federation().RefreshPeers(ctx); err != nil {
		t.Fatal(err)
	}
	p1, _ := a.GW.Federation().Peers().Peer(gwB)
	if !p1.ManifestExpires().Equal(second.Expires) || p1 == p0 {
		t.Fatalf("the newer manifest was not taken: expires %v, want %v", p1.ManifestExpires(), second.Expires)
	}
	stored, err := os.ReadFile(federation.ManifestPath(a.Cfg, gwB))
	if err != nil || strings.TrimSpace(string(stored)) != string(second.JWS) {
		t.Fatalf("the stored manifest is not the newer one: %v", err)
	}
	// gw-b down: the refresh fails, the last good manifest stays.
	b.Stop()
	if err := a.GW.Federation().RefreshPeers(ctx); err == nil {
		t.Fatal("a refresh from a stopped peer succeeded")
	}
	if p, ok := a.GW.Federation().Peers().Peer(gwB); !ok || p != p1 {
		t.Fatal("an unreachable peer lost its last good manifest")
	}
}

// TestManifestPeerIsWitnessed: the manifest carries the gateway's audit
// key, so a peer known only by its manifest is cross-witnessed like a
// declared one.
func TestManifestPeerIsWitnessed(t *testing.T) {
	f := gatewaytest.StartFederation(t, gatewaytest.FederationOptions{Gateways: 2, ManifestPeers: true,
		Configure: func(_ string, cfg *config.Config) {
			cfg.Federation.ReloadInterval = time.Hour
			cfg.Federation.WitnessInterval = 100 * time.Millisecond
			cfg.Audit.CheckpointInterval = 50 * time.Millisecond
		}})
	a, b := f.Gateways[gwA], f.Gateways[gwB]
	mb, err := b.GW.Federation().Manifest()
	if err != nil || len(mb.AuditKeys) == 0 {
		t.Fatalf("gw-national's manifest carries no audit keys: %v", err)
	}
	f.Import(t, gwA, gwB)
	f.Import(t, gwB, gwA)
	b.Client("hmrc").MustDo("GET", "/v1/records", nil) // grows gw-national's log
	deadline := time.Now().Add(20 * time.Second)
	for {
		var ok bool
		for _, e := range a.Audit() {
			if fe := e.Federation; fe != nil && fe.Direction == "witnessed" && fe.PeerGateway == gwB {
				if fe.Outcome != audit.WitnessConsistent {
					t.Fatalf("witnessing gw-national: %s (%s)", fe.Outcome, e.Error)
				}
				ok = true
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("gw-police never witnessed gw-national, known by manifest")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
