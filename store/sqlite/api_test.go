package sqlite_test

import (
	"testing"

	"switchboard/apitest"
	"switchboard/domain"
	"switchboard/store/sqlite"
	"switchboard/store/sqlite/sqlitetest"
)

// TestAPI runs the GraphQL API suite over real HTTP on the SQLite store.
func TestAPI(t *testing.T) {
	apitest.Run(t, apitest.Factory{Atomic: true, New: func(t *testing.T, sink domain.EventSink) domain.Store {
		return sqlitetest.New(t, sqlite.Options{EventSink: sink})
	}})
}
