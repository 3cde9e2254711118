package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"switchboard/apitest"
	"switchboard/app"
	"switchboard/domain"
	"switchboard/server"
	"switchboard/store/sqlite"
)

// benchKeys verify the tokens of benchmarks that build a whole server but
// call its service directly.
var benchKeys = server.KeyConfig{Secret: []byte("benchmark-secret-benchmark-secret")}

// cleanupConvs is the size of the logout cleanup benchmark: one agent owns
// this many NEW conversations when they go offline.
const cleanupConvs = 10_000

// seedCleanup writes an ONLINE agent owning n NEW conversations, and the
// remove-ownership setting on with grace 0, straight into a migrated
// database.
func seedCleanup(b *testing.B, path string, n int) {
	b.Helper()
	tx, commit := seedTx(b, path)
	defer commit()
	now := time.Now().UnixMilli()
	mustExec := func(q string, args ...any) {
		if _, err := tx.Exec(q, args...); err != nil {
			b.Fatal(err)
		}
	}
	mustExec(`INSERT INTO settings (workspace_id, remove_ownership_on_logout, logout_grace_seconds, switched_off_count, version, updated_at)
		VALUES (?, 1, 0, 0, 1, ?)`, benchWS, now)
	mustExec(`INSERT INTO agents (workspace_id, id, name, email, role, active, presence, presence_since,
		offline_epoch, last_seen_at, created_at, updated_at, version) VALUES (?, 'ben', 'Ben', '', 'AGENT', 1, 'ONLINE', ?, 0, ?, ?, ?, 1)`,
		benchWS, now, now, now, now)
	mustExec(`INSERT INTO channels (workspace_id, id, name, created_at) VALUES (?, 'ch-1', 'Email', ?)`, benchWS, now)
	stmt, err := tx.Prepare(`INSERT INTO conversations (workspace_id, id, channel_id, contact_id, seq, status, owner_id, owned_since,
		owner_epoch, assigned_while_offline, owner_version, waiting_since, boomerang_at, created_at, updated_at, version)
		VALUES (?, ?, 'ch-1', ?, 1, 'NEW', 'ben', ?, 0, 0, 1, ?, NULL, ?, ?, 1)`)
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		contact := fmt.Sprintf("ct-%d", i)
		if _, err := stmt.Exec(benchWS, domain.ConversationID(benchWS, contact, 1), contact, now, now, now, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLogoutCleanup measures the cleanup of 10,000 NEW conversations
// owned by one agent: its time and its store calls.
func BenchmarkLogoutCleanup(b *testing.B) {
	ctx := context.Background()
	ben := domain.Actor{WorkspaceID: benchWS, ID: "ben", Role: domain.RoleAgent}
	for range b.N {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), sqlite.DBFile)
		seedCleanup(b, path, cleanupConvs)
		s, err := sqlite.OpenFile(ctx, path, quiet)
		if err != nil {
			b.Fatal(err)
		}
		counting := apitest.NewCountingStore(s)
		a, err := app.New(ctx, app.Config{Store: app.UseStore(counting), Keys: benchKeys, Logger: quiet.Logger})
		if err != nil {
			b.Fatal(err)
		}
		svc := a.Service()
		if _, err := svc.Logout(ctx, ben); err != nil {
			b.Fatal(err)
		}
		counting.Reset()
		b.StartTimer()
		n, err := svc.RunLogoutCleanup(ctx, benchWS, "ben")
		b.StopTimer()
		if err != nil || n != cleanupConvs {
			b.Fatalf("released %d (%v), want %d", n, err, cleanupConvs)
		}
		calls, total := counting.Calls()
		b.ReportMetric(float64(total), "store-calls/op")
		b.ReportMetric(float64(calls["UpdateConversation"]+calls["UpdateConversations"]), "writes/op")
		b.ReportMetric(float64(counting.Elapsed().Nanoseconds()), "store-ns/op")
		a.Shutdown(ctx)
		s.Close()
	}
}

// BenchmarkLogoutToLastEvent measures, on the real clock with the
// background jobs, the time from an agent's logout (grace 0) to the last
// LOGOUT_CLEANUP event of their 1,000 NEW conversations reaching a
// subscriber of the change feed.
func BenchmarkLogoutToLastEvent(b *testing.B) {
	const n = 1000
	ctx := context.Background()
	ben := domain.Actor{WorkspaceID: benchWS, ID: "ben", Role: domain.RoleAgent}
	for range b.N {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), sqlite.DBFile)
		seedCleanup(b, path, n)
		var s *sqlite.Store
		a, err := app.New(ctx, app.Config{
			Store: func(ctx context.Context, sink domain.EventSink) (domain.Store, error) {
				var err error
				s, err = sqlite.OpenFile(ctx, path, sqlite.Options{Logger: quiet.Logger, EventSink: sink})
				return s, err
			},
			Keys: benchKeys, Logger: quiet.Logger, Jobs: true,
		})
		if err != nil {
			b.Fatal(err)
		}
		svc := a.Service()
		sub := a.Feed().Subscribe(benchWS, 2*n)
		b.StartTimer()
		start := time.Now()
		if _, err := svc.Logout(ctx, ben); err != nil {
			b.Fatal(err)
		}
		got := 0
		deadline := time.After(time.Minute)
		for got < n {
			select {
			case ev := <-sub.Events():
				if c := ev.Conversation; c != nil && c.Change != nil && c.Change.Reason == domain.ReasonLogoutCleanup {
					got++
				}
			case <-sub.Done():
				b.Fatalf("subscription ended: %v", sub.Err())
			case <-deadline:
				b.Fatalf("%d of %d LOGOUT_CLEANUP events within a minute", got, n)
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(elapsed.Milliseconds()), "ms-to-last-event")
		sub.Close()
		a.Shutdown(ctx)
		s.Close()
	}
}
