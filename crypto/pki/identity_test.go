package pki

import (
	"crypto/x509"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
)

func TestAgencyFromCert(t *testing.T) {
	const td = "liaison.dev"
	tests := []struct {
		name string
		uris []string
		want string // "" means an error is expected
	}{
		{"valid agency", []string{"spiffe://liaison.dev/agency/met-police"}, "met-police"},
		{"valid digits", []string{"spiffe://liaison.dev/agency/0rocu-nw9"}, "0rocu-nw9"},
		{"no URI SAN", nil, ""},
		{"two URI SANs", []string{"spiffe://liaison.dev/agency/met-police", "spiffe://liaison.dev/agency/hmrc"}, ""},
		{"other trust domain", []string{"spiffe://other.dev/agency/met-police"}, ""},
		{"gateway id", []string{"spiffe://liaison.dev/gateway/gw-dev"}, ""},
		{"https scheme", []string{"https://liaison.dev/agency/met-police"}, ""},
		{"upper case id", []string{"spiffe://liaison.dev/agency/Met-Police"}, ""},
		{"leading hyphen", []string{"spiffe://liaison.dev/agency/-met"}, ""},
		{"id too long", []string{"spiffe://liaison.dev/agency/" + strings.Repeat("a", 64)}, ""},
		{"longest id", []string{"spiffe://liaison.dev/agency/" + strings.Repeat("a", 63)}, strings.Repeat("a", 63)},
		{"sub path", []string{"spiffe://liaison.dev/agency/met-police/x"}, ""},
		{"dot segment", []string{"spiffe://liaison.dev/agency/../agency/hmrc"}, ""},
		{"escaped path", []string{"spiffe://liaison.dev/agency/met%2Dpolice"}, ""},
		{"port", []string{"spiffe://liaison.dev:443/agency/met-police"}, ""},
		{"query", []string{"spiffe://liaison.dev/agency/met-police?x=1"}, ""},
		{"fragment", []string{"spiffe://liaison.dev/agency/met-police#x"}, ""},
		{"user info", []string{"spiffe://hmrc@liaison.dev/agency/met-police"}, ""},
		{"empty id", []string{"spiffe://liaison.dev/agency/"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := &x509.Certificate{}
			for _, s := range tt.uris {
				u, err := url.Parse(s)
				if err != nil {
					t.Fatalf("parse %q: %v", s, err)
				}
				cert.URIs = append(cert.URIs, u)
			}
			got, err := AgencyFromCert(cert, td)
			if tt.want == "" {
				if !errors.Is(err, ErrNoIdentity) {
					t.Fatalf("AgencyFromCert = %q, %v; want ErrNoIdentity", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("AgencyFromCert = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	t.Run("nil certificate", func(t *testing.T) {
		if _, err := AgencyFromCert(nil, td); !errors.Is(err, ErrNoIdentity) {
			t.Fatalf("err = %v, want ErrNoIdentity", err)
		}
	})
}

func TestAgencyFromConnStateRequiresVerifiedChain(t *testing.T) {
	if _, _, err := AgencyFromConnState(nil, "liaison.dev"); !errors.Is(err, ErrUnverified) {
		t.Fatalf("err = %v, want ErrUnverified", err)
	}
}

// The expected values were computed with openssl from the fixture:
//
//	openssl x509 -in testdata/agency-cert.pem -noout -fingerprint -sha256
//	openssl x509 -in testdata/agency-cert.pem -outform DER | openssl dgst -sha256 -binary | basenc --base64url
func TestFingerprints(t *testing.T) {
	data, err := os.ReadFile("testdata/agency-cert.pem")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ParseCertPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, got, want string
	}{
		{"hex SHA-256", CertFingerprint(cert), "0084797ae511f4360ac0162e1c026605b406d4239dd8aa6b86c7a6bd1794daa5"},
		{"x5t#S256", CertThumbprintS256(cert), "AIR5euUR9DYKwBYuHAJmBbQG1COd2KprhsemvReU2qU"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %s, want %s", tt.got, tt.want)
			}
		})
	}
	t.Run("identity of fixture", func(t *testing.T) {
		if id, err := AgencyFromCert(cert, "liaison.dev"); err != nil || id != "met-police" {
			t.Fatalf("AgencyFromCert = %q, %v", id, err)
		}
	})
}
