// Package sqlitetest gives tests a fresh SQLite store fast: the schema is
// migrated once per test binary into a template, and each test gets a copy
// of the template's file.
package sqlitetest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"switchboard/store/sqlite"
)

var template struct {
	once  sync.Once
	bytes []byte
	err   error
}

// New returns a new, empty store in t's temporary directory, closed when the
// test ends.
func New(t testing.TB, opts sqlite.Options) *sqlite.Store {
	t.Helper()
	template.once.Do(func() { template.bytes, template.err = migrated() })
	if template.err != nil {
		t.Fatalf("sqlitetest: template database: %v", template.err)
	}
	path := filepath.Join(t.TempDir(), sqlite.DBFile)
	if err := os.WriteFile(path, template.bytes, 0o600); err != nil {
		t.Fatalf("sqlitetest: copy template: %v", err)
	}
	s, err := sqlite.OpenFile(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("sqlitetest: open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("sqlitetest: close: %v", err)
		}
	})
	return s
}

// migrated returns the bytes of a freshly migrated database file. They are
// kept in memory rather than in a file, so nothing outlives the test binary.
func migrated() ([]byte, error) {
	dir, err := os.MkdirTemp("", "switchboard-sqlitetest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, sqlite.DBFile)
	s, err := sqlite.OpenFile(context.Background(), path, sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	if err := s.Close(); err != nil {
		return nil, err
	}
	// Closing the last connection checkpoints the WAL into the file and
	// removes it; a WAL left behind would hold part of the schema.
	if _, err := os.Stat(path + "-wal"); err == nil {
		return nil, fmt.Errorf("the template's WAL was not checkpointed on close")
	}
	return os.ReadFile(path)
}
