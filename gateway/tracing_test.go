package gateway_test

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// otlpReceiver is a real OTLP/HTTP trace endpoint on loopback: it decodes
// every export request as the protobuf the collector would.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
	raw   [][]byte
	bad   []string
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		o.note("unexpected " + r.Method + " " + r.URL.Path)
		http.NotFound(w, r)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			o.note(err.Error())
			http.Error(w, err.Error(), 400)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		o.note(err.Error())
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		o.note("undecodable export: " + err.Error())
		http.Error(w, err.Error(), 400)
		return
	}
	o.mu.Lock()
	o.raw = append(o.raw, b)
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			o.spans = append(o.spans, ss.Spans...)
		}
	}
	o.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (o *otlpReceiver) note(s string) {
	o.mu.Lock()
	o.bad = append(o.bad, s)
	o.mu.Unlock()
}

// TestTracesOfAPublish: with tracing on, a publish is one trace exported
// over OTLP/HTTP: the request span, and under it the policy decision, the
// sealing (with the data key under it), the store put and the audit
// append. No span carries the content, the selectors or the token.
func TestTracesOfAPublish(t *testing.T) {
	rcv := &otlpReceiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: func(c *config.Config) {
		c.Tracing.OTLPEndpoint = srv.URL
		c.Tracing.Insecure = true
	}})
	met := env.Client("met-police")
	id := publish(t, met, recordBody(func(m map[string]any) {
		m["selectors"] = []any{map[string]any{"type": "phone", "value": "020 7946 0018"}}
	}))
	env.Stop() // flushes the batch exporter

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.bad) > 0 {
		t.Fatalf("receiver: %v", rcv.bad)
	}
	byID := map[string]*tracepb.Span{}
	var root *tracepb.Span
	for _, s := range rcv.spans {
		byID[hex.EncodeToString(s.SpanId)] = s
		if s.Name == "POST /v1/records" {
			for _, a := range s.Attributes {
				if a.Key == "http.response.status_code" && a.Value.GetIntValue() == 201 {
					root = s
				}
			}
		}
	}
	if root == nil {
		var names []string
		for _, s := range rcv.spans {
			names = append(names, s.Name)
		}
		t.Fatalf("no span for the publish (POST /v1/records, 201) among %v", names)
	}
	if len(root.ParentSpanId) != 0 || root.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Fatalf("request span: parent %x kind %v", root.ParentSpanId, root.Kind)
	}
	// descends: s is under root in the same trace, by its parent links.
	descends := func(s *tracepb.Span) bool {
		for p := s; p != nil; p = byID[hex.EncodeToString(p.ParentSpanId)] {
			if !bytes.Equal(p.TraceId, root.TraceId) {
				return false
			}
			if p == root {
				return true
			}
		}
		return false
	}
	parentOf := func(s *tracepb.Span) string {
		if p := byID[hex.EncodeToString(s.ParentSpanId)]; p != nil {
			return p.Name
		}
		return ""
	}
	found := map[string]int{}
	for _, s := range rcv.spans {
		if s != root && descends(s) {
			found[s.Name]++
			switch s.Name {
			case "keys.generate_data_key":
				if parentOf(s) != "record.seal" {
					t.Errorf("data key span under %q, want record.seal", parentOf(s))
				}
			case "policy.decide", "audit.append", "record.seal":
				if parentOf(s) != root.Name {
					t.Errorf("%s under %q, want the request span", s.Name, parentOf(s))
				}
			}
		}
	}
	for _, want := range []string{"policy.decide", "record.seal", "keys.generate_data_key", "store.put", "audit.append"} {
		if found[want] == 0 {
			t.Errorf("no %s span under the publish's request span (found %v)", want, found)
		}
	}
	// Nothing secret or identifying of the content in any exported byte.
	tok := met.Token
	for _, b := range rcv.raw {
		for _, secret := range []string{"Salford", "CHIS-7781", "7946 0018", "79460018", tok} {
			if secret != "" && bytes.Contains(b, []byte(secret)) {
				t.Fatalf("an exported span carries %q", secret)
			}
		}
		if !strings.Contains(string(b), "liaison-gateway") {
			t.Fatalf("export without the service name")
		}
	}
	_ = id
}
