// Package tracing starts the gateway's optional OpenTelemetry traces: spans
// over OTLP/HTTP to a collector, off unless tracing.otlp_endpoint is set.
//
// The spans follow a request through what it waits on: the request itself
// (httpapi), the policy decision, the sealing of a record, each object-store
// call and the audit append. Their attributes are routes, actions, outcomes
// and operations only: never tokens, certificates, selectors, content, key
// names or object keys, because traces leave the gateway for systems that
// are not part of the record of access.
package tracing

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/liaison-project/liaison/gateway/buildinfo"
	"github.com/liaison-project/liaison/gateway/config"
)

// Name is the instrumentation scope of every Liaison span.
const Name = "github.com/liaison-project/liaison"

// Tracer is the tracer the gateway's packages start spans with. Until
// Start installs a provider it is the API's no-op: with tracing off a span
// costs a context lookup.
func Tracer() trace.Tracer { return otel.Tracer(Name) }

// Start installs the OTLP/HTTP exporter described by cfg as the process's
// tracer provider and W3C trace-context propagation; with tracing off it
// does nothing. The returned shutdown flushes what is buffered.
func Start(ctx context.Context, cfg config.TracingConfig, gatewayID string) (shutdown func(context.Context) error, err error) {
	if !cfg.Enabled() {
		return func(context.Context) error { return nil }, nil
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(strings.TrimSuffix(cfg.OTLPEndpoint, "/") + "/v1/traces")}
	if cfg.Insecure {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, err
	}
	bi := buildinfo.Get()
	res := resource.NewSchemaless(
		attribute.String("service.name", "liaison-gateway"),
		attribute.String("service.instance.id", gatewayID),
		attribute.String("service.version", bi.Version),
	)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return tp.Shutdown, nil
}

// Extract is the trace context an incoming request carries (traceparent).
func Extract(ctx context.Context, header propagation.TextMapCarrier) context.Context {
	return otel.GetTextMapPropagator().Extract(ctx, header)
}

// End ends span, marking it failed when err is not nil. Only the error's
// class is recorded (the caller passes a reason such as "unavailable"),
// never its text, which may quote input.
func End(span trace.Span, reason string) {
	if reason != "" {
		span.SetAttributes(attribute.String("liaison.error", reason))
		span.SetStatus(codes.Error, reason)
	}
	span.End()
}
