package tracing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"switchboard/app"
	"switchboard/domain"
	"switchboard/server"
	"switchboard/store/sqlite"
	"switchboard/store/sqlite/sqlitetest"
	"switchboard/tracing"
)

var secret = []byte("tracing-test-secret-tracing-test-secret-0123")

// TestOneSpanPerOperationWithItsStoreCalls runs operations through a whole
// server traced into an in-memory exporter: each operation is one span,
// named by its type and name, and its store calls are its children.
func TestOneSpanPerOperationWithItsStoreCalls(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	log := slog.New(slog.DiscardHandler)
	a, err := app.New(context.Background(), app.Config{
		Store: func(_ context.Context, sink domain.EventSink) (domain.Store, error) {
			return sqlitetest.New(t, sqlite.Options{EventSink: sink, Logger: log}), nil
		},
		Keys: server.KeyConfig{Secret: secret}, Logger: log, Tracing: tracing.New(tp),
	})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		a.Shutdown(context.Background())
		api.Close()
	})
	post := func(sub, role, query string, header ...string) {
		t.Helper()
		tok, err := server.MintHS256(secret, server.TokenRequest{Subject: sub, WorkspaceID: "ws1", Role: role, Name: sub, TTL: time.Hour}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]any{"query": query})
		req, _ := http.NewRequest(http.MethodPost, api.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := api.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || strings.Contains(string(raw), `"errors"`) {
			t.Fatalf("%s: HTTP %d %s", query, resp.StatusCode, raw)
		}
	}
	post("ada", "admin", `mutation NewChannel { createChannel(input: {name: "Email"}) { channel { id name } } }`)
	post("ada", "admin", `query Channels { channels { id name } }`)
	// me alone reads no store: the caller's agent was read to authenticate.
	post("ben", "agent", `{ me { id } channels { id } }`)
	// A caller's traceparent: the operation joins its trace.
	const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	post("ben", "agent", `query Joined { me { id } }`, "traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")

	spans := exp.GetSpans()
	ops := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		if s.SpanKind == trace.SpanKindServer {
			if _, dup := ops[s.Name]; dup {
				t.Errorf("two spans named %q", s.Name)
			}
			ops[s.Name] = s
		}
	}
	for _, c := range []struct {
		span string
		// store is a call that must be among the span's children.
		store string
	}{
		{"mutation NewChannel", "store InsertChannel"},
		{"query Channels", "store ListChannels"},
		{"query", "store ListChannels"},
	} {
		op, ok := ops[c.span]
		if !ok {
			t.Errorf("no span %q among %v", c.span, names(spans))
			continue
		}
		var children []string
		for _, s := range spans {
			if s.Parent.SpanID() == op.SpanContext.SpanID() {
				children = append(children, s.Name)
				if s.SpanContext.TraceID() != op.SpanContext.TraceID() {
					t.Errorf("%s: child %s in another trace", c.span, s.Name)
				}
			}
		}
		found := false
		for _, n := range children {
			found = found || n == c.store
			if !strings.HasPrefix(n, "store ") {
				t.Errorf("%s: a child span %q that is not a store call", c.span, n)
			}
		}
		if !found {
			t.Errorf("%s: children %v, want %s among them", c.span, children, c.store)
		}
	}
	if len(ops) != 4 {
		t.Errorf("operation spans %v, want 4", names(spans))
	}
	if j := ops["query Joined"]; j.SpanContext.TraceID().String() != callerTrace || j.Parent.SpanID().String() != callerSpan {
		t.Errorf("query Joined: trace %s, parent %s; want the caller's %s, %s", j.SpanContext.TraceID(), j.Parent.SpanID(), callerTrace, callerSpan)
	}
	if q := ops["query"]; q.Parent.IsValid() {
		t.Errorf("an operation without traceparent has a parent: %v", q.Parent)
	}
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// TestLogLinesCarryTheTraceID: a record logged with a traced context
// names its trace and span; one without does not.
func TestLogLinesCarryTheTraceID(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(tracing.LogHandler(slog.NewJSONHandler(&buf, nil))).With("part", "test")
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("t").Start(context.Background(), "op")
	log.ErrorContext(ctx, "traced")
	span.End()
	log.Error("untraced")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var traced, untraced map[string]any
	json.Unmarshal([]byte(lines[0]), &traced)
	json.Unmarshal([]byte(lines[1]), &untraced)
	if traced["trace_id"] != span.SpanContext().TraceID().String() || traced["span_id"] != span.SpanContext().SpanID().String() || traced["part"] != "test" {
		t.Errorf("traced line %s", lines[0])
	}
	if _, ok := untraced["trace_id"]; ok {
		t.Errorf("untraced line %s", lines[1])
	}
}

// TestOffUnlessAnEndpointIsNamed: no OTLP endpoint, no tracing.
func TestOffUnlessAnEndpointIsNamed(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, false},
	} {
		if got := tracing.Enabled(func(k string) string { return c.env[k] }); got != c.want {
			t.Errorf("%v: enabled %v, want %v", c.env, got, c.want)
		}
	}
	tr, err := tracing.FromEnv(context.Background(), func(string) string { return "" })
	if tr != nil || err != nil {
		t.Errorf("FromEnv without an endpoint: %v, %v", tr, err)
	}
}
