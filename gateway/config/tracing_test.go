package config

import (
	"strings"
	"testing"
)

func TestTracingValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  TracingConfig
		want string // "" valid, else a substring of the error
	}{
		{TracingConfig{SampleRatio: 1}, ""},
		{TracingConfig{OTLPEndpoint: "https://otel:4318", SampleRatio: 0.1}, ""},
		{TracingConfig{OTLPEndpoint: "http://127.0.0.1:4318", SampleRatio: 1, Insecure: true}, ""},
		{TracingConfig{OTLPEndpoint: "http://127.0.0.1:4318", SampleRatio: 1}, "tracing.otlp_endpoint"},
		{TracingConfig{OTLPEndpoint: "otel:4318", SampleRatio: 1}, "tracing.otlp_endpoint"},
		{TracingConfig{OTLPEndpoint: "https://user:pw@otel:4318", SampleRatio: 1}, "no credentials"},
		{TracingConfig{SampleRatio: 1.5}, "tracing.sample_ratio"},
		{TracingConfig{SampleRatio: -0.1}, "tracing.sample_ratio"},
	} {
		err := tc.cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: %v, want an error naming %s", tc.cfg, err, tc.want)
		}
	}
	// Off by default, and the variables reach the section.
	cfg := Defaults(t.TempDir())
	if cfg.Tracing.Enabled() || cfg.Tracing.SampleRatio != 1 {
		t.Fatalf("default tracing %+v", cfg.Tracing)
	}
	if err := ApplyEnv(&cfg, []string{"LIAISON_TRACING_OTLP_ENDPOINT=https://otel:4318", "LIAISON_TRACING_SAMPLE_RATIO=0.25"}); err != nil {
		t.Fatal(err)
	}
	if !cfg.Tracing.Enabled() || cfg.Tracing.SampleRatio != 0.25 {
		t.Fatalf("tracing from the environment: %+v", cfg.Tracing)
	}
}
