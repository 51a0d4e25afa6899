package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// TestDevConsole runs `liaison dev` in process: the banner names the
// console's URL and the PKCS#12 files, each file opens with the documented
// password and holds the agency's certificate, key and the dev CA, and a
// client with it gets the console's shell with its CSP and the dev
// identity provider's page.
func TestDevConsole(t *testing.T) {
	dir := t.TempDir()
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	root := newRoot()
	root.SetOut(out)
	root.SetArgs([]string{"dev", "--data-dir", dir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log-level", "error"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "Stop with Ctrl-C") {
		select {
		case err := <-done:
			t.Fatalf("dev stopped before it was ready: %v\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner:\n%s", out.String())
		}
	}
	banner := out.String()
	m := regexp.MustCompile(`(https://localhost:\d+)/console/`).FindStringSubmatch(banner)
	if m == nil || !strings.Contains(banner, "password "+devP12Password) {
		t.Fatalf("the banner does not show the console and the certificate's password:\n%s", banner)
	}
	pfx, err := os.ReadFile(filepath.Join(dir, "profiles", "met-police.p12"))
	if err != nil {
		t.Fatal(err)
	}
	key, cert, cas, err := pkcs12.DecodeChain(pfx, devP12Password)
	if err != nil || len(cas) != 1 {
		t.Fatalf("PKCS#12: %v (%d CAs)", err, len(cas))
	}
	if !strings.Contains(cert.URIs[0].String(), "/agency/met-police") {
		t.Fatalf("PKCS#12 holds %v", cert.URIs)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cas[0])
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots,
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}}}}}
	for _, p := range []string{"/console/", "/console/login"} {
		r, err := c.Get(m[1] + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Fatalf("%s: %d %v", p, r.StatusCode, r.Header)
		}
		if p == "/console/login" && !strings.Contains(string(body), "Sign in as dev-auditor") {
			t.Fatalf("the dev identity provider's page: %s", body)
		}
	}
}
