package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/store/sqlite"
)

func TestBackupRestoreAndCheck(t *testing.T) {
	ctx := context.Background()
	dir := usedDataDir(t)
	s, err := sqlite.Open(ctx, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// Writes run while the backup is taken; those committed before it
	// began must all be in it.
	var (
		mu        sync.Mutex
		committed []time.Time
		stop      = make(chan struct{})
		done      = make(chan struct{})
	)
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			now := time.Now().UTC().Truncate(time.Millisecond)
			if err := s.InsertAgent(ctx, domain.Agent{WorkspaceID: "ws-backup", ID: agentID(i), Name: "A", Role: domain.RoleAgent,
				Active: true, Presence: domain.Offline, PresenceSince: now, CreatedAt: now, UpdatedAt: now, Version: 1}); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			committed = append(committed, time.Now())
			mu.Unlock()
		}
	}()
	// The backup begins once writes are under way.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(committed)
		mu.Unlock()
		if n >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes within 30 s", n)
		}
	}
	dest := filepath.Join(t.TempDir(), "backup.db")
	r, err := sqlite.Backup(ctx, dir, dest)
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	before := 0
	for _, at := range committed {
		if at.Before(r.Began) {
			before++
		}
	}
	mu.Unlock()
	if before == 0 || r.Conversations == 0 || r.SchemaVersion != sqlite.SchemaVersion() {
		t.Fatalf("backup %+v with %d writes before it", r, before)
	}
	if _, err := sqlite.Backup(ctx, dir, dest); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("a backup over an existing file: %v", err)
	}

	// Restoring into the held data dir is refused; into a new one, it holds
	// every write committed before the backup began.
	if _, err := sqlite.Restore(ctx, dest, dir); !errors.Is(err, sqlite.ErrHeld) {
		t.Errorf("restore into a served data dir: %v", err)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if _, err := sqlite.Restore(ctx, dest, restored); err != nil {
		t.Fatal(err)
	}
	rs, err := sqlite.Open(ctx, restored, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, before)
	for i := range ids {
		ids[i] = agentID(i)
	}
	agents, err := rs.AgentsByIDs(ctx, "ws-backup", ids)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range agents {
		if a == nil {
			t.Errorf("agent %s, committed before the backup began, is not in it", ids[i])
		}
	}
	rs.Close()

	// A damaged store is found by check, refused, and restored over: the
	// damaged files are kept aside.
	if _, err := sqlite.Check(ctx, restored); err != nil {
		t.Fatalf("check of the restored store: %v", err)
	}
	overwritePages(t, filepath.Join(restored, sqlite.DBFile), 8)
	_, err = sqlite.Check(ctx, restored)
	wantRefusal(t, err, sqlite.ErrDamaged)
	wantRefusal(t, openErr(t, restored, quiet), sqlite.ErrDamaged)
	rr, err := sqlite.Restore(ctx, dest, restored)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(rr.Replaced, sqlite.DBFile)); err != nil {
		t.Errorf("the damaged file was not kept: %v", err)
	}
	rs, err = sqlite.Open(ctx, restored, quiet)
	if err != nil {
		t.Fatalf("open after restoring over the damage: %v", err)
	}
	rs.Close()

	// With no server running, a backup and a check work too, and leave no
	// file behind.
	entries, _ := os.ReadDir(restored)
	if _, err := sqlite.Backup(ctx, restored, filepath.Join(t.TempDir(), "offline.db")); err != nil {
		t.Errorf("backup with no server: %v", err)
	}
	if _, err := sqlite.Check(ctx, restored); err != nil {
		t.Errorf("check with no server: %v", err)
	}
	if after, _ := os.ReadDir(restored); len(after) != len(entries) {
		t.Errorf("the data dir held %v, and after a backup and a check %v", entries, after)
	}

	// A damaged backup is not restored.
	bad := filepath.Join(t.TempDir(), "bad.db")
	raw, err := os.ReadFile(dest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	overwritePages(t, bad, 8)
	if _, err := sqlite.Restore(ctx, bad, filepath.Join(t.TempDir(), "x")); err == nil || !strings.Contains(err.Error(), "not usable") {
		t.Errorf("restore of a damaged backup: %v", err)
	}
}

func agentID(i int) string { return fmt.Sprintf("ag-backup-%06d", i) }
