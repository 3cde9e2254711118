package sqlite_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/store/sqlite"
	"switchboard/store/sqlite/sqlitetest"
	"switchboard/store/storetest"
)

// lockChildEnv, when set to a data dir, makes the test binary a helper
// process that opens that dir and waits to be killed.
const lockChildEnv = "SWITCHBOARD_SQLITE_LOCK_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(lockChildEnv); dir != "" {
		lockChild(dir)
		return
	}
	os.Exit(m.Run())
}

var quiet = sqlite.Options{Logger: slog.New(slog.DiscardHandler)}

// statements collects the distinct statements a store ran, with the
// arguments of one run each.
type statements struct {
	mu   sync.Mutex
	seen map[string][]any
}

func (s *statements) add(query string, args []any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[string][]any{}
	}
	if _, ok := s.seen[query]; !ok {
		s.seen[query] = slices.Clone(args)
	}
}

func TestStore(t *testing.T) {
	var ran statements
	storetest.Run(t, storetest.Factory{
		New: func(t *testing.T) domain.Store {
			s := sqlitetest.New(t, quiet)
			sqlite.SetTrace(s, ran.add)
			return s
		},
		NewPublishing: func(t *testing.T, sink domain.EventSink) domain.Store {
			opts := quiet
			opts.EventSink = sink
			s := sqlitetest.New(t, opts)
			sqlite.SetTrace(s, ran.add)
			return s
		},
		Atomic: true,
	})

	t.Run("every statement the suite ran searches an index", func(t *testing.T) {
		if len(ran.seen) == 0 {
			t.Skip("no statement ran (the suite was filtered out)")
		}
		s := sqlitetest.New(t, quiet)
		for query, args := range ran.seen {
			plan, err := sqlite.Explain(context.Background(), s, query, args...)
			if err != nil {
				t.Errorf("explain %s: %v", query, err)
				continue
			}
			for _, problem := range sqlite.CheckPlan(plan) {
				t.Errorf("%s\n%s", problem, query)
			}
		}
	})
}

func TestDataDirLock(t *testing.T) {
	ctx := context.Background()

	t.Run("a second Open of a data dir fails while the first holds it, and succeeds after Close", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data") // Open creates it
		first, err := sqlite.Open(ctx, dir, quiet)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sqlite.Open(ctx, dir, quiet); err == nil || !strings.Contains(err.Error(), "another switchboard server holds the data dir") {
			t.Fatalf("second Open: got %v, want an error naming the other server", err)
		}
		if err := first.Close(); err != nil {
			t.Fatal(err)
		}
		again, err := sqlite.Open(ctx, dir, quiet)
		if err != nil {
			t.Fatalf("Open after Close: %v", err)
		}
		if err := again.Close(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a killed server leaves a data dir that opens again, with what it committed", func(t *testing.T) {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), lockChildEnv+"="+dir)
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe() // kept open: the child waits on it
		if err != nil {
			t.Fatal(err)
		}
		defer stdin.Close()
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || line != "locked\n" {
			_ = cmd.Process.Kill()
			t.Fatalf("helper process said %q, %v", line, err)
		}
		if _, err := sqlite.Open(ctx, dir, quiet); err == nil {
			t.Fatal("Open succeeded while the helper process holds the data dir")
		}
		if err := cmd.Process.Kill(); err != nil { // SIGKILL: no cleanup runs
			t.Fatal(err)
		}
		if err := cmd.Wait(); err == nil {
			t.Fatal("the helper process exited normally; want killed")
		}
		s, err := sqlite.Open(ctx, dir, quiet)
		if err != nil {
			t.Fatalf("Open after the holder was killed: %v", err)
		}
		defer s.Close()
		agents, err := s.AgentsByIDs(ctx, "ws", []string{"ag-1"})
		if err != nil {
			t.Fatal(err)
		}
		if agents[0] == nil {
			t.Error("the killed server's committed agent is gone")
		}
	})
}

// lockChild opens dir, commits one agent, says "locked" and waits until it
// is killed (or its stdin closes).
func lockChild(dir string) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, dir, quiet)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lock child:", err)
		os.Exit(2)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	err = s.InsertAgent(ctx, domain.Agent{WorkspaceID: "ws", ID: "ag-1", Name: "Ada", Role: domain.RoleAgent, Active: true,
		Presence: domain.Offline, PresenceSince: now, CreatedAt: now, UpdatedAt: now, Version: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, "lock child:", err)
		os.Exit(2)
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = s.Close()
	os.Exit(0)
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()

	// schema reads a database file's schema and version.
	schema := func(t *testing.T, path string) (string, int) {
		t.Helper()
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var version int
		if err := db.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
			t.Fatal(err)
		}
		rows, err := db.Query("SELECT type, name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var typ, name, def string
			if err := rows.Scan(&typ, &name, &def); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %s %s\n", typ, name, def)
		}
		return b.String(), version
	}
	open := func(t *testing.T, path string) error {
		t.Helper()
		s, err := sqlite.OpenFile(ctx, path, quiet)
		if err != nil {
			return err
		}
		return s.Close()
	}

	t.Run("a new database is migrated to the current version", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), sqlite.DBFile)
		if err := open(t, path); err != nil {
			t.Fatal(err)
		}
		if _, v := schema(t, path); v != sqlite.SchemaVersion() {
			t.Errorf("schema version %d, want %d", v, sqlite.SchemaVersion())
		}
	})

	t.Run("reopening a migrated database changes nothing and keeps its data", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), sqlite.DBFile)
		s, err := sqlite.OpenFile(ctx, path, quiet)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SaveSettings(ctx, domain.Settings{WorkspaceID: "ws", LogoutGraceSeconds: 7, Version: 1}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		before, v1 := schema(t, path)
		for range 2 {
			if err := open(t, path); err != nil {
				t.Fatalf("reopen: %v", err)
			}
		}
		after, v2 := schema(t, path)
		if before != after || v1 != v2 {
			t.Errorf("reopening changed the schema from v%d\n%s\nto v%d\n%s", v1, before, v2, after)
		}
		s, err = sqlite.OpenFile(ctx, path, quiet)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		got, err := s.GetSettings(ctx, "ws")
		if err != nil || got.LogoutGraceSeconds != 7 {
			t.Errorf("settings after reopening: %+v, %v", got, err)
		}
	})

	t.Run("a database at schema version 1 is migrated to the current one and keeps its data", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), sqlite.DBFile)
		s, err := sqlite.OpenFile(ctx, path, quiet)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SaveSettings(ctx, domain.Settings{WorkspaceID: "ws", LogoutGraceSeconds: 9, Version: 1}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		want, _ := schema(t, path)
		// Back to what version 1 made: migration 2 adds indexes, migration 3
		// columns, migration 4 the probe table, migration 5 the delivery
		// columns and their index, migration 6 the badge counts and their
		// triggers (taken again from the conversations), migration 7 the
		// record of changes, migration 8 routing, migration 9 the batches'
		// deferral of the counts (and the update trigger again).
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		for i, owner := range []string{"", "ag-1", "ag-1"} {
			if _, err := db.Exec(`INSERT INTO conversations (workspace_id, id, channel_id, contact_id, seq, status, owner_id,
				owner_epoch, assigned_while_offline, owner_version, waiting_since, created_at, updated_at, version)
				VALUES ('ws', ?, 'ch', ?, 1, 'NEW', ?, 0, 0, 0, 0, 0, 0, 1)`, fmt.Sprint("cv-", i), fmt.Sprint("ct-", i), owner); err != nil {
				t.Fatal(err)
			}
		}
		for _, stmt := range []string{
			"DROP TRIGGER queue_counts_insert", "DROP TRIGGER queue_counts_update", "DROP TRIGGER queue_counts_delete",
			"DROP TABLE queue_counts", "DROP TABLE queue_owner_counts",
			"DROP INDEX conversations_boomerang_due", "DROP INDEX agents_cleanup_due", "DROP INDEX agents_silent",
			"ALTER TABLE settings DROP COLUMN switched_off_at",
			"ALTER TABLE agents DROP COLUMN cleanup_claimed_by", "ALTER TABLE agents DROP COLUMN cleanup_claimed_until",
			"DROP TABLE probe",
			"DROP INDEX messages_pending_delivery",
			"ALTER TABLE messages DROP COLUMN channel_id", "ALTER TABLE messages DROP COLUMN delivery_status",
			"ALTER TABLE messages DROP COLUMN delivery_at", "ALTER TABLE messages DROP COLUMN delivery_external_id",
			"ALTER TABLE messages DROP COLUMN delivery_error", "ALTER TABLE messages DROP COLUMN delivery_version",
			"DROP TABLE events", "DROP TABLE event_horizons",
			"DROP INDEX settings_routing", "DROP INDEX conversations_unanswered_due",
			"ALTER TABLE settings DROP COLUMN routing_mode", "ALTER TABLE settings DROP COLUMN routing_default_capacity",
			"ALTER TABLE settings DROP COLUMN routing_unanswered_seconds", "ALTER TABLE settings DROP COLUMN routing_prefer_last_owner",
			"ALTER TABLE agents DROP COLUMN capacity", "ALTER TABLE agents DROP COLUMN last_routed_at",
			"ALTER TABLE conversations DROP COLUMN routing_excluded", "ALTER TABLE conversations DROP COLUMN unanswered_at",
			"ALTER TABLE conversations DROP COLUMN resolved_owner_id", "ALTER TABLE conversations DROP COLUMN preferred_agent_id",
			"DROP TABLE routing_agents", "DROP TABLE routing_leases",
			"DROP TABLE queue_counts_deferral",
			"PRAGMA user_version = 1",
		} {
			if _, err := db.Exec(stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if err := open(t, path); err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if got, v := schema(t, path); got != want || v != sqlite.SchemaVersion() {
			t.Errorf("after migrating from v1: v%d\n%s\nwant v%d\n%s", v, got, sqlite.SchemaVersion(), want)
		}
		s, err = sqlite.OpenFile(ctx, path, quiet)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if got, err := s.GetSettings(ctx, "ws"); err != nil || got.LogoutGraceSeconds != 9 {
			t.Errorf("settings after migrating: %+v, %v", got, err)
		}
		counts, err := s.CountOwners(ctx, "ws", domain.StatusNew, nil)
		if want := []domain.OwnerCount{{OwnerID: "", Count: 1}, {OwnerID: "ag-1", Count: 2}}; err != nil || !slices.Equal(counts, want) {
			t.Errorf("counts after migrating: %+v, %v; want %+v", counts, err, want)
		}
	})

	t.Run("a database of a newer schema is refused", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), sqlite.DBFile)
		if err := open(t, path); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", sqlite.SchemaVersion()+1)); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if err := open(t, path); err == nil || !strings.Contains(err.Error(), "newer") {
			t.Errorf("OpenFile: got %v, want a refusal of the newer schema", err)
		}
	})
}
