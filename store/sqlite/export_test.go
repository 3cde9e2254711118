package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// SetTrace makes s report every statement it runs to fn; set it before s is
// shared.
func SetTrace(s *Store, fn func(query string, args []any)) { s.trace = fn }

// Explain returns the EXPLAIN QUERY PLAN of a statement, one line per node:
// "parent id: detail".
func Explain(ctx context.Context, s *Store, query string, args ...any) ([]PlanLine, error) {
	s.mu.Lock() // the writer connection: it may explain writes too
	defer s.mu.Unlock()
	return explain(ctx, s.w, query, args...)
}

// Unavailable reports whether err is SQLite saying it cannot do it now.
var Unavailable = unavailable

// QuickCheck runs the start-up integrity check on the database file at
// path, for at most budget, and returns an error if it finds a problem.
func QuickCheck(ctx context.Context, path string, budget time.Duration) error {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	problems, err := quickCheck(ctx, db)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("damaged: %s", damageSummary(problems))
	}
	return nil
}
