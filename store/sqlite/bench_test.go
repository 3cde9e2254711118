package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/store/sqlite"
	"switchboard/store/storetest"
)

// The benchmark workspace: 100,000 conversations (or
// SWITCHBOARD_BENCH_CONVERSATIONS, to compare with another store at its
// size), 50 agents, 5 channels.
// A quarter wait in NEW (40% of them unowned), 15% in PENDING (10%
// unowned), the rest are RESOLVED; owners are skewed, as in a real team.
const (
	benchWS       = "ws-bench"
	benchAgents   = 50
	benchChannels = 5
	benchMe       = "ag-07" // an agent with a typical share
)

var benchConvs = benchSize(100_000)

// benchSize is SWITCHBOARD_BENCH_CONVERSATIONS, else def.
func benchSize(def int) int {
	if n, err := strconv.Atoi(os.Getenv("SWITCHBOARD_BENCH_CONVERSATIONS")); err == nil && n > 0 {
		return n
	}
	return def
}

func benchAgent(i int) string { return fmt.Sprintf("ag-%02d", i) }

// seedTx opens the database at path (migrating it first if it is new) for
// seeding: one transaction, without fsyncs, straight into the tables,
// since through the store a benchmark's data would take minutes of fsyncs.
// commit ends it.
func seedTx(b *testing.B, path string) (tx *sql.Tx, commit func()) {
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
	if tx, err = db.Begin(); err != nil {
		b.Fatal(err)
	}
	return tx, func() {
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
}

// seedBench writes the benchmark data into a migrated database.
func seedBench(b *testing.B, path string) (open []domain.Conversation) {
	b.Helper()
	tx, commit := seedTx(b, path)
	defer commit()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range benchAgents {
		if _, err := tx.Exec(`INSERT INTO agents (workspace_id, id, name, email, role, active, presence, presence_since,
			offline_epoch, last_seen_at, created_at, updated_at, version) VALUES (?, ?, ?, '', 'AGENT', 1, 'ONLINE', ?, 1, ?, ?, ?, 1)`,
			benchWS, benchAgent(i), fmt.Sprintf("Agent %d", i), start.UnixMilli(), start.UnixMilli(), start.UnixMilli(), start.UnixMilli()); err != nil {
			b.Fatal(err)
		}
	}
	stmt, err := tx.Prepare(`INSERT INTO conversations (workspace_id, id, channel_id, contact_id, seq, status, owner_id, owned_since,
		owner_epoch, assigned_while_offline, owner_version, waiting_since, boomerang_at, created_at, updated_at, version)
		VALUES (?, ?, ?, ?, 1, ?, ?, ?, 1, 0, ?, ?, NULL, ?, ?, 1)`)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	// Agent i gets a share proportional to 1/(i%10+1): a few busy ones.
	var weights []int
	for i := range benchAgents {
		for range 10 / (i%10 + 1) {
			weights = append(weights, i)
		}
	}
	for i := range benchConvs {
		id := domain.ConversationID(benchWS, fmt.Sprintf("ct-%d", i), 1)
		status, owner := domain.StatusResolved, ""
		switch r := rng.IntN(100); {
		case r < 25:
			status = domain.StatusNew
			if rng.IntN(100) >= 40 {
				owner = benchAgent(weights[rng.IntN(len(weights))])
			}
		case r < 40:
			status = domain.StatusPending
			if rng.IntN(100) >= 10 {
				owner = benchAgent(weights[rng.IntN(len(weights))])
			}
		}
		waiting := start.Add(time.Duration(rng.Int64N(int64(30 * 24 * time.Hour)))).Truncate(time.Millisecond)
		var ownedSince any
		if owner != "" {
			ownedSince = waiting.UnixMilli()
		}
		c := domain.Conversation{
			WorkspaceID: benchWS, ID: id, ChannelID: fmt.Sprintf("ch-%d", i%benchChannels), ContactID: fmt.Sprintf("ct-%d", i), Seq: 1,
			Status: status, OwnerID: owner, OwnerEpoch: 1, WaitingSince: waiting, CreatedAt: waiting, UpdatedAt: waiting, Version: 1,
		}
		if owner != "" {
			c.OwnedSince, c.OwnerVersion = &waiting, 1
		}
		if _, err := stmt.Exec(benchWS, id, c.ChannelID, c.ContactID, string(status), owner, ownedSince, c.OwnerVersion,
			waiting.UnixMilli(), waiting.UnixMilli(), waiting.UnixMilli()); err != nil {
			b.Fatal(err)
		}
		if status == domain.StatusNew {
			open = append(open, c)
		}
	}
	return open
}

// benchHistory is how many ownership changes the benchmark's long history
// has.
const benchHistory = 10_000

// seedHistory writes storetest.LongHistory into a migrated database.
func seedHistory(b *testing.B, path string) *domain.Conversation {
	b.Helper()
	c, changes := storetest.LongHistory(benchWS, benchMe, benchAgentIDs(), benchHistory)
	tx, commit := seedTx(b, path)
	defer commit()
	if _, err := tx.Exec(`INSERT INTO conversations (workspace_id, id, channel_id, contact_id, seq, status, owner_id, owned_since,
		owner_epoch, assigned_while_offline, owner_version, waiting_since, boomerang_at, created_at, updated_at, version)
		VALUES (?, ?, ?, ?, 1, ?, '', NULL, 1, 0, 0, ?, NULL, ?, ?, ?)`,
		c.WorkspaceID, c.ID, c.ChannelID, c.ContactID, string(c.Status), c.WaitingSince.UnixMilli(), c.CreatedAt.UnixMilli(),
		c.UpdatedAt.UnixMilli(), c.Version); err != nil {
		b.Fatal(err)
	}
	stmt, err := tx.Prepare(`INSERT INTO history (workspace_id, conversation_id, version, id, status, at, from_id, to_id, actor_id, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	for _, h := range changes {
		if _, err := stmt.Exec(h.WorkspaceID, h.ConversationID, h.Version, h.ID, string(h.Status), h.At.UnixMilli(), h.FromID, h.ToID,
			h.ActorID, string(h.Reason)); err != nil {
			b.Fatal(err)
		}
	}
	return &c
}

func BenchmarkStore(b *testing.B) {
	path := filepath.Join(b.TempDir(), sqlite.DBFile)
	newConvs := seedBench(b, path)
	history := seedHistory(b, path)
	s, err := sqlite.OpenFile(context.Background(), path, quiet)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.Bench(b, s, storetest.BenchData{
		WorkspaceID: benchWS, Me: benchMe, Agents: benchAgentIDs(), New: newConvs, Channels: []string{"ch-1", "ch-2"}, History: history,
	})
}

func benchAgentIDs() []string {
	ids := make([]string, benchAgents)
	for i := range ids {
		ids[i] = benchAgent(i)
	}
	return ids
}
