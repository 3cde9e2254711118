package mongostore_test

import (
	"os"
	"testing"

	"switchboard/apitest"
	"switchboard/domain"
	mongostore "switchboard/store/mongo"
	"switchboard/store/mongo/mongotest"
	"switchboard/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(mongotest.Main(m)) }

// atomic is whether the server's conditional updates are atomic under
// concurrency: a real MongoDB's are, FerretDB's are not.
func atomic() bool { return mongotest.Real() }

func TestStore(t *testing.T) {
	storetest.Run(t, storetest.Factory{
		New: func(t *testing.T) domain.Store { return mongotest.New(t, mongostore.Options{}) },
		NewPublishing: func(t *testing.T, sink domain.EventSink) domain.Store {
			return mongotest.NewWithFeed(t, sink)
		},
		Atomic: atomic(),
	})
}

// TestAPI runs the GraphQL API suite over real HTTP on the MongoDB store.
func TestAPI(t *testing.T) {
	apitest.Run(t, apitest.Factory{Atomic: atomic(), New: func(t *testing.T, sink domain.EventSink) domain.Store {
		return mongotest.NewWithFeed(t, sink)
	}})
}
