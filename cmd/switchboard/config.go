package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"switchboard/domain"
	"switchboard/server"
)

// setting is one configuration value: an environment variable and a flag of
// the same meaning; the flag wins. Its value is parsed into its typed field
// of config when the command line is, so a bad value is named before
// anything starts.
type setting struct {
	env, flag, def, help string
	value                flag.Value
}

// config is every setting of the server, parsed.
type config struct {
	Addr             string
	DataDir          string
	MongoURI         string
	JWTSecret        string
	JWTPublicKeyFile string
	JWTIssuer        string
	JWTAudience      string
	Introspection    server.Introspection
	PresenceTimeout  time.Duration
	RedeliverAfter   time.Duration
	OperationTimeout time.Duration
	AllowedOrigins   []string
	MaxSockets       int
	TrustedDocuments map[string]string
	Instance         string
	LogLevel         slog.Level
	LogFormat        string

	FreshStore            bool
	IntegrityCheckTimeout time.Duration
	DrainTimeout          time.Duration

	MetricsAddr         string
	Pprof               bool
	EventRetention      time.Duration
	EventRetentionCount int
}

func (c *config) settings() []setting {
	return []setting{
		{env: "SWITCHBOARD_ADDR", flag: "addr", def: "127.0.0.1:8080", help: "address to listen on (host:port)", value: text(&c.Addr)},
		{env: "SWITCHBOARD_DATA_DIR", flag: "data-dir", def: "./data", help: "directory of the embedded SQLite store (and of the dev secret)", value: text(&c.DataDir)},
		{env: "SWITCHBOARD_MONGODB_URI", flag: "mongodb-uri", help: "MongoDB connection string; when set, MongoDB is the store instead of SQLite", value: text(&c.MongoURI)},
		{env: "SWITCHBOARD_JWT_SECRET", flag: "jwt-secret", help: "HS256 secret that signs tokens (at least 32 bytes)", value: text(&c.JWTSecret)},
		{env: "SWITCHBOARD_JWT_PUBLIC_KEY_FILE", flag: "jwt-public-key-file", help: "PEM public key that verifies tokens (RS256, ES256 or EdDSA, by key type)", value: text(&c.JWTPublicKeyFile)},
		{env: "SWITCHBOARD_JWT_ISSUER", flag: "jwt-issuer", help: "required token issuer (iss); empty: not checked", value: text(&c.JWTIssuer)},
		{env: "SWITCHBOARD_JWT_AUDIENCE", flag: "jwt-audience", help: "required token audience (aud); empty: not checked", value: text(&c.JWTAudience)},
		{env: "SWITCHBOARD_INTROSPECTION", flag: "introspection", def: "admins", help: "who may introspect the schema: admins, all or off (dev: all)", value: typed(&c.Introspection, parseIntrospection)},
		{env: "SWITCHBOARD_PRESENCE_TIMEOUT", flag: "presence-timeout", def: "30s", help: "an ONLINE or AWAY agent without a sign of life this long becomes OFFLINE (at most 55s)", value: typed(&c.PresenceTimeout, parsePresenceTimeout)},
		{env: "SWITCHBOARD_REDELIVER_AFTER", flag: "redeliver-after", def: "5m", help: "an outbound message its connector has not reported SENT or FAILED this long after the reply is offered again to the connectors subscribed to its channel", value: typed(&c.RedeliverAfter, parsePositiveDuration)},
		{env: "SWITCHBOARD_OPERATION_TIMEOUT", flag: "operation-timeout", def: "10s", help: "a query or mutation still running this long is stopped and answered UNAVAILABLE (HTTP 503 with Retry-After)", value: typed(&c.OperationTimeout, parsePositiveDuration)},
		{env: "SWITCHBOARD_ALLOWED_ORIGINS", flag: "allowed-origins", help: "comma-separated host patterns (app.example.com, *.example.com) of browser pages allowed to call /graphql (CORS) and open a WebSocket besides the server's own origin", value: typed(&c.AllowedOrigins, parseOrigins)},
		{env: "SWITCHBOARD_TRUSTED_DOCUMENTS", flag: "trusted-documents", help: "a JSON manifest of id to document (GraphQL Code Generator's persisted-documents.json); when set, callers other than admins run only its documents", value: typed(&c.TrustedDocuments, trustedDocuments)},
		{env: "SWITCHBOARD_MAX_SOCKETS", flag: "max-sockets", help: "the most WebSockets open at once, with room for eight subscriptions each (the console's queue page); empty: as many as the memory limit (GOMEMLIMIT or the cgroup's) allows, or 10000 without one", value: typed(&c.MaxSockets, parseMaxSockets)},
		{env: "SWITCHBOARD_INSTANCE", flag: "instance", help: "this instance's name, unique among instances on one MongoDB (its change-stream position is kept under it); default: the host name", value: text(&c.Instance)},
		{env: "SWITCHBOARD_LOG_LEVEL", flag: "log-level", def: "info", help: "debug, info, warn or error", value: typed(&c.LogLevel, parseLogLevel)},
		{env: "SWITCHBOARD_LOG_FORMAT", flag: "log-format", def: "text", help: "text or json", value: typed(&c.LogFormat, parseLogFormat)},
		{env: "SWITCHBOARD_FRESH_STORE", flag: "fresh-store", def: "false", help: "start an empty SQLite store on purpose in a data dir that has held one whose switchboard.db is now missing or empty (refused otherwise); set it for one start only", value: boolean(&c.FreshStore)},
		{env: "SWITCHBOARD_INTEGRITY_CHECK_TIMEOUT", flag: "integrity-check-timeout", def: "20s", help: "how long the SQLite store's integrity check (PRAGMA quick_check) may take at start-up; a damaged store is refused, one not checked in full by then is served with a warning", value: typed(&c.IntegrityCheckTimeout, parsePositiveDuration)},
		{env: "SWITCHBOARD_EVENT_RETENTION", flag: "event-retention", def: "10m", help: "a change stays replayable by resuming subscribers (since:) at least this long...", value: typed(&c.EventRetention, parsePositiveDuration)},
		{env: "SWITCHBOARD_EVENT_RETENTION_COUNT", flag: "event-retention-count", def: "10000", help: "...or while it is among its workspace's newest this many, whichever keeps more", value: typed(&c.EventRetentionCount, parsePositiveInt)},
		{env: "SWITCHBOARD_DRAIN_TIMEOUT", flag: "drain-timeout", def: "10s", help: "on SIGTERM or SIGINT, how long requests and WebSockets may take to finish before those left are cut", value: typed(&c.DrainTimeout, parsePositiveDuration)},
		{env: "SWITCHBOARD_METRICS_ADDR", flag: "metrics-addr", def: "127.0.0.1:9464", help: "address of /metrics (Prometheus text format) and, with pprof, of /debug/pprof/; unauthenticated, so loopback by default; off: no metrics", value: text(&c.MetricsAddr)},
		{env: "SWITCHBOARD_PPROF", flag: "pprof", def: "false", help: "serve Go's profiles (/debug/pprof/) on the metrics address", value: boolean(&c.Pprof)},
	}
}

// value is a flag.Value that parses its text into *p.
type value[T any] struct {
	p     *T
	parse func(string) (T, error)
	text  string
}

func typed[T any](p *T, parse func(string) (T, error)) *value[T] {
	return &value[T]{p: p, parse: parse}
}

func text(p *string) *value[string] {
	return typed(p, func(s string) (string, error) { return s, nil })
}

func (v *value[T]) String() string { return v.text }

// boolValue is a setting given as a bare flag (--fresh-store) or with a
// value (--fresh-store=false, SWITCHBOARD_FRESH_STORE=true).
type boolValue struct{ *value[bool] }

func (boolValue) IsBoolFlag() bool { return true }

func boolean(p *bool) boolValue {
	return boolValue{typed(p, func(s string) (bool, error) {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return false, fmt.Errorf("must be true or false")
		}
		return b, nil
	})}
}

func (v *value[T]) Set(s string) error {
	x, err := v.parse(s)
	if err != nil {
		return err
	}
	*v.p, v.text = x, s
	return nil
}

func parseIntrospection(s string) (server.Introspection, error) {
	if i, ok := server.ParseIntrospection(s); ok {
		return i, nil
	}
	return "", fmt.Errorf("must be admins, all or off")
}

func parsePresenceTimeout(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > domain.MaxPresenceTimeout {
		return 0, fmt.Errorf("must be a duration above 0 and at most %s, such as 30s", domain.MaxPresenceTimeout)
	}
	return d, nil
}

func parsePositiveInt(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("must be a whole number above 0, such as 10000")
	}
	return n, nil
}

func parsePositiveDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("must be a duration above 0, such as 10s")
	}
	return d, nil
}

// trustedDocuments reads the manifest a path names; no path, no manifest.
func trustedDocuments(path string) (map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	return server.LoadTrustedDocuments(path)
}

// parseOrigins reads a comma-separated list of host patterns, each as the
// WebSocket transport matches it (path.Match), so a malformed one is named
// now rather than refusing every browser later.
func parseOrigins(s string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(s, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if _, err := path.Match(o, ""); err != nil {
			return nil, fmt.Errorf("%q is not a host pattern (such as app.example.com or *.example.com)", o)
		}
		out = append(out, o)
	}
	return out, nil
}

// parseMaxSockets reads a number of sockets; empty is 0, derived from the
// memory limit at start-up.
func parseMaxSockets(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("must be a whole number above 0, or empty to size it from the memory limit")
	}
	return n, nil
}

func parseLogLevel(s string) (slog.Level, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("must be debug, info, warn or error")
	}
	return level, nil
}

func parseLogFormat(s string) (string, error) {
	if s != "text" && s != "json" {
		return "", fmt.Errorf("must be text or json")
	}
	return s, nil
}

// bind registers every setting as a flag of fs, holding its built-in
// default. The environment is read by fromEnv, after the flags.
func (c *config) bind(fs *flag.FlagSet) {
	for _, s := range c.settings() {
		if err := s.value.Set(s.def); err != nil {
			panic(fmt.Sprintf("the default of %s: %v", s.env, err))
		}
		fs.Var(s.value, s.flag, s.help+" ["+s.env+"]")
	}
}

// fromEnv sets each setting that no flag set from its environment variable.
func (c *config) fromEnv(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, s := range c.settings() {
		v := getenv(s.env)
		if v == "" || given[s.flag] {
			continue
		}
		if err := fs.Set(s.flag, v); err != nil {
			return usagef("%s=%q: %v (see switchboard --help)", s.env, v, err)
		}
	}
	return nil
}

// printSettings writes the settings table of --help.
func printSettings(w io.Writer) {
	var c config
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  ENVIRONMENT\tFLAG\tDEFAULT\tMEANING")
	for _, s := range c.settings() {
		def := s.def
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "  %s\t--%s\t%s\t%s\n", s.env, s.flag, def, s.help)
	}
	tw.Flush()
}

const usage = `Switchboard: a GraphQL API for customer-support inboxes.

Usage:
  switchboard [serve] [flags]   run the server (the default command)
  switchboard dev [flags]       run it for a local try-out: loopback only, a dev
                                secret in the data dir, a demo workspace, tokens
  switchboard token [flags]     mint a token (HS256: SWITCHBOARD_JWT_SECRET, or the
                                dev secret of the data dir)
  switchboard migrate [flags]   create or upgrade the store's schema and indexes
  switchboard backup FILE       copy the SQLite store of the data dir into FILE (a new
                                file): consistent, checked, also while a server serves it
  switchboard restore FILE      make the backup FILE the store of the data dir; no server
                                may run on it; the files it replaces are kept aside
  switchboard check             check the whole SQLite store (PRAGMA quick_check), also
                                while a server serves it; exit status 1 if damaged
  switchboard healthcheck       ask the server on SWITCHBOARD_ADDR for /healthz; exit
                                status 0 if it answers 200 (a container's HEALTHCHECK)
  switchboard help              show this help

Token flags: --sub --workspace --role (agent, admin, integration) --name --email --ttl

Settings (each an environment variable and a flag; the flag wins):
`

func printUsage(w io.Writer) {
	fmt.Fprint(w, usage)
	printSettings(w)
	fmt.Fprintln(w, strings.TrimSpace(`
Run "switchboard dev" to try it: it prints tokens and a curl line.`))
}
