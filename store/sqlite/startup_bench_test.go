package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/store/sqlite"
)

// BenchmarkStartupCheck measures what the start-up integrity check (PRAGMA
// quick_check) costs by store size: a whole sqlite.Open of a data dir, and
// the check alone, each on a store of realistic rows grown to 10 MB and
// 100 MB (SWITCHBOARD_BENCH_STORE_MB lists other sizes, e.g. "10,100,1024").
// "cold" first drops the file from the page cache, as after a reboot.
// The stores are made in a temporary directory, or kept in
// SWITCHBOARD_BENCH_STORE_DIR and reused.
func BenchmarkStartupCheck(b *testing.B) {
	sizes := []int{10, 100}
	if v := os.Getenv("SWITCHBOARD_BENCH_STORE_MB"); v != "" {
		sizes = nil
		for _, s := range strings.Split(v, ",") {
			mb, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || mb <= 0 {
				b.Fatalf("SWITCHBOARD_BENCH_STORE_MB=%q: want sizes in MB, such as 10,100,1024", v)
			}
			sizes = append(sizes, mb)
		}
	}
	ctx := context.Background()
	for _, mb := range sizes {
		dir := storeOfSize(b, mb)
		path := filepath.Join(dir, sqlite.DBFile)
		for _, cold := range []bool{false, true} {
			suffix := fmt.Sprintf("%dMB", mb)
			if cold {
				suffix += "/cold"
			}
			coldStart := func(b *testing.B) {
				if cold {
					b.StopTimer()
					dropFromPageCache(b, path)
					b.StartTimer()
				}
			}
			// Open as the server does: the lock, the write checks, the
			// read-ahead and the check, within a bound it cannot reach.
			b.Run("open/"+suffix, func(b *testing.B) {
				for b.Loop() {
					coldStart(b)
					s, err := sqlite.Open(ctx, dir, sqlite.Options{Logger: quiet.Logger, IntegrityCheckTimeout: time.Hour})
					if err != nil {
						b.Fatal(err)
					}
					if err := s.Close(); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("quick_check/"+suffix, func(b *testing.B) {
				for b.Loop() {
					coldStart(b)
					if err := sqlite.QuickCheck(ctx, path, time.Hour); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// storeOfSize returns a data dir holding a store of realistic rows of at
// least mb MB.
func storeOfSize(b *testing.B, mb int) string {
	b.Helper()
	dir := b.TempDir()
	if keep := os.Getenv("SWITCHBOARD_BENCH_STORE_DIR"); keep != "" {
		dir = filepath.Join(keep, fmt.Sprintf("%dMB", mb))
		if _, err := os.Stat(filepath.Join(dir, sqlite.DBFile)); err == nil {
			return dir
		}
		if err := os.MkdirAll(dir, 0o750); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	rows := seedRealistic(b, filepath.Join(dir, sqlite.DBFile), int64(mb)<<20)
	fmt.Fprintf(os.Stderr, "a %d MB store: %d conversations, %d messages, %d history entries, seeded in %v\n",
		mb, rows.conversations, rows.messages, rows.history, time.Since(start).Round(time.Second))
	return dir
}

type seededRows struct{ conversations, messages, history int }

// seedRealistic fills a new store at path with one workspace's data until
// the file holds at least size bytes: 50 agents, 5 channels, a contact per
// conversation, each conversation with 1 to 12 messages of 20 to 600
// characters and one history entry per change of owner or status, as the
// server writes them (ids, every index).
func seedRealistic(b testing.TB, path string, size int64) seededRows {
	b.Helper()
	s, err := sqlite.OpenFile(context.Background(), path, quiet)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	exec := func(tx *sql.Tx, q string, args ...any) {
		if _, err := tx.Exec(q, args...); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	const ws = "ws-acme"
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for i := range 50 {
		exec(tx, `INSERT INTO agents (workspace_id, id, name, email, role, active, presence, presence_since,
			offline_epoch, last_seen_at, created_at, updated_at, version) VALUES (?, ?, ?, ?, 'AGENT', 1, 'OFFLINE', ?, 1, ?, ?, ?, 1)`,
			ws, benchAgent(i), fmt.Sprintf("Agent %d", i), fmt.Sprintf("agent%d@acme.example", i), start, start, start, start)
	}
	for i := range 5 {
		exec(tx, `INSERT INTO channels (workspace_id, id, name, created_at) VALUES (?, ?, ?, ?)`, ws, fmt.Sprintf("ch-%d", i),
			[]string{"Email", "Chat", "WhatsApp", "SMS", "Web form"}[i], start)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}

	rng := rand.New(rand.NewPCG(7, 8))
	words := strings.Fields(`hello thanks order delivery refund invoice password account please could you check my the a is not
		working since yesterday again tracking number payment card address update cancel subscription plan upgrade help
		urgent received damaged package return label when will it arrive sorry for the trouble we have looked into this`)
	text := func() string {
		n := 20 + rng.IntN(580)
		var sb strings.Builder
		for sb.Len() < n {
			sb.WriteString(words[rng.IntN(len(words))])
			sb.WriteByte(' ')
		}
		return sb.String()[:n]
	}
	var rows seededRows
	for {
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		for range 250 {
			i := rows.conversations
			rows.conversations++
			ch := fmt.Sprintf("ch-%d", i%5)
			extID := fmt.Sprintf("customer-%d@mail.example", i)
			contact := domain.ContactID(ws, ch, extID)
			conv := domain.ConversationID(ws, contact, 1)
			at := start + rng.Int64N(90*24*3600*1000)
			exec(tx, `INSERT INTO contacts (workspace_id, id, channel_id, external_id, name, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
				ws, contact, ch, extID, fmt.Sprintf("Customer %d", i), at)
			nMsg := 1 + rng.IntN(12)
			owner, status, version := "", "NEW", int64(0)
			for m := range nMsg {
				at += rng.Int64N(3600 * 1000)
				version++
				dir, author, id := "INBOUND", "", domain.InboundMessageID(ws, ch, fmt.Sprintf("%s-%d", extID, m))
				if m%2 == 1 {
					if owner == "" {
						owner = benchAgent(rng.IntN(50))
						exec(tx, `INSERT INTO history (workspace_id, conversation_id, version, id, status, at, from_id, to_id, actor_id, reason)
							VALUES (?, ?, ?, ?, ?, ?, '', ?, ?, 'SET_BY_AGENT')`, ws, conv, version, domain.HistoryID(conv, version), status, at, owner, owner)
						rows.history++
						version++
					}
					dir, author, id = "OUTBOUND", owner, domain.ReplyMessageID(ws, owner, fmt.Sprintf("r-%d-%d", i, m))
				}
				exec(tx, `INSERT INTO messages (workspace_id, id, conversation_id, direction, text, author_id, external_id, version, created_at)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, ws, id, conv, dir, text(), author, "", version, at)
				rows.messages++
			}
			switch r := rng.IntN(100); {
			case r < 60:
				status = "RESOLVED"
			case r < 75:
				status = "PENDING"
			}
			if status != "NEW" {
				version++
				exec(tx, `INSERT INTO history (workspace_id, conversation_id, version, id, status, at, from_id, to_id, actor_id, reason)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'MOVED')`, ws, conv, version, domain.HistoryID(conv, version), status, at, owner, owner, owner)
				rows.history++
			}
			var ownedSince any
			if owner != "" {
				ownedSince = at
			}
			exec(tx, `INSERT INTO conversations (workspace_id, id, channel_id, contact_id, seq, status, owner_id, owned_since,
				owner_epoch, assigned_while_offline, owner_version, waiting_since, boomerang_at, created_at, updated_at, version)
				VALUES (?, ?, ?, ?, 1, ?, ?, ?, 1, 0, ?, ?, NULL, ?, ?, ?)`,
				ws, conv, ch, contact, status, owner, ownedSince, version, at, at, at, version)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		var pages, pageSize int64
		if err := db.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
			b.Fatal(err)
		}
		if err := db.QueryRow("PRAGMA page_size").Scan(&pageSize); err != nil {
			b.Fatal(err)
		}
		if pages*pageSize >= size {
			break
		}
	}
	// Into the database file, as a server's close leaves it.
	if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		b.Fatal(err)
	}
	return rows
}

// dropFromPageCache asks the kernel to forget the cached pages of path,
// so the next read comes from the disk.
func dropFromPageCache(b *testing.B, path string) {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := fadviseDontNeed(f); err != nil {
		b.Skipf("cannot drop the file from the page cache: %v", err)
	}
}
