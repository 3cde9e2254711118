package server

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

// wait is a generous ceiling for something that should happen at once.
const wait = 10 * time.Second

func TestCostGateAdmitsOneStepPerCallerAndLeavesACoreFree(t *testing.T) {
	g := newCostGate()
	ctx := context.Background()
	capacity := max(1, runtime.GOMAXPROCS(0)-1)

	// One caller: a second step waits for the first.
	release, err := g.enter(ctx, "mallory")
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan func(), 1)
	go func() {
		r, err := g.enter(ctx, "mallory")
		if err != nil {
			t.Error(err)
		}
		second <- r
	}()
	select {
	case <-second:
		t.Fatal("a caller's second step was admitted beside its first")
	case <-time.After(50 * time.Millisecond):
	}
	release()
	select {
	case r := <-second:
		r()
	case <-time.After(wait):
		t.Fatal("the second step was not admitted after the first ended")
	}

	// Many callers: at most capacity at once.
	var mu sync.Mutex
	in, most := 0, 0
	var wg sync.WaitGroup
	for i := range 4 * capacity {
		wg.Go(func() {
			r, err := g.enter(ctx, string(rune('a'+i)))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			in++
			most = max(most, in)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond) // hold it, so that others pile up
			mu.Lock()
			in--
			mu.Unlock()
			r()
		})
	}
	wg.Wait()
	if most > capacity {
		t.Errorf("%d steps at once; at most %d", most, capacity)
	}
	if len(g.callers) != 0 {
		t.Errorf("%d callers left in the gate after all left", len(g.callers))
	}
}

func TestCostGateWaitEndsWithTheContext(t *testing.T) {
	g := newCostGate()
	hold, err := g.enter(context.Background(), "mallory")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := g.enter(ctx, "mallory"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a wait past the deadline: %v", err)
	}
	// Waiting on the global semaphore, too.
	others := make([]func(), 0)
	for i := range max(1, runtime.GOMAXPROCS(0)-1) - 1 {
		r, err := g.enter(context.Background(), string(rune('a'+i)))
		if err != nil {
			t.Fatal(err)
		}
		others = append(others, r)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if _, err := g.enter(ctx2, "ben"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a wait for the gate past the deadline: %v", err)
	}
	hold()
	for _, r := range others {
		r()
	}
	// Nothing was lost: every caller gets in again.
	for _, c := range []string{"mallory", "ben"} {
		r, err := g.enter(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		r()
	}
	if len(g.callers) != 0 {
		t.Errorf("%d callers left in the gate", len(g.callers))
	}
}
