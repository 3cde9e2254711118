package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Backups and checks reach a store through a read-only connection of their
// own, beside the server's: WAL lets a reader see a consistent snapshot
// while the server writes, without the data dir's lock (which the server
// holds) and without writing anything to the store. So they need no
// endpoint on the server and no credentials beyond the files' permissions:
// run them as the server's user, on its host.

// BackupReport says what a backup holds.
type BackupReport struct {
	Path          string
	Bytes         int64
	SchemaVersion int
	Conversations int64
	Messages      int64
	// Began is when the backup's snapshot was taken: it holds every write
	// committed before then.
	Began time.Time
	Took  time.Duration
	// WALDamage, if set, says that the store's write-ahead log was
	// damaged, and what of it the backup holds.
	WALDamage string
}

func (r BackupReport) String() string {
	if r.WALDamage != "" {
		return r.summary() + "note: " + r.WALDamage + "\n"
	}
	return r.summary()
}

func (r BackupReport) summary() string {
	return fmt.Sprintf("backed up the store as of %s into %s: %d bytes, schema version %d, %d conversations, %d messages; checked (quick_check ok), took %v\n",
		r.Began.UTC().Format(time.RFC3339Nano), r.Path, r.Bytes, r.SchemaVersion, r.Conversations, r.Messages, r.Took.Round(time.Millisecond))
}

// Backup writes a consistent copy of the store in dataDir into dest, which
// must not exist, while a server may be serving it: VACUUM INTO from one
// read transaction, so the copy holds exactly the writes committed before
// that transaction began, compacted. The copy is written beside dest,
// synced, checked (quick_check) and only then renamed to dest, so a file
// at dest is always a whole, checked backup.
func Backup(ctx context.Context, dataDir, dest string) (BackupReport, error) {
	start := time.Now()
	src := filepath.Join(dataDir, DBFile)
	if what, empty, err := storeFileState(src); err != nil {
		return BackupReport{}, err
	} else if empty {
		return BackupReport{}, fmt.Errorf("sqlite: backup: %s %s: there is no store to back up", src, what)
	}
	if _, err := os.Lstat(dest); err == nil {
		return BackupReport{}, fmt.Errorf("sqlite: backup: %s exists; name a new file", dest)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return BackupReport{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	partial := dest + ".partial"
	// A leftover of an interrupted backup into the same name: never a
	// backup, since only a whole one is renamed to dest.
	_ = os.Remove(partial)

	db, done, wal, err := openToRead(ctx, dataDir)
	if err != nil {
		return BackupReport{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	began := time.Now()
	_, err = db.ExecContext(ctx, "VACUUM INTO ?", partial)
	err = errors.Join(err, done())
	if err != nil {
		_ = os.Remove(partial)
		if isDamage(err) {
			return BackupReport{}, fmt.Errorf("sqlite: backup: %w", damaged(src, []string{err.Error()}))
		}
		return BackupReport{}, fmt.Errorf("sqlite: backup of %s: %w", src, err)
	}
	r, err := checkCopy(ctx, partial)
	if err == nil {
		err = syncFile(partial)
	}
	if err == nil {
		err = os.Rename(partial, dest)
	}
	if err == nil {
		err = syncDir(filepath.Dir(dest))
	}
	if err != nil {
		_ = os.Remove(partial)
		return BackupReport{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	r.Path, r.Began, r.Took = dest, began, time.Since(start)
	if wal != nil {
		r.WALDamage = fmt.Sprintf("the write-ahead log is damaged at frame %d of %d: this backup holds what precedes the damage, "+
			"without the %d transactions committed after it", wal.badFrame, wal.frames, wal.lostCommit)
	}
	return r, nil
}

// checkCopy checks a backup file in full and reads what it holds.
func checkCopy(ctx context.Context, path string) (BackupReport, error) {
	db, err := openReadOnly(ctx, path)
	if err != nil {
		return BackupReport{}, err
	}
	defer db.Close()
	problems, err := quickCheck(ctx, db)
	if err != nil {
		return BackupReport{}, fmt.Errorf("check %s: %w", path, err)
	}
	if len(problems) > 0 {
		return BackupReport{}, fmt.Errorf("%s is damaged (PRAGMA quick_check: %s)", path, damageSummary(problems))
	}
	var r BackupReport
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&r.SchemaVersion); err != nil {
		return BackupReport{}, fmt.Errorf("read %s: %w", path, err)
	}
	if r.SchemaVersion < 1 {
		return BackupReport{}, fmt.Errorf("%s holds no Switchboard store (schema version %d)", path, r.SchemaVersion)
	}
	if r.SchemaVersion > SchemaVersion() {
		return BackupReport{}, fmt.Errorf("%s has schema version %d, newer than this server's %d: use a newer switchboard", path, r.SchemaVersion, SchemaVersion())
	}
	if err := db.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages)").
		Scan(&r.Conversations, &r.Messages); err != nil {
		return BackupReport{}, fmt.Errorf("read %s: %w", path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return BackupReport{}, err
	}
	r.Bytes = st.Size()
	return r, nil
}

// RestoreReport says what a restore did.
type RestoreReport struct {
	Backup BackupReport
	// DataDir is where the backup now is the store.
	DataDir string
	// Replaced is the directory the files it replaced were moved into;
	// empty if there were none.
	Replaced string
}

func (r RestoreReport) String() string {
	s := fmt.Sprintf("restored %s into %s: schema version %d, %d conversations, %d messages (checked: quick_check ok)\n",
		r.Backup.Path, r.DataDir, r.Backup.SchemaVersion, r.Backup.Conversations, r.Backup.Messages)
	if r.Replaced != "" {
		s += fmt.Sprintf("the files it replaced are kept in %s; delete them once the restored store serves as it should\n", r.Replaced)
	}
	return s
}

// Restore makes the backup file at backup the store of dataDir. The backup
// is checked first; the data dir is held while it works, so no server may
// be running on it; the store files found there (damaged, emptied, or
// just older) are moved into a new directory beside them rather than
// deleted, with their write-ahead log, which belongs to them and would
// damage the restored file if replayed onto it.
func Restore(ctx context.Context, backup, dataDir string) (RestoreReport, error) {
	checked, err := checkCopy(ctx, backup)
	if err != nil {
		return RestoreReport{}, fmt.Errorf("sqlite: restore: the backup is not usable: %w", err)
	}
	checked.Path = backup
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return RestoreReport{}, fmt.Errorf("sqlite: restore: create data dir: %w", err)
	}
	lock, err := lockDataDir(dataDir)
	if errors.Is(err, ErrHeld) {
		return RestoreReport{}, fmt.Errorf("sqlite: restore: %w %s: stop it first", ErrHeld, dataDir)
	}
	if err != nil {
		return RestoreReport{}, err
	}
	defer lock.release()
	if err := checkWritable(dataDir); err != nil {
		return RestoreReport{}, err
	}
	r := RestoreReport{Backup: checked, DataDir: dataDir}
	var present []string
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if _, err := os.Lstat(filepath.Join(dataDir, DBFile+suffix)); err == nil {
			present = append(present, DBFile+suffix)
		}
	}
	if len(present) > 0 {
		r.Replaced = filepath.Join(dataDir, "replaced-"+strings.ReplaceAll(time.Now().UTC().Format("20060102T150405.000Z"), ".", ""))
		if err := os.Mkdir(r.Replaced, 0o750); err != nil {
			return RestoreReport{}, fmt.Errorf("sqlite: restore: %w", err)
		}
		// The log and its index first: a store file without them is a
		// store as of its last checkpoint, while a log beside the wrong
		// file is damage.
		for i := len(present) - 1; i >= 0; i-- {
			if err := os.Rename(filepath.Join(dataDir, present[i]), filepath.Join(r.Replaced, present[i])); err != nil {
				return RestoreReport{}, fmt.Errorf("sqlite: restore: move %s aside: %w", present[i], err)
			}
		}
	}
	if err := copyFileSynced(backup, filepath.Join(dataDir, DBFile)); err != nil {
		return RestoreReport{}, fmt.Errorf("sqlite: restore: %w", err)
	}
	if err := markHeldData(dataDir, time.Now()); err != nil {
		return RestoreReport{}, err
	}
	return r, nil
}

// CheckReport says what a full check of a store found.
type CheckReport struct {
	Path     string
	Bytes    int64
	Problems []string
	Took     time.Duration
}

func (r CheckReport) String() string {
	if len(r.Problems) == 0 {
		return fmt.Sprintf("%s (%d bytes): quick_check ok, took %v\n", r.Path, r.Bytes, r.Took.Round(time.Millisecond))
	}
	return fmt.Sprintf("%s (%d bytes) is DAMAGED: %s\n", r.Path, r.Bytes, strings.Join(r.Problems, "\n  "))
}

// Check runs the whole integrity check (quick_check, unbounded) on the
// store in dataDir, while a server may be serving it; a damaged store is
// also an error that wraps ErrDamaged and says what to do.
func Check(ctx context.Context, dataDir string) (CheckReport, error) {
	start := time.Now()
	path := filepath.Join(dataDir, DBFile)
	if what, empty, err := storeFileState(path); err != nil {
		return CheckReport{}, err
	} else if empty {
		return CheckReport{}, fmt.Errorf("sqlite: check: %s %s", path, what)
	}
	db, done, wal, err := openToRead(ctx, dataDir)
	if err != nil {
		return CheckReport{}, fmt.Errorf("sqlite: check: %w", err)
	}
	defer done()
	r := CheckReport{Path: path}
	if r.Problems, err = quickCheck(ctx, db); err != nil {
		return CheckReport{}, fmt.Errorf("sqlite: check %s: %w", path, err)
	}
	if wal != nil && wal.sure() {
		r.Took = time.Since(start)
		r.Problems = append(r.Problems, fmt.Sprintf("the write-ahead log is damaged at frame %d of %d", wal.badFrame, wal.frames))
		return r, walDamaged(dataDir, wal)
	}
	r.Took = time.Since(start)
	if st, err := os.Stat(path); err == nil {
		r.Bytes = st.Size()
	}
	if len(r.Problems) > 0 {
		return r, damaged(path, r.Problems)
	}
	return r, nil
}

// openToRead opens the store of dataDir for reading; done closes it. While
// a server holds the data dir, the connection is read-only, beside the
// server's. Otherwise it holds the data dir as a server would, so that no
// server starts writing meanwhile, and reads through a read-write
// connection that only reads (query_only would refuse VACUUM INTO too):
// closing it tidies the write-ahead log and its index away as a server's
// close does, where a read-only one would leave them behind, owned by
// whoever ran it.
//
// With no server, it also checks the write-ahead log (checkWAL; a live one
// cannot be read reliably while a server appends to it): wal is what it
// found, nil if nothing.
func openToRead(ctx context.Context, dataDir string) (db *sql.DB, done func() error, wal *walDamage, err error) {
	path := filepath.Join(dataDir, DBFile)
	readOnly := func() (*sql.DB, func() error, *walDamage, error) {
		db, err := openReadOnly(ctx, path)
		if err != nil {
			return nil, nil, nil, err
		}
		return db, db.Close, wal, nil
	}
	lock, err := lockDataDir(dataDir)
	if err != nil {
		// Held by a server, or a data dir this process may not write (a
		// read-only snapshot): read it without writing anything.
		return readOnly()
	}
	if wal, err = checkWAL(path + "-wal"); err != nil || wal != nil {
		// A damaged log is read up to its damage and left as it is: the
		// checkpoint of a closing read-write connection would erase the
		// frames after it.
		_ = lock.release()
		return readOnly()
	}
	db, err = sql.Open("sqlite", fmt.Sprintf("%s?_pragma=busy_timeout(%d)", path, busyTimeout.Milliseconds()))
	if err == nil {
		db.SetMaxOpenConns(1)
		if err = db.PingContext(ctx); err != nil {
			_ = db.Close()
		}
	}
	if err != nil {
		_ = lock.release()
		return nil, nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, func() error { return errors.Join(db.Close(), lock.release()) }, nil, nil
}

// openReadOnly opens the database file at path for reading only: SQLite
// creates nothing and writes nothing, and the file must exist.
func openReadOnly(ctx context.Context, path string) (*sql.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	// A file: URI, so that SQLite reads mode=ro; the path is escaped in it.
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs),
		RawQuery: fmt.Sprintf("mode=ro&_pragma=busy_timeout(%d)", busyTimeout.Milliseconds())}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// copyFileSynced copies src to dst, whole: into a temporary file beside
// dst, synced, then renamed, and the directory synced.
func copyFileSynced(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".restoring-*")
	if err != nil {
		return err
	}
	_, err = io.Copy(tmp, in)
	if err == nil {
		err = tmp.Sync()
	}
	if err = errors.Join(err, tmp.Close()); err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return syncDir(filepath.Dir(dst))
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}
