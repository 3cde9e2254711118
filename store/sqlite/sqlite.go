// Package sqlite is Switchboard's embedded store: one SQLite file in a data
// directory, pure Go (modernc.org/sqlite), for a single server process.
//
// Writes go through one connection, one at a time, each in a BEGIN IMMEDIATE
// transaction, and are published to the EventSink in commit order; reads use a
// pool of read-only connections, which WAL lets run beside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"switchboard/domain"
)

// DBFile is the store's file inside a data directory.
const DBFile = "switchboard.db"

// Options configure a Store.
type Options struct {
	// EventSink, if set, receives every committed change to a conversation or
	// an agent record, in commit order.
	EventSink domain.EventSink
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// FreshStart lets Open begin an empty store in a data dir that has held
	// one but whose store is now missing or empty: on purpose, after its
	// data was lost or moved away. Without it Open refuses such a dir.
	FreshStart bool
	// IntegrityCheckTimeout bounds the integrity check of opening; 0:
	// DefaultIntegrityCheckTimeout. A store it cannot check in full in that
	// time is served, with a warning that says how to check the rest.
	IntegrityCheckTimeout time.Duration
}

// Store is the SQLite implementation of domain.Store.
type Store struct {
	log  *slog.Logger
	sink domain.EventSink

	// mu serialises write transactions: the writer pool has one connection
	// anyway, but holding mu from BEGIN to the end of Publish is what makes
	// events come out in commit order.
	mu    sync.Mutex
	w     *sql.DB
	r     *sql.DB
	stmts *stmtCache // of r
	// wstmts are the writer's prepared statements, by text, and wanted
	// the texts write transactions ran unprepared; both guarded by mu.
	// A statement cannot be prepared on the writer's one connection while
	// a transaction holds it, so one a transaction runs is prepared after
	// that transaction ends, and later transactions run it prepared
	// (Tx.StmtContext finds it on the same connection): SQLite compiles a
	// write of conversations, with its count triggers, in longer than it
	// runs it.
	wstmts map[string]*sql.Stmt
	wanted []string

	lock *dirLock // nil when opened with OpenFile
	// startedEmpty: the file had no schema when it was opened.
	startedEmpty bool

	// trace, when set (tests only), sees every statement the store runs.
	trace func(query string, args []any)
}

var _ domain.Store = (*Store)(nil)

// busyTimeout bounds how long a connection waits for a lock held by another
// connection (a checkpoint, or another process using OpenFile on the file).
const busyTimeout = 10 * time.Second

// Open opens the store in dataDir, creating the directory and the database
// if needed, and refuses to serve one it cannot trust: a data dir another
// server holds (ErrHeld), a store it cannot write (ErrNotWritable), a
// damaged one (ErrDamaged), or a missing or empty one where the dir has held
// a store (ErrLostData; see Options.FreshStart). It holds an OS lock on
// dataDir until Close, so a second server on the same directory fails at
// once instead of corrupting it; the OS drops the lock when a process dies,
// so a crash leaves nothing stale behind.
func Open(ctx context.Context, dataDir string, opts Options) (*Store, error) {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: create data dir: %w", err)
	}
	lock, err := lockDataDir(dataDir)
	if err != nil {
		return nil, err
	}
	s, err := openDataDir(ctx, dataDir, opts)
	if err != nil {
		_ = lock.release()
		return nil, err
	}
	s.lock = lock
	return s, nil
}

// openDataDir is Open once the data dir is held.
func openDataDir(ctx context.Context, dataDir string, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := checkWritable(dataDir); err != nil {
		return nil, err
	}
	held, err := heldData(dataDir)
	if err != nil {
		return nil, err
	}
	dbPath := filepath.Join(dataDir, DBFile)
	// Before SQLite opens the store, which replays the log up to its first
	// bad frame and erases the rest at its next checkpoint.
	walDamage, err := checkWAL(dbPath + "-wal")
	if err != nil {
		return nil, fmt.Errorf("sqlite: read the write-ahead log: %w", err)
	}
	switch {
	case walDamage != nil && walDamage.sure():
		return nil, walDamaged(dataDir, walDamage)
	case walDamage != nil:
		log.Warn("the write-ahead log's last transaction is incomplete: a crash while it was written (it was never acknowledged), "+
			"or damage; SQLite drops it", "path", dbPath+"-wal", "bad_frame", walDamage.badFrame, "frames", walDamage.frames)
	}
	// Decided before SQLite opens the file, which writes a header into an
	// empty one: a refused store is left as it was found.
	what, empty, err := storeFileState(dbPath)
	if err != nil {
		return nil, err
	}
	var refuseEmpty error
	switch {
	case held && empty && !opts.FreshStart:
		return nil, lostData(dataDir, what)
	case held && !opts.FreshStart:
		refuseEmpty = lostData(dataDir, "has no schema")
	}
	s, err := openFile(ctx, dbPath, opts, refuseEmpty)
	if err != nil {
		return nil, err
	}
	switch {
	case opts.FreshStart && held && s.startedEmpty:
		log.Warn("started an empty store on purpose (fresh start) in a data dir that held one; unset the fresh start now",
			"data_dir", dataDir)
	case opts.FreshStart && !s.startedEmpty:
		log.Warn("a fresh start was asked for, but the store holds data, so it was left as it is; unset the fresh start",
			"data_dir", dataDir)
	}
	if !held {
		if err := markHeldData(dataDir, time.Now()); err != nil {
			_ = s.closeDBs()
			return nil, err
		}
	}
	return s, nil
}

// OpenFile opens the store in the database file dbPath without taking the
// data directory's lock or minding what the directory has held: for tests,
// tools and template copies, where the caller knows no server uses the
// file. It refuses a store it cannot write or finds damaged, as Open does.
func OpenFile(ctx context.Context, dbPath string, opts Options) (*Store, error) {
	return openFile(ctx, dbPath, opts, nil)
}

// openFile opens the database file; refuseEmpty, if set, is returned for a
// database without a schema instead of migrating it.
func openFile(ctx context.Context, dbPath string, opts Options, refuseEmpty error) (*Store, error) {
	if strings.ContainsRune(dbPath, '?') {
		// The driver reads everything after '?' as connection parameters.
		return nil, fmt.Errorf("sqlite: database path %q must not contain '?'", dbPath)
	}
	s := &Store{log: opts.Logger, sink: opts.EventSink}
	if s.log == nil {
		s.log = slog.Default()
	}
	ms := busyTimeout.Milliseconds()
	// synchronous=FULL: a commit is on disk before it returns, because
	// callers (webhooks) acknowledge what was committed. _txlock=immediate
	// takes the write lock at BEGIN, so a transaction never fails half way
	// when it tries to upgrade a read lock. temp_store=MEMORY keeps the
	// writer's statement journal in memory: a bulk write's savepoint per
	// change would otherwise spill it to a temporary file and write every
	// page it touches there (a third of a logout cleanup's time); it holds
	// only the pages one change touches before it is released.
	w, err := sql.Open("sqlite", fmt.Sprintf(
		"%s?_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=temp_store(MEMORY)&_txlock=immediate",
		dbPath, ms))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", dbPath, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s.w = w
	s.wstmts = map[string]*sql.Stmt{}
	// The first connection sets WAL mode (persistent in the file) before any
	// reader opens it.
	if err := w.PingContext(ctx); err != nil {
		_ = w.Close()
		if isDamage(err) {
			return nil, damaged(dbPath, []string{err.Error()})
		}
		return nil, fmt.Errorf("sqlite: open %s: %w", dbPath, err)
	}
	if err := s.checkOnOpen(ctx, dbPath, opts.IntegrityCheckTimeout, refuseEmpty); err != nil {
		_ = w.Close()
		return nil, err
	}
	applied, err := migrate(ctx, w)
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: migrate %s: %w", dbPath, err)
	}
	if applied > 0 {
		s.log.Info("sqlite schema migrated", "path", dbPath, "steps", applied, "version", SchemaVersion())
	}
	r, err := sql.Open("sqlite", fmt.Sprintf("%s?_pragma=busy_timeout(%d)&_pragma=query_only(1)", dbPath, ms))
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", dbPath, err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	if err := r.PingContext(ctx); err != nil {
		_ = errors.Join(r.Close(), w.Close())
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", dbPath, err)
	}
	s.r = r
	s.stmts = &stmtCache{db: r, m: map[string]*sql.Stmt{}}
	return s, nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return failed("ping", err)
	}
	return nil
}

// WriteProbe writes the probe record, in a write transaction like every
// other write, so that it fails as they would (a full disk, an I/O error, a
// lock held too long).
func (s *Store) WriteProbe(ctx context.Context, at time.Time) error {
	return s.write(ctx, "write probe", func(tx *sql.Tx) (*domain.Event, error) {
		_, err := s.exec(ctx, tx, `INSERT INTO probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at`, millis(at))
		return nil, err
	})
}

// Close closes the database and releases the data directory's lock.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.closeDBs()
	if s.lock != nil {
		err = errors.Join(err, s.lock.release())
		s.lock = nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// closeDBs closes the database's connections: readers first, because the
// last connection to close checkpoints the WAL into the database file, and
// that is the writer. Called under mu, or before the store is in use.
func (s *Store) closeDBs() error {
	for q, st := range s.wstmts {
		_ = st.Close()
		delete(s.wstmts, q)
	}
	return errors.Join(s.stmts.close(), s.r.Close(), s.w.Close())
}

// stmtCache keeps the read pool's prepared statements by their text:
// SQLite spends longer compiling a small query than running it. It stops
// growing when full instead of evicting, because an evicted statement may be
// in use; statement texts vary little (see bucket), so it rarely fills.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

const maxCachedStmts = 500

// get returns the prepared statement of query, or nil when the cache is full.
func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	st, ok := c.m[query]
	full := len(c.m) >= maxCachedStmts
	c.mu.Unlock()
	if ok || full {
		return st, nil
	}
	// Prepared outside the lock: two callers may both prepare, one keeps it.
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok {
		_ = st.Close()
		return prev, nil
	}
	c.m[query] = st
	return st, nil
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for q, st := range c.m {
		errs = append(errs, st.Close())
		delete(c.m, q)
	}
	return errors.Join(errs...)
}

// Every statement goes through exec, query or queryRow, so that tests can
// see them all (and check each one's query plan). tx is the transaction to
// run in; nil runs a read on the read pool, with a cached prepared
// statement. Statements in transactions are not cached: preparing one on
// the pool needs a free connection, and the writer's only connection is the
// transaction's.

func (s *Store) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if s.trace != nil {
		s.trace(query, args)
	}
	// Every exec runs in a write transaction, under mu.
	if st := s.wstmts[query]; st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	if len(s.wstmts)+len(s.wanted) < maxCachedStmts {
		s.wanted = append(s.wanted, query)
	}
	return tx.ExecContext(ctx, query, args...)
}

// prepareWanted prepares, on the writer's connection, the statements the
// last write transaction ran unprepared; called under mu once it ended.
// A statement it cannot prepare now (the connection busy with something
// else, a bad statement) stays unprepared; exec runs it as before.
func (s *Store) prepareWanted(ctx context.Context) {
	if len(s.wanted) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 100*time.Millisecond)
	defer cancel()
	for _, q := range s.wanted {
		if s.wstmts[q] != nil {
			continue
		}
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			break
		}
		s.wstmts[q] = st
	}
	s.wanted = s.wanted[:0]
}

// execFunc runs one statement of a write transaction.
type execFunc func(ctx context.Context, query string, args ...any) (sql.Result, error)

// txExec runs each statement in tx as it comes.
func (s *Store) txExec(tx *sql.Tx) execFunc {
	return func(ctx context.Context, query string, args ...any) (sql.Result, error) {
		return s.exec(ctx, tx, query, args...)
	}
}

// preparedExec runs statements in tx, each prepared the first time it
// comes and reused after; done closes them.
func (s *Store) preparedExec(tx *sql.Tx) (exec execFunc, done func()) {
	stmts := map[string]*sql.Stmt{}
	exec = func(ctx context.Context, query string, args ...any) (sql.Result, error) {
		if s.trace != nil {
			s.trace(query, args)
		}
		st, ok := stmts[query]
		if !ok {
			var err error
			if st, err = tx.PrepareContext(ctx, query); err != nil {
				return nil, err
			}
			stmts[query] = st
		}
		return st.ExecContext(ctx, args...)
	}
	return exec, func() {
		for _, st := range stmts {
			_ = st.Close()
		}
	}
}

func (s *Store) query(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	if s.trace != nil {
		s.trace(query, args)
	}
	if tx != nil {
		return tx.QueryContext(ctx, query, args...)
	}
	st, err := s.stmts.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return s.r.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

func (s *Store) queryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if s.trace != nil {
		s.trace(query, args)
	}
	if tx != nil {
		return tx.QueryRowContext(ctx, query, args...)
	}
	if st, err := s.stmts.get(ctx, query); err == nil && st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	// Unprepared, so that a failure to prepare comes back from Scan.
	return s.r.QueryRowContext(ctx, query, args...)
}

// write runs fn in one write transaction and, once it is committed,
// publishes the event fn returns (if any) before the next write may start.
func (s *Store) write(ctx context.Context, what string, fn func(tx *sql.Tx) (*domain.Event, error)) error {
	return s.writeEvents(ctx, what, func(tx *sql.Tx) ([]loggedEvent, error) {
		ev, err := fn(tx)
		if ev == nil {
			return nil, err
		}
		return []loggedEvent{{Event: *ev}}, err
	})
}

// loggedEvent is an event to write to the record of changes, with its
// body if it was encoded beforehand (nil: encoded when it is written).
type loggedEvent struct {
	domain.Event
	body []byte
}

// writeEvents is write for a transaction of several changes: their events
// are published after the commit, in the order fn returns them.
func (s *Store) writeEvents(ctx context.Context, what string, fn func(tx *sql.Tx) ([]loggedEvent, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.prepareWanted(ctx)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return failed(what+": begin", err)
	}
	evs, err := fn(tx)
	// The record of changes is written in the same transaction, each event
	// getting its position there.
	if err == nil {
		err = s.logEvents(ctx, tx, evs)
	}
	if err != nil {
		_ = tx.Rollback()
		if isSentinel(err) {
			return err
		}
		return failed(what, err)
	}
	if err := tx.Commit(); err != nil {
		return failed(what+": commit", err)
	}
	if s.sink != nil {
		committed := time.Now()
		for _, ev := range evs {
			ev.CommittedAt = committed
			s.sink.Publish(ev.Event)
		}
	}
	return nil
}

// read runs fn in one read transaction, so that its queries see one
// snapshot of the database.
func (s *Store) read(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return failed(what+": begin", err)
	}
	defer tx.Rollback() // read only: nothing to commit
	if err := fn(tx); err != nil {
		if isSentinel(err) {
			return err
		}
		return failed(what, err)
	}
	return nil
}

// failed names the operation of an error and classifies it: a database
// that cannot serve the call now wraps domain.ErrUnavailable, so callers
// are told to retry; anything else is a fault.
func failed(what string, err error) error {
	if unavailable(err) {
		return fmt.Errorf("sqlite: %s: %w: %w", what, domain.ErrUnavailable, err)
	}
	return fmt.Errorf("sqlite: %s: %w", what, err)
}

// unavailable reports whether err is SQLite saying it cannot do it now: the
// disk is full or failing, the file cannot be opened or written (a read-only
// or vanished mount, permissions), or a lock stayed held past busyTimeout.
// Corruption, constraint violations, misuse and the like are faults.
func unavailable(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff { // the primary code; extended codes refine it
	case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN,
		sqlite3.SQLITE_BUSY, sqlite3.SQLITE_PROTOCOL:
		return true
	}
	return false
}

func isSentinel(err error) bool {
	return errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrVersionConflict) || errors.Is(err, domain.ErrDuplicate)
}

// isDuplicate reports whether err is a primary key or unique index violation.
func isDuplicate(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// dup turns a key violation into domain.ErrDuplicate.
func dup(err error) error {
	if isDuplicate(err) {
		return domain.ErrDuplicate
	}
	return err
}

// Conversions between domain values and columns.

func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// millisOrZero and fromMillisOrZero store the zero time ("never") as 0.
func millisOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillisOrZero(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return fromMillis(ms)
}

func nullMillis(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

func fromNullMillis(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromMillis(n.Int64)
	return &t
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// maxBatch bounds the keys of one IN (...) list; SQLite allows far more
// parameters, but long lists make statements that are never reused.
const maxBatch = 500

// chunks splits n keys into [lo, hi) ranges of at most maxBatch.
func chunks(n int) [][2]int {
	var out [][2]int
	for lo := 0; lo < n; lo += maxBatch {
		out = append(out, [2]int{lo, min(lo+maxBatch, n)})
	}
	return out
}

// bucket rounds a number of keys up to a power of two (at most maxBatch),
// so that batch reads of any size share a few statement texts; the keys are
// padded with repeats of the last one, which change no result.
func bucket(n int) int {
	b := 1
	for b < n {
		b *= 2
	}
	return min(b, maxBatch)
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// limit is a LIMIT clause. The number is written into the statement, not
// bound: SQLite compiles a statement with a bound LIMIT twice (once more
// when it sees the value), which costs more than the query itself.
func limit(n int) string { return " LIMIT " + strconv.Itoa(n) }

// strArgs turns strings into query arguments.
func strArgs(xs []string) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}
