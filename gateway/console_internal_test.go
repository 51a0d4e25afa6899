package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/pki"
)

// TestDevIdPNeedsDevPKI: the console's dev identity provider is refused
// with a trust bundle holding any CA that is not a dev federation's.
func TestDevIdPNeedsDevPKI(t *testing.T) {
	dir := t.TempDir()
	fed, err := pki.EnsureDevFederation(filepath.Join(dir, "pki"), pki.DevOptions{Agencies: []string{"met-police"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := devTrustOnly([]string{fed.CAFile}); err != nil {
		t.Fatalf("dev CA refused: %v", err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Metropolitan Police Issuing CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	prod := filepath.Join(dir, "prod.pem")
	if err := os.WriteFile(prod, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	devPEM, _ := os.ReadFile(fed.CAFile)
	mixed := filepath.Join(dir, "mixed.pem")
	prodPEM, _ := os.ReadFile(prod)
	if err := os.WriteFile(mixed, append(devPEM, prodPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, files := range [][]string{{prod}, {fed.CAFile, prod}, {mixed}, nil, {filepath.Join(dir, "absent.pem")}} {
		if err := devTrustOnly(files); err == nil {
			t.Errorf("%v accepted", files)
		} else if len(files) > 0 && files[0] == prod && !strings.Contains(err.Error(), "not a dev federation CA") {
			t.Errorf("%v: %v", files, err)
		}
	}
}
