package metrics_test

import (
	"context"
	"testing"

	"switchboard/metrics"
)

// BenchmarkOperationFigures is what the figures add to one GraphQL
// operation on the request path: the operation counted and timed, and the
// six store calls of a queue page timed.
func BenchmarkOperationFigures(b *testing.B) {
	m := metrics.New()
	ctx := context.Background()
	ops := []string{"GetSettings", "QueryQueue", "CountQueue", "AgentsByIDs", "ChannelsByIDs", "ContactsByIDs"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, done := m.Operation(ctx, "http", "query", "Queue")
			for _, op := range ops {
				_, stored := m.StoreCall(ctx, op)
				stored(nil)
			}
			done()
		}
	})
}
