package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"switchboard/app"
	"switchboard/domain"
	"switchboard/internal/fakeclock"
	"switchboard/internal/wsclient"
	"switchboard/metrics"
	"switchboard/server"
	"switchboard/server/ws"
	"switchboard/store/sqlite"
	"switchboard/store/sqlite/sqlitetest"
)

var (
	secret = []byte("metrics-test-secret-metrics-test-secret-0123")
	epoch  = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
)

// harness is a whole server (app.New) on a SQLite store, a fake clock and
// the background jobs, with its figures served apart, as the binary does.
type harness struct {
	t      *testing.T
	clock  *fakeclock.Clock
	api    *httptest.Server
	scrape *httptest.Server
}

func start(t *testing.T) *harness {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	h := &harness{t: t, clock: fakeclock.New(epoch)}
	m := metrics.New()
	a, err := app.New(context.Background(), app.Config{
		Store: func(_ context.Context, sink domain.EventSink) (domain.Store, error) {
			return sqlitetest.New(t, sqlite.Options{EventSink: sink, Logger: log}), nil
		},
		Keys:    server.KeyConfig{Secret: secret},
		Clock:   h.clock,
		Logger:  log,
		Jobs:    true,
		Metrics: m,
		Server: server.Config{WebSocket: ws.Config{
			// A small send queue, so a client that stops reading is closed
			// with 1013 after a few events; long timers, so only that
			// closes it.
			SendQueue: 4, PingInterval: time.Hour, WriteTimeout: time.Hour,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.api = httptest.NewServer(a.Handler())
	h.scrape = httptest.NewServer(m.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wsclient.Wait)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutting down: %v", err)
		}
		h.api.Close()
		h.scrape.Close()
	})
	return h
}

func (h *harness) token(sub, role string) string {
	h.t.Helper()
	tok, err := server.MintHS256(secret, server.TokenRequest{Subject: sub, WorkspaceID: "ws1", Role: role, Name: sub, TTL: 24 * time.Hour}, h.clock.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// post runs an operation over HTTP and returns its data; errors fail the
// test unless wantErrors.
func (h *harness) post(token, query string, vars map[string]any, wantErrors bool) map[string]any {
	h.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, h.api.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := h.api.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r struct {
		Data   map[string]any
		Errors []any
	}
	if err := json.Unmarshal(raw, &r); err != nil || (len(r.Errors) > 0) != wantErrors {
		h.t.Fatalf("%s\n=> HTTP %d %s", query, resp.StatusCode, raw)
	}
	return r.Data
}

// families scrapes /metrics and parses it with Prometheus's text parser.
func (h *harness) families() map[string]*dto.MetricFamily {
	h.t.Helper()
	resp, err := http.Get(h.scrape.URL)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		h.t.Fatalf("/metrics answered %s", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		h.t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value sums a family's samples whose labels include want: a counter's or
// gauge's value, a histogram's count.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	sum := 0.0
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// waitFor polls until ok, failing after a generous ceiling.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(wsclient.Wait)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, wsclient.Wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type labels = map[string]string

// TestMetricsMoveWithRealTraffic scrapes /metrics before and after real
// traffic (queries and mutations over HTTP, a subscription over a real
// socket, a client too slow to read, a logout cleanup and a boomerang on
// the fake clock, a cleanup cancelled) and checks that each family moved.
func TestMetricsMoveWithRealTraffic(t *testing.T) {
	h := start(t)
	before := h.families()
	admin, ben, intg := h.token("ada", "admin"), h.token("ben", "agent"), h.token("mail", "integration")

	h.post(admin, `mutation { updateSettings(input: {removeOwnershipOnLogout: true, logoutGraceSeconds: 2}) { settings { logoutGraceSeconds } } }`, nil, false)
	ch := h.post(admin, `mutation NewChannel { createChannel(input: {name: "Email"}) { channel { id } } }`, nil, false)["createChannel"].(map[string]any)["channel"].(map[string]any)["id"].(string)
	h.post(ben, `query Me { me { id } }`, nil, false)
	h.post(ben, `mutation { setPresence(presence: ONLINE) { agent { id } } }`, nil, false)
	// Refused requests: one without a valid token, a document that does not
	// validate, a mutation of a conversation that is not there.
	h.post("not-a-token", `query Me { me { id } }`, nil, true)
	h.post(ben, `query Broken { nope }`, nil, true)
	h.post(admin, `mutation Missing { setOwner(input: {conversationId: "c_nope", ownerId: "ben"}) { conversation { id } } }`, nil, true)

	// A subscription over a real socket, and its first event.
	sock := wsclient.Connect(t, "ws"+strings.TrimPrefix(h.api.URL, "http")+"/graphql", wsclient.TransportWS, ben)
	sock.Subscribe("q", `subscription Queue { queueChanged(status: NEW) { conversation { id } } }`, nil)
	sock.Ready()
	inbound := func(contact, id, text string) string {
		d := h.post(intg, `mutation Inbound($in: InboundInput!) { ingestInbound(input: $in) { conversationId } }`, map[string]any{"in": map[string]any{
			"channelId": ch, "contactExternalId": contact, "externalMessageId": id, "text": text,
		}}, false)
		return d["ingestInbound"].(map[string]any)["conversationId"].(string)
	}
	owned := inbound("maria", "m1", "hello")
	sock.Next("q", nil)
	during := h.families()
	if v := value(during, "switchboard_websockets_open", labels{"subprotocol": wsclient.TransportWS}); v != 1 {
		t.Errorf("websockets open: %v, want 1", v)
	}
	if v := value(during, "switchboard_subscriptions_active", labels{"kind": "queueChanged"}); v != 1 {
		t.Errorf("queueChanged subscriptions: %v, want 1", v)
	}

	// A client that stops reading is closed with 1013.
	slow, _, err := wsclient.DialConn(t, "ws"+strings.TrimPrefix(h.api.URL, "http")+"/graphql", []string{wsclient.TransportWS}, nil)
	if err != nil {
		t.Fatal(err)
	}
	slowSend := func(m map[string]any) {
		ctx, cancel := context.WithTimeout(context.Background(), wsclient.Wait)
		defer cancel()
		b, _ := json.Marshal(m)
		if err := slow.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
	}
	slowSend(map[string]any{"type": "connection_init", "payload": map[string]any{"token": admin}})
	slowSend(map[string]any{"id": "s", "type": "subscribe", "payload": map[string]any{
		"query": `subscription Heavy { queueChanged(status: NEW) { conversation { id messages(last: 1) { edges { node { text } } } } } }`,
	}})
	slowSend(map[string]any{"type": "ping"})
	for _, want := range []string{"connection_ack", "pong"} {
		ctx, cancel := context.WithTimeout(context.Background(), wsclient.Wait)
		_, b, err := slow.Read(ctx)
		cancel()
		if err != nil || !strings.Contains(string(b), want) {
			t.Fatalf("slow client: want %s, got %s %v", want, b, err)
		}
	}
	// The fast socket drains its events meanwhile.
	go func() {
		for range sock.Messages() {
		}
	}()
	big := strings.Repeat("x", 32<<10)
	events := 0
	for value(h.families(), "switchboard_websocket_too_slow_closes_total", labels{"reason": "send_queue"}) < 1 {
		if events > 3000 {
			t.Fatal("the slow client was not closed after 3000 events")
		}
		for range 20 {
			events++
			inbound("slow", fmt.Sprintf("s%d", events), big)
		}
	}
	t.Logf("the slow client was closed with 1013 within %d events", events)
	slow.CloseNow()

	// A boomerang due in 2 s, and a logout whose cleanup is due in 2 s.
	pending := inbound("lee", "l1", "later")
	h.post(admin, fmt.Sprintf(`mutation { setOwner(input: {conversationId: %q, ownerId: "ben"}) { conversation { id } } }`, owned), nil, false)
	h.post(admin, fmt.Sprintf(`mutation { moveToPending(input: {conversationId: %q, boomerangAt: %q}) { conversation { id } } }`,
		pending, h.clock.Now().Add(2*time.Second).Format(time.RFC3339Nano)), nil, false)
	h.post(ben, `mutation Logout { logout { agent { presence } } }`, nil, false)
	// Time passes, a second at a time: the cleanup and the boomerang come
	// due, and the reconciler runs.
	for range 6 {
		h.clock.AdvanceAndWait(time.Second)
	}
	waitFor(t, "the cleanup released the conversation", func() bool {
		d := h.post(admin, fmt.Sprintf(`{ conversation(id: %q) { owner { id } } }`, owned), nil, false)
		return d["conversation"].(map[string]any)["owner"] == nil
	})
	// Another logout, whose cleanup is cancelled: the setting is switched
	// off before it is due.
	cleo := h.token("cleo", "agent")
	h.post(cleo, `mutation { setPresence(presence: ONLINE) { agent { id } } }`, nil, false)
	h.post(cleo, `mutation { logout { agent { presence } } }`, nil, false)
	h.post(admin, `mutation { updateSettings(input: {removeOwnershipOnLogout: false}) { settings { logoutGraceSeconds } } }`, nil, false)
	sock.Close(websocket.StatusNormalClosure, "")
	waitFor(t, "the sockets to be counted closed", func() bool {
		return value(h.families(), "switchboard_websockets_open", nil) == 0
	})

	after := h.families()
	for _, c := range []struct {
		family string
		labels labels
	}{
		{"switchboard_graphql_operations_total", labels{"transport": "http", "type": "query", "name": "Me"}},
		{"switchboard_graphql_operations_total", labels{"transport": "http", "type": "mutation", "name": "Logout"}},
		{"switchboard_graphql_operations_total", labels{"transport": "websocket", "type": "subscription", "name": "Queue"}},
		{"switchboard_graphql_operation_errors_total", labels{"transport": "http", "type": "invalid", "code": "GRAPHQL_VALIDATION_FAILED"}},
		{"switchboard_graphql_operation_errors_total", labels{"transport": "http", "type": "invalid", "code": "UNAUTHENTICATED"}},
		{"switchboard_graphql_operation_errors_total", labels{"transport": "http", "type": "mutation", "name": "Missing", "code": "NOT_FOUND"}},
		{"switchboard_graphql_operation_duration_seconds", labels{"transport": "http", "type": "mutation", "name": "Inbound"}},
		{"switchboard_websocket_too_slow_closes_total", labels{"reason": "send_queue"}},
		{"switchboard_feed_lag_seconds", nil},
		{"switchboard_presence_changes_total", labels{"from": "OFFLINE", "to": "ONLINE"}},
		{"switchboard_presence_changes_total", labels{"from": "ONLINE", "to": "OFFLINE"}},
		{"switchboard_logout_cleanups_total", labels{"event": "armed"}},
		{"switchboard_logout_cleanups_total", labels{"event": "done"}},
		{"switchboard_logout_cleanups_total", labels{"event": "cancelled"}},
		{"switchboard_logout_cleanup_lateness_seconds", nil},
		{"switchboard_logout_cleanup_released_total", nil},
		{"switchboard_boomerang_lateness_seconds", nil},
		{"switchboard_reconciler_runs_total", labels{"outcome": "ok"}},
		{"switchboard_store_call_duration_seconds", labels{"op": "UpdateConversation"}},
		{"switchboard_store_call_duration_seconds", labels{"op": "ConversationsByIDs"}},
	} {
		b, a := value(before, c.family, c.labels), value(after, c.family, c.labels)
		if a < 0 {
			t.Errorf("%s is not served", c.family)
		} else if a <= max(b, 0) {
			t.Errorf("%s%v did not move: %v before, %v after", c.family, c.labels, b, a)
		}
	}
	// Served from the start, though only MongoDB's change stream moves them
	// (its tests run on FerretDB, which has none).
	for _, c := range []struct {
		family string
		labels labels
	}{
		{"switchboard_mongo_change_stream_total", labels{"event": "resumed"}},
		{"switchboard_mongo_change_stream_total", labels{"event": "reset"}},
	} {
		if value(after, c.family, c.labels) != 0 {
			t.Errorf("%s%v: want a zero series", c.family, c.labels)
		}
	}
	// The cleanup was due 2 s after the logout and done on the tick after
	// that: 0 to 1 s late on the fake clock, well within the first bucket
	// past the promise's.
	for _, b := range after["switchboard_logout_cleanup_lateness_seconds"].GetMetric()[0].GetHistogram().GetBucket() {
		if b.GetUpperBound() == 1 && b.GetCumulativeCount() != 1 {
			t.Errorf("cleanup lateness: %d cleanups within 1 s, want 1", b.GetCumulativeCount())
		}
	}
}
