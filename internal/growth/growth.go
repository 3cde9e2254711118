// Package growth tells a test how the work of a call grows with the size of
// its input without timing it: a busy machine changes how long a call
// takes, never how much it allocates, so a check on allocations fails only
// when the code changed. Speed itself is for benchmarks.
package growth

import (
	"runtime"
	"testing"
)

// Work is what one call allocated on the heap.
type Work struct{ Bytes, Allocs uint64 }

// Of returns the work of one call of f: the least of three calls, since
// another goroutine allocating meanwhile can only add to a call's figures.
func Of(f func()) Work {
	least := Work{Bytes: ^uint64(0), Allocs: ^uint64(0)}
	var before, after runtime.MemStats
	for range 3 {
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		least.Bytes = min(least.Bytes, after.TotalAlloc-before.TotalAlloc)
		least.Allocs = min(least.Allocs, after.Mallocs-before.Mallocs)
	}
	return least
}

// Linear fails t unless large, whose input is scale times small's, does at
// most twice scale times small's work, in bytes and in allocations: linear
// work grows about scale times (amortized growth of buffers, maps and
// slices stays within twice that), quadratic work scale² times. Code that
// walks its input again at each step, copies it again or rebuilds a set of
// keys shows there.
func Linear(t testing.TB, name string, scale uint64, small, large func()) {
	t.Helper()
	s, l := Of(small), Of(large)
	if l.Bytes > 2*scale*max(s.Bytes, 1) || l.Allocs > 2*scale*max(s.Allocs, 1) {
		t.Errorf("%s: %d bytes in %d allocations for the small input, %d bytes in %d allocations for one %d times as large",
			name, s.Bytes, s.Allocs, l.Bytes, l.Allocs, scale)
	}
}
