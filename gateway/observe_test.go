package gateway_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/liaison-project/liaison/connectors/index"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/deploy/monitoring"
	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
	"github.com/liaison-project/liaison/policies"
)

// scrapeFamilies reads the admin listener's /metrics as metric families.
func scrapeFamilies(t *testing.T, adminURL string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// sample is the value of name's series with exactly labels (a subset
// match: the labels given must all be equal); ok false if absent.
func sample(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, lp := range m.Label {
			got[lp.GetName()] = lp.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func mustSample(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := sample(fams, name, labels)
	if !ok {
		t.Fatalf("no %s%v in /metrics", name, labels)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		t.Fatalf("%s%v = %v", name, labels, v)
	}
	return v
}

// handshakeFails dials the agency listener with cfg and expects the
// handshake (or the first request) to fail.
func handshakeFails(t *testing.T, addr string, cfg *tls.Config) {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err == nil {
		// TLS 1.3: the client's handshake ends before the server has
		// checked its certificate; the refusal arrives on the first read.
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = conn.Write([]byte("GET /v1/records HTTP/1.1\r\nHost: localhost\r\n\r\n"))
		buf := make([]byte, 1)
		_, err = conn.Read(buf)
		conn.Close()
	}
	if err == nil {
		t.Fatal("handshake and request succeeded")
	}
}

// TestMetricsAfterTraffic drives a real gateway (publish, read, list, and
// handshakes with bad certificates on its agency listener) and checks on
// its admin /metrics that every metric operators page on is exported with
// values that follow from that traffic.
func TestMetricsAfterTraffic(t *testing.T) {
	// Checkpoints by count only (1000 entries): none is signed during the
	// test, however slow the machine, so the unsigned entries are known.
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: func(c *config.Config) { c.Audit.CheckpointInterval = 0 }})
	met := env.Client("met-police")
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")
	id := publish(t, met, recordBody())
	if r := rocu.MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 {
		t.Fatalf("read: %d %s", r.Status, r.Body)
	}
	if r := met.MustDo("GET", "/v1/records?limit=10", nil); r.Status != 200 {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}

	// Real handshakes with bad certificates.
	addr := strings.TrimPrefix(env.URL, "https://")
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(env.Fed.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(caPEM)
	withCert := func(certPEM, keyPEM []byte) *tls.Config {
		cfg := &tls.Config{RootCAs: pool, ServerName: "localhost"}
		if certPEM != nil {
			c, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			// Presented whatever CAs the server asks for (crypto/tls would
			// otherwise send no certificate signed by a foreign CA).
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
		}
		return cfg
	}
	rogue, err := pki.NewTestCA("Rogue CA")
	if err != nil {
		t.Fatal(err)
	}
	rc, rk, err := rogue.Issue(pki.LeafRequest{CommonName: "rogue-met", URIs: []string{pki.AgencyURI("liaison.dev", "met-police")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		t.Fatal(err)
	}
	ec, ek, err := env.Fed.IssueClientCert("met-police", pki.ClientCertOptions{CommonName: "expired-met",
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	vc, vk, err := env.Fed.IssueClientCert("hmrc", pki.ClientCertOptions{CommonName: "revoked-hmrc"})
	if err != nil {
		t.Fatal(err)
	}
	env.Revoke(vc)
	handshakeFails(t, addr, withCert(rc, rk))
	handshakeFails(t, addr, withCert(ec, ek))
	handshakeFails(t, addr, withCert(vc, vk))
	handshakeFails(t, addr, withCert(nil, nil))
	old := withCert(nil, nil)
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	handshakeFails(t, addr, old)

	wantTLS := map[string]float64{"unknown_ca": 1, "expired": 1, "revoked": 1, "no_client_certificate": 1, "protocol_version": 1}
	var fams map[string]*dto.MetricFamily
	// The refusal is counted on the server's handshake goroutine, which
	// may finish after the client has seen its failure.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		fams = scrapeFamilies(t, env.AdminURL)
		done := true
		for reason, want := range wantTLS {
			if v, _ := sample(fams, "liaison_tls_handshake_failures_total", map[string]string{"listener": "agency", "reason": reason}); v != want {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			for reason, want := range wantTLS {
				v, _ := sample(fams, "liaison_tls_handshake_failures_total", map[string]string{"listener": "agency", "reason": reason})
				t.Errorf("tls handshake failures %s: %v, want %v", reason, v, want)
			}
			t.FailNow()
		}
	}
	if v := mustSample(t, fams, "liaison_tls_handshake_failures_total", map[string]string{"listener": "federation", "reason": "other"}); v != 0 {
		t.Errorf("federation listener failures without a federation listener: %v", v)
	}

	bi := map[string]string{"go_version": runtime.Version()}
	if v := mustSample(t, fams, "liaison_build_info", bi); v != 1 {
		t.Errorf("liaison_build_info = %v", v)
	}
	for _, op := range []string{"generate_data_key", "unwrap_data_key"} {
		if v := mustSample(t, fams, "liaison_key_provider_calls_total", map[string]string{"operation": op}); v < 1 {
			t.Errorf("key provider %s calls: %v", op, v)
		}
		if v := mustSample(t, fams, "liaison_key_provider_call_duration_seconds", map[string]string{"operation": op}); v < 1 {
			t.Errorf("key provider %s latency observations: %v", op, v)
		}
		if v := mustSample(t, fams, "liaison_key_provider_call_failures_total", map[string]string{"operation": op, "reason": "unavailable"}); v != 0 {
			t.Errorf("key provider %s failures: %v", op, v)
		}
	}
	for _, op := range []string{"put", "get", "list"} {
		if v := mustSample(t, fams, "liaison_store_calls_total", map[string]string{"operation": op}); v < 1 {
			t.Errorf("store %s calls: %v", op, v)
		}
		if v := mustSample(t, fams, "liaison_store_call_failures_total", map[string]string{"operation": op, "reason": "other"}); v != 0 {
			t.Errorf("store %s failures: %v", op, v)
		}
	}
	if v := mustSample(t, fams, "liaison_policy_reloads_total", map[string]string{"result": "rejected"}); v != 0 {
		t.Errorf("policy reloads rejected: %v", v)
	}
	_, ready := readyz(t, env)
	if ready.PolicyRevision == "" {
		t.Fatal("readyz names no policy revision")
	}
	if v := mustSample(t, fams, "liaison_policy_revision_info", map[string]string{"revision": ready.PolicyRevision}); v != 1 {
		t.Errorf("policy revision info for %s: %v", ready.PolicyRevision, v)
	}
	// The embedded defaults run the bundled policy: its decisions are
	// cached, and the publish, read and list above asked at least one each.
	if v := mustSample(t, fams, "liaison_policy_decision_cache_enabled", nil); v != 1 {
		t.Errorf("decision cache enabled: %v", v)
	}
	hits := mustSample(t, fams, "liaison_policy_decision_cache_lookups_total", map[string]string{"result": "hit"})
	misses := mustSample(t, fams, "liaison_policy_decision_cache_lookups_total", map[string]string{"result": "miss"})
	if misses < 1 || hits < 0 || mustSample(t, fams, "liaison_policy_decision_cache_entries", nil) < 1 {
		t.Errorf("decision cache: %v hits, %v misses", hits, misses)
	}
	if v := mustSample(t, fams, "liaison_audit_checkpoint_age_seconds", nil); v < 0 || v > 3600 {
		t.Errorf("checkpoint age %v s", v)
	}
	if v := mustSample(t, fams, "liaison_audit_unsigned_entries", nil); v < 1 {
		// The publish, read and list were audited; no checkpoint since.
		t.Errorf("unsigned audit entries: %v", v)
	}
	if v := mustSample(t, fams, "liaison_index_pending_writes", nil); v != 0 {
		t.Errorf("index writes pending when idle: %v", v)
	}
	if v := mustSample(t, fams, "liaison_index_lag_seconds", nil); v != 0 {
		t.Errorf("index lag when idle: %v", v)
	}
	certPEM, err := os.ReadFile(env.Cfg.TLS.Cert)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if v := mustSample(t, fams, "liaison_tls_certificate_not_after_timestamp_seconds", nil); int64(v) != cert.NotAfter.Unix() {
		t.Errorf("certificate notAfter %v, the file says %d", v, cert.NotAfter.Unix())
	}
	crlPEM, err := os.ReadFile(env.Fed.CRLFile)
	if err != nil {
		t.Fatal(err)
	}
	cblk, _ := pem.Decode(crlPEM)
	crl, err := x509.ParseRevocationList(cblk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if v := mustSample(t, fams, "liaison_tls_crl_next_update_timestamp_seconds", nil); crl.NextUpdate.IsZero() || int64(v) != crl.NextUpdate.Unix() {
		t.Errorf("CRL nextUpdate %v, the file says %v", v, crl.NextUpdate)
	}
	if v := mustSample(t, fams, "liaison_ready", nil); v != 1 {
		t.Errorf("liaison_ready = %v", v)
	}
	for _, check := range []string{"store", "audit", "keys", "index"} {
		if v := mustSample(t, fams, "liaison_readiness_check", map[string]string{"check": check}); v != 1 {
			t.Errorf("readiness check %s = %v", check, v)
		}
	}
	for _, name := range []string{"liaison_audit_writable", "liaison_key_provider_up", "liaison_audit_append_duration_seconds",
		"liaison_audit_append_failures_total", "liaison_integrity_failures_total", "liaison_http_requests_total"} {
		mustSample(t, fams, name, nil)
	}
}

// TestStoreFailureCounted: with the fs store unable to write (a file where
// its directory of temporary files was, so that even root cannot write
// there), a publish fails and the store's put failures rise.
func TestStoreFailureCounted(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	met := env.Client("met-police")
	publish(t, met, recordBody())
	failures := func() float64 {
		var n float64
		for _, r := range []string{"unavailable", "other", "canceled", "exists", "conflict"} {
			n += mustSample(t, scrapeFamilies(t, env.AdminURL), "liaison_store_call_failures_total", map[string]string{"operation": "put", "reason": r})
		}
		return n
	}
	if n := failures(); n != 0 {
		t.Fatalf("store put failures before the store broke: %v", n)
	}
	tmp := filepath.Join(env.Cfg.Store.FS.Dir, "~tmp")
	if err := os.RemoveAll(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := met.MustDo("POST", "/v1/records", recordBody()); r.Status != http.StatusServiceUnavailable && r.Status != http.StatusInternalServerError {
		t.Fatalf("publish with the store gone: %d %s", r.Status, r.Body)
	}
	if n := mustSample(t, scrapeFamilies(t, env.AdminURL), "liaison_store_call_failures_total", map[string]string{"operation": "put", "reason": "unavailable"}); n < 1 {
		t.Fatalf("store put failures (unavailable) after a failed publish: %v", n)
	}
	if n := failures(); n < 1 {
		t.Fatalf("store put failures after a failed publish: %v", n)
	}
}

// TestPolicyReloadMetrics: a broken change to the policy directory is
// counted as rejected with the old revision still in force; a good change
// as applied, with the new revision in force.
func TestPolicyReloadMetrics(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, policies.FS()); err != nil {
		t.Fatal(err)
	}
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: func(c *config.Config) {
		c.Policy.Dir = dir
		c.Policy.ReloadInterval = 50 * time.Millisecond
	}})
	_, before := readyz(t, env)
	wait := func(result string) map[string]*dto.MetricFamily {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			fams := scrapeFamilies(t, env.AdminURL)
			if v, _ := sample(fams, "liaison_policy_reloads_total", map[string]string{"result": result}); v >= 1 {
				return fams
			}
			if time.Now().After(deadline) {
				t.Fatalf("no policy reload counted as %s", result)
			}
		}
	}
	dsas := filepath.Join(dir, "data", "dsas.json")
	good, err := os.ReadFile(dsas)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dsas, []byte("{ not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	fams := wait("rejected")
	if v := mustSample(t, fams, "liaison_policy_revision_info", map[string]string{"revision": before.PolicyRevision}); v != 1 {
		t.Fatalf("revision in force after a rejected reload: %v", v)
	}
	if v, _ := sample(fams, "liaison_policy_reloads_total", map[string]string{"result": "applied"}); v != 0 {
		t.Fatalf("applied reloads before any good change: %v", v)
	}
	if err := os.WriteFile(dsas, append(good, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	fams = wait("applied")
	_, after := readyz(t, env)
	if after.PolicyRevision == before.PolicyRevision {
		t.Fatalf("revision unchanged after an applied reload: %s", after.PolicyRevision)
	}
	// The reload is counted when the engine reports it, which can be just
	// before the new revision is in force: scrape again now that /readyz
	// shows it, so that the info series is read for the same revision.
	fams = scrapeFamilies(t, env.AdminURL)
	if v := mustSample(t, fams, "liaison_policy_revision_info", map[string]string{"revision": after.PolicyRevision}); v != 1 {
		t.Fatalf("revision info for %s: %v", after.PolicyRevision, v)
	}
	if n := len(fams["liaison_policy_revision_info"].Metric); n != 1 {
		t.Fatalf("%d revision series, want the one in force", n)
	}
}

// TestFederationListenerHandshakeFailures: a client offering only TLS 1.2
// to the federation listener (TLS 1.3 only) is counted there, not on the
// agency listener; the federation's outbox depth is exported per peer.
func TestFederationListenerHandshakeFailures(t *testing.T) {
	f := gatewaytest.StartFederation(t, gatewaytest.FederationOptions{Gateways: 2})
	var env *gatewaytest.Env
	for _, e := range f.Gateways {
		env = e
		break
	}
	cfg := &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12} //nolint:gosec // the handshake must fail on version, not on trust
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", env.Cfg.Federation.Listen, cfg)
	if err == nil {
		conn.Close()
		t.Fatal("TLS 1.2 handshake accepted by the federation listener")
	}
	labels := map[string]string{"listener": "federation", "reason": "protocol_version"}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		fams := scrapeFamilies(t, env.AdminURL)
		if v, _ := sample(fams, "liaison_tls_handshake_failures_total", labels); v == 1 {
			if v := mustSample(t, fams, "liaison_tls_handshake_failures_total", map[string]string{"listener": "agency", "reason": "protocol_version"}); v != 0 {
				t.Fatalf("counted on the agency listener too: %v", v)
			}
			break
		}
		if time.Now().After(deadline) {
			v, _ := sample(fams, "liaison_tls_handshake_failures_total", labels)
			t.Fatalf("federation protocol_version failures: %v, want 1", v)
		}
	}
	// The federation still works over the wrapped listener: the peers'
	// outboxes are polled and their depth exported.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		fams := scrapeFamilies(t, env.AdminURL)
		if _, ok := fams["liaison_federation_outbox_pending"]; ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no liaison_federation_outbox_pending series")
		}
	}
}

// TestMonitoringNamesExported: every metric the alert rules and the
// dashboard (deploy/monitoring) use is one the gateways export, read from
// their /metrics after real traffic: a publish shared with a recipient on
// another gateway of a federation, its delivery and reads.
func TestMonitoringNamesExported(t *testing.T) {
	rules, err := monitoring.LoadRules(filepath.Join("..", "deploy", "monitoring", monitoring.RulesFile))
	if err != nil {
		t.Fatal(err)
	}
	dash, err := monitoring.LoadDashboard(filepath.Join("..", "deploy", "monitoring", monitoring.DashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	used := monitoring.MetricNames(monitoring.Exprs(rules, dash))
	if len(used) < 20 {
		t.Fatalf("only %d metric names found in the rules and dashboard: %v", len(used), used)
	}

	f := gatewaytest.StartFederation(t, gatewaytest.FederationOptions{})
	met := f.Client("met-police")
	hmrc := f.Client("hmrc").With(hPurpose, "investigation", hJust, "customs referral 9")
	id := publish(t, met, recordBody(func(m map[string]any) { m["recipients"] = []string{"rocu-nw", "hmrc"} }))
	if d := deliveryState(t, met, id, f.HostID("hmrc"), "share"); d.State != "delivered" {
		t.Fatalf("delivery: %+v", d)
	}
	if r := hmrc.MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 {
		t.Fatalf("read at the recipient's gateway: %d %s", r.Status, r.Body)
	}
	exported := map[string]bool{}
	for _, env := range []*gatewaytest.Env{f.Host("met-police"), f.Host("hmrc")} {
		for name, fam := range scrapeFamilies(t, env.AdminURL) {
			exported[name] = true
			if fam.GetType() == dto.MetricType_HISTOGRAM {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					exported[name+s] = true
				}
			}
		}
	}
	for _, name := range used {
		if !exported[name] {
			t.Errorf("deploy/monitoring uses %s, which the gateways do not export", name)
		}
	}
	// And docs/observability.md describes every liaison_ series exported.
	doc, err := os.ReadFile(filepath.Join("..", "docs", "observability.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range []*gatewaytest.Env{f.Host("met-police")} {
		for name := range scrapeFamilies(t, env.AdminURL) {
			if strings.HasPrefix(name, "liaison_") && !strings.Contains(string(doc), "`"+name+"`") {
				t.Errorf("docs/observability.md does not describe %s", name)
			}
		}
	}
}

// stalledIndex holds every index write until released: a slow index
// database.
type stalledIndex struct {
	index.Backend
	release chan struct{}
}

func (s *stalledIndex) Upsert(ctx context.Context, e index.Entry) error {
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.Backend.Upsert(ctx, e)
}

// TestIndexLagMetric: while an index write is held (the publish's audit
// entry durable, the record not yet findable) the gateway reports one
// pending write and a lag above zero; once it completes, none.
func TestIndexLagMetric(t *testing.T) {
	si := &stalledIndex{release: make(chan struct{})}
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, BuildOptions: []gateway.Option{
		gateway.WithIndexWrapper(func(b index.Backend) index.Backend { si.Backend = b; return si })}})
	met := env.Client("met-police")
	done := make(chan int, 1)
	go func() {
		r, err := met.Do("POST", "/v1/records", recordBody())
		if err != nil {
			done <- 0
			return
		}
		done <- r.Status
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		fams := scrapeFamilies(t, env.AdminURL)
		pending := mustSample(t, fams, "liaison_index_pending_writes", nil)
		lag := mustSample(t, fams, "liaison_index_lag_seconds", nil)
		if pending == 1 && lag > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("while a write is held: pending %v lag %v", pending, lag)
		}
	}
	close(si.release)
	if s := <-done; s != http.StatusCreated {
		t.Fatalf("publish: %d", s)
	}
	fams := scrapeFamilies(t, env.AdminURL)
	if p, l := mustSample(t, fams, "liaison_index_pending_writes", nil), mustSample(t, fams, "liaison_index_lag_seconds", nil); p != 0 || l != 0 {
		t.Fatalf("after the write: pending %v lag %v", p, l)
	}
}
