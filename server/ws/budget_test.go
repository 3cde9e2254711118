package ws

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestSocketBudgetMakesRoomForTheConsolesEightSubscriptionsEach(t *testing.T) {
	b := SocketBudget(1000)
	if b.Sockets != 1000 {
		t.Fatalf("sockets %d", b.Sockets)
	}
	if want := int64(1000 * (SocketBytes + 8*SubscriptionBytes)); b.Bytes != want {
		t.Fatalf("bytes %d, want %d", b.Bytes, want)
	}
	if b.QueueBytes != 1000*queueBytesPerSocket {
		t.Fatalf("queue bytes %d", b.QueueBytes)
	}
	if SocketBudget(0).Sockets != 1 || SocketBudget(-5).Sockets != 1 {
		t.Fatal("a budget of no sockets must still admit one")
	}
	if DefaultBudget() != SocketBudget(DefaultSockets) {
		t.Fatal("the default budget")
	}
}

// A budget of N sockets (SWITCHBOARD_MAX_SOCKETS=N) admits N consoles on
// their queue page, each with its eight subscriptions.
func TestSocketBudgetAdmitsThatManyConsoles(t *testing.T) {
	const consoles = 50
	b := newBudget(SocketBudget(consoles), slog.New(slog.DiscardHandler), time.Now)
	for i := range consoles {
		if !b.admitSocket() {
			t.Fatalf("console %d: socket refused", i+1)
		}
		for j := range 8 {
			if !b.admitSubscription() {
				t.Fatalf("console %d: subscription %d refused", i+1, j+1)
			}
		}
	}
	if b.admitSocket() {
		t.Fatal("a socket past the budget was admitted")
	}
}

func TestMemoryBudgetKeepsTheSocketsWellUnderTheLimit(t *testing.T) {
	for _, limit := range []int64{100 << 20, 200 << 20, 512 << 20, 1 << 30, 8 << 30} {
		b := MemoryBudget(limit)
		// Everything the budget lets sockets hold, with the process's own
		// needs, fits in three fifths of the limit.
		if held := b.Bytes + b.QueueBytes + reservedBytes; held > limit/5*3 {
			t.Errorf("%d MiB: the budget holds %d MiB", limit>>20, held>>20)
		}
		// Each socket admitted has room for itself and a subscription.
		if int64(b.Sockets)*(SocketBytes+SubscriptionBytes) > b.Bytes {
			t.Errorf("%d MiB: %d sockets do not fit in %d bytes", limit>>20, b.Sockets, b.Bytes)
		}
		// An eighth for queues, the rest for sockets and subscriptions.
		if d := b.Bytes - 7*b.QueueBytes; d < 0 || d > 8 {
			t.Errorf("%d MiB: queue budget %d beside %d", limit>>20, b.QueueBytes, b.Bytes)
		}
		t.Logf("%5d MiB: %6d sockets, %5.1f MiB for sockets and subscriptions, %4.1f MiB for queues",
			limit>>20, b.Sockets, float64(b.Bytes)/(1<<20), float64(b.QueueBytes)/(1<<20))
	}
	// 200 MiB: 72 MiB for sockets, 63 of them for sockets and subscriptions.
	if b := MemoryBudget(200 << 20); b.Sockets != 63<<20/(SocketBytes+SubscriptionBytes) {
		t.Errorf("200 MiB: %d sockets", b.Sockets)
	}
	// A limit too small for the process itself still admits one socket.
	if b := MemoryBudget(32 << 20); b.Sockets != 1 || b.Bytes < SocketBytes+SubscriptionBytes {
		t.Errorf("32 MiB: %+v", b)
	}
	// More memory, more sockets.
	if MemoryBudget(1<<30).Sockets <= MemoryBudget(512<<20).Sockets {
		t.Error("the budget does not grow with the limit")
	}
}

// logLines collects a logger's records.
type logLines struct{ bytes.Buffer }

func (l *logLines) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(&l.Buffer, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *logLines) lines() []string {
	s := strings.TrimSpace(l.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestBudgetAdmitsSocketsAndSubscriptionsWithinItAndLogsEachEpisodeTwice(t *testing.T) {
	var logs logLines
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	// Ten sockets, and memory for ten sockets with two subscriptions each.
	b := newBudget(Budget{Sockets: 10, Bytes: 10 * (SocketBytes + 2*SubscriptionBytes), QueueBytes: 1 << 20},
		logs.logger(), func() time.Time { return now })

	for i := range 10 {
		if !b.admitSocket() {
			t.Fatalf("socket %d refused", i)
		}
	}
	for i := range 10 {
		if !b.admitSubscription() || !b.admitSubscription() {
			t.Fatalf("subscriptions of socket %d refused", i)
		}
	}
	if len(logs.lines()) != 0 {
		t.Fatalf("logged within the budget: %v", logs.lines())
	}
	// Past it: sockets by their number, subscriptions by their memory.
	for range 3 {
		if b.admitSocket() {
			t.Fatal("an eleventh socket admitted")
		}
		if b.admitSubscription() {
			t.Fatal("a twenty-first subscription admitted")
		}
	}
	if lines := logs.lines(); len(lines) != 1 || !strings.Contains(lines[0], "refusing new sockets") ||
		!strings.Contains(lines[0], "sockets=10 max_sockets=10 subscriptions=20") {
		t.Fatalf("logs: %v", lines)
	}
	// One leaves: still over nine tenths, so the episode goes on, quietly,
	// and its place is taken again.
	b.releaseSubscription()
	b.releaseSocket()
	if !b.admitSocket() {
		t.Fatal("the freed place was not given again")
	}
	if b.admitSocket() {
		t.Fatal("eleven sockets")
	}
	if len(logs.lines()) != 1 {
		t.Fatalf("logs: %v", logs.lines())
	}
	// Two leave: room again, said once with what was refused.
	now = now.Add(90 * time.Second)
	b.releaseSocket()
	b.releaseSocket()
	lines := logs.lines()
	if len(lines) != 2 || !strings.Contains(lines[1], "room again") || !strings.Contains(lines[1], "refused_sockets=4") ||
		!strings.Contains(lines[1], "refused_subscriptions=3") || !strings.Contains(lines[1], "refusing_for=1m30s") {
		t.Fatalf("logs: %v", lines)
	}
	b.releaseSocket()
	if len(logs.lines()) != 2 {
		t.Fatalf("logged again after the episode: %v", logs.lines())
	}
	if u := b.usage(); u.Sockets != 7 || u.Subscriptions != 19 || u.Reserved != 7*SocketBytes+19*SubscriptionBytes {
		t.Fatalf("usage %+v", u)
	}
}

func TestQueueBudgetShedsTheSlowestFirstAndNeverPassesTwiceIt(t *testing.T) {
	var logs logLines
	b := newBudget(Budget{Sockets: 10, Bytes: 1 << 30, QueueBytes: 100_000}, logs.logger(), time.Now)
	for range 4 {
		b.admitSocket()
	}
	// Under the budget, any queue may grow, to any size.
	if !b.queue(0, 90_000) {
		t.Fatal("refused under the budget")
	}
	// Over it, a queue holding more than its share (a quarter) is shed...
	if b.queue(90_000, 20_000) {
		t.Fatal("the slowest queue was not shed")
	}
	// ...and one within its share still gets its message.
	if !b.queue(0, 20_000) || !b.queue(20_000, 5_000) {
		t.Fatal("a queue within its share was shed")
	}
	if b.queue(25_000, 1) {
		t.Fatal("a queue past its share was not shed")
	}
	if lines := logs.lines(); len(lines) != 1 || !strings.Contains(lines[0], "closing the slowest readers") {
		t.Fatalf("logs: %v", logs.lines())
	}
	// Never past twice the budget, whoever asks.
	for b.queue(0, 10_000) {
		if q := b.queued.Load(); q > 200_000 {
			t.Fatalf("%d bytes queued", q)
		}
	}
	if q := b.queued.Load(); q > 200_000 || q < 190_000 {
		t.Fatalf("%d bytes queued", q)
	}
	// Written down to half the budget: the episode ends, said once.
	b.unqueue(b.queued.Load() - 60_000)
	if len(logs.lines()) != 1 {
		t.Fatalf("ended above half the budget: %v", logs.lines())
	}
	b.unqueue(10_000)
	lines := logs.lines()
	if len(lines) != 2 || !strings.Contains(lines[1], "back under their budget") || !strings.Contains(lines[1], "closed_slow_sockets=") {
		t.Fatalf("logs: %v", lines)
	}
	b.unqueue(50_000)
	if b.queued.Load() != 0 || len(logs.lines()) != 2 {
		t.Fatalf("queued %d, logs %v", b.queued.Load(), logs.lines())
	}
}

// usage is what the budget holds now.
type usage struct {
	Sockets, Subscriptions int
	Reserved, Queued       int64
}

func (b *budget) usage() usage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return usage{Sockets: b.sockets, Subscriptions: b.subscriptions, Reserved: b.reserved, Queued: b.queued.Load()}
}
