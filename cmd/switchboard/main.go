// Command switchboard runs the Switchboard GraphQL server.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"switchboard/app"
	"switchboard/metrics"
	"switchboard/server"
	"switchboard/server/ws"
	"switchboard/tracing"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs one command and returns the process exit code: 0 done, 1 failed,
// 2 misused.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	} else if len(args) > 0 && slices.Contains([]string{"-h", "-help", "--help"}, args[0]) {
		cmd = "help" // no command named: the help of them all
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, args, getenv, stdout, stderr, false)
	case "dev":
		err = serve(ctx, args, getenv, stdout, stderr, true)
	case "token":
		err = mintToken(args, getenv, stdout, stderr)
	case "migrate":
		err = migrate(ctx, args, getenv, stdout, stderr)
	case "backup":
		err = backup(ctx, args, getenv, stdout, stderr)
	case "restore":
		err = restore(ctx, args, getenv, stdout, stderr)
	case "check":
		err = check(ctx, args, getenv, stdout, stderr)
	case "healthcheck":
		err = healthcheck(ctx, args, getenv, stdout)
	case "help":
		printUsage(stdout)
	default:
		fmt.Fprintf(stderr, "switchboard: unknown command %q\n\n", cmd)
		printUsage(stderr)
		return 2
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintln(stderr, "switchboard:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "switchboard:", err)
		return 1
	}
}

// usageError is a mistake in how the command was called or configured.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// parse binds the settings (and extra flags) of a command and parses args
// and the environment into them.
func parse(name string, args []string, getenv func(string) string, stdout io.Writer, extra func(*flag.FlagSet)) (*config, error) {
	cfg, _, err := parseWith(name, args, getenv, stdout, extra, "")
	return cfg, err
}

// parseWith is parse for a command that takes one operand besides its
// flags (before, after or among them), named operand in its usage; ""
// for none.
func parseWith(name string, args []string, getenv func(string) string, stdout io.Writer, extra func(*flag.FlagSet), operand string) (*config, string, error) {
	var cfg config
	fs := flag.NewFlagSet("switchboard "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.bind(fs)
	if extra != nil {
		extra(fs)
	}
	var operands []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printCommandUsage(stdout, name, fs)
				return nil, "", err
			}
			return nil, "", usagef("%v (see switchboard --help)", err)
		}
		if fs.NArg() == 0 {
			break
		}
		operands, args = append(operands, fs.Arg(0)), fs.Args()[1:]
	}
	switch {
	case operand == "" && len(operands) > 0:
		return nil, "", usagef("unexpected argument %q (see switchboard --help)", operands[0])
	case operand != "" && len(operands) != 1:
		return nil, "", usagef("usage: switchboard %s %s [flags] (see switchboard --help)", name, operand)
	}
	if err := cfg.fromEnv(fs, getenv); err != nil {
		return nil, "", err
	}
	if operand == "" {
		return &cfg, "", nil
	}
	return &cfg, operands[0], nil
}

// commandPurpose says what each command does, for its --help.
var commandPurpose = map[string]string{
	"serve":   "Run the server (the default command).",
	"dev":     "Run the server for a local try-out: loopback only, a dev secret in the data dir,\na demo workspace and tokens printed at start.",
	"token":   "Mint a token, signed with SWITCHBOARD_JWT_SECRET or the dev secret of the data dir.",
	"migrate": "Create or upgrade the store's schema and indexes, then exit.",
	"backup":  "Copy the SQLite store of the data dir into FILE (a new file), while a server serves or not.",
	"restore": "Make the backup FILE the store of the data dir; no server may run on it. The store it replaces is kept aside.",
	"check":   "Check the whole SQLite store (PRAGMA quick_check), also while a server serves.",
	"healthcheck": "Ask the server on SWITCHBOARD_ADDR for /healthz; exit status 0 if it answers 200, 1 if not.\n" +
		"For a container's HEALTHCHECK: the image has no curl.",
}

// printCommandUsage is one command's --help: what it does and its flags,
// each with its environment variable and default.
func printCommandUsage(w io.Writer, name string, fs *flag.FlagSet) {
	operand := map[string]string{"backup": " FILE", "restore": " FILE"}[name]
	fmt.Fprintf(w, "Usage: switchboard %s%s [flags]\n\n%s\n\nFlags (a flag wins over its environment variable):\n", name, operand, commandPurpose[name])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		def := f.DefValue
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "  --%s\t%s\t%s\n", f.Name, def, f.Usage)
	})
	tw.Flush()
}

func newLogger(cfg *config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve runs the server until ctx ends; dev makes it a local try-out.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, dev bool) error {
	name := map[bool]string{false: "serve", true: "dev"}[dev]
	cfg, err := parse(name, args, getenv, stdout, nil)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	introspection := cfg.Introspection
	keys := server.KeyConfig{
		Secret: []byte(cfg.JWTSecret), PublicKeyFile: cfg.JWTPublicKeyFile,
		Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience,
	}
	var demo *devDemo
	if dev {
		if !loopback(cfg.Addr) {
			return usagef("dev listens on loopback only; %q is not a loopback address (use 127.0.0.1:PORT)", cfg.Addr)
		}
		secret, err := devSecret(cfg.DataDir, true)
		if err != nil {
			return err
		}
		keys = server.KeyConfig{Secret: secret, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience}
		introspection = server.IntrospectionAll
		if demo, err = demoTokens(secret, cfg); err != nil {
			return err
		}
	} else if len(keys.Secret) == 0 && keys.PublicKeyFile == "" {
		return usagef("no JWT key is configured, so no token could be verified.\n" +
			"  Set SWITCHBOARD_JWT_SECRET to a random secret of at least 32 bytes (e.g. the output of: openssl rand -hex 32),\n" +
			"  or SWITCHBOARD_JWT_PUBLIC_KEY_FILE to your identity provider's PEM public key.\n" +
			"  To try Switchboard locally, run: switchboard dev")
	}
	lim := server.DefaultLimits()
	lim.OperationTimeout = cfg.OperationTimeout
	var figures *metrics.Metrics
	if cfg.MetricsAddr != "off" {
		figures = metrics.New()
	}
	// Tracing is on when the standard OTEL_EXPORTER_OTLP_* variables name
	// an endpoint; its log lines then carry their trace's id.
	traces, err := tracing.FromEnv(ctx, getenv)
	if err != nil {
		return usagef("tracing: %v", err)
	}
	if traces != nil {
		log = slog.New(tracing.LogHandler(log.Handler()))
		log.Info("tracing GraphQL operations over OTLP")
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := traces.Shutdown(sctx); err != nil {
				log.Warn("sending the last traces failed", "err", err)
			}
		}()
	}
	a, err := app.New(ctx, app.Config{
		Metrics: figures, Tracing: traces,
		DataDir: cfg.DataDir, MongoURI: cfg.MongoURI, Instance: cfg.Instance,
		FreshStore: cfg.FreshStore, IntegrityCheckTimeout: cfg.IntegrityCheckTimeout, DrainTimeout: cfg.DrainTimeout,
		Keys: keys, PresenceTimeout: cfg.PresenceTimeout, RedeliverAfter: cfg.RedeliverAfter, Logger: log, Jobs: true,
		EventRetention: cfg.EventRetention, EventRetentionCount: cfg.EventRetentionCount,
		Server: server.Config{
			Introspection: introspection, Limits: lim, AllowedOrigins: cfg.AllowedOrigins,
			DevTokens: demo.consoleTokens(), Dev: dev, TrustedDocuments: cfg.TrustedDocuments,
			WebSocket: ws.Config{Budget: socketBudget(cfg.MaxSockets, getenv, "/", log)},
		},
	})
	if errors.As(err, new(*app.ConfigError)) {
		return usagef("%v", err)
	}
	if err != nil && ctx.Err() != nil {
		// Stopped while starting (a long integrity check): what was asked.
		log.Info("stopped before serving", "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	// Run shuts the App down; this is for the ways out before it.
	defer a.Shutdown(context.Background())
	if dev {
		if demo.seeded, err = seedDemo(ctx, a.Service()); err != nil {
			return fmt.Errorf("seeding the demo workspace: %w", err)
		}
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	ms, err := startMetrics(cfg.MetricsAddr, cfg.Pprof, figures, log)
	if err != nil {
		ln.Close()
		return err
	}
	base := "http://" + ln.Addr().String()
	if dev {
		demo.printBanner(stdout, cfg, base)
	}
	if cfg.MongoURI != "" {
		log.Info("switchboard listening", "addr", ln.Addr().String(), "store", "mongodb")
	} else {
		log.Info("switchboard listening", "addr", ln.Addr().String(), "store", "sqlite", "data_dir", cfg.DataDir)
	}
	return errors.Join(a.Run(ctx, ln), ms.stop())
}

// loopback reports whether addr's host is a loopback address.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

const devSecretFile = "dev-secret"

// devSecret reads the dev secret of a data dir, making one if create is set
// and there is none. It takes no lock: `switchboard token` reads it while a
// dev server runs.
func devSecret(dataDir string, create bool) ([]byte, error) {
	path := filepath.Join(dataDir, devSecretFile)
	b, err := os.ReadFile(path)
	if err == nil {
		if s := strings.TrimSpace(string(b)); len(s) >= server.MinSecretBytes {
			return []byte(s), nil
		}
		return nil, fmt.Errorf("%s is too short to be a secret; delete it to make a new one", path)
	}
	if !errors.Is(err, fs.ErrNotExist) || !create {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, err
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	secret := hex.EncodeToString(raw[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return devSecret(dataDir, false)
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	return []byte(secret), f.Close()
}

// mintToken is `switchboard token`.
func mintToken(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var req server.TokenRequest
	var ttl time.Duration
	cfg, err := parse("token", args, getenv, stdout, func(fs *flag.FlagSet) {
		fs.StringVar(&req.Subject, "sub", "", "agent or integration id (the token subject)")
		fs.StringVar(&req.WorkspaceID, "workspace", "", "workspace id")
		fs.StringVar(&req.Role, "role", "agent", "agent, admin or integration")
		fs.StringVar(&req.Name, "name", "", "display name")
		fs.StringVar(&req.Email, "email", "", "email address")
		fs.DurationVar(&ttl, "ttl", time.Hour, "lifetime, e.g. 30m or 24h")
	})
	if err != nil {
		return err
	}
	switch {
	case req.Subject == "":
		return usagef("token: --sub is required")
	case req.WorkspaceID == "":
		return usagef("token: --workspace is required")
	case req.Role != "agent" && req.Role != "admin" && req.Role != "integration":
		return usagef("token: --role must be agent, admin or integration")
	case ttl <= 0:
		return usagef("token: --ttl must be positive")
	}
	secret := []byte(cfg.JWTSecret)
	if len(secret) == 0 {
		if cfg.JWTPublicKeyFile != "" {
			return usagef("token: only a public key is configured (SWITCHBOARD_JWT_PUBLIC_KEY_FILE): Switchboard verifies such tokens " +
				"but cannot sign them; mint them with the matching private key, at your identity provider")
		}
		if secret, err = devSecret(cfg.DataDir, false); err != nil {
			return usagef("token: no secret to sign with: set SWITCHBOARD_JWT_SECRET, or run `switchboard dev` once to make a dev secret in %s", cfg.DataDir)
		}
	} else if len(secret) < server.MinSecretBytes {
		return usagef("token: SWITCHBOARD_JWT_SECRET must be at least %d bytes", server.MinSecretBytes)
	}
	req.Issuer, req.Audience, req.TTL = cfg.JWTIssuer, cfg.JWTAudience, ttl
	tok, err := server.MintHS256(secret, req, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// migrate is `switchboard migrate`: opening the store runs its migrations.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parse("migrate", args, getenv, stdout, nil)
	if err != nil {
		return err
	}
	report, err := app.Migrate(ctx, app.Config{DataDir: cfg.DataDir, MongoURI: cfg.MongoURI, Logger: newLogger(cfg, stderr),
		FreshStore: cfg.FreshStore, IntegrityCheckTimeout: cfg.IntegrityCheckTimeout})
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, report)
	return nil
}

// storeCommand runs one of the commands on the SQLite store's files
// (backup, restore, check) and prints what it says.
func storeCommand(ctx context.Context, name, operand string, args []string, getenv func(string) string, stdout io.Writer,
	do func(context.Context, app.Config, string) (string, error)) error {
	cfg, arg, err := parseWith(name, args, getenv, stdout, nil, operand)
	if err != nil {
		return err
	}
	report, err := do(ctx, app.Config{DataDir: cfg.DataDir, MongoURI: cfg.MongoURI}, arg)
	if errors.As(err, new(*app.ConfigError)) {
		return usagef("%v", err)
	}
	fmt.Fprint(stdout, report)
	return err
}

// backup is `switchboard backup FILE`.
func backup(ctx context.Context, args []string, getenv func(string) string, stdout, _ io.Writer) error {
	return storeCommand(ctx, "backup", "FILE", args, getenv, stdout, app.Backup)
}

// restore is `switchboard restore FILE`.
func restore(ctx context.Context, args []string, getenv func(string) string, stdout, _ io.Writer) error {
	return storeCommand(ctx, "restore", "FILE", args, getenv, stdout, app.Restore)
}

// check is `switchboard check`.
func check(ctx context.Context, args []string, getenv func(string) string, stdout, _ io.Writer) error {
	return storeCommand(ctx, "check", "", args, getenv, stdout, func(ctx context.Context, cfg app.Config, _ string) (string, error) {
		return app.Check(ctx, cfg)
	})
}
