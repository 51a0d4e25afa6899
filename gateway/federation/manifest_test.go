package federation

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/config"
)

var t0 = time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)

// testGateway is a gateway's signing key and CA, enough to sign manifests.
type testGateway struct {
	id     string
	signer *jose.Signer
	audit  []byte // public JWKS of its audit key
	ca     *pki.CA
}

func newTestGateway(t testing.TB, id string) *testGateway {
	t.Helper()
	s, err := jose.LoadOrCreateSigner(filepath.Join(t.TempDir(), "signing.jwk.json"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.NewTestCA(id + " CA")
	if err != nil {
		t.Fatal(err)
	}
	as, err := jose.LoadOrCreateSigner(filepath.Join(t.TempDir(), "audit.jwk.json"))
	if err != nil {
		t.Fatal(err)
	}
	ajwks, err := as.PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	return &testGateway{id: id, signer: s, audit: compactJSON(ajwks), ca: ca}
}

func (g *testGateway) manifest(t testing.TB, issued time.Time, agencies ...string) Manifest {
	t.Helper()
	jwks, err := g.signer.PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	return Manifest{Format: manifestFormat, GatewayID: g.id, TrustDomain: g.id + ".liaison.dev", Endpoint: "https://localhost:7443",
		TrustBundle: string(g.ca.CertPEM()), SigningKeys: compactJSON(jwks), AuditKeys: g.audit, Agencies: agencies, DSAs: []string{"dsa-uk-soc"},
		Issued: issued.Format(time.RFC3339), Expires: issued.Add(24 * time.Hour).Format(time.RFC3339)}
}

func (g *testGateway) sign(t testing.TB, m Manifest) []byte {
	t.Helper()
	jws, err := SignManifest(g.signer, m)
	if err != nil {
		t.Fatal(err)
	}
	return jws
}

func TestManifestSignVerifyExpiry(t *testing.T) {
	g := newTestGateway(t, "gw-b")
	m := g.manifest(t, t0, "hmrc", "nca")
	jws := g.sign(t, m)
	sm, err := OpenManifest(jws, g.signer.KeyID())
	if err != nil {
		t.Fatalf("a manifest signed by the pinned key is refused: %v", err)
	}
	if !reflect.DeepEqual(sm.Manifest, m) || sm.Fingerprint != g.signer.KeyID() || !sm.Issued.Equal(t0) || !sm.Expires.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("opened manifest differs: %+v", sm)
	}
	if sm.Expired(t0.Add(24*time.Hour-time.Second)) || !sm.Expired(t0.Add(24*time.Hour)) {
		t.Fatal("expiry is not at expires")
	}
	p := sm.peer()
	if p.Source != "manifest" || !p.Hosts("nca") || p.Hosts("met-police") || p.Expired(t0) || !p.Expired(t0.Add(25*time.Hour)) {
		t.Fatalf("peer from manifest: %+v", p)
	}
	// Its audit key is pinned with it: the peer is witnessed.
	if string(p.auditKeys) != string(g.audit) {
		t.Fatalf("audit keys of the peer: %s", p.auditKeys)
	}
	// The keys it carries verify the peer's messages.
	env, err := g.signer.Sign([]byte(`{"x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.keys.Verify(env); err != nil {
		t.Fatalf("the manifest's keys do not verify the peer's signatures: %v", err)
	}
	// openStored pins the key the JWS names (checked at import).
	if st, err := openStored(jws); err != nil || st.Fingerprint != g.signer.KeyID() {
		t.Fatalf("openStored: %v", err)
	}
}

func TestManifestPin(t *testing.T) {
	victim := newTestGateway(t, "gw-b")
	attacker := newTestGateway(t, "gw-x")
	m := victim.manifest(t, t0, "nca")
	if _, err := OpenManifest(victim.sign(t, m), attacker.signer.KeyID()); err == nil {
		t.Fatal("a manifest was accepted under another gateway's fingerprint")
	}
	// The attacker carries the victim's key beside its own and signs with
	// its own: pinned to the victim's fingerprint, it is refused.
	vj, _ := victim.signer.PublicJWKS()
	aj, _ := attacker.signer.PublicJWKS()
	var vs, as struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if json.Unmarshal(vj, &vs) != nil || json.Unmarshal(aj, &as) != nil {
		t.Fatal("jwks")
	}
	both, _ := json.Marshal(map[string]any{"keys": append(vs.Keys, as.Keys...)})
	m.SigningKeys = both
	forged := attacker.sign(t, m)
	if _, err := OpenManifest(forged, victim.signer.KeyID()); err == nil {
		t.Fatal("a manifest signed by another key than the pinned one was accepted")
	}
	if sm, err := OpenManifest(forged, attacker.signer.KeyID()); err != nil || sm.Fingerprint != attacker.signer.KeyID() {
		t.Fatalf("a manifest carrying two keys, signed by the pinned one, is refused: %v", err)
	}
	if _, err := OpenManifest(victim.sign(t, victim.manifest(t, t0, "nca")), ""); err == nil {
		t.Fatal("a manifest was accepted without a fingerprint")
	}
}

func TestManifestTamper(t *testing.T) {
	g := newTestGateway(t, "gw-b")
	jws := string(g.sign(t, g.manifest(t, t0, "nca")))
	fp := g.signer.KeyID()
	parts := strings.Split(jws, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var doc map[string]any
	if err := json.Unmarshal(payload, &doc); err != nil {
		t.Fatal(err)
	}
	doc["agencies"] = []string{"nca", "met-police"}
	changed, _ := json.Marshal(doc)
	cases := map[string]string{
		"payload swapped":   parts[0] + "." + base64.RawURLEncoding.EncodeToString(changed) + "." + parts[2],
		"signature flipped": parts[0] + "." + parts[1] + "." + flip(parts[2]),
		"truncated":         jws[:len(jws)-4],
		"two parts":         parts[0] + "." + parts[1],
	}
	for name, bad := range cases {
		if _, err := OpenManifest([]byte(bad), fp); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !errors.Is(err, errManifest) {
			t.Errorf("%s: error is not a manifest refusal: %v", name, err)
		}
	}
	// Strict: a member this version does not know is refused, even signed.
	doc["agencies"] = []string{"nca"}
	doc["extra"] = true
	extra, _ := json.Marshal(doc)
	sig, err := g.signer.Sign(extra)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenManifest(sig, fp); err == nil {
		t.Fatal("a manifest with an unknown member was accepted")
	}
	// Audit keys that are not an Ed25519 public key set are refused.
	m := g.manifest(t, t0, "nca")
	m.AuditKeys = json.RawMessage(`{"keys":[]}`)
	if _, err := OpenManifest(g.sign(t, m), fp); err == nil {
		t.Fatal("empty audit keys were accepted")
	}
	// A trust bundle that is not a CA is refused.
	m = g.manifest(t, t0, "nca")
	leaf, _, err := g.ca.Issue(pki.LeafRequest{CommonName: "leaf"})
	if err != nil {
		t.Fatal(err)
	}
	m.TrustBundle = string(leaf)
	if _, err := OpenManifest(g.sign(t, m), fp); err == nil {
		t.Fatal("a trust bundle holding a leaf certificate was accepted")
	}
}

func flip(s string) string {
	b := []byte(s)
	if b[3] == 'A' {
		b[3] = 'B'
	} else {
		b[3] = 'A'
	}
	return string(b)
}

// importConfig is gateway gw-a hosting met-police, with a declared peer
// gw-c hosting rocu-nw.
func importConfig(t *testing.T) config.Config {
	dir := t.TempDir()
	cfg := config.Defaults(dir)
	cfg.GatewayID = "gw-a"
	cfg.Federation.Listen = "127.0.0.1:7443"
	cfg.Federation.Agencies = []string{"met-police"}
	cfg.Federation.Peers = []config.PeerConfig{{ID: "gw-c", Agencies: []string{"rocu-nw"}}}
	return cfg
}

func TestImportManifest(t *testing.T) {
	cfg := importConfig(t)
	b := newTestGateway(t, "gw-b")
	fp := b.signer.KeyID()
	now := t0.Add(time.Hour)

	refused := map[string][]byte{
		"expired":              b.sign(t, b.manifest(t, t0.Add(-48*time.Hour), "nca")),
		"hosts our agency":     b.sign(t, b.manifest(t, t0, "nca", "met-police")),
		"hosts a peer's":       b.sign(t, b.manifest(t, t0, "rocu-nw")),
		"this gateway":         newTestGateway(t, "gw-a").sign(t, newTestGateway(t, "gw-a").manifest(t, t0, "nca")),
		"declared in the file": newTestGateway(t, "gw-c").sign(t, newTestGateway(t, "gw-c").manifest(t, t0, "nca")),
	}
	for name, jws := range refused {
		k, _ := jwsKeyID(jws)
		if _, _, err := ImportManifest(cfg, jws, k, now); err == nil {
			t.Errorf("%s: imported", name)
		}
	}
	if _, err := os.Stat(cfg.Federation.PeersDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused import wrote something: %v", err)
	}
	good := b.sign(t, b.manifest(t, t0, "nca"))
	if _, _, err := ImportManifest(cfg, good, newTestGateway(t, "gw-x").signer.KeyID(), now); err == nil {
		t.Fatal("imported under a wrong fingerprint")
	}
	sm, path, err := ImportManifest(cfg, good, fp, now)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if path != filepath.Join(cfg.Federation.PeersDir, "gw-b.jws") || sm.GatewayID != "gw-b" {
		t.Fatalf("imported to %s as %s", path, sm.GatewayID)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("manifest file: %v %v", fi, err)
	}
	// Another gateway claiming an agency an imported peer hosts.
	d := newTestGateway(t, "gw-d")
	if _, _, err := ImportManifest(cfg, d.sign(t, d.manifest(t, t0, "nca")), d.signer.KeyID(), now); err == nil {
		t.Fatal("an agency hosted by an imported peer was claimed by another")
	}
	// Older than the manifest held: refused; newer: replaces it.
	if _, _, err := ImportManifest(cfg, b.sign(t, b.manifest(t, t0.Add(-time.Minute), "nca")), fp, now); err == nil {
		t.Fatal("an older manifest replaced a newer one")
	}
	if _, _, err := ImportManifest(cfg, b.sign(t, b.manifest(t, t0.Add(time.Minute), "nca", "hmrc")), fp, now); err != nil {
		t.Fatalf("a newer manifest: %v", err)
	}
}

func TestRemoveManifest(t *testing.T) {
	cfg := importConfig(t)
	if _, err := RemoveManifest(cfg, "gw-c"); err == nil || !strings.Contains(err.Error(), "liaison.yaml") {
		t.Fatalf("removing a declared peer: %v", err)
	}
	if _, err := RemoveManifest(cfg, "gw-b"); err == nil {
		t.Fatal("removing a peer never imported succeeded")
	}
	if _, err := RemoveManifest(cfg, "../x"); err == nil {
		t.Fatal("a path was accepted as a gateway id")
	}
	b := newTestGateway(t, "gw-b")
	if _, _, err := ImportManifest(cfg, b.sign(t, b.manifest(t, t0, "nca")), b.signer.KeyID(), t0); err != nil {
		t.Fatal(err)
	}
	if _, err := RemoveManifest(cfg, "gw-b"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ManifestPath(cfg, "gw-b")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the manifest is still there")
	}
}

func TestRegistryReload(t *testing.T) {
	cfg := importConfig(t)
	cfg.Federation.Peers = nil
	reg, err := NewRegistry(cfg)
	if err != nil || len(reg.Peers()) != 0 {
		t.Fatalf("empty registry: %v %v", reg, err)
	}
	b := newTestGateway(t, "gw-b")
	if _, _, err := ImportManifest(cfg, b.sign(t, b.manifest(t, t0, "nca")), b.signer.KeyID(), t0); err != nil {
		t.Fatal(err)
	}
	changed, err := reg.reload()
	if err != nil || !changed {
		t.Fatalf("reload after import: changed=%v err=%v", changed, err)
	}
	pb, ok := reg.HostOf("nca")
	if !ok || pb.ID != "gw-b" || pb.Fingerprint() != b.signer.KeyID() {
		t.Fatalf("nca is not hosted by gw-b after reload: %+v", pb)
	}
	// Nothing changed: the same peer (its sender keeps running).
	if changed, err := reg.reload(); err != nil || changed {
		t.Fatalf("idle reload: changed=%v err=%v", changed, err)
	}
	if p, _ := reg.Peer("gw-b"); p != pb {
		t.Fatal("an unchanged peer was rebuilt")
	}
	// A conflicting file (written behind the CLI's back): refused, the
	// last good set stays.
	d := newTestGateway(t, "gw-d")
	if err := os.WriteFile(ManifestPath(cfg, "gw-d"), d.sign(t, d.manifest(t, t0, "nca")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.reload(); err == nil || !strings.Contains(err.Error(), "gw-d") {
		t.Fatalf("a conflicting manifest was not refused: %v", err)
	}
	if p, ok := reg.HostOf("nca"); !ok || p != pb {
		t.Fatal("the last good set was not kept")
	}
	if _, err := NewRegistry(cfg); err == nil {
		t.Fatal("a gateway would start on a conflicting peer set")
	}
	// A file named for another gateway than it holds.
	os.Remove(ManifestPath(cfg, "gw-d"))
	if err := os.WriteFile(ManifestPath(cfg, "gw-e"), d.sign(t, d.manifest(t, t0, "hmrc")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.reload(); err == nil {
		t.Fatal("a manifest under another gateway's name was accepted")
	}
	os.Remove(ManifestPath(cfg, "gw-e"))
	// Removed: the peer is gone.
	if _, err := RemoveManifest(cfg, "gw-b"); err != nil {
		t.Fatal(err)
	}
	if changed, err := reg.reload(); err != nil || !changed {
		t.Fatalf("reload after remove: %v %v", changed, err)
	}
	if _, ok := reg.Peer("gw-b"); ok {
		t.Fatal("a removed peer is still known")
	}
}

func TestAdvertisedEndpoint(t *testing.T) {
	for listen, want := range map[string]string{"127.0.0.1:7443": "https://localhost:7443", "10.0.0.5:7443": "https://10.0.0.5:7443",
		"0.0.0.0:7443": "https://localhost:7443", "gw.example:7443": "https://gw.example:7443"} {
		if got := (config.FederationConfig{Listen: listen}).AdvertisedEndpoint(); got != want {
			t.Errorf("%s: %s, want %s", listen, got, want)
		}
	}
	if got := (config.FederationConfig{Listen: "127.0.0.1:1", Endpoint: "https://gw.example:8443/"}).AdvertisedEndpoint(); got != "https://gw.example:8443" {
		t.Errorf("endpoint: %s", got)
	}
}
