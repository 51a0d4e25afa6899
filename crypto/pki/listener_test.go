package pki

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHandshakeListenerReportsRefusals: real handshakes against the
// listener; each certificate refusal is reported with its kind and the
// certificate presented, and a good client reaches Accept.
func TestHandshakeListenerReportsRefusals(t *testing.T) {
	fed, err := EnsureDevFederation(t.TempDir(), DevOptions{Agencies: []string{"met-police"}})
	if err != nil {
		t.Fatal(err)
	}
	opts := fed.ServerTLSOptions()
	opts.ReloadInterval = 0
	opts.TrustDomain = testTD
	srv, err := NewServerTLS(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusals := make(chan Refusal, 16)
	ln := NewHandshakeListener(inner, srv.Config(), HandshakeOptions{Timeout: 10 * time.Second,
		OnRefusal: func(r Refusal) { refusals <- r }})
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, "ok\n")
			_ = c.Close()
		}
	}()

	dial := func(certPEM, keyPEM []byte) error {
		cfg, err := fed.ClientTLSConfig("met-police", "localhost")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = nil
		pair := &tls.Certificate{}
		if certPEM != nil {
			if *pair, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
				t.Fatal(err)
			}
		}
		// Send the certificate whatever CAs the server names, as an
		// attacker's client would.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return pair, nil }
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", inner.Addr().String(), cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = bufio.NewReader(c).ReadString('\n')
		return err
	}
	issue := func(agency string, o ClientCertOptions) ([]byte, []byte) {
		c, k, err := fed.IssueClientCert(agency, o)
		if err != nil {
			t.Fatal(err)
		}
		return c, k
	}
	rogue, err := NewTestCA("Rogue CA")
	if err != nil {
		t.Fatal(err)
	}
	rc, rk, err := rogue.Issue(LeafRequest{CommonName: "rogue", ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		t.Fatal(err)
	}
	revC, revK := issue("met-police", ClientCertOptions{})
	serial, err := SerialFromPEM(revC)
	if err != nil {
		t.Fatal(err)
	}
	if err := fed.Revoke(serial); err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}
	noAgC, noAgK := issue("met-police", ClientCertOptions{URIs: []string{}})
	expC, expK := issue("met-police", ClientCertOptions{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	ekuC, ekuK := issue("met-police", ClientCertOptions{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})

	cases := []struct {
		name       string
		cert, key  []byte
		kind       RefusalKind
		verified   bool
		wantLeafCN string
	}{
		{"no certificate", nil, nil, RefusedNoCertificate, false, ""},
		{"unknown CA", rc, rk, RefusedUnknownCA, false, "rogue"},
		{"expired", expC, expK, RefusedExpired, false, "met-police"},
		{"wrong EKU", ekuC, ekuK, RefusedUsage, false, "met-police"},
		{"revoked", revC, revK, RefusedRevoked, true, "met-police"},
		{"no agency identity", noAgC, noAgK, RefusedNoAgency, true, "met-police"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := dial(tc.cert, tc.key); err == nil {
				t.Fatal("handshake accepted")
			}
			var r Refusal
			select {
			case r = <-refusals:
			case <-time.After(10 * time.Second):
				t.Fatal("no refusal reported")
			}
			if r.Kind != tc.kind || r.Verified != tc.verified || r.Remote == nil {
				t.Fatalf("refusal %+v, want kind %s verified %v", r, tc.kind, tc.verified)
			}
			switch {
			case tc.wantLeafCN == "" && r.Leaf != nil:
				t.Fatalf("leaf reported for no certificate: %v", r.Leaf.Subject)
			case tc.wantLeafCN != "" && (r.Leaf == nil || r.Leaf.Subject.CommonName != tc.wantLeafCN):
				t.Fatalf("leaf %v, want CN %s", r.Leaf, tc.wantLeafCN)
			}
		})
	}

	t.Run("good client reaches Accept", func(t *testing.T) {
		c, k := issue("met-police", ClientCertOptions{})
		if err := dial(c, k); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("plain HTTP gets problem+json", func(t *testing.T) {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(body), "tls-required") {
			t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
		}
		if r := <-refusals; r.Kind != RefusedProtocol || !r.PlainHTTP {
			t.Fatalf("refusal %+v", r)
		}
	})
}
