package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// TestRegistryCLI: `liaison dsa` and `liaison agency` as a registry
// administrator — text for people, --json for machines — and a dev agency
// onboarded from a CSR gets a certificate, a profile, and works at once.
func TestRegistryCLI(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	pdir := t.TempDir()
	profileFor(t, env, pdir, "met-police")
	t.Setenv("LIAISON_PROFILE_DIR", pdir)
	tok, err := runCLI(t, "dev", "token", "--profile", "met-police", "--officer", "ra-1", "--roles", "registry_admin")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("LIAISON_TOKEN", strings.TrimSpace(tok))
	as := func(args ...string) (string, error) {
		return runCLI(t, append(args, "--profile", "met-police")...)
	}

	out, err := as("dsa", "list", "--json")
	var l api.RegistryDSAs
	if err != nil || api.Decode([]byte(out), &l) != nil || len(l.Items) < 3 {
		t.Fatalf("dsa list --json: %v %s", err, out)
	}
	if out, err = as("dsa", "suspend", "dsa-uk-soc", "-o", "text"); err != nil || !strings.Contains(out, "dsa dsa-uk-soc: suspend: active → suspended (registry version 1") {
		t.Fatalf("dsa suspend: %v %q", err, out)
	}
	if out, err = as("dsa", "show", "dsa-uk-soc", "-o", "text"); err != nil || !strings.Contains(out, "SUSPENDED") {
		t.Fatalf("dsa show: %v %q", err, out)
	}
	if _, err = as("dsa", "renew", "dsa-uk-soc", "--expiry", "2020-01-01", "-o", "text"); err == nil {
		t.Fatal("renewal to an earlier expiry must fail")
	}
	if out, err = as("dsa", "renew", "dsa-uk-soc", "--expiry", "2031-12-31", "--json"); err != nil || !strings.Contains(out, `"expiry 2031-12-31"`) {
		t.Fatalf("dsa renew: %v %s", err, out)
	}

	// The vocabularies.
	if out, err = as("enum", "add", "agency_types", "sl_police", "--description", "Sierra Leone Police", "-o", "text"); err != nil || !strings.Contains(out, "enumeration agency_types: add") {
		t.Fatalf("enum add: %v %q", err, out)
	}
	if out, err = as("enum", "list", "-o", "text"); err != nil || !strings.Contains(out, "sl_police") || !strings.Contains(out, "recipient_types") {
		t.Fatalf("enum list: %v %q", err, out)
	}

	// Dev onboarding from a CSR.
	dir := t.TempDir()
	keyFile, csrFile := writeCSR(t, dir)
	offKey, jwksFile := writeOfficerKey(t, dir)
	certOut := filepath.Join(dir, "sl-cert.pem")
	out, err = as("agency", "add", "sl-police", "--name", "Sierra Leone Police", "--type", "foreign_le", "--country", "SLE",
		"--csr", csrFile, "--dev-pki", env.Fed.Dir, "--cert-out", certOut, "--client-key", keyFile,
		"--jwks", jwksFile, "--officer-key", offKey, "-o", "text")
	if err != nil || !strings.Contains(out, "agency sl-police: add") || !strings.Contains(out, "CLI profile") {
		t.Fatalf("agency add: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(pdir, "sl-police.yaml")); err != nil {
		t.Fatalf("no profile written: %v", err)
	}
	// The new agency works at once, with its own officer's token.
	slTok, err := runCLI(t, "dev", "token", "--profile", "sl-police", "--officer", "sl-1")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, "records", "list", "--profile", "sl-police", "--token", strings.TrimSpace(slTok), "-o", "json"); err != nil || !strings.Contains(out, `"items"`) {
		t.Fatalf("new agency lists: %v %s", err, out)
	}
	if out, err = as("agency", "list", "-o", "text"); err != nil || !strings.Contains(out, "sl-police") || !strings.Contains(out, "registry") {
		t.Fatalf("agency list: %v %s", err, out)
	}
	if out, err = as("agency", "suspend", "sl-police", "-o", "text"); err != nil || !strings.Contains(out, "active → suspended") {
		t.Fatalf("agency suspend: %v %s", err, out)
	}
	out, err = runCLI(t, "records", "list", "--profile", "sl-police", "--token", strings.TrimSpace(slTok), "-o", "json")
	if err == nil || !strings.Contains(out, "agency-suspended") {
		t.Fatalf("suspended agency: %v %s", err, out)
	}
	if out, err = as("agency", "show", "sl-police", "--json"); err != nil || !strings.Contains(out, `"status":"suspended"`) {
		t.Fatalf("agency show: %v %s", err, out)
	}
	if _, err = as("agency", "remove", "sl-police", "-o", "text"); err != nil {
		t.Fatal(err)
	}
}

func writeCSR(t *testing.T, dir string) (keyFile, csrFile string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "sl-police"}}, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	keyFile, csrFile = filepath.Join(dir, "sl-key.pem"), filepath.Join(dir, "sl.csr")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(csrFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return keyFile, csrFile
}

func writeOfficerKey(t *testing.T, dir string) (private, jwks string) {
	t.Helper()
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := jwk.FromRaw(raw)
	_ = k.Set(jwk.AlgorithmKey, jwa.ES256)
	_ = jwk.AssignKeyID(k)
	pub, _ := k.PublicKey()
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	pb, _ := json.Marshal(k)
	sb, _ := json.Marshal(set)
	private, jwks = filepath.Join(dir, "officer.jwk.json"), filepath.Join(dir, "officer.jwks.json")
	if err := os.WriteFile(private, pb, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jwks, sb, 0o644); err != nil {
		t.Fatal(err)
	}
	return private, jwks
}
