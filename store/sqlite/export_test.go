package sqlite

import "context"

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
