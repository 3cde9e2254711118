package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"switchboard/store/sqlite"
)

// SQLite's own errors, caused for real on a scratch database: those that
// mean "not now" (retry later) are unavailable, the rest are faults.
func TestErrorsThatMeanNotNowAreUnavailable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "scratch.db")
	open := func(params string) *sql.DB {
		t.Helper()
		db, err := sql.Open("sqlite", path+params)
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		return db
	}
	db := open("?_pragma=journal_mode(WAL)")
	if _, err := db.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL CHECK (v <> 'bad'))`); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name        string
		cause       func() error
		unavailable bool
	}{
		{"the database is full (max_page_count stands in for a full disk)", func() error {
			full := open("?_pragma=max_page_count(3)")
			_, err := full.Exec(`INSERT INTO t (v) VALUES (?)`, strings.Repeat("x", 64<<10))
			return err
		}, true},
		{"the file is opened read only", func() error {
			ro, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
			if err != nil {
				return err
			}
			defer ro.Close()
			_, err = ro.Exec(`INSERT INTO t (v) VALUES ('a')`)
			return err
		}, true},
		{"a lock is held past the busy timeout", func() error {
			holder, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer holder.Rollback()
			if _, err := holder.Exec(`INSERT INTO t (v) VALUES ('held')`); err != nil {
				return err
			}
			_, err = open("?_pragma=busy_timeout(20)").Exec(`INSERT INTO t (v) VALUES ('waits')`)
			return err
		}, true},
		{"the file cannot be opened", func() error {
			db, err := sql.Open("sqlite", filepath.Join(dir, "no", "such", "dir.db"))
			if err != nil {
				return err
			}
			defer db.Close()
			return db.PingContext(ctx)
		}, true},
		{"a constraint is violated", func() error {
			_, err := db.Exec(`INSERT INTO t (v) VALUES ('bad')`)
			return err
		}, false},
		{"a statement is wrong", func() error {
			_, err := db.Exec(`INSERT INTO nowhere (v) VALUES ('a')`)
			return err
		}, false},
		{"the file is not a database", func() error {
			db, err := sql.Open("sqlite", garbage)
			if err != nil {
				return err
			}
			defer db.Close()
			_, err = db.Exec(`SELECT * FROM sqlite_master`)
			return err
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cause()
			if err == nil {
				t.Fatal("no error: the cause did not cause it")
			}
			t.Logf("SQLite says: %v", err)
			if got := sqlite.Unavailable(err); got != tc.unavailable {
				t.Errorf("Unavailable(%v) = %v, want %v", err, got, tc.unavailable)
			}
		})
	}
}
