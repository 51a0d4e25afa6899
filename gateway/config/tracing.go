package config

import (
	"net/url"
	"strings"
)

// TracingConfig turns on OpenTelemetry traces, exported over OTLP/HTTP.
// Off (no endpoint) by default: traces name routes, actions and outcomes,
// never tokens, selectors or content, but they leave the gateway.
type TracingConfig struct {
	// OTLPEndpoint is the collector's OTLP/HTTP base URL
	// (http(s)://host:port; spans are POSTed to /v1/traces). Empty: off.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// SampleRatio is the share of traces kept (0..1), parent-based: a
	// request that arrives with a sampled traceparent is kept.
	SampleRatio float64 `yaml:"sample_ratio"`
	// Insecure allows a plain-HTTP endpoint (a collector on loopback or a
	// sidecar); otherwise the endpoint must be https.
	Insecure bool `yaml:"insecure"`
}

func defaultTracing() TracingConfig { return TracingConfig{SampleRatio: 1} }

// Enabled reports whether traces are exported.
func (t TracingConfig) Enabled() bool { return t.OTLPEndpoint != "" }

// Validate checks the tracing section.
func (t TracingConfig) Validate() error {
	var p problems
	if t.SampleRatio < 0 || t.SampleRatio > 1 {
		p.add("tracing.sample_ratio", "%v must be between 0 and 1", t.SampleRatio)
	}
	if t.OTLPEndpoint != "" {
		u, err := url.Parse(t.OTLPEndpoint)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
			p.add("tracing.otlp_endpoint", "%q must be an http(s)://host:port URL", t.OTLPEndpoint)
		case u.Scheme == "http" && !t.Insecure:
			p.add("tracing.otlp_endpoint", "%q is plain HTTP: use https, or set tracing.insecure for a collector on loopback or a sidecar", t.OTLPEndpoint)
		case u.User != nil || strings.Contains(u.RawQuery, "="):
			p.add("tracing.otlp_endpoint", "must carry no credentials or query")
		}
	}
	return p.err()
}
