package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/store/sqlite"
)

// usedDataDir returns a data dir as a server leaves it: its store holds
// about 1 MB of realistic rows, and the dir is marked as having held it.
// The rows are seeded once per test binary and copied.
func usedDataDir(t *testing.T) string {
	t.Helper()
	used.once.Do(func() { used.files, used.err = seedUsedDataDir(t) })
	if used.err != nil {
		t.Fatal(used.err)
	}
	dir := t.TempDir()
	for name, data := range used.files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var used struct {
	once  sync.Once
	files map[string][]byte
	err   error
}

func seedUsedDataDir(t *testing.T) (map[string][]byte, error) {
	dir, err := os.MkdirTemp("", "switchboard-used-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	s, err := sqlite.Open(context.Background(), dir, quiet)
	if err != nil {
		return nil, err
	}
	if err := s.Close(); err != nil {
		return nil, err
	}
	seedRealistic(t, filepath.Join(dir, sqlite.DBFile), 1<<20)
	files := map[string][]byte{}
	for _, name := range []string{sqlite.DBFile, sqlite.HeldDataFile} {
		if files[name], err = os.ReadFile(filepath.Join(dir, name)); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// seeded reports whether s holds what usedDataDir seeded.
func seeded(t *testing.T, s *sqlite.Store) bool {
	t.Helper()
	agents, err := s.AgentsByIDs(context.Background(), "ws-acme", []string{benchAgent(0)})
	if err != nil {
		t.Fatal(err)
	}
	return agents[0] != nil
}

// openErr opens dir and returns why it was refused, failing if it was not.
func openErr(t *testing.T, dir string, opts sqlite.Options) error {
	t.Helper()
	s, err := sqlite.Open(context.Background(), dir, opts)
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded")
	}
	return err
}

// wantRefusal checks that err wraps why and says each of says.
func wantRefusal(t *testing.T, err, why error, says ...string) {
	t.Helper()
	if !errors.Is(err, why) {
		t.Fatalf("got %v, want %v", err, why)
	}
	for _, s := range says {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the refusal does not say %q:\n%v", s, err)
		}
	}
}

// overwritePages overwrites n pages in the middle of the database file at
// path with random bytes, as a bad disk or a stray write would.
func overwritePages(t *testing.T, path string, n int) {
	t.Helper()
	const pageSize = 4096
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	pages := st.Size() / pageSize
	if pages < int64(3*n) {
		t.Fatalf("%s has %d pages; too few to damage %d in the middle", path, pages, n)
	}
	garbage := make([]byte, n*pageSize)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(garbage, (pages/2)*pageSize); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// makeUnwritable makes path unwritable to this process until the test
// ends: the immutable flag as root, whom no mode stops; else its mode.
func makeUnwritable(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, st.Mode().Perm()&^0o222); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(path, st.Mode().Perm()) })
		return
	}
	if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
		t.Skipf("cannot make %s immutable as root: chattr +i: %v %s", path, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("chattr", "-i", path).CombinedOutput(); err != nil {
			t.Errorf("chattr -i %s: %v %s", path, err, out)
		}
	})
}

func TestOpenRefusesAStoreItCannotTrust(t *testing.T) {
	ctx := context.Background()

	t.Run("pages overwritten in the middle: damaged, and it says how to restore", func(t *testing.T) {
		dir := usedDataDir(t)
		overwritePages(t, filepath.Join(dir, sqlite.DBFile), 8)
		start := time.Now()
		err := openErr(t, dir, quiet)
		wantRefusal(t, err, sqlite.ErrDamaged, "quick_check", "switchboard restore BACKUP_FILE --data-dir "+dir)
		t.Logf("refused in %v: %v", time.Since(start), err)
	})

	t.Run("emptied to 0 bytes in a dir that held a store: refused, and the file left as it was", func(t *testing.T) {
		dir := usedDataDir(t)
		path := filepath.Join(dir, sqlite.DBFile)
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		wantRefusal(t, openErr(t, dir, quiet), sqlite.ErrLostData, "empty (0 bytes)", "switchboard restore", "--fresh-store")
		if st, err := os.Stat(path); err != nil || st.Size() != 0 {
			t.Errorf("the refused file changed: %v %v", st, err)
		}
	})

	t.Run("deleted in a dir that held a store: refused, and nothing created", func(t *testing.T) {
		dir := usedDataDir(t)
		path := filepath.Join(dir, sqlite.DBFile)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		wantRefusal(t, openErr(t, dir, quiet), sqlite.ErrLostData, "is missing")
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the refused Open made %s: %v", path, err)
		}
	})

	t.Run("a fresh start on purpose opens an empty store there, and is ignored where the store holds data", func(t *testing.T) {
		dir := usedDataDir(t)
		path := filepath.Join(dir, sqlite.DBFile)
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		fresh := sqlite.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), FreshStart: true}
		s, err := sqlite.Open(ctx, dir, fresh)
		if err != nil {
			t.Fatal(err)
		}
		if seeded(t, s) {
			t.Error("the fresh store holds the seeded rows")
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), "started an empty store on purpose") {
			t.Errorf("no warning of the fresh start:\n%s", logs.String())
		}
		logs.Reset()
		s, err = sqlite.Open(ctx, usedDataDir(t), fresh)
		if err != nil {
			t.Fatal(err)
		}
		if !seeded(t, s) {
			t.Error("a fresh start emptied a store with data")
		}
		s.Close()
		if !strings.Contains(logs.String(), "the store holds data, so it was left as it is") {
			t.Errorf("no warning that the fresh start was ignored:\n%s", logs.String())
		}
	})

	t.Run("a new data dir is marked once its store has a schema; an old one with data is marked when opened", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "new")
		s, err := sqlite.Open(ctx, dir, quiet)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if _, err := os.Stat(filepath.Join(dir, sqlite.HeldDataFile)); err != nil {
			t.Fatalf("no marker after the first open: %v", err)
		}
		old := usedDataDir(t)
		if err := os.Remove(filepath.Join(old, sqlite.HeldDataFile)); err != nil {
			t.Fatal(err)
		}
		s, err = sqlite.Open(ctx, old, quiet)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if _, err := os.Stat(filepath.Join(old, sqlite.HeldDataFile)); err != nil {
			t.Fatalf("no marker after opening a dir with data: %v", err)
		}
	})

	for _, tc := range []struct{ name, file string }{
		{"the store file", sqlite.DBFile},
		{"its write-ahead log", sqlite.DBFile + "-wal"},
		{"its write-ahead log's index", sqlite.DBFile + "-shm"},
		{"the data dir", ""},
	} {
		t.Run(tc.name+" not writable: refused at once", func(t *testing.T) {
			dir := usedDataDir(t)
			if strings.HasPrefix(tc.file, sqlite.DBFile+"-") {
				if err := os.WriteFile(filepath.Join(dir, tc.file), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			makeUnwritable(t, filepath.Join(dir, tc.file))
			start := time.Now()
			err := openErr(t, dir, quiet)
			wantRefusal(t, err, sqlite.ErrNotWritable, dir, "lsattr", "read-only")
			if took := time.Since(start); took > time.Second {
				t.Errorf("refused after %v", took)
			}
		})
	}

	t.Run("a check cut short by its bound serves the store, saying so", func(t *testing.T) {
		dir := usedDataDir(t)
		var logs bytes.Buffer
		s, err := sqlite.Open(ctx, dir, sqlite.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), IntegrityCheckTimeout: time.Nanosecond})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if !strings.Contains(logs.String(), "did not finish in time") || !strings.Contains(logs.String(), "switchboard check") {
			t.Errorf("no warning of the unfinished check:\n%s", logs.String())
		}
	})
}

func TestTheDataDirLockSurvivesDeletingItsFiles(t *testing.T) {
	ctx := context.Background()
	dir := usedDataDir(t)
	first, err := sqlite.Open(ctx, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if err := os.Remove(filepath.Join(dir, sqlite.LockFile)); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, openErr(t, dir, quiet), sqlite.ErrHeld, "stop it or use another data dir")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	wantRefusal(t, openErr(t, dir, quiet), sqlite.ErrHeld)
}

// crashedDataDir returns a data dir as a server killed after committing n
// agents leaves it: the store file and its write-ahead log, holding the
// agents in its frames (nothing was checkpointed).
func crashedDataDir(t *testing.T, n int) string {
	t.Helper()
	ctx := context.Background()
	live := t.TempDir()
	s, err := sqlite.Open(ctx, live, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range n {
		now := time.Now().UTC().Truncate(time.Millisecond)
		if err := s.InsertAgent(ctx, domain.Agent{WorkspaceID: "ws", ID: fmt.Sprintf("ag-%03d", i), Name: "A", Role: domain.RoleAgent,
			Active: true, Presence: domain.Offline, PresenceSince: now, CreatedAt: now, UpdatedAt: now, Version: 1}); err != nil {
			t.Fatal(err)
		}
	}
	crashed := t.TempDir()
	for _, name := range []string{sqlite.DBFile, sqlite.DBFile + "-wal", sqlite.HeldDataFile} {
		b, err := os.ReadFile(filepath.Join(live, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(crashed, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return crashed
}

// damageFrame overwrites bytes of the page of the i-th frame (1-based) of
// a write-ahead log.
func damageFrame(t *testing.T, wal string, i int) {
	t.Helper()
	const pageSize = 4096
	f, err := os.OpenFile(wal, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("damage"), int64(32+(i-1)*(24+pageSize)+24+100)); err != nil {
		t.Fatal(err)
	}
}

// walFrames is how many whole frames a write-ahead log holds.
func walFrames(t *testing.T, wal string) int {
	t.Helper()
	st, err := os.Stat(wal)
	if err != nil {
		t.Fatal(err)
	}
	return int((st.Size() - 32) / (24 + 4096))
}

// agentsIn reports which of the agents crashedDataDir wrote s holds.
func agentsIn(t *testing.T, s *sqlite.Store, n int) []bool {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("ag-%03d", i)
	}
	agents, err := s.AgentsByIDs(context.Background(), "ws", ids)
	if err != nil {
		t.Fatal(err)
	}
	in := make([]bool, n)
	for i, a := range agents {
		in[i] = a != nil
	}
	return in
}

func TestADamagedWriteAheadLogIsRefusedNotReplayedInPart(t *testing.T) {
	ctx := context.Background()
	const n = 60

	t.Run("a crash's log replays whole", func(t *testing.T) {
		s, err := sqlite.Open(ctx, crashedDataDir(t, n), quiet)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for i, in := range agentsIn(t, s, n) {
			if !in {
				t.Fatalf("agent %d is not in the recovered store", i)
			}
		}
	})

	t.Run("a torn last transaction is dropped, with a warning", func(t *testing.T) {
		dir := crashedDataDir(t, n)
		wal := filepath.Join(dir, sqlite.DBFile+"-wal")
		// The last transaction's frames: one before its commit frame.
		damageFrame(t, wal, walFrames(t, wal)-1)
		var logs bytes.Buffer
		s, err := sqlite.Open(ctx, dir, sqlite.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if !strings.Contains(logs.String(), "last transaction is incomplete") {
			t.Errorf("no warning:\n%s", logs.String())
		}
	})

	t.Run("damage in the middle: refused, the files left as they were, and what precedes it kept by backup and restore", func(t *testing.T) {
		dir := crashedDataDir(t, n)
		wal := filepath.Join(dir, sqlite.DBFile+"-wal")
		frames := walFrames(t, wal)
		damageFrame(t, wal, frames/2)
		before, err := os.ReadFile(wal)
		if err != nil {
			t.Fatal(err)
		}
		err = openErr(t, dir, quiet)
		wantRefusal(t, err, sqlite.ErrDamaged, "write-ahead log", "switchboard restore BACKUP_FILE", "switchboard backup BEFORE_DAMAGE.db")
		t.Logf("%v", err)
		if after, err := os.ReadFile(wal); err != nil || !bytes.Equal(before, after) {
			t.Fatalf("the refused log changed: %v", err)
		}

		if _, err := sqlite.Check(ctx, dir); !errors.Is(err, sqlite.ErrDamaged) {
			t.Errorf("check of the store with a damaged log: %v", err)
		}
		kept := filepath.Join(t.TempDir(), "before-damage.db")
		r, err := sqlite.Backup(ctx, dir, kept)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.String(), "this backup holds what precedes the damage") {
			t.Errorf("the backup does not say the log was damaged: %s", r)
		}
		if after, err := os.ReadFile(wal); err != nil || !bytes.Equal(before, after) {
			t.Fatalf("the backup changed the damaged log: %v", err)
		}
		if _, err := sqlite.Restore(ctx, kept, dir); err != nil {
			t.Fatal(err)
		}
		s, err := sqlite.Open(ctx, dir, quiet)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		in := agentsIn(t, s, n)
		if !in[0] || in[n-1] {
			t.Errorf("restored what precedes the damage: %v", in)
		}
	})
}
