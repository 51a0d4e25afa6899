package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/federation"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// TestPeersCLI: `peers manifest` at one gateway, `peers add` at the other
// (refused under a wrong fingerprint, accepted under the right one), the
// running gateway picks the peer up without a restart, `peers list --json`
// and `peers show` read it from the admin listener, and `peers remove`
// refuses a declared peer and removes an imported one.
func TestPeersCLI(t *testing.T) {
	f := gatewaytest.StartFederation(t, gatewaytest.FederationOptions{Gateways: 2, ManifestPeers: true,
		Configure: func(_ string, cfg *config.Config) { cfg.Federation.ReloadInterval = 50 * time.Millisecond }})
	a, b := f.Host("met-police"), f.Host("hmrc")
	cfgA, cfgB := writeConfig(t, a.Cfg), writeConfig(t, b.Cfg)
	idB := b.Cfg.GatewayID

	// The gateway wrote its manifest at start; wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(b.Cfg.Federation.ManifestFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("gateway b wrote no manifest")
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, err := runCLI(t, "peers", "manifest", "--config", cfgB, "--json")
	if err != nil {
		t.Fatalf("peers manifest: %v", err)
	}
	var own struct {
		GatewayID   string `json:"gateway_id"`
		Fingerprint string `json:"fingerprint"`
		Manifest    string `json:"manifest"`
	}
	if err := json.Unmarshal([]byte(out), &own); err != nil || own.GatewayID != idB || own.Fingerprint == "" {
		t.Fatalf("peers manifest output %q: %v", out, err)
	}
	file := filepath.Join(t.TempDir(), "b.manifest.jws")
	if err := os.WriteFile(file, []byte(own.Manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	mA, err := a.GW.Federation().Manifest()
	if err != nil {
		t.Fatal(err)
	}

	// A wrong fingerprint (gateway a's own) is refused and writes nothing.
	if _, err := runCLI(t, "peers", "add", file, "--fingerprint", mA.Fingerprint, "--config", cfgA); err == nil ||
		!strings.Contains(err.Error(), "fingerprint") {
		t.Fatalf("add under a wrong fingerprint: %v", err)
	}
	if _, err := runCLI(t, "peers", "add", file, "--config", cfgA); err == nil || !strings.Contains(err.Error(), "--fingerprint") {
		t.Fatalf("add without a fingerprint: %v", err)
	}
	if _, err := os.Stat(federation.ManifestPath(a.Cfg, idB)); !os.IsNotExist(err) {
		t.Fatalf("a refused add wrote the manifest: %v", err)
	}
	// Its own manifest cannot be imported as a peer.
	ownFile := filepath.Join(t.TempDir(), "a.manifest.jws")
	os.WriteFile(ownFile, mA.JWS, 0o644)
	if _, err := runCLI(t, "peers", "add", ownFile, "--fingerprint", mA.Fingerprint, "--config", cfgA); err == nil ||
		!strings.Contains(err.Error(), "own manifest") {
		t.Fatalf("add of its own manifest: %v", err)
	}

	if _, err := runCLI(t, "peers", "add", file, "--fingerprint", own.Fingerprint, "--config", cfgA); err != nil {
		t.Fatalf("add: %v", err)
	}
	var states []federation.PeerState
	deadline = time.Now().Add(10 * time.Second)
	for len(states) == 0 {
		out, err := runCLI(t, "peers", "list", "--admin", a.AdminURL, "--json")
		if err != nil {
			t.Fatalf("peers list: %v", err)
		}
		if err := json.Unmarshal([]byte(out), &states); err != nil {
			t.Fatalf("peers list output %q: %v", out, err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the running gateway did not pick up the added peer")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(states) != 1 || states[0].ID != idB || states[0].Source != "manifest" || states[0].Fingerprint != own.Fingerprint ||
		states[0].ManifestExpires.IsZero() || !strings.Contains(strings.Join(states[0].Agencies, ","), "hmrc") {
		t.Fatalf("peers list: %+v", states)
	}
	out, err = runCLI(t, "peers", "show", idB, "--admin", a.AdminURL)
	if err != nil || !strings.Contains(out, "source:           manifest") || !strings.Contains(out, own.Fingerprint) {
		t.Fatalf("peers show: %q %v", out, err)
	}
	if _, err := runCLI(t, "peers", "show", "gw-nobody", "--admin", a.AdminURL); err == nil {
		t.Fatal("show of an unknown peer succeeded")
	}

	if _, err := runCLI(t, "peers", "remove", idB, "--config", cfgA); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if _, err := os.Stat(federation.ManifestPath(a.Cfg, idB)); !os.IsNotExist(err) {
		t.Fatalf("remove left the manifest: %v", err)
	}
	// A declared peer is refused, saying where it is declared.
	declared := a.Cfg
	declared.Federation.Peers = []config.PeerConfig{{ID: "gw-decl", TrustDomain: "decl.liaison.dev", Endpoint: "https://localhost:1",
		TrustBundle: []string{b.Fed.CAFile}, SigningKeys: "x.jwks", Agencies: []string{"selec-x"}}}
	if _, err := runCLI(t, "peers", "remove", "gw-decl", "--config", writeConfig(t, declared)); err == nil ||
		!strings.Contains(err.Error(), "liaison.yaml") {
		t.Fatalf("remove of a declared peer: %v", err)
	}
}
