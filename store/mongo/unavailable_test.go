package mongostore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"switchboard/domain"
	mongostore "switchboard/store/mongo"
)

// The driver's errors as the store meets them: those that mean "not here,
// not now" (retry later) wrap domain.ErrUnavailable, with the cause kept for
// the log; the rest are faults. (The real thing, a server that goes away,
// is TestAServerOutageDegradesAndDamagesNothing.)
func TestErrorsThatMeanNotNowAreUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name        string
		err         error
		unavailable bool
	}{
		{"no server selected in time", topology.ServerSelectionError{Wrapped: context.DeadlineExceeded}, true},
		{"a network error", mongo.CommandError{Labels: []string{"NetworkError"}, Message: "connection reset"}, true},
		{"a call past its deadline", fmt.Errorf("find: %w", context.DeadlineExceeded), true},
		{"not the primary", mongo.CommandError{Code: 10107, Name: "NotWritablePrimary"}, true},
		{"the primary stepped down", mongo.CommandError{Code: 189, Name: "PrimarySteppedDown"}, true},
		{"shutting down", mongo.CommandError{Code: 91, Name: "ShutdownInProgress"}, true},
		{"a write safe to retry", mongo.CommandError{Code: 9999, Labels: []string{"RetryableWriteError"}}, true},
		{"no majority in time", mongo.WriteException{WriteConcernError: &mongo.WriteConcernError{Code: 64, Name: "WriteConcernFailed"}}, true},
		{"out of disk space", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 14031, Message: "OutOfDiskSpace"}}}, true},
		{"a client this store closed", mongo.ErrClientDisconnected, false},
		{"a cancelled call", fmt.Errorf("find: %w", context.Canceled), false},
		{"a refused command", mongo.CommandError{Code: 2, Name: "BadValue"}, false},
		{"a duplicate key", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 11000, Message: "E11000"}}}, false},
		{"a document that does not decode", errors.New("cannot decode string into an int"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := mongostore.Wrap("read", tc.err)
			if got := errors.Is(err, domain.ErrUnavailable); got != tc.unavailable {
				t.Errorf("%v: unavailable %v, want %v", err, got, tc.unavailable)
			}
			if !strings.Contains(err.Error(), tc.err.Error()) {
				t.Errorf("%v: the cause is lost", err)
			}
		})
	}
	for _, sentinel := range []error{domain.ErrNotFound, domain.ErrVersionConflict, domain.ErrDuplicate} {
		if err := mongostore.Wrap("read", sentinel); err != sentinel {
			t.Errorf("Wrap(%v) = %v, want the sentinel unchanged", sentinel, err)
		}
	}
}
