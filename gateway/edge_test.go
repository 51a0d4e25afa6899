package gateway_test

import (
	"crypto/x509"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// waitAudit polls the audit log until an entry matches (connection-level
// refusals are written by a background writer, not before the refusal).
func waitAudit(t *testing.T, env *gatewaytest.Env, what string, match func(audit.Event) bool) audit.Event {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, e := range env.Audit() {
			if match(e) {
				return e
			}
		}
		if time.Now().After(deadline) {
			for _, e := range env.Audit() {
				t.Logf("%+v", e)
			}
			t.Fatalf("no audit entry for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTLSHandshakeRefusalsAudited: every certificate refusal at handshake
// leaves a connection-level audit entry with the presented certificate's
// fingerprint and subject; only a verified chain names the agency.
func TestTLSHandshakeRefusalsAudited(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	rogue, err := pki.NewTestCA("Rogue CA")
	if err != nil {
		t.Fatal(err)
	}
	issue := func(t *testing.T, agency string, o pki.ClientCertOptions) ([]byte, []byte) {
		t.Helper()
		c, k, err := env.Fed.IssueClientCert(agency, o)
		if err != nil {
			t.Fatal(err)
		}
		return c, k
	}
	cases := []struct {
		name       string
		cert       func(t *testing.T) ([]byte, []byte)
		kind       string
		status     int
		wantAgency string
	}{
		{"no certificate", func(*testing.T) ([]byte, []byte) { return nil, nil }, "no-certificate", 401, ""},
		{"unknown CA", func(t *testing.T) ([]byte, []byte) {
			c, k, err := rogue.Issue(pki.LeafRequest{CommonName: "rogue-met", URIs: []string{pki.AgencyURI("liaison.dev", "met-police")},
				ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			if err != nil {
				t.Fatal(err)
			}
			return c, k
		}, "unknown-ca", 403, ""},
		{"expired", func(t *testing.T) ([]byte, []byte) {
			return issue(t, "met-police", pki.ClientCertOptions{CommonName: "expired-met",
				NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
		}, "expired", 403, ""},
		{"wrong EKU", func(t *testing.T) ([]byte, []byte) {
			return issue(t, "met-police", pki.ClientCertOptions{CommonName: "serverauth-met",
				ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		}, "wrong-usage", 403, ""},
		{"revoked", func(t *testing.T) ([]byte, []byte) {
			c, k := issue(t, "hmrc", pki.ClientCertOptions{CommonName: "revoked-hmrc"})
			env.Revoke(c)
			return c, k
		}, "revoked", 403, "hmrc"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			certPEM, keyPEM := tc.cert(t)
			if r, err := env.ClientWithCert(certPEM, keyPEM).Do("GET", "/v1/records", nil); err == nil {
				t.Fatalf("handshake succeeded: %d", r.Status)
			}
			var fp, cn string
			if certPEM != nil {
				leaf := mustParse(t, certPEM)
				fp, cn = pki.CertFingerprint(leaf), leaf.Subject.CommonName
			}
			e := waitAudit(t, env, tc.name, func(e audit.Event) bool {
				return e.Action == "tls.handshake" && strings.Contains(e.Error, ": "+tc.kind+": ") &&
					(fp == "" || e.CertFingerprint == fp)
			})
			if e.Operation != audit.OpDenial || e.Status != tc.status || e.Agency != tc.wantAgency || e.RequestID == "" {
				t.Fatalf("entry: %+v", e)
			}
			if fp != "" && (e.Peer == nil || !strings.Contains(e.Peer.Subject, "CN="+cn) || e.Peer.Refusal != tc.kind) {
				t.Fatalf("subject or refusal kind missing: %+v", e.Peer)
			}
			if fp == "" && (e.CertFingerprint != "" || e.Peer == nil || !strings.HasPrefix(e.Peer.Address, "127.0.0.1")) {
				t.Fatalf("no-certificate entry: %+v %+v", e, e.Peer)
			}
		})
	}

	t.Run("repeats are coalesced, not written one by one", func(t *testing.T) {
		c, k, err := rogue.Issue(pki.LeafRequest{CommonName: "flood", ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		if err != nil {
			t.Fatal(err)
		}
		fp := pki.CertFingerprint(mustParse(t, c))
		const metric = `liaison_edge_refusals_total{kind="unknown-ca",layer="tls"} `
		before := metricValue(t, env, metric)
		for range 20 {
			cl := env.ClientWithCert(c, k)
			if _, err := cl.Do("GET", "/v1/records", nil); err == nil {
				t.Fatal("rogue certificate accepted")
			}
			cl.CloseIdle()
		}
		waitAudit(t, env, "flood", func(e audit.Event) bool { return e.CertFingerprint == fp })
		// In TLS 1.3 the client may see the refusal before the server has
		// recorded it: wait until all 20 are counted (counted after recording).
		deadline := time.Now().Add(15 * time.Second)
		for metricValue(t, env, metric) < before+20 {
			if time.Now().After(deadline) {
				t.Fatalf("refusals counted: %d, want %d", metricValue(t, env, metric), before+20)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Stopping the gateway closes the window: its summary is written
		// before the audit log closes.
		env.Stop()
		var first, summaries int
		for _, e := range env.Audit() {
			switch {
			case e.CertFingerprint != fp:
			case e.Peer != nil && e.Peer.Repeats == 19 && strings.Contains(e.Error, "; 19 more identical refusals since "):
				summaries++
			default:
				first++
			}
		}
		if first != 1 || summaries != 1 {
			t.Fatalf("20 identical refusals: %d single entries and %d summaries, want 1 and 1", first, summaries)
		}
	})
}

// TestRawHTTPRefusalsAreProblemJSON: what net/http or the ServeMux would
// answer themselves (redirects for unclean paths, plain text for bad header
// bytes and oversized headers) is answered with problem+json and audited.
func TestRawHTTPRefusalsAreProblemJSON(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	agencyFP := func(agency string) string {
		data, err := os.ReadFile(env.Fed.AgencyCertFile(agency))
		if err != nil {
			t.Fatal(err)
		}
		return pki.CertFingerprint(mustParse(t, data))
	}
	const host = "Host: localhost\r\n"
	big := "X-Big: " + strings.Repeat("a", 70<<10) + "\r\n"
	cases := []struct {
		name, agency, req string
		status            int
		problem           string
	}{
		{"dot-dot path", "met-police", "GET /v1/records/../records HTTP/1.1\r\n" + host + "\r\n", 400, "bad-path"},
		{"encoded dot-dot path", "hmrc", "GET /v1/%2e%2e/v1/records HTTP/1.1\r\n" + host + "\r\n", 400, "bad-path"},
		{"double slash", "nca", "GET //v1/records HTTP/1.1\r\n" + host + "\r\n", 400, "bad-path"},
		{"OPTIONS *", "met-police", "OPTIONS * HTTP/1.1\r\n" + host + "\r\n", 400, "bad-path"},
		{"NUL in header value", "met-police", "GET /v1/records HTTP/1.1\r\n" + host + "X-A: a\x00b\r\n\r\n", 400, "bad-request"},
		{"ESC in header value", "hmrc", "GET /v1/records HTTP/1.1\r\n" + host + "X-A: a\x1b[31mb\r\n\r\n", 400, "bad-request"},
		{"oversized headers", "nca", "GET /v1/records HTTP/1.1\r\n" + host + big + "\r\n", 431, "headers-too-large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := env.Raw(tc.agency, []byte(tc.req))
			if err != nil {
				t.Fatal(err)
			}
			body := resp.Body
			if resp.Status != tc.status || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("status %d, type %q: %s", resp.Status, resp.Header.Get("Content-Type"), body)
			}
			var p api.Problem
			if err := api.Decode(body, &p); err != nil || p.Status != tc.status || !strings.HasSuffix(p.Type, "/"+tc.problem) ||
				p.RequestID == "" || resp.Header.Get("Liaison-Request-Id") != p.RequestID {
				t.Fatalf("problem %+v (%v): %s", p, err, body)
			}
			fp := agencyFP(tc.agency)
			waitAudit(t, env, tc.name, func(e audit.Event) bool {
				return e.Action == "http.request" && e.Status == tc.status && e.CertFingerprint == fp &&
					e.Agency == tc.agency && e.Operation == audit.OpDenial && e.RequestID == p.RequestID
			})
		})
	}
}

// TestOfficerKeysReloadedAtRunTime: officers.jwks_dir is watched. A removed
// file withdraws an agency's keys; a file added at run time is used without
// a restart; a broken file keeps the agency's keys and is counted.
func TestOfficerKeysReloadedAtRunTime(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: func(c *config.Config) {
		c.TLS.ReloadInterval = 20 * time.Millisecond
	}})
	cl := env.Client("hmrc").WithToken(env.OfficerToken("hmrc", jose.Officer{ID: "HMRC-7"}, time.Hour))
	status := func() int { return cl.MustDo("GET", "/v1/records", nil).Status }
	waitStatus := func(want int, what string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for status() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: status %d, want %d", what, status(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if s := status(); s != 200 {
		t.Fatalf("at start: %d", s)
	}
	file := env.Fed.JWKSFile("hmrc")
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}

	// Removed: hmrc's officer tokens stop working.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	waitStatus(401, "after removing hmrc's key set")

	// Added at run time: accepted without a restart. Written whole (a
	// rename), so that the poller never reads a half-written file: that
	// would be a failed reload too, and the count below would be off.
	replace := func(b []byte) {
		t.Helper()
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	replace(good)
	waitStatus(200, "after adding hmrc's key set")

	// Broken file: the failure is counted, the previous keys stay.
	const failed = `liaison_officer_keyset_reloads_total{change="failed"} `
	before := metricValue(t, env, failed)
	replace([]byte(`{"keys":[{"kty":`))
	deadline := time.Now().Add(15 * time.Second)
	for metricValue(t, env, failed) <= before {
		if time.Now().After(deadline) {
			t.Fatal("broken key set not counted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := status(); s != 200 {
		t.Fatalf("a malformed key set cleared hmrc's keys: %d", s)
	}
}

func adminMetrics(t *testing.T, env *gatewaytest.Env) string {
	t.Helper()
	resp, err := env.AdminGet("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metricValue reads one sample (name{labels} with a trailing space) from
// the admin listener; 0 if absent.
func metricValue(t *testing.T, env *gatewaytest.Env, sample string) int {
	t.Helper()
	for _, line := range strings.Split(adminMetrics(t, env), "\n") {
		if v, ok := strings.CutPrefix(line, sample); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("metric %q: %v", line, err)
			}
			return n
		}
	}
	return 0
}
