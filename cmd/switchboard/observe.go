package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"switchboard/metrics"
)

// metricsServer serves /metrics (and, when asked, pprof) on an address of
// its own, apart from the API: figures and profiles are the operator's,
// not the clients', so the default is loopback, and a public address is
// said in the log.
type metricsServer struct {
	http *http.Server
	ln   net.Listener
	done chan error
}

// startMetrics listens on addr and serves m there; nil when addr is "off".
func startMetrics(addr string, withPprof bool, m *metrics.Metrics, log *slog.Logger) (*metricsServer, error) {
	if addr == "off" {
		if withPprof {
			log.Warn("pprof is served on the metrics address, which is off: no profiles")
		}
		return nil, nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for metrics on %s (SWITCHBOARD_METRICS_ADDR; off turns them off): %w", addr, err)
	}
	s := &metricsServer{
		http: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		ln:   ln,
		done: make(chan error, 1),
	}
	go func() { s.done <- s.http.Serve(ln) }()
	attrs := []any{"addr", ln.Addr().String(), "pprof", withPprof}
	if loopback(ln.Addr().String()) {
		log.Info("metrics listening", attrs...)
	} else {
		log.Warn("metrics listening on a non-loopback address: /metrics"+map[bool]string{true: " and pprof are", false: " is"}[withPprof]+
			" unauthenticated, so keep this port off the public network", attrs...)
	}
	return s, nil
}

// stop shuts the metrics server down once the API has.
func (s *metricsServer) stop() error {
	if s == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if serveErr := <-s.done; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}

// healthcheck asks the server on the configured address for /healthz: an
// image without curl checks itself with its own binary. A server listening
// on every interface is asked on loopback.
func healthcheck(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := parse("healthcheck", args, getenv, stdout, nil)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return usagef("SWITCHBOARD_ADDR %q: %v", cfg.Addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /healthz answered %s", resp.Status)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}
