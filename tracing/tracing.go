// Package tracing traces Switchboard with OpenTelemetry: a span per GraphQL
// operation, named by its type and name, with a child span per store call,
// exported over OTLP. It is off unless the standard OTEL_EXPORTER_OTLP_*
// variables name an endpoint, and it is the only package that imports
// OpenTelemetry: the parts it traces tell it through the observer
// interfaces they own (server.Observer, domain.Observer).
package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"switchboard/domain"
)

// Tracing makes the spans. Its zero value is not usable: make it with New
// or FromEnv.
type Tracing struct {
	domain.NopObserver // the figures of the jobs are the metrics'
	tracer             trace.Tracer
	shutdown           func(context.Context) error
}

// New traces with the spans of tp (tests: an SDK provider over an
// in-memory exporter).
func New(tp trace.TracerProvider) *Tracing {
	return &Tracing{tracer: tp.Tracer("switchboard"), shutdown: func(context.Context) error { return nil }}
}

// Enabled reports whether the environment asks for traces: an OTLP
// endpoint is named (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), and neither OTEL_SDK_DISABLED nor
// OTEL_TRACES_EXPORTER=none says no.
func Enabled(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") || getenv("OTEL_TRACES_EXPORTER") == "none" {
		return false
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// FromEnv builds tracing from the standard OpenTelemetry variables: the
// OTLP exporter's (endpoint, protocol grpc or http/protobuf, headers,
// timeout, certificates), OTEL_SERVICE_NAME (default switchboard),
// OTEL_RESOURCE_ATTRIBUTES and the sampler's (OTEL_TRACES_SAMPLER, default
// parentbased_always_on). nil, nil when Enabled says no.
func FromEnv(ctx context.Context, getenv func(string) string) (*Tracing, error) {
	if !Enabled(getenv) {
		return nil, nil
	}
	protocol := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch protocol {
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL %q: switchboard exports traces over grpc or http/protobuf", protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("the OTLP trace exporter: %w", err)
	}
	service := getenv("OTEL_SERVICE_NAME")
	if service == "" {
		service = "switchboard"
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", service)))
	if err != nil {
		return nil, err
	}
	if env, err := resource.New(ctx, resource.WithFromEnv()); err == nil {
		if merged, err := resource.Merge(res, env); err == nil {
			res = merged
		}
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	t := New(tp)
	t.shutdown = tp.Shutdown
	return t, nil
}

// Shutdown sends the spans still buffered and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.shutdown(ctx) }

// Operation starts the span of a GraphQL operation: "query Me",
// "mutation setOwner", "subscription Queue", or the type alone when the
// operation has no name.
func (t *Tracing) Operation(ctx context.Context, transport, opType, name string) (context.Context, func()) {
	spanName := opType
	if name != "" {
		spanName += " " + name
	}
	ctx, span := t.tracer.Start(ctx, spanName, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("graphql.operation.type", opType),
		attribute.String("graphql.operation.name", name),
		attribute.String("switchboard.transport", transport),
	))
	return ctx, func() { span.End() }
}

// OperationErrors marks the operation's span failed with the codes of
// its errors.
func (t *Tracing) OperationErrors(ctx context.Context, _, _, _ string, errCodes []string) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attribute.StringSlice("graphql.error.codes", errCodes))
	span.SetStatus(codes.Error, strings.Join(errCodes, ","))
}

// StoreCall starts a child span for a store call made on behalf of a traced
// operation; calls of the background jobs, which no operation made, are
// not traced (they run every second).
func (t *Tracing) StoreCall(ctx context.Context, op string) (context.Context, func(error)) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, func(error) {}
	}
	ctx, span := t.tracer.Start(ctx, "store "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.operation.name", op)))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}

// Handler serves next with the trace context of the request's W3C
// traceparent and tracestate headers, if it has them: the operations it
// runs join the caller's trace. It wraps neither the response writer nor
// the connection, so WebSocket upgrades pass as they are.
func (t *Tracing) Handler(next http.Handler) http.Handler {
	prop := propagation.TraceContext{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("traceparent") != "" {
			r = r.WithContext(prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
		}
		next.ServeHTTP(w, r)
	})
}

// LogHandler adds the trace_id and span_id of the record's context, when
// it is traced, to each record h handles: a log line of an operation (an
// internal error, a panic) leads to its trace.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

func (l logHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return l.Handler.Handle(ctx, r)
}

func (l logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logHandler{l.Handler.WithAttrs(attrs)}
}

func (l logHandler) WithGroup(name string) slog.Handler { return logHandler{l.Handler.WithGroup(name)} }
