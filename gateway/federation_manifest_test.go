package gateway_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/federation"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
	"github.com/liaison-project/liaison/gateway/record"
)

// manifestFederation is gw-a (met-police, rocu-nw) and gw-b (nca, hmrc)
// with no peers declared: they know each other only by imported manifests.
func manifestFederation(t *testing.T, reload time.Duration) *gatewaytest.Federation {
	return gatewaytest.StartFederation(t, gatewaytest.FederationOptions{
		Hosts:         map[string][]string{"gw-a": {"met-police", "rocu-nw"}, "gw-b": {"nca", "hmrc"}},
		ManifestPeers: true,
		Configure: func(_ string, cfg *config.Config) {
			cfg.Federation.ReloadInterval = reload
		},
	})
}

// localRecord publishes a record at the gateway hosting from, to a
// recipient hosted there too, and returns its metadata with remote added
// as a recipient: the federation service is then asked to share it
// directly, so these tests do not depend on the federation.deliver policy.
func localRecord(t *testing.T, f *gatewaytest.Federation, from, local, remote string) *record.Meta {
	t.Helper()
	id := publish(t, f.Client(from), recordBody(func(m map[string]any) { m["recipients"] = []any{local} }))
	st, err := f.Gateways[f.Host[from]].GW.Records().Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	m := st.Meta
	m.Recipients = append(slices.Clone(m.Recipients), remote)
	return &m
}

// settled waits until every delivery of record id at gw is out of
// "pending", and returns them.
func settled(t *testing.T, gw *gatewaytest.Env, id string, n int) []api.Delivery {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		d, err := gw.GW.Federation().Deliveries(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		done := len(d.Items) >= n
		for _, it := range d.Items {
			if it.State == "pending" {
				done = false
			}
		}
		if done {
			return d.Items
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries of %s not settled: %+v", id, d.Items)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func find(items []api.Delivery, typ string) *api.Delivery {
	for i := range items {
		if items[i].Type == typ {
			return &items[i]
		}
	}
	return nil
}

// TestManifestImportWithoutRestart: a peer imported by manifest is picked
// up by the running gateway's reload loop, and a share then travels to it
// over mutual TLS pinned by the manifest's bundle, signed and answered with
// a receipt verified by the manifest's keys. A wrong fingerprint imports
// nothing.
func TestManifestImportWithoutRestart(t *testing.T) {
	f := manifestFederation(t, 50*time.Millisecond)
	a, b := f.Gateways["gw-a"], f.Gateways["gw-b"]
	ctx := context.Background()
	meta := localRecord(t, f, "met-police", "rocu-nw", "nca")
	if err := a.GW.Federation().Share(ctx, meta, "met-police", "", map[string][]string{"gw-b": {"nca"}}, nil); err == nil {
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
	if _, err := os.Stat(federation.ManifestPath(a.Cfg, "gw-b")); !os.IsNotExist(err) {
		t.Fatalf("a refused import left a file: %v", err)
	}
	// gw-b must know gw-a too, to accept its messages.
	f.Import(t, "gw-b", "gw-a")
	// `liaison peers add` on gw-a: no reload asked for, the loop finds it.
	if _, _, err := federation.ImportManifest(a.Cfg, mb.JWS, mb.Fingerprint, a.Now()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if p, ok := a.GW.Federation().Peers().HostOf("nca"); ok && p.ID == "gw-b" && p.Source == "manifest" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the running gateway did not pick up the imported manifest")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := a.GW.Federation().Share(ctx, meta, "met-police", "", map[string][]string{"gw-b": {"nca"}}, nil); err != nil {
		t.Fatalf("share after import: %v", err)
	}
	d := find(settled(t, a, meta.RecordID, 1), federation.TypeShare)
	if d == nil || d.Receipt == "" {
		t.Fatalf("no signed receipt from gw-b: %+v", d)
	}
	t.Logf("share to the imported peer: %s %+v", d.State, d.Reasons)
	// gw-b answered with its own decision (its policy's: until the
	// federation policy rules land it may refuse), never a binding or
	// manifest refusal.
	switch d.State {
	case "delivered":
	case "refused":
		for _, r := range d.Reasons {
			if r.Code == "manifest_expired" || r.Code == "agency_not_hosted_by_peer" || r.Code == "sender_mismatch" {
				t.Fatalf("gw-b refused on identity: %+v", d.Reasons)
			}
		}
	default:
		t.Fatalf("share to an imported peer: %+v", d)
	}
	// The admin view shows where the peer came from and until when.
	states := a.GW.Federation().PeerStates()
	if len(states) != 1 || states[0].Source != "manifest" || states[0].Fingerprint != mb.Fingerprint ||
		!states[0].ManifestExpires.Equal(mb.Expires) || states[0].ManifestExpired {
		t.Fatalf("peer states: %+v", states)
	}
	// Removed: gone at the next reload, and nothing more is queued for it.
	if _, err := federation.RemoveManifest(a.Cfg, "gw-b"); err != nil {
		t.Fatal(err)
	}
	if err := a.GW.Federation().ReloadPeers(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.GW.Federation().Peers().Peer("gw-b"); ok {
		t.Fatal("a removed peer is still known")
	}
	if err := a.GW.Federation().Share(ctx, meta, "met-police", "", map[string][]string{"gw-b": {"nca"}}, nil); err == nil {
		t.Fatal("a share to a removed peer was queued")
	}
}

// TestManifestExpiredBlocksSharesNotRecalls: when a peer's manifest has
// expired the peer stays known; shares to it are settled failed by the
// sender and shares from it refused (manifest_expired) by the receiver,
// while recalls flow both ways.
func TestManifestExpiredBlocksSharesNotRecalls(t *testing.T) {
	f := manifestFederation(t, time.Hour) // no reload or refresh but those asked for
	a, b := f.Gateways["gw-a"], f.Gateways["gw-b"]
	ctx := context.Background()
	f.Import(t, "gw-a", "gw-b")
	f.Import(t, "gw-b", "gw-a")
	mb, _ := b.GW.Federation().Manifest()

	// gw-a's clock passes gw-b's manifest's expiry (gw-b's does not).
	a.SetClock(mb.Expires.Add(time.Minute))
	pb, ok := a.GW.Federation().Peers().Peer("gw-b")
	if !ok || !pb.Expired(a.Now()) {
		t.Fatal("gw-b is not known as expired at gw-a")
	}

	// gw-a → gw-b: settled failed, with a reason, by the sender.
	ma := localRecord(t, f, "met-police", "rocu-nw", "nca")
	if err := a.GW.Federation().Share(ctx, ma, "met-police", "", map[string][]string{"gw-b": {"nca"}}, nil); err != nil {
		t.Fatal(err)
	}
	d := find(settled(t, a, ma.RecordID, 1), federation.TypeShare)
	if d == nil || d.State != "failed" || !strings.Contains(d.Error, "manifest of peer gw-b expired") {
		t.Fatalf("share to an expired peer: %+v", d)
	}
	// gw-b → gw-a: gw-b sends (gw-a's manifest is valid there), gw-a
	// refuses it.
	mbRec := localRecord(t, f, "nca", "hmrc", "met-police")
	if err := b.GW.Federation().Share(ctx, mbRec, "nca", "", map[string][]string{"gw-a": {"met-police"}}, nil); err != nil {
		t.Fatal(err)
	}
	d = find(settled(t, b, mbRec.RecordID, 1), federation.TypeShare)
	if d == nil || d.State != "refused" || len(d.Reasons) != 1 || d.Reasons[0].Code != "manifest_expired" || d.Receipt == "" {
		t.Fatalf("share from an expired peer: %+v", d)
	}

	// Recalls pass both ways: gw-b → gw-a (from the expired peer) …
	if peers, err := b.GW.Federation().Recall(ctx, mbRec.RecordID, "nca", 1); err != nil || !slices.Equal(peers, []string{"gw-a"}) {
		t.Fatalf("recall from gw-b: %v %v", peers, err)
	}
	if r := find(settled(t, b, mbRec.RecordID, 2), federation.TypeRecall); r == nil || r.State != "acknowledged" {
		t.Fatalf("recall from the expired peer: %+v", r)
	}
	// … and gw-a → gw-b (to the expired peer).
	if peers, err := a.GW.Federation().Recall(ctx, ma.RecordID, "met-police", 1); err != nil || !slices.Equal(peers, []string{"gw-b"}) {
		t.Fatalf("recall from gw-a: %v %v", peers, err)
	}
	if r := find(settled(t, a, ma.RecordID, 2), federation.TypeRecall); r == nil || r.State != "acknowledged" {
		t.Fatalf("recall to the expired peer: %+v", r)
	}
	for _, ps := range a.GW.Federation().PeerStates() {
		if ps.ID == "gw-b" && !ps.ManifestExpired {
			t.Fatalf("peer state does not show the expiry: %+v", ps)
		}
	}
}

// TestManifestRefresh: a peer's newer manifest is fetched over the pinned
// connection and replaces the stored one; an unreachable peer keeps its
// last good manifest.
func TestManifestRefresh(t *testing.T) {
	f := manifestFederation(t, time.Hour)
	a, b := f.Gateways["gw-a"], f.Gateways["gw-b"]
	ctx := context.Background()
	f.Import(t, "gw-a", "gw-b")
	f.Import(t, "gw-b", "gw-a")
	first, _ := b.GW.Federation().Manifest()

	// Nothing newer: nothing changes.
	if err := a.GW.Federation().RefreshPeers(ctx); err != nil {
		t.Fatal(err)
	}
	p0, _ := a.GW.Federation().Peers().Peer("gw-b")
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
	p1, _ := a.GW.Federation().Peers().Peer("gw-b")
	if !p1.ManifestExpires().Equal(second.Expires) || p1 == p0 {
		t.Fatalf("the newer manifest was not taken: expires %v, want %v", p1.ManifestExpires(), second.Expires)
	}
	stored, err := os.ReadFile(federation.ManifestPath(a.Cfg, "gw-b"))
	if err != nil || strings.TrimSpace(string(stored)) != string(second.JWS) {
		t.Fatalf("the stored manifest is not the newer one: %v", err)
	}
	// gw-b down: the refresh fails, the last good manifest stays.
	b.Stop()
	if err := a.GW.Federation().RefreshPeers(ctx); err == nil {
		t.Fatal("a refresh from a stopped peer succeeded")
	}
	if p, ok := a.GW.Federation().Peers().Peer("gw-b"); !ok || p != p1 {
		t.Fatal("an unreachable peer lost its last good manifest")
	}
}
