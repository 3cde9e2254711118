package main

import (
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/server"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestSettingsAreParsedIntoTypedValues(t *testing.T) {
	cfg, err := parse("serve", []string{"--presence-timeout", "20s", "--log-level", "debug", "--allowed-origins", " a.example.com, *.b.example.com ,"},
		env(map[string]string{"SWITCHBOARD_OPERATION_TIMEOUT": "3s", "SWITCHBOARD_INTROSPECTION": "off", "SWITCHBOARD_LOG_FORMAT": "json"}), io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PresenceTimeout != 20*time.Second || cfg.OperationTimeout != 3*time.Second || cfg.Introspection != server.IntrospectionOff ||
		cfg.LogLevel != slog.LevelDebug || cfg.LogFormat != "json" || !slices.Equal(cfg.AllowedOrigins, []string{"a.example.com", "*.b.example.com"}) {
		t.Errorf("parsed %+v", cfg)
	}
	def, err := parse("serve", nil, env(nil), io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	if def.Addr != "127.0.0.1:8080" || def.DataDir != "./data" || def.PresenceTimeout != 30*time.Second || def.OperationTimeout != 10*time.Second ||
		def.Introspection != server.IntrospectionAdmins || def.LogLevel != slog.LevelInfo || def.LogFormat != "text" || def.AllowedOrigins != nil {
		t.Errorf("defaults %+v", def)
	}
}

// A bad value is a usage error at parse time that names the setting it
// came from: the flag when given as a flag, the variable when from the
// environment.
func TestABadSettingIsNamedWhenParsed(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		name string
	}{
		{[]string{"--presence-timeout", "1m"}, nil, "-presence-timeout"},
		{[]string{"--operation-timeout", "soon"}, nil, "-operation-timeout"},
		{[]string{"--introspection", "some"}, nil, "-introspection"},
		{[]string{"--log-level", "loud"}, nil, "-log-level"},
		{[]string{"--log-format", "xml"}, nil, "-log-format"},
		{[]string{"--allowed-origins", "ok.example.com,[bad"}, nil, "-allowed-origins"},
		{nil, map[string]string{"SWITCHBOARD_PRESENCE_TIMEOUT": "0s"}, "SWITCHBOARD_PRESENCE_TIMEOUT"},
		{nil, map[string]string{"SWITCHBOARD_OPERATION_TIMEOUT": "-1s"}, "SWITCHBOARD_OPERATION_TIMEOUT"},
		{nil, map[string]string{"SWITCHBOARD_LOG_LEVEL": "chatty"}, "SWITCHBOARD_LOG_LEVEL"},
		{[]string{"--drain-timeout", "0s"}, nil, "-drain-timeout"},
		{[]string{"--integrity-check-timeout", "long"}, nil, "-integrity-check-timeout"},
		{[]string{"--fresh-store=maybe"}, nil, "-fresh-store"},
		{nil, map[string]string{"SWITCHBOARD_FRESH_STORE": "yes please"}, "SWITCHBOARD_FRESH_STORE"},
	} {
		_, err := parse("serve", tc.args, env(tc.env), io.Discard, nil)
		if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%v %v: %v, want a usage error naming %s", tc.args, tc.env, err, tc.name)
		}
	}
}

// The flag wins over the environment, even over a variable whose value
// would not parse.
func TestAFlagWinsOverABadVariable(t *testing.T) {
	cfg, err := parse("serve", []string{"--presence-timeout", "10s"}, env(map[string]string{"SWITCHBOARD_PRESENCE_TIMEOUT": "nonsense"}), io.Discard, nil)
	if err != nil || cfg.PresenceTimeout != 10*time.Second {
		t.Fatalf("%+v, %v", cfg, err)
	}
}

// The store's settings: a bare --fresh-store, or the variable, turns the
// fresh start on; the bounds are durations.
func TestTheStoreSettings(t *testing.T) {
	def, err := parse("serve", nil, env(nil), io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	if def.FreshStore || def.IntegrityCheckTimeout != 20*time.Second || def.DrainTimeout != 10*time.Second {
		t.Errorf("defaults %+v", def)
	}
	for _, tc := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"--fresh-store"}, nil},
		{nil, map[string]string{"SWITCHBOARD_FRESH_STORE": "true"}},
	} {
		cfg, err := parse("serve", tc.args, env(tc.env), io.Discard, nil)
		if err != nil || !cfg.FreshStore {
			t.Errorf("%v %v: %+v, %v", tc.args, tc.env, cfg, err)
		}
	}
	cfg, err := parse("serve", []string{"--drain-timeout", "3s", "--integrity-check-timeout", "1m"}, env(nil), io.Discard, nil)
	if err != nil || cfg.DrainTimeout != 3*time.Second || cfg.IntegrityCheckTimeout != time.Minute {
		t.Errorf("%+v, %v", cfg, err)
	}
}

// backup and restore take one file, before, after or among their flags.
func TestAStoreCommandTakesOneFile(t *testing.T) {
	for _, args := range [][]string{{"b.db", "--data-dir", "d"}, {"--data-dir", "d", "b.db"}, {"--data-dir=d", "b.db", "--log-level", "warn"}} {
		cfg, file, err := parseWith("backup", args, env(nil), io.Discard, nil, "FILE")
		if err != nil || file != "b.db" || cfg.DataDir != "d" {
			t.Errorf("%v: %q %+v %v", args, file, cfg, err)
		}
	}
	for _, args := range [][]string{nil, {"a.db", "b.db"}} {
		if _, _, err := parseWith("backup", args, env(nil), io.Discard, nil, "FILE"); !errors.As(err, new(usageError)) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
