// Package metrics keeps Switchboard's figures for Prometheus: GraphQL
// operations, WebSockets, the change feed, presence, the automation and
// the store. It is the only package that imports the Prometheus client; the
// parts it measures tell it through observer interfaces they own
// (domain.Observer, server.Observer, ws.Observer) and the feed's tap, so
// none of them knows Prometheus.
package metrics

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"switchboard/domain"
)

// MaxOperationNames bounds how many operation names get a series of their
// own: names are the clients' to choose, so past this many the rest are
// counted under OtherName rather than growing the series without end.
const MaxOperationNames = 500

// OtherName stands for the operation names past MaxOperationNames.
const OtherName = "_other"

// Buckets, in seconds.
var (
	// latencyBuckets suit requests and store calls: 0.5 ms to 10 s.
	latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	// latenessBuckets suit due work: on time (within the reconciler's 5 s)
	// to well past the product's two-minute promise.
	latenessBuckets = []float64{.1, .5, 1, 2, 5, 10, 30, 60, 90, 120, 180, 300, 600}
)

// Metrics holds the figures and serves them. Its zero value is not
// usable: make it with New.
type Metrics struct {
	reg *prometheus.Registry

	ops        *prometheus.CounterVec
	opErrors   *prometheus.CounterVec
	opDuration *prometheus.HistogramVec
	names      opNames

	sockets       *prometheus.GaugeVec
	subscriptions *prometheus.GaugeVec
	tooSlow       *prometheus.CounterVec

	feedLag  prometheus.Histogram
	presence *prometheus.CounterVec

	cleanups          *prometheus.CounterVec
	cleanupLateness   prometheus.Histogram
	cleanupReleased   prometheus.Counter
	boomerangLateness prometheus.Histogram
	reconciler        *prometheus.CounterVec

	storeDuration *prometheus.HistogramVec
	storeErrors   *prometheus.CounterVec
	storeOps      sync.Map // op → *storeOp

	changeStream *prometheus.CounterVec
}

type storeOp struct {
	duration prometheus.Observer
	errors   prometheus.Counter
}

// New makes the figures, registered on a registry of their own with the Go
// runtime's and the process's.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := factory{m.reg}

	m.ops = f.counterVec("switchboard_graphql_operations_total",
		"GraphQL operations, by transport (http, websocket), type (query, mutation, subscription, invalid) and name.",
		"transport", "type", "name")
	m.opErrors = f.counterVec("switchboard_graphql_operation_errors_total",
		"Responses of GraphQL operations with errors, once per extensions.code in a response.",
		"transport", "type", "name", "code")
	m.opDuration = f.histogramVec("switchboard_graphql_operation_duration_seconds",
		"How long GraphQL operations took to answer (a subscription: to start).", latencyBuckets,
		"transport", "type", "name")

	m.sockets = f.gaugeVec("switchboard_websockets_open", "WebSockets open, by subprotocol.", "subprotocol")
	m.subscriptions = f.gaugeVec("switchboard_subscriptions_active", "Subscriptions running, by root field.", "kind")
	m.tooSlow = f.counterVec("switchboard_websocket_too_slow_closes_total",
		"WebSockets closed with 1013 (try again later), by why: send_queue (its queue overflowed), budget (the server's queues together were over budget), "+
			"ping_behind, write_failed, feed (its subscription fell behind the change feed), resync (the feed lost its place).",
		"reason")

	m.feedLag = f.histogram("switchboard_feed_lag_seconds",
		"From a change's commit (the store's wall clock) to its publication to this instance's subscribers and jobs.", latencyBuckets)
	m.presence = f.counterVec("switchboard_presence_changes_total",
		"Agents' presence changes seen on the change feed, by from and to (on MongoDB every instance sees every change).", "from", "to")

	m.cleanups = f.counterVec("switchboard_logout_cleanups_total",
		"Logout cleanups, by event: armed (seen on the feed when an agent went OFFLINE), done, cancelled (the setting was switched off).", "event")
	m.cleanupLateness = f.histogram("switchboard_logout_cleanup_lateness_seconds",
		"How long after it was due a logout cleanup was done (done minus due). The product promises release within 2 minutes of going offline.", latenessBuckets)
	m.cleanupReleased = f.counter("switchboard_logout_cleanup_released_total", "Conversations released by logout cleanups.")
	m.boomerangLateness = f.histogram("switchboard_boomerang_lateness_seconds",
		"How long after it was due a boomerang fired.", latenessBuckets)
	m.reconciler = f.counterVec("switchboard_reconciler_runs_total",
		"Runs of the reconciler that finds due cleanups and boomerangs, by outcome (ok, error).", "outcome")

	m.storeDuration = f.histogramVec("switchboard_store_call_duration_seconds",
		"How long store calls took, by operation (the Store method).", latencyBuckets, "op")
	m.storeErrors = f.counterVec("switchboard_store_call_errors_total",
		"Store calls that failed, by operation.", "op")

	m.changeStream = f.counterVec("switchboard_mongo_change_stream_total",
		"MongoDB change-stream events, by event: resumed (opened again after the last change handled), reset (the place was lost; subscribers resynchronise).",
		"event")
	// Series that start at zero, so a rate is there before the first event.
	for _, e := range []string{"armed", "done", "cancelled"} {
		m.cleanups.WithLabelValues(e)
	}
	for _, o := range []string{"ok", "error"} {
		m.reconciler.WithLabelValues(o)
	}
	for _, e := range []string{"resumed", "reset"} {
		m.changeStream.WithLabelValues(e)
	}
	for _, r := range []string{"send_queue", "budget", "ping_behind", "write_failed", "feed", "resync"} {
		m.tooSlow.WithLabelValues(r)
	}
	return m
}

// Handler serves the figures in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Registry is where the figures are registered.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// GraphQL operations (server.Observer).

// Operation counts an operation and times it until the returned function
// is called.
func (m *Metrics) Operation(ctx context.Context, transport, opType, name string) (context.Context, func()) {
	name = m.names.label(name)
	m.ops.WithLabelValues(transport, opType, name).Inc()
	start := time.Now()
	return ctx, func() {
		m.opDuration.WithLabelValues(transport, opType, name).Observe(time.Since(start).Seconds())
	}
}

// OperationErrors counts a response's errors by code.
func (m *Metrics) OperationErrors(_ context.Context, transport, opType, name string, codes []string) {
	name = m.names.label(name)
	for _, c := range codes {
		m.opErrors.WithLabelValues(transport, opType, name, c).Inc()
	}
}

// opNames admits at most MaxOperationNames names as labels.
type opNames struct {
	mu   sync.RWMutex
	seen map[string]struct{}
}

func (n *opNames) label(name string) string {
	n.mu.RLock()
	_, ok := n.seen[name]
	full := len(n.seen) >= MaxOperationNames
	n.mu.RUnlock()
	if ok {
		return name
	}
	if full {
		return OtherName
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.seen == nil {
		n.seen = map[string]struct{}{}
	}
	if _, ok := n.seen[name]; !ok {
		if len(n.seen) >= MaxOperationNames {
			return OtherName
		}
		n.seen[name] = struct{}{}
	}
	return name
}

// WebSockets (ws.Observer).

func (m *Metrics) SocketOpened(subprotocol string) { m.sockets.WithLabelValues(subprotocol).Inc() }
func (m *Metrics) SocketClosed(subprotocol string) { m.sockets.WithLabelValues(subprotocol).Dec() }
func (m *Metrics) SubscriptionStarted(kind string) { m.subscriptions.WithLabelValues(kind).Inc() }
func (m *Metrics) SubscriptionEnded(kind string)   { m.subscriptions.WithLabelValues(kind).Dec() }
func (m *Metrics) ClosedTooSlow(why string)        { m.tooSlow.WithLabelValues(why).Inc() }

// The change feed.

// FeedPublished is the feed's tap: it measures each change's lag from its
// commit.
func (m *Metrics) FeedPublished(e domain.Event) {
	if !e.CommittedAt.IsZero() {
		m.feedLag.Observe(max(time.Since(e.CommittedAt).Seconds(), 0))
	}
}

// ChangeStreamResumed counts a MongoDB change stream opened again after
// the last change it handled.
func (m *Metrics) ChangeStreamResumed() { m.changeStream.WithLabelValues("resumed").Inc() }

// ChangeStreamReset counts a MongoDB change stream that lost its place.
func (m *Metrics) ChangeStreamReset() { m.changeStream.WithLabelValues("reset").Inc() }

// The service and its jobs (domain.Observer).

// StoreCall times a store call.
func (m *Metrics) StoreCall(ctx context.Context, op string) (context.Context, func(error)) {
	o := m.storeOp(op)
	start := time.Now()
	return ctx, func(err error) {
		o.duration.Observe(time.Since(start).Seconds())
		if err != nil {
			o.errors.Inc()
		}
	}
}

func (m *Metrics) storeOp(op string) *storeOp {
	if o, ok := m.storeOps.Load(op); ok {
		return o.(*storeOp)
	}
	o, _ := m.storeOps.LoadOrStore(op, &storeOp{duration: m.storeDuration.WithLabelValues(op), errors: m.storeErrors.WithLabelValues(op)})
	return o.(*storeOp)
}

func (m *Metrics) PresenceChanged(from, to domain.Presence) {
	m.presence.WithLabelValues(string(from), string(to)).Inc()
}

func (m *Metrics) CleanupArmed() { m.cleanups.WithLabelValues("armed").Inc() }

func (m *Metrics) CleanupDone(lateness time.Duration, released int) {
	m.cleanups.WithLabelValues("done").Inc()
	m.cleanupLateness.Observe(max(lateness.Seconds(), 0))
	m.cleanupReleased.Add(float64(released))
}

func (m *Metrics) CleanupCancelled() { m.cleanups.WithLabelValues("cancelled").Inc() }

func (m *Metrics) BoomerangFired(lateness time.Duration) {
	m.boomerangLateness.Observe(max(lateness.Seconds(), 0))
}

func (m *Metrics) ReconcilerRan(err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.reconciler.WithLabelValues(outcome).Inc()
}

var _ domain.Observer = (*Metrics)(nil)

// factory makes figures registered on reg.
type factory struct{ reg prometheus.Registerer }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}
