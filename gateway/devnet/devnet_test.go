package devnet_test

import (
	"crypto/x509"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"gopkg.in/yaml.v3"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/devnet"
	"github.com/liaison-project/liaison/policy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func split(t *testing.T, n int) map[string][]string {
	t.Helper()
	agencies, err := devnet.BundledAgencies(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	gws, err := devnet.Split(agencies, n)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	var order []string
	for _, g := range gws {
		out[g.ID] = g.Agencies
		order = append(order, g.ID)
	}
	out["_order"] = order
	return out
}

// The split of the bundled registry is the documented one, for every N.
func TestSplitBundled(t *testing.T) {
	tests := []struct {
		n    int
		want map[string][]string
	}{
		{2, map[string][]string{
			"_order":      {"gw-police", "gw-national"},
			"gw-police":   {"met-police", "rocu-nw"},
			"gw-national": {"border-force", "hmrc", "nca", "selec"},
		}},
		{3, map[string][]string{
			"_order":      {"gw-police", "gw-national", "gw-intl"},
			"gw-police":   {"met-police", "rocu-nw"},
			"gw-national": {"border-force", "hmrc", "nca"},
			"gw-intl":     {"selec"},
		}},
		{4, map[string][]string{
			"_order":      {"gw-police", "gw-national", "gw-intl", "gw-nca"},
			"gw-police":   {"met-police", "rocu-nw"},
			"gw-national": {"border-force", "hmrc"},
			"gw-intl":     {"selec"},
			"gw-nca":      {"nca"},
		}},
		{5, map[string][]string{
			"_order":      {"gw-police", "gw-national", "gw-intl", "gw-nca", "gw-rocu-nw"},
			"gw-police":   {"met-police"},
			"gw-national": {"border-force", "hmrc"},
			"gw-intl":     {"selec"},
			"gw-nca":      {"nca"},
			"gw-rocu-nw":  {"rocu-nw"},
		}},
	}
	for _, tt := range tests {
		if got := split(t, tt.n); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("N=%d: %v\nwant %v", tt.n, got, tt.want)
		}
	}
}

func TestSplitRules(t *testing.T) {
	reg := []policy.Agency{
		{ID: "europol", OrgType: "europol", Country: "NLD"},
		{ID: "gendarmerie", OrgType: "police", Country: "FRA"}, // foreign police: international
		{ID: "cps", OrgType: "prosecutor", Country: "GBR"},
		{ID: "psni", OrgType: "uk_police", Country: "GBR"},
	}
	gws, err := devnet.Split(reg, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []devnet.Gateway{
		{ID: "gw-police", TrustDomain: "police.liaison.dev", Agencies: []string{"psni"}},
		{ID: "gw-national", TrustDomain: "national.liaison.dev", Agencies: []string{"cps"}},
		{ID: "gw-intl", TrustDomain: "intl.liaison.dev", Agencies: []string{"europol", "gendarmerie"}},
	}
	if !reflect.DeepEqual(gws, want) {
		t.Fatalf("Split = %+v\nwant %+v", gws, want)
	}
	// Reordering the registry changes nothing.
	rev := slices.Clone(reg)
	slices.Reverse(rev)
	if again, _ := devnet.Split(rev, 3); !reflect.DeepEqual(again, want) {
		t.Fatalf("Split depends on registry order: %+v", again)
	}
	for _, bad := range []struct {
		name string
		reg  []policy.Agency
		n    int
	}{
		{"one gateway", reg, 1},
		{"six gateways", reg, 6},
		{"fewer agencies than gateways", reg[:2], 3},
		{"duplicate agency", append(slices.Clone(reg), reg[0]), 3},
		{"invalid agency id", []policy.Agency{{ID: "Bad Id"}, {ID: "x"}}, 2},
	} {
		if _, err := devnet.Split(bad.reg, bad.n); err == nil {
			t.Errorf("%s: no error", bad.name)
		}
	}
}

type fileState struct {
	data  string
	mtime time.Time
}

func snapshot(t *testing.T, dir string) map[string]fileState {
	t.Helper()
	out := map[string]fileState{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = fileState{string(b), fi.ModTime()}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEnsureIdempotent(t *testing.T) {
	dir := t.TempDir()
	opts := devnet.Options{Gateways: 3}
	first, err := devnet.Ensure(t.Context(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"devnet.json", "profiles/met-police.yaml", "gw-police/liaison.yaml",
		"gw-police/signing-keys.jwks.json", "gw-police/keys/gateway-signing.jwk.json", "gw-police/pki/ca.pem",
		"gw-intl/pki/agencies/selec/cert.pem"} {
		if !slices.Contains(first.Written, want) {
			t.Errorf("first call did not write %s (Written = %v)", want, first.Written)
		}
	}
	before := snapshot(t, dir)

	again, err := devnet.Ensure(t.Context(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Written) != 0 {
		t.Fatalf("second call wrote %v", again.Written)
	}
	after := snapshot(t, dir)
	if !reflect.DeepEqual(before, after) {
		for k := range before {
			if before[k] != after[k] {
				t.Errorf("%s changed", k)
			}
		}
		t.Fatalf("second call changed the directory (%d files before, %d after)", len(before), len(after))
	}

	// New ports (tests choose free ones each time) rewrite the
	// configurations and profiles, never a key or a certificate.
	moved, err := devnet.Ensure(t.Context(), dir, devnet.Options{Gateways: 3, Port: devnet.FreeLoopbackPort})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range moved.Written {
		if !strings.HasSuffix(w, "liaison.yaml") && !strings.HasPrefix(w, "profiles/") {
			t.Errorf("a port change rewrote %s", w)
		}
	}
	if !slices.Contains(moved.Written, "gw-intl/liaison.yaml") {
		t.Errorf("a port change did not rewrite the configuration: %v", moved.Written)
	}
	for _, nd := range moved.Nodes {
		if nd.Config.Listen == first.Node(nd.ID).Config.Listen {
			t.Errorf("%s: listen address unchanged (%s) although ports were chosen", nd.ID, nd.Config.Listen)
		}
	}

	// Growing to four gateways keeps everyone whose host does not change;
	// but nca would move from gw-national to gw-nca: refused.
	if _, err := devnet.Ensure(t.Context(), dir, devnet.Options{Gateways: 4}); err == nil || !strings.Contains(err.Error(), "nca") {
		t.Fatalf("moving nca to another gateway: err = %v", err)
	}
}

func TestEnsureNodes(t *testing.T) {
	dir := t.TempDir()
	n, err := devnet.Ensure(t.Context(), dir, devnet.Options{Gateways: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Nodes) != 3 {
		t.Fatalf("%d nodes", len(n.Nodes))
	}
	for i, nd := range n.Nodes {
		t.Run(nd.ID, func(t *testing.T) {
			cfg := nd.Config
			// Default ports: federation 7443+i, agency API 8443+i, admin 9443+i.
			wantListen := map[string]string{
				"federation.listen": "127.0.0.1:" + strconv.Itoa(7443+i),
				"listen":            "127.0.0.1:" + strconv.Itoa(8443+i),
				"admin_listen":      "127.0.0.1:" + strconv.Itoa(9443+i),
			}
			got := map[string]string{"federation.listen": cfg.Federation.Listen, "listen": cfg.Listen, "admin_listen": cfg.AdminListen}
			if !reflect.DeepEqual(got, wantListen) {
				t.Errorf("listeners %v, want %v", got, wantListen)
			}
			if cfg.GatewayID != nd.ID || cfg.TrustDomain != nd.TrustDomain || cfg.Officers.Audience != nd.ID {
				t.Errorf("identity: gateway_id %q trust_domain %q audience %q", cfg.GatewayID, cfg.TrustDomain, cfg.Officers.Audience)
			}
			if !slices.Equal(cfg.Federation.Agencies, nd.Agencies) {
				t.Errorf("federation.agencies = %v, want %v", cfg.Federation.Agencies, nd.Agencies)
			}
			// Everything lives in the node's own directory.
			for _, p := range []string{cfg.Keys.Local.Keyring, cfg.Store.FS.Dir, cfg.Audit.Path, cfg.Audit.SigningKey, cfg.Audit.HMACKey, cfg.Signing.Key, cfg.TLS.Cert,
				cfg.TLS.ClientCAs[0], cfg.Officers.JWKSDir, cfg.Federation.PeersDir} {
				if !strings.HasPrefix(p, nd.Dir+string(filepath.Separator)) {
					t.Errorf("%s is outside the node directory %s", p, nd.Dir)
				}
			}
			// The file on disk is the same configuration, and it validates
			// as `liaison serve --config` reads it (whatever --data-dir).
			loaded, err := config.Load(nd.ConfigFile, "/nonexistent", nil)
			if err != nil {
				t.Fatalf("liaison.yaml does not load: %v", err)
			}
			// (Compared as YAML: an empty list loads as [] where the
			// in-memory value holds nil.)
			lb, _ := yaml.Marshal(loaded)
			cb, _ := yaml.Marshal(cfg)
			if string(lb) != string(cb) {
				t.Errorf("liaison.yaml differs from the node's configuration:\n%s\n%s", lb, cb)
			}
			// Only the hosted agencies have officer keys here.
			entries, err := os.ReadDir(cfg.Officers.JWKSDir)
			if err != nil {
				t.Fatal(err)
			}
			var jwks []string
			for _, e := range entries {
				jwks = append(jwks, strings.TrimSuffix(e.Name(), ".json"))
			}
			if !slices.Equal(jwks, nd.Agencies) {
				t.Errorf("officer key sets %v, want %v", jwks, nd.Agencies)
			}
			// The gateway certificate names this gateway in this trust domain.
			c := readCert(t, cfg.TLS.Cert)
			if len(c.URIs) != 1 || c.URIs[0].String() != pki.GatewayURI(nd.TrustDomain, nd.ID) {
				t.Errorf("gateway certificate URIs %v", c.URIs)
			}
			// The published signing keys are the public half of the key the
			// gateway signs with.
			signer, err := jose.LoadOrCreateSigner(cfg.Signing.Key)
			if err != nil {
				t.Fatal(err)
			}
			pub, err := os.ReadFile(nd.SigningKeysFile)
			if err != nil {
				t.Fatal(err)
			}
			v, err := jose.NewVerifier(pub)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := signer.Sign([]byte(`{"probe":1}`))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(sig); err != nil {
				t.Errorf("published signing keys do not verify the gateway's signature: %v", err)
			}
			if strings.Contains(string(pub), `"d"`) {
				t.Error("published signing keys hold a private component")
			}
		})
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pki.ParseCertPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Every node declares every other node as a peer, naming that node's own
// files: its CA as the trust bundle, its published signing keys, its
// federation endpoint and its agencies.
func TestPeersReferenceEachOther(t *testing.T) {
	n, err := devnet.Ensure(t.Context(), t.TempDir(), devnet.Options{Gateways: 3, Port: devnet.FreeLoopbackPort})
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range n.Nodes {
		peers := nd.Config.Federation.Peers
		if len(peers) != len(n.Nodes)-1 {
			t.Fatalf("%s has %d peers", nd.ID, len(peers))
		}
		for _, p := range peers {
			o := n.Node(p.ID)
			if o == nil || o == nd {
				t.Fatalf("%s: peer %q is not another node", nd.ID, p.ID)
			}
			want := config.PeerConfig{
				ID: o.ID, TrustDomain: o.TrustDomain,
				Endpoint:    "https://localhost:" + o.Config.Federation.Listen[strings.LastIndex(o.Config.Federation.Listen, ":")+1:],
				TrustBundle: []string{filepath.Join(o.Dir, "pki", "ca.pem")},
				SigningKeys: filepath.Join(o.Dir, "signing-keys.jwks.json"),
				AuditKeys:   filepath.Join(o.Dir, "audit-keys.jwks.json"),
				Agencies:    o.Agencies,
			}
			if !reflect.DeepEqual(p, want) {
				t.Errorf("%s's peer %s = %+v\nwant %+v", nd.ID, o.ID, p, want)
			}
			for _, f := range append([]string{p.SigningKeys}, p.TrustBundle...) {
				if _, err := os.Stat(f); err != nil {
					t.Errorf("%s's peer %s names a missing file: %v", nd.ID, o.ID, err)
				}
			}
			// The peer's gateway certificate verifies against the bundle
			// pinned for it, for both directions of gateway-to-gateway mTLS.
			gw := readCert(t, o.Config.TLS.Cert)
			roots := x509.NewCertPool()
			roots.AddCert(readCert(t, p.TrustBundle[0]))
			for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
				if _, err := gw.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
					t.Errorf("%s's certificate does not verify against the bundle %s pins for it (%v): %v", o.ID, nd.ID, usage, err)
				}
			}
		}
	}
}

// Each gateway's agency trust bundle holds its own CA only: an agency
// certificate of one gateway is no client of another, and no two gateways
// share a CA.
func TestAgencyTrustIsPerGateway(t *testing.T) {
	n, err := devnet.Ensure(t.Context(), t.TempDir(), devnet.Options{Gateways: 3, Port: devnet.FreeLoopbackPort})
	if err != nil {
		t.Fatal(err)
	}
	pool := func(files []string) *x509.CertPool {
		p := x509.NewCertPool()
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !p.AppendCertsFromPEM(b) {
				t.Fatalf("%s holds no certificate", f)
			}
		}
		return p
	}
	cas := map[string]bool{}
	for _, a := range n.Nodes {
		if len(a.Config.TLS.ClientCAs) != 1 || a.Config.TLS.ClientCAs[0] != a.PKI.CAFile {
			t.Fatalf("%s: client CAs %v, want only its own CA", a.ID, a.Config.TLS.ClientCAs)
		}
		fp := pki.CertFingerprint(readCert(t, a.PKI.CAFile))
		if cas[fp] {
			t.Fatalf("%s shares a CA with another gateway", a.ID)
		}
		cas[fp] = true
		for _, agency := range a.Agencies {
			cert := readCert(t, a.PKI.AgencyCertFile(agency))
			for _, b := range n.Nodes {
				_, err := cert.Verify(x509.VerifyOptions{Roots: pool(b.Config.TLS.ClientCAs), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
				if b == a && err != nil {
					t.Errorf("%s's certificate does not verify at its own gateway %s: %v", agency, a.ID, err)
				}
				if b != a && err == nil {
					t.Errorf("%s's certificate (from %s) verifies against %s's client CAs", agency, a.ID, b.ID)
				}
			}
			// And its PKI holds no other gateway's agencies.
			for _, b := range n.Nodes {
				if b == a {
					continue
				}
				for _, other := range b.Agencies {
					if _, err := os.Stat(a.PKI.AgencyCertFile(other)); err == nil {
						t.Errorf("%s's PKI holds a certificate for %s, hosted by %s", a.ID, other, b.ID)
					}
				}
			}
		}
	}
}

// Every agency has a profile that points at the gateway hosting it.
func TestProfiles(t *testing.T) {
	n, err := devnet.Ensure(t.Context(), t.TempDir(), devnet.Options{Gateways: 3})
	if err != nil {
		t.Fatal(err)
	}
	all := n.Agencies()
	if len(all) != 6 {
		t.Fatalf("agencies %v", all)
	}
	for _, a := range all {
		b, err := os.ReadFile(n.ProfileFile(a))
		if err != nil {
			t.Fatal(err)
		}
		var p devnet.Profile
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		h := n.Host(a)
		want := devnet.Profile{
			Endpoint: "https://localhost:" + strconv.Itoa(8443+slices.Index(n.Nodes, h)), Agency: a,
			Cert: h.PKI.AgencyCertFile(a), Key: h.PKI.AgencyKeyFile(a), CA: h.PKI.CAFile,
			OfficerKey: h.PKI.OfficerKeyFile(a), Audience: h.ID,
		}
		if p != want {
			t.Errorf("profile %s = %+v\nwant %+v", a, p, want)
		}
	}
	if got := n.Host("hmrc").ID; got != "gw-national" {
		t.Errorf("hmrc hosted by %s", got)
	}
}

// A port chooser that repeats itself (as the system may, for a port just
// closed) never gives two listeners the same port.
func TestEnsurePortsDistinct(t *testing.T) {
	next := 20000
	repeating := func() (int, error) {
		next++
		return 20000 + next%4, nil // 20001, 20002, 20003, 20000, 20001, ...
	}
	if _, err := devnet.Ensure(t.Context(), t.TempDir(), devnet.Options{Gateways: 2, Port: repeating}); err == nil {
		t.Fatal("6 listeners from 4 distinct ports: no error")
	}
	seq := 30000
	fresh := func() (int, error) { seq++; return 30000 + (seq/2)%1000, nil } // each port twice in a row
	n, err := devnet.Ensure(t.Context(), t.TempDir(), devnet.Options{Gateways: 3, Port: fresh})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, nd := range n.Nodes {
		for _, a := range []string{nd.Config.Listen, nd.Config.AdminListen, nd.Config.Federation.Listen} {
			if seen[a] {
				t.Fatalf("%s given twice", a)
			}
			seen[a] = true
		}
	}
}
