package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// maxCheckProblems bounds the problems quick_check lists: the first few say
// the store is damaged and where; a badly damaged file has thousands.
const maxCheckProblems = 10

// quickCheck runs PRAGMA quick_check on db: every page of every table and
// index is read and its structure checked (free of cycles and overlaps,
// cells in order, sizes consistent), but index entries are not matched to
// their rows, which makes it several times cheaper than integrity_check.
// It returns the problems found, none if the store is sound; an error is a
// failure to check, such as ctx ending. A file too damaged to be read at
// all is a problem, not an error.
func quickCheck(ctx context.Context, db *sql.DB) (problems []string, err error) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf("PRAGMA quick_check(%d)", maxCheckProblems))
	if err != nil {
		if isDamage(err) {
			return []string{err.Error()}, nil
		}
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		// A row may hold several problems, one a line, under a heading
		// naming the database.
		for _, p := range strings.Split(line, "\n") {
			if p != "ok" && p != "" && !strings.HasPrefix(p, "*** in database ") {
				problems = append(problems, p)
			}
		}
	}
	if err := rows.Err(); err != nil {
		if isDamage(err) {
			return append(problems, err.Error()), nil
		}
		return nil, err
	}
	return problems, nil
}

// isDamage reports whether err says the database file is damaged or is not
// a database at all.
func isDamage(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return true
	}
	return false
}

// damageSummary is the first problems of a check, on one line.
func damageSummary(problems []string) string {
	const shown = 3
	s := strings.Join(problems[:min(shown, len(problems))], "; ")
	if len(problems) > shown {
		s += fmt.Sprintf("; and %d more", len(problems)-shown)
	}
	return s
}

// DefaultIntegrityCheckTimeout bounds the integrity check of opening a
// store. Measured (BenchmarkStartupCheck: pure-Go SQLite, 2 cores shared
// with other work, so the figures vary by half): quick_check alone takes
// 0.07 to 0.25 s for 10 MB, 0.6 to 1 s for 100 MB and 5 to 9 s for 1 GB
// with the file in the page cache; a whole Open, read-ahead included,
// 0.1 to 0.7 s, 0.7 to 1.6 s and 5 to 6 s, from a warm or a cold cache
// (the check alone from a cold cache: 1.1 s, 3.7 to 4.9 s, and 43 to
// 63 s for 1 GB). So a store of
// 1 GB is checked in full with room to spare, and a much bigger one is
// served after this long, with a warning.
const DefaultIntegrityCheckTimeout = 20 * time.Second

// checkOnOpen runs the checks of opening a database file on its writer
// connection, before anything is migrated or served: the store must be
// writable and sound, and, if refuseEmpty is set, have a schema.
func (s *Store) checkOnOpen(ctx context.Context, dbPath string, budget time.Duration, refuseEmpty error) error {
	var version int
	if err := s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		if isDamage(err) {
			return damaged(dbPath, []string{err.Error()})
		}
		return fmt.Errorf("sqlite: read schema version of %s: %w", dbPath, err)
	}
	if err := probeWrite(ctx, s.w, version); err != nil {
		if isDamage(err) {
			return damaged(dbPath, []string{err.Error()})
		}
		return notWritable(filepath.Dir(dbPath), err)
	}
	if err := s.checkIntegrity(ctx, dbPath, budget); err != nil {
		return err
	}
	var objects int
	if err := s.w.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&objects); err != nil {
		return fmt.Errorf("sqlite: read schema of %s: %w", dbPath, err)
	}
	s.startedEmpty = objects == 0 && version == 0
	if s.startedEmpty && refuseEmpty != nil {
		return refuseEmpty
	}
	return nil
}

// probeWrite writes the schema version it read back in a transaction it
// rolls back: SQLite opens a file it may not write read-only without a
// word, and only a write says so.
func probeWrite(ctx context.Context, db *sql.DB, version int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // the probe commits nothing
	// PRAGMA takes no parameters; version is an int.
	_, err = tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version))
	return err
}

// checkIntegrity runs quickCheck on the writer for at most budget (0:
// DefaultIntegrityCheckTimeout). The file is read in order first:
// quick_check reads pages in b-tree order, which from a cold page cache is
// random I/O, many times slower (1 GB: 43 to 63 s, against 5 s for the
// read-ahead and the check together). A check the budget cuts short is
// said in a warning, and the store is served: nothing wrong was found in
// it, and refusing every store too big to check in time would take the
// service down for no fault at all.
func (s *Store) checkIntegrity(ctx context.Context, dbPath string, budget time.Duration) error {
	if budget <= 0 {
		budget = DefaultIntegrityCheckTimeout
	}
	start := time.Now()
	var size int64
	if st, err := os.Stat(dbPath); err == nil {
		size = st.Size()
	}
	cctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	readAhead(cctx, dbPath)
	problems, err := quickCheck(cctx, s.w)
	switch {
	case err != nil && ctx.Err() == nil && cctx.Err() != nil:
		s.log.Warn("the integrity check of the store did not finish in time, so the store is served without a full check; "+
			"check it all while it serves with `switchboard check`, or allow the start-up check longer",
			"path", dbPath, "size_mb", size>>20, "checked_for", budget)
		return nil
	case err != nil:
		return fmt.Errorf("sqlite: integrity check of %s: %w", dbPath, err)
	case len(problems) > 0:
		return damaged(dbPath, problems)
	}
	s.log.Info("sqlite store checked", "path", dbPath, "size_mb", size>>20, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// readAhead reads the file at path in order until its end or ctx's, so that
// the pages are in the page cache when the check reads them out of order.
func readAhead(ctx context.Context, path string) {
	f, err := os.Open(path)
	if err != nil {
		return // the check will say what is wrong
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for ctx.Err() == nil {
		if _, err := f.Read(buf); err != nil {
			return
		}
	}
}
