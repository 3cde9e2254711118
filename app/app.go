// Package app assembles Switchboard: the change feed, the store, the
// service, the token verifier, the HTTP server and the background jobs,
// wired to each other, and takes them down in order. Every command and every
// test that runs a whole server builds it here, so a new part is wired once
// and no copy of the wiring drifts from the others.
//
// Nothing the App assembles imports it; only commands, tests and test
// harnesses do (internal/archtest checks).
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/domain"
	"switchboard/feed"
	"switchboard/metrics"
	"switchboard/server"
	"switchboard/server/ws"
	mongostore "switchboard/store/mongo"
	"switchboard/store/sqlite"
	"switchboard/tracing"
)

// Config is what the App is built from. The store is Store if set, else
// MongoDB at MongoURI if set, else SQLite in DataDir.
type Config struct {
	// DataDir is the directory of the embedded SQLite store.
	DataDir string
	// MongoURI is a MongoDB connection string; set, MongoDB is the store.
	MongoURI string
	// Instance names this instance's place in the MongoDB change stream, so
	// a restarted instance resumes where it stopped; empty: the host name.
	Instance string
	// Store opens a store the caller owns (tests: a template copy, a
	// wrapper that counts or fails calls): the App uses it and never closes
	// it. UseStore gives one that is already open.
	Store StoreFunc

	// Keys verify tokens.
	Keys server.KeyConfig
	// Server is the HTTP server's settings: limits, introspection, allowed
	// origins, dev, dev tokens, WebSocket tuning. Its Service, Feed and
	// Logger are the App's to set and must be left empty. A Verifier given
	// here replaces the one built from Keys (a test's, on its own clock).
	Server server.Config
	// PresenceTimeout is how long an agent may stay silent before going
	// OFFLINE; 0: domain.DefaultPresenceTimeout.
	PresenceTimeout time.Duration
	// RedeliverAfter is how long an outbound message may stay PENDING
	// before it is offered again; 0: domain.DefaultRedeliverAfter.
	RedeliverAfter time.Duration
	// EventRetention and EventRetentionCount say how long changes stay
	// replayable by resuming subscribers: while younger than the one or
	// among their workspace's newest of the other; 0: domain.DefaultRetention's.
	EventRetention      time.Duration
	EventRetentionCount int
	// Clock is the time of the service, the jobs and the token checks;
	// nil: the system clock (tests pass a fake one).
	Clock domain.Clock
	// Logger receives every part's logs; nil: slog.Default().
	Logger *slog.Logger
	// Jobs starts the background jobs (presence timeout, logout cleanups,
	// boomerangs, store maintenance), timed by the changes of the feed.
	Jobs bool

	// FreshStore lets the SQLite store start empty in a data dir that has
	// held one whose store is now missing or empty (sqlite.Options.FreshStart).
	FreshStore bool
	// IntegrityCheckTimeout bounds the SQLite store's integrity check at
	// start-up; 0: sqlite.DefaultIntegrityCheckTimeout.
	IntegrityCheckTimeout time.Duration
	// DrainTimeout bounds how long Run lets requests and WebSockets finish
	// once its context ends, before it cuts what is left; 0:
	// DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Metrics, when set, is told what every part does (Handler serves it;
	// the App does not serve it itself); nil: no figures are kept.
	Metrics *metrics.Metrics
	// Tracing, when set, traces each GraphQL operation and its store calls;
	// the caller shuts it down after the App.
	Tracing *tracing.Tracing
}

// StoreFunc opens a store whose committed changes go to sink, so they
// reach the App's subscriptions and jobs.
type StoreFunc func(ctx context.Context, sink domain.EventSink) (domain.Store, error)

// UseStore is a StoreFunc for st, already open and the caller's to close.
// st publishes nothing to the App's feed, so subscriptions see no changes
// and the jobs time due work only from their reconciler.
func UseStore(st domain.Store) StoreFunc {
	return func(context.Context, domain.EventSink) (domain.Store, error) { return st, nil }
}

// ConfigError is a mistake in the Config itself, found before anything was
// opened: the caller's to fix, not a failure worth retrying.
type ConfigError struct{ msg string }

func (e *ConfigError) Error() string { return e.msg }

func configErrorf(format string, args ...any) error {
	return &ConfigError{fmt.Sprintf(format, args...)}
}

// DefaultDrainTimeout bounds how long Run lets requests and sockets finish
// once its context ends, unless Config.DrainTimeout says otherwise.
const DefaultDrainTimeout = 10 * time.Second

// cutGrace bounds how long a shutdown waits, once it has cut the
// connections the drain left, for their handlers to end, and for the parts
// after them to stop.
const cutGrace = 2 * time.Second

// changeStreamWait bounds how long New waits for the MongoDB change stream
// to open before serving anyway; live updates start when it opens.
const changeStreamWait = 30 * time.Second

// App is a running Switchboard: everything is built and the jobs run, but
// no request is served until Serve (or Handler, under a test's server).
type App struct {
	log       *slog.Logger
	clock     domain.Clock
	feed      *feed.Broker
	store     domain.Store
	svc       *domain.Service
	srv       *server.Server
	handler   http.Handler // srv, behind tracing's propagation when traced
	http      *http.Server
	conns     *conns // those of http, to cut what a drain leaves
	drain     time.Duration
	jobs      *domain.Jobs // nil without Config.Jobs
	ownsStore bool         // the App opened the store, so it closes it
	// stopWatch ends the MongoDB change-stream feed, watchDone is closed
	// when it has; both nil without one.
	stopWatch context.CancelFunc
	watchDone chan struct{}
	// exchange shares viewers and typing with the other instances (a
	// MongoDB with change streams); leases routes the feed's leases to
	// the service; exchangeDone is closed when the exchange's writer ends.
	exchange     domain.ActivityExchange
	leases       *leaseRouter
	watchCtx     context.Context
	exchangeDone chan struct{}

	metrics *metrics.Metrics // nil without Config.Metrics

	shutdownOnce sync.Once
	shutdownErr  error
}

// New builds the App. ctx bounds the opening of the store; what runs in
// the background lives until Shutdown.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Server.Service != nil || cfg.Server.Feed != nil || cfg.Server.Logger != nil {
		return nil, configErrorf("app: Config.Server's Service, Feed and Logger are the App's to set")
	}
	if cfg.Store == nil && cfg.MongoURI == "" && cfg.DataDir == "" {
		return nil, configErrorf("app: no store: set DataDir, MongoURI or Store")
	}
	a := &App{log: cfg.Logger, clock: cfg.Clock, feed: feed.NewBroker(), conns: newConns(), drain: cfg.DrainTimeout}
	if cfg.Metrics != nil {
		a.metrics = cfg.Metrics
		a.feed.Tap(cfg.Metrics.FeedPublished)
	}
	if a.drain <= 0 {
		a.drain = DefaultDrainTimeout
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.clock == nil {
		a.clock = domain.SystemClock{}
	}
	// The keys are checked before the store is opened: a mistake in them
	// is said at once, without touching any data.
	verifier, err := server.NewVerifier(cfg.Keys, a.clock.Now)
	if err != nil {
		return nil, &ConfigError{err.Error()}
	}
	if err := a.openStore(ctx, cfg); err != nil {
		a.feed.Close()
		return nil, err
	}

	// Who views and types where is published to this instance's
	// subscribers by the service itself: it is never stored.
	opts := []domain.Option{domain.WithClock(a.clock), domain.WithLogger(a.log), domain.WithActivitySink(a.feed)}
	if cfg.RedeliverAfter > 0 {
		opts = append(opts, domain.WithRedeliverAfter(cfg.RedeliverAfter))
	}
	if cfg.PresenceTimeout > 0 {
		opts = append(opts, domain.WithPresenceTimeout(cfg.PresenceTimeout))
	}
	if a.exchange != nil {
		opts = append(opts, domain.WithActivityExchange(a.exchange))
	}
	var domainObs []domain.Observer
	var opObs operationObservers
	if cfg.Tracing != nil {
		domainObs, opObs = append(domainObs, cfg.Tracing), append(opObs, cfg.Tracing)
	}
	if cfg.Metrics != nil {
		domainObs, opObs = append(domainObs, cfg.Metrics), append(opObs, cfg.Metrics)
	}
	if len(domainObs) > 0 {
		opts = append(opts, domain.WithObserver(domain.Observers(domainObs...)))
	}
	retention := domain.DefaultRetention
	if cfg.EventRetention > 0 {
		retention.For = cfg.EventRetention
	}
	if cfg.EventRetentionCount > 0 {
		retention.Count = cfg.EventRetentionCount
	}
	opts = append(opts, domain.WithRetention(retention))
	a.svc = domain.NewService(a.store, opts...)
	if a.exchange != nil {
		a.leases.svc.Store(a.svc)
		a.exchangeDone = make(chan struct{})
		go func() {
			defer close(a.exchangeDone)
			a.svc.RunActivityExchange(a.watchCtx)
		}()
	}

	sc := cfg.Server
	sc.Service, sc.Feed, sc.Logger = a.svc, a.feed, a.log
	if sc.Verifier == nil {
		sc.Verifier = verifier
	}
	switch len(opObs) {
	case 0:
	case 1:
		sc.Observer = opObs[0]
	default:
		sc.Observer = opObs
	}
	if cfg.Metrics != nil {
		sc.WebSocket.Observer = cfg.Metrics
	}
	a.srv = server.New(sc)
	a.handler = a.srv
	if cfg.Tracing != nil {
		// An operation joins the trace its caller's traceparent names.
		a.handler = cfg.Tracing.Handler(a.srv)
	}
	a.http = &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		ConnState:         a.conns.connState,
	}

	if cfg.Jobs {
		// The jobs outlive ctx (it only bounds the start); Shutdown stops
		// them.
		a.jobs = a.svc.StartJobs(context.WithoutCancel(ctx))
		// Due work a change schedules is timed when the change is seen.
		a.feed.Tap(a.jobs.Notice)
	}
	return a, nil
}

// openStore opens the configured store with the feed as its sink: in
// process for SQLite and for a MongoDB without change streams (one
// instance only), else through the change-stream feed, which carries the
// changes of every instance.
func (a *App) openStore(ctx context.Context, cfg Config) error {
	switch {
	case cfg.Store != nil:
		st, err := cfg.Store(ctx, a.feed)
		if err != nil {
			return err
		}
		a.store = st
		return nil
	case cfg.MongoURI == "":
		st, err := sqlite.Open(ctx, cfg.DataDir, sqliteOptions(cfg, a.log, a.feed))
		if err != nil {
			return err
		}
		a.store, a.ownsStore = st, true
		a.log.Info("the embedded SQLite store feeds live updates in process: it serves one instance")
		return nil
	}
	st, err := mongostore.Open(ctx, cfg.MongoURI, mongostore.Options{Logger: a.log})
	if err != nil {
		return err
	}
	a.store, a.ownsStore = st, true
	if !st.ChangeStreams() {
		st.PublishInProcess(a.feed)
		a.log.Warn("this MongoDB server has no change streams (see switchboard migrate): live updates reach only this instance's " +
			"subscribers, so run a single instance")
		return nil
	}
	name := instanceName(cfg.Instance)
	watchCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	a.stopWatch, a.watchDone, a.watchCtx = stop, make(chan struct{}), watchCtx
	// Viewers and typing cross instances as leases in the store, which the
	// change stream brings to every instance.
	a.exchange, a.leases = st, &leaseRouter{feed: a.feed}
	ready := make(chan struct{})
	var once sync.Once
	go func() {
		defer close(a.watchDone)
		hooks := mongostore.FeedHooks{
			Resynced: a.feed.Resync,
			Ready:    func() { once.Do(func() { close(ready) }) },
		}
		if m := a.metrics; m != nil {
			hooks.Resynced = func() { m.ChangeStreamReset(); a.feed.Resync() }
			hooks.Resumed = m.ChangeStreamResumed
		}
		_ = st.Watch(watchCtx, name, a.leases, hooks)
	}()
	select {
	case <-ready:
		a.log.Info("live updates come from MongoDB change streams: several instances may run side by side", "feed", name)
	case <-time.After(changeStreamWait):
		a.log.Warn("the MongoDB change stream is not open yet; live updates start when it is")
	case <-ctx.Done():
	}
	return nil
}

// sqliteOptions are the SQLite store's options of cfg.
func sqliteOptions(cfg Config, log *slog.Logger, sink domain.EventSink) sqlite.Options {
	return sqlite.Options{Logger: log, EventSink: sink, FreshStart: cfg.FreshStore, IntegrityCheckTimeout: cfg.IntegrityCheckTimeout}
}

// instanceName names this instance's change-stream feed.
func instanceName(name string) string {
	if name != "" {
		return name
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "switchboard"
}

// Migrate opens the configured store (DataDir or MongoURI), which creates
// or upgrades its schema and indexes, closes it and says what was done.
func Migrate(ctx context.Context, cfg Config) (string, error) {
	if cfg.MongoURI == "" {
		if cfg.DataDir == "" {
			return "", configErrorf("app: no store: set DataDir or MongoURI")
		}
		st, err := sqlite.Open(ctx, cfg.DataDir, sqliteOptions(cfg, cfg.Logger, nil))
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("SQLite store in %s: schema and indexes are up to date\n", cfg.DataDir), st.Close()
	}
	st, err := mongostore.Open(ctx, cfg.MongoURI, mongostore.Options{Logger: cfg.Logger})
	if err != nil {
		return "", err
	}
	return st.MigrationReport().String(), st.Close()
}

// Backup writes a consistent copy of the SQLite store in cfg.DataDir into
// dest, while a server may be serving it, and says what it holds.
func Backup(ctx context.Context, cfg Config, dest string) (string, error) {
	if err := embeddedOnly(cfg, "backup"); err != nil {
		return "", err
	}
	r, err := sqlite.Backup(ctx, cfg.DataDir, dest)
	if err != nil {
		return "", err
	}
	return r.String(), nil
}

// Restore makes the backup file at backup the SQLite store of cfg.DataDir,
// with no server running on it, and says what it did.
func Restore(ctx context.Context, cfg Config, backup string) (string, error) {
	if err := embeddedOnly(cfg, "restore"); err != nil {
		return "", err
	}
	r, err := sqlite.Restore(ctx, backup, cfg.DataDir)
	if err != nil {
		return "", err
	}
	return r.String(), nil
}

// Check runs the whole integrity check of the SQLite store in cfg.DataDir,
// while a server may be serving it; a damaged store is an error.
func Check(ctx context.Context, cfg Config) (string, error) {
	if err := embeddedOnly(cfg, "check"); err != nil {
		return "", err
	}
	r, err := sqlite.Check(ctx, cfg.DataDir)
	if err != nil {
		return "", err
	}
	return r.String(), nil
}

// embeddedOnly refuses a command of the SQLite store's files when the
// store is MongoDB.
func embeddedOnly(cfg Config, command string) error {
	if cfg.MongoURI != "" {
		return configErrorf("app: %s works on the embedded SQLite store's files; MongoDB's are the replica set's: "+
			"back it up with mongodump or a snapshot of a member, as the README says", command)
	}
	if cfg.DataDir == "" {
		return configErrorf("app: no data dir")
	}
	return nil
}

// Handler serves every endpoint; tests mount it on their own server.
func (a *App) Handler() http.Handler { return a.handler }

// Service is the domain service.
func (a *App) Service() *domain.Service { return a.svc }

// Store is the store, as the service sees it.
func (a *App) Store() domain.Store { return a.store }

// Feed is the change broker that subscriptions and jobs read.
func (a *App) Feed() *feed.Broker { return a.feed }

// Server is the GraphQL server behind Handler.
func (a *App) Server() *server.Server { return a.srv }

// operationObservers tells each of its observers about each operation;
// the first one's context is the outermost.
type operationObservers []server.Observer

func (l operationObservers) Operation(ctx context.Context, transport, opType, name string) (context.Context, func()) {
	dones := make([]func(), len(l))
	for i, o := range l {
		ctx, dones[i] = o.Operation(ctx, transport, opType, name)
	}
	return ctx, func() {
		for i := len(dones) - 1; i >= 0; i-- {
			dones[i]()
		}
	}
}

func (l operationObservers) OperationErrors(ctx context.Context, transport, opType, name string, codes []string) {
	for _, o := range l {
		o.OperationErrors(ctx, transport, opType, name, codes)
	}
}

// The metrics implement every part's observer, and tracing those of the
// operations and the service's store calls.
var (
	_ domain.Observer = (*metrics.Metrics)(nil)
	_ server.Observer = (*metrics.Metrics)(nil)
	_ ws.Observer     = (*metrics.Metrics)(nil)
	_ domain.Observer = (*tracing.Tracing)(nil)
	_ server.Observer = (*tracing.Tracing)(nil)
)

// Clock is the App's clock.
func (a *App) Clock() domain.Clock { return a.clock }

// Serve serves HTTP on ln until Shutdown; it returns nil once Shutdown has
// stopped it, else why serving failed.
func (a *App) Serve(ln net.Listener) error {
	if err := a.http.Serve(listener{Listener: ln, set: a.conns}); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Run serves on ln until ctx ends, then shuts everything down, draining
// requests and sockets for Config.DrainTimeout and cutting what is left.
// If serving fails first, it shuts down too and returns why.
func (a *App) Run(ctx context.Context, ln net.Listener) error {
	served := make(chan error, 1)
	go func() { served <- a.Serve(ln) }()
	var err error
	select {
	case err = <-served:
	case <-ctx.Done():
		a.log.Info("shutting down: draining requests and WebSockets", "drain_timeout", a.drain)
	}
	sctx, cancel := context.WithTimeout(context.Background(), a.drain)
	defer cancel()
	shutdownErr := a.Shutdown(sctx)
	if err == nil {
		err = <-served
	}
	return errors.Join(err, shutdownErr)
}

// Shutdown stops everything, each part before what it uses. First the
// drain, until ctx ends: HTTP takes no new requests and lets those in
// flight finish on a live store, while every WebSocket is closed with
// "going away" (HTTP's shutdown does not wait for them). When ctx ends
// first, the connections still open (slow clients, long requests) are cut,
// and how many is logged: not an error, since a bounded drain is what was
// asked for. Then the jobs, the feed, and the store if the App opened it.
// Later calls return the first call's result.
func (a *App) Shutdown(ctx context.Context) error {
	a.shutdownOnce.Do(func() { a.shutdownErr = a.shutdown(ctx) })
	return a.shutdownErr
}

func (a *App) shutdown(ctx context.Context) error {
	start := time.Now()
	var wg sync.WaitGroup
	var httpErr, socketsErr error
	wg.Add(2)
	go func() { defer wg.Done(); httpErr = a.http.Shutdown(ctx) }()
	go func() { defer wg.Done(); socketsErr = a.srv.Shutdown(ctx) }()
	wg.Wait()
	var errs []error
	// Both stop waiting with ctx's error when it ends first.
	drainRanOut := ctx.Err() != nil && (httpErr != nil || socketsErr != nil)
	// What is left after the drain is stopped within cutGrace.
	rest := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		rest, cancel = context.WithTimeout(context.WithoutCancel(ctx), cutGrace)
		defer cancel()
	}
	switch {
	case drainRanOut:
		sockets, requests := a.conns.cut()
		errs = append(errs, a.http.Close()) // the listener, and connections not yet counted
		a.log.Warn("shutting down: the drain time ran out, so the connections still open were cut",
			"websockets_cut", sockets, "http_requests_cut", requests, "drained_for", time.Since(start).Round(time.Millisecond))
		// Their handlers end as their reads and writes fail.
		if err := a.srv.Shutdown(rest); err != nil {
			a.log.Warn("shutting down: WebSocket handlers still running after their connections were cut", "err", err)
		}
	case httpErr != nil || socketsErr != nil:
		errs = append(errs, httpErr, socketsErr)
	default:
		a.log.Info("shutting down: every request and WebSocket finished", "drained_for", time.Since(start).Round(time.Millisecond))
	}
	if a.jobs != nil {
		a.jobs.Stop()
	}
	if a.stopWatch != nil {
		a.stopWatch()
		select {
		case <-a.watchDone:
		case <-rest.Done():
			errs = append(errs, fmt.Errorf("the change-stream feed did not stop: %w", rest.Err()))
		}
	}
	if a.exchangeDone != nil {
		select {
		case <-a.exchangeDone:
		case <-rest.Done():
			errs = append(errs, fmt.Errorf("the activity exchange did not stop: %w", rest.Err()))
		}
	}
	a.feed.Close()
	if a.ownsStore {
		errs = append(errs, a.store.Close())
	}
	return errors.Join(errs...)
}

// leaseRouter is the change-stream feed's sink: the leases of viewers and
// typists go to the service (which publishes what they change), every
// other change to the broker.
type leaseRouter struct {
	feed *feed.Broker
	svc  atomic.Pointer[domain.Service]
}

func (r *leaseRouter) Publish(e domain.Event) {
	if e.Lease != nil {
		// Before the service exists nobody views anything here.
		if svc := r.svc.Load(); svc != nil {
			svc.ApplyActivityLease(*e.Lease)
		}
		return
	}
	r.feed.Publish(e)
}
