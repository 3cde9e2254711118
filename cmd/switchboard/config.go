package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// setting is one configuration value: an environment variable and a flag of
// the same meaning; the flag wins.
type setting struct {
	env, flag, def, help string
	secret               bool
	value                *string
}

// config is every setting of the server.
type config struct {
	Addr             string
	DataDir          string
	MongoURI         string
	JWTSecret        string
	JWTPublicKeyFile string
	JWTIssuer        string
	JWTAudience      string
	Introspection    string
	PresenceTimeout  string
	OperationTimeout string
	AllowedOrigins   string
	Instance         string
	LogLevel         string
	LogFormat        string
}

func (c *config) settings() []setting {
	return []setting{
		{env: "SWITCHBOARD_ADDR", flag: "addr", def: "127.0.0.1:8080", help: "address to listen on (host:port)", value: &c.Addr},
		{env: "SWITCHBOARD_DATA_DIR", flag: "data-dir", def: "./data", help: "directory of the embedded SQLite store (and of the dev secret)", value: &c.DataDir},
		{env: "SWITCHBOARD_MONGODB_URI", flag: "mongodb-uri", help: "MongoDB connection string; when set, MongoDB is the store instead of SQLite", secret: true, value: &c.MongoURI},
		{env: "SWITCHBOARD_JWT_SECRET", flag: "jwt-secret", help: "HS256 secret that signs tokens (at least 32 bytes)", secret: true, value: &c.JWTSecret},
		{env: "SWITCHBOARD_JWT_PUBLIC_KEY_FILE", flag: "jwt-public-key-file", help: "PEM public key that verifies tokens (RS256, ES256 or EdDSA, by key type)", value: &c.JWTPublicKeyFile},
		{env: "SWITCHBOARD_JWT_ISSUER", flag: "jwt-issuer", help: "required token issuer (iss); empty: not checked", value: &c.JWTIssuer},
		{env: "SWITCHBOARD_JWT_AUDIENCE", flag: "jwt-audience", help: "required token audience (aud); empty: not checked", value: &c.JWTAudience},
		{env: "SWITCHBOARD_INTROSPECTION", flag: "introspection", def: "admins", help: "who may introspect the schema: admins, all or off (dev: all)", value: &c.Introspection},
		{env: "SWITCHBOARD_PRESENCE_TIMEOUT", flag: "presence-timeout", def: "30s", help: "an ONLINE or AWAY agent without a sign of life this long becomes OFFLINE (at most 55s)", value: &c.PresenceTimeout},
		{env: "SWITCHBOARD_OPERATION_TIMEOUT", flag: "operation-timeout", def: "10s", help: "a query or mutation still running this long is stopped and answered UNAVAILABLE (HTTP 503 with Retry-After)", value: &c.OperationTimeout},
		{env: "SWITCHBOARD_ALLOWED_ORIGINS", flag: "allowed-origins", help: "comma-separated host patterns (app.example.com, *.example.com) of browser pages allowed to open a WebSocket besides the server's own origin", value: &c.AllowedOrigins},
		{env: "SWITCHBOARD_INSTANCE", flag: "instance", help: "this instance's name, unique among instances on one MongoDB (its change-stream position is kept under it); default: the host name", value: &c.Instance},
		{env: "SWITCHBOARD_LOG_LEVEL", flag: "log-level", def: "info", help: "debug, info, warn or error", value: &c.LogLevel},
		{env: "SWITCHBOARD_LOG_FORMAT", flag: "log-format", def: "text", help: "text or json", value: &c.LogFormat},
	}
}

// bind registers every setting as a flag of fs whose default comes from the
// environment, then from the built-in default.
func (c *config) bind(fs *flag.FlagSet, getenv func(string) string) {
	for _, s := range c.settings() {
		def := s.def
		if v := getenv(s.env); v != "" {
			def = v
		}
		fs.StringVar(s.value, s.flag, def, s.help+" ["+s.env+"]")
	}
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
