package pki

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// snapshot records content and modification time of every file under dir.
type fileState struct {
	data  string
	mtime time.Time
	mode  fs.FileMode
}

func snapshot(t *testing.T, dir string) map[string]fileState {
	t.Helper()
	out := make(map[string]fileState)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out[rel+"/"] = fileState{mode: fi.Mode()}
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = fileState{data: string(data), mtime: fi.ModTime(), mode: fi.Mode()}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCertPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readDevCRL(t *testing.T, f *DevFederation) *x509.RevocationList {
	t.Helper()
	data, err := os.ReadFile(f.CRLFile)
	if err != nil {
		t.Fatal(err)
	}
	lists, err := parseCRLs(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(lists) != 1 {
		t.Fatalf("%d CRLs in crl.pem", len(lists))
	}
	if err := lists[0].CheckSignatureFrom(f.CA().Certificate()); err != nil {
		t.Fatalf("CRL signature: %v", err)
	}
	return lists[0]
}

func TestEnsureDevFederationLayout(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f, err := EnsureDevFederation(dir, DevOptions{
		Agencies: []string{"met-police", "hmrc", "met-police"},
		Now:      func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{
		"agencies/hmrc/cert.pem", "agencies/hmrc/key.pem", "agencies/hmrc/officer-key.jwk.json",
		"agencies/met-police/cert.pem", "agencies/met-police/key.pem", "agencies/met-police/officer-key.jwk.json",
		"ca-key.pem", "ca.pem", "crl.pem", "gateway/cert.pem", "gateway/key.pem",
		"jwks/hmrc.json", "jwks/met-police.json",
	}
	written := slices.Clone(f.Written)
	sort.Strings(written)
	if !slices.Equal(written, wantFiles) {
		t.Fatalf("Written = %v\nwant %v", written, wantFiles)
	}
	if !slices.Equal(f.Agencies, []string{"met-police", "hmrc"}) {
		t.Errorf("Agencies = %v", f.Agencies)
	}
	snap := snapshot(t, dir)
	for name, st := range snap {
		switch {
		case strings.HasSuffix(name, "/"):
			if st.mode.Perm() != 0o700 {
				t.Errorf("dir %s mode %v, want 0700", name, st.mode.Perm())
			}
		case strings.HasSuffix(name, "key.pem") || strings.HasSuffix(name, ".jwk.json"):
			if st.mode.Perm() != 0o600 {
				t.Errorf("%s mode %v, want 0600", name, st.mode.Perm())
			}
		}
	}

	ca := readCert(t, f.CAFile)
	t.Run("CA", func(t *testing.T) {
		if !ca.IsCA || ca.NotAfter.Sub(now) < CAValidity-time.Hour || ca.NotAfter.Sub(now) > CAValidity+time.Hour {
			t.Fatalf("CA IsCA=%v NotAfter=%v", ca.IsCA, ca.NotAfter)
		}
	})
	t.Run("gateway", func(t *testing.T) {
		c := readCert(t, f.GatewayCertFile)
		if err := c.CheckSignatureFrom(ca); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
			t.Errorf("EKU = %v", c.ExtKeyUsage)
		}
		// The same certificate must verify both as a server and as a
		// client (gateway-to-gateway mTLS) against the federation CA.
		roots := x509.NewCertPool()
		roots.AddCert(ca)
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("verify for usage %v: %v", usage, err)
			}
		}
		if err := c.VerifyHostname("localhost"); err != nil {
			t.Error(err)
		}
		if err := c.VerifyHostname("127.0.0.1"); err != nil {
			t.Error(err)
		}
		if err := c.VerifyHostname("::1"); err != nil {
			t.Error(err)
		}
		if len(c.URIs) != 1 || c.URIs[0].String() != "spiffe://liaison.dev/gateway/gw-dev" {
			t.Errorf("URIs = %v", c.URIs)
		}
		if got := c.NotAfter.Sub(now); got < LeafValidity-time.Hour || got > LeafValidity+time.Hour {
			t.Errorf("leaf validity %v", got)
		}
	})
	t.Run("agency", func(t *testing.T) {
		c := readCert(t, f.AgencyCertFile("hmrc"))
		if err := c.CheckSignatureFrom(ca); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
			t.Errorf("EKU = %v", c.ExtKeyUsage)
		}
		if c.Subject.CommonName != "hmrc" {
			t.Errorf("CN = %q", c.Subject.CommonName)
		}
		if id, err := AgencyFromCert(c, "liaison.dev"); err != nil || id != "hmrc" {
			t.Errorf("AgencyFromCert = %q, %v", id, err)
		}
	})
	t.Run("officer keys", func(t *testing.T) {
		priv, err := readOfficerKey(f.OfficerKeyFile("met-police"))
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(f.JWKSFile("met-police"))
		if err != nil {
			t.Fatal(err)
		}
		set, err := jwk.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		if set.Len() != 1 {
			t.Fatalf("JWKS has %d keys", set.Len())
		}
		pub, ok := set.LookupKeyID(priv.KeyID())
		if !ok {
			t.Fatal("public set lacks the private key's kid")
		}
		if isPriv, _ := jwk.IsPrivateKey(pub); isPriv {
			t.Fatal("public JWKS holds a private key")
		}
		if strings.Contains(string(data), `"d"`) {
			t.Fatal("public JWKS contains a private component")
		}
		other, err := readOfficerKey(f.OfficerKeyFile("hmrc"))
		if err != nil {
			t.Fatal(err)
		}
		if other.KeyID() == priv.KeyID() {
			t.Fatal("two agencies share an officer key")
		}
	})
	t.Run("empty CRL", func(t *testing.T) {
		if l := readDevCRL(t, f); len(l.RevokedCertificateEntries) != 0 {
			t.Fatalf("CRL has %d entries", len(l.RevokedCertificateEntries))
		}
	})
}

func TestEnsureDevFederationIdempotent(t *testing.T) {
	dir := t.TempDir()
	clock := time.Now()
	now := func() time.Time { return clock }
	opts := DevOptions{Agencies: []string{"met-police", "nca"}, Now: now}
	if _, err := EnsureDevFederation(dir, opts); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)

	t.Run("second call changes nothing", func(t *testing.T) {
		clock = clock.Add(24 * time.Hour)
		f, err := EnsureDevFederation(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Written) != 0 {
			t.Fatalf("Written = %v", f.Written)
		}
		after := snapshot(t, dir)
		for name, st := range before {
			if after[name] != st {
				t.Errorf("%s changed", name)
			}
		}
		if len(after) != len(before) {
			t.Errorf("file count %d -> %d", len(before), len(after))
		}
	})

	t.Run("new agency adds only its files", func(t *testing.T) {
		opts.Agencies = append(opts.Agencies, "selec")
		f, err := EnsureDevFederation(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		written := slices.Clone(f.Written)
		sort.Strings(written)
		want := []string{"agencies/selec/cert.pem", "agencies/selec/key.pem", "agencies/selec/officer-key.jwk.json", "jwks/selec.json"}
		if !slices.Equal(written, want) {
			t.Fatalf("Written = %v, want %v", written, want)
		}
		after := snapshot(t, dir)
		for name, st := range before {
			if after[name] != st {
				t.Errorf("%s changed", name)
			}
		}
	})

	t.Run("damaged files are replaced", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(dir, "gateway", "key.pem"), []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(dir, "jwks", "nca.json")); err != nil {
			t.Fatal(err)
		}
		f, err := EnsureDevFederation(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		written := slices.Clone(f.Written)
		sort.Strings(written)
		// The officer private key is intact, so only the public set is rewritten.
		want := []string{"gateway/cert.pem", "gateway/key.pem", "jwks/nca.json"}
		if !slices.Equal(written, want) {
			t.Fatalf("Written = %v, want %v", written, want)
		}
	})

	t.Run("leaves near expiry are renewed, CA kept", func(t *testing.T) {
		clock = clock.Add(LeafValidity - 3*24*time.Hour)
		f, err := EnsureDevFederation(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(f.Written, "ca.pem") || slices.Contains(f.Written, "ca-key.pem") {
			t.Fatalf("CA was replaced: %v", f.Written)
		}
		for _, want := range []string{"gateway/cert.pem", "agencies/nca/cert.pem", "agencies/selec/cert.pem", "crl.pem"} {
			if !slices.Contains(f.Written, want) {
				t.Errorf("%s not renewed (Written = %v)", want, f.Written)
			}
		}
		if slices.Contains(f.Written, "agencies/nca/officer-key.jwk.json") {
			t.Error("officer key replaced although it does not expire")
		}
	})

	t.Run("CA near expiry replaces everything issued", func(t *testing.T) {
		clock = clock.Add(CAValidity)
		f, err := EnsureDevFederation(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"ca.pem", "ca-key.pem", "crl.pem", "gateway/cert.pem", "agencies/met-police/cert.pem"} {
			if !slices.Contains(f.Written, want) {
				t.Errorf("%s not replaced (Written = %v)", want, f.Written)
			}
		}
		c := readCert(t, f.AgencyCertFile("met-police"))
		if err := c.CheckSignatureFrom(f.CA().Certificate()); err != nil {
			t.Fatalf("agency cert not from the new CA: %v", err)
		}
	})
}

// A gateway certificate issued before federation (server usage only) cannot
// authenticate the gateway to a peer; the next call must re-issue it with
// both usages and leave everything else alone.
func TestEnsureDevFederationReissuesServerOnlyGatewayCert(t *testing.T) {
	dir := t.TempDir()
	opts := DevOptions{Agencies: []string{"met-police"}}
	f, err := EnsureDevFederation(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := f.CA().Issue(LeafRequest{
		CommonName:  f.GatewayID,
		URIs:        []string{GatewayURI(f.TrustDomain, f.GatewayID)},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.GatewayCertFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.GatewayKeyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	old := readCert(t, f.GatewayCertFile)

	f, err = EnsureDevFederation(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	written := slices.Clone(f.Written)
	sort.Strings(written)
	if want := []string{"gateway/cert.pem", "gateway/key.pem"}; !slices.Equal(written, want) {
		t.Fatalf("Written = %v, want %v", written, want)
	}
	c := readCert(t, f.GatewayCertFile)
	if c.SerialNumber.Cmp(old.SerialNumber) == 0 {
		t.Fatal("server-only gateway certificate was kept")
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
		t.Fatalf("EKU = %v", c.ExtKeyUsage)
	}

	// And the re-issued certificate is then reused.
	f, err = EnsureDevFederation(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Written) != 0 {
		t.Fatalf("Written = %v after re-issue", f.Written)
	}
}

func TestEnsureDevFederationRejectsBadNames(t *testing.T) {
	tests := []struct {
		name string
		opts DevOptions
	}{
		{"agency upper case", DevOptions{Agencies: []string{"Met"}}},
		{"agency path", DevOptions{Agencies: []string{"../x"}}},
		{"gateway id", DevOptions{GatewayID: "gw dev"}},
		{"trust domain", DevOptions{TrustDomain: "Liaison.DEV"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := EnsureDevFederation(dir, tt.opts); !errors.Is(err, ErrInvalidName) {
				t.Fatalf("err = %v, want ErrInvalidName", err)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 0 {
				t.Fatalf("files written for invalid options: %v", entries)
			}
		})
	}
}

func TestRevoke(t *testing.T) {
	f, err := EnsureDevFederation(t.TempDir(), DevOptions{Agencies: []string{"hmrc"}})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := f.IssueClientCert("hmrc", ClientCertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	serial, err := SerialFromPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	first := readDevCRL(t, f)
	if err := f.Revoke(serial); err != nil {
		t.Fatal(err)
	}
	second := readDevCRL(t, f)
	if len(second.RevokedCertificateEntries) != 1 || second.RevokedCertificateEntries[0].SerialNumber.Cmp(serial) != 0 {
		t.Fatalf("entries = %v", second.RevokedCertificateEntries)
	}
	if second.Number.Cmp(first.Number) <= 0 {
		t.Fatalf("CRL number %v not above %v", second.Number, first.Number)
	}
	other := big.NewInt(42)
	if err := f.Revoke(serial, other); err != nil {
		t.Fatal(err)
	}
	third := readDevCRL(t, f)
	var got []string
	for _, e := range third.RevokedCertificateEntries {
		got = append(got, e.SerialNumber.String())
	}
	if want := []string{serial.String(), "42"}; !slices.Equal(got, want) {
		t.Fatalf("serials = %v, want %v (once each)", got, want)
	}
}

func TestIssueClientCertOptions(t *testing.T) {
	f, err := EnsureDevFederation(t.TempDir(), DevOptions{})
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-48 * time.Hour)
	tests := []struct {
		name  string
		id    string
		opts  ClientCertOptions
		check func(*x509.Certificate) bool
	}{
		{"defaults", "rocu-nw", ClientCertOptions{}, func(c *x509.Certificate) bool {
			return slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) &&
				c.URIs[0].String() == "spiffe://liaison.dev/agency/rocu-nw" && c.Subject.CommonName == "rocu-nw"
		}},
		{"expired", "rocu-nw", ClientCertOptions{NotBefore: past.Add(-time.Hour), NotAfter: past}, func(c *x509.Certificate) bool {
			return c.NotAfter.Equal(past.Truncate(time.Second))
		}},
		{"server usage", "rocu-nw", ClientCertOptions{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, func(c *x509.Certificate) bool {
			return slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth})
		}},
		{"no URI", "x", ClientCertOptions{URIs: []string{}}, func(c *x509.Certificate) bool { return len(c.URIs) == 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certPEM, keyPEM, err := f.IssueClientCert(tt.id, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(keyPEM), "PRIVATE KEY") {
				t.Fatal("no key PEM")
			}
			c, err := ParseCertPEM(certPEM)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Fatalf("certificate does not match options: EKU=%v URIs=%v NotAfter=%v", c.ExtKeyUsage, c.URIs, c.NotAfter)
			}
		})
	}
	if _, _, err := f.IssueClientCert("Bad Id", ClientCertOptions{}); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("err = %v, want ErrInvalidName", err)
	}
}
