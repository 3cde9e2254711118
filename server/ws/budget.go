package ws

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Budget bounds what a server's WebSockets hold in memory, all of them
// together, so that no load the server accepted can grow it past its
// memory limit: a socket or a subscription past the budget is refused when
// it starts, and a client that lets messages pile up when memory is short
// is closed, rather than the kernel killing the process with every socket
// in it.
type Budget struct {
	// Sockets bounds the connections open at once. One more is refused at
	// the upgrade, with HTTP 503 and Retry-After.
	Sockets int
	// Bytes is the memory that open connections and their subscriptions
	// may hold: each connection reserves SocketBytes of it while open,
	// each subscription SubscriptionBytes while it runs. A connection is
	// admitted only with room for itself and one subscription; a
	// subscription past it is answered with an error for its operation.
	Bytes int64
	// QueueBytes bounds the messages waiting in all send queues together.
	// Past it, a connection holding more than its share (QueueBytes over
	// the connections open) is closed with 1013 when one more message
	// comes for it; at twice it, any connection is. In a burst every
	// socket gets the same events, so the slowest readers go first.
	QueueBytes int64
}

// What a connection and a subscription cost, measured with
// `wsload -split -n 1000 -subs 1` and `-subs 5`: RSS of the server per idle
// socket of one subscription 28 KiB, of five 64 KiB, so 9 KiB per
// subscription and 19 KiB per socket without one (an idle socket holds one
// goroutine, its reader's; a subscription none). A burst of 80 events to
// 2,000 subscribers (`-n 2000 -burst 80`) peaked at 55 KiB per socket of
// one subscription (97 KiB when each subscription held two goroutines).
// The reservations below are those of that time, so they hold more than
// a socket costs now. 28 and 12 KiB (the ratio of peak to reservation
// kept) passed the memory limit test alone, 1,612 sockets in 200 MiB with
// a peak of 148 MB, but under the whole suite its own clients, twice as
// many as at 48 and 24, fell behind the burst: lowering them waits for
// that test's clients to keep up.
const (
	// SocketBytes is what an open connection holds, its subscriptions
	// aside: its 1 KiB read and write buffers, the library's state, the
	// reader's goroutine and its stack, contexts and timers, and its share
	// of a burst (a writer goroutine, messages being encoded).
	SocketBytes = 48 << 10
	// SubscriptionBytes is what one subscription holds: the operation's
	// context and loaders, its place in the feed, and its share of a burst
	// (the goroutine that hands it its events while they wait).
	SubscriptionBytes = 24 << 10
)

const (
	// subscriptionsPerSocket is how many subscriptions a budget made from a
	// number of sockets makes room for, on average: the console's queue
	// page holds eight (presence, three queues' changes, three queues'
	// counts, the open queue view), its conversation page five.
	subscriptionsPerSocket = 8
	// budgetedSocketBytes is the memory a socket of a SocketBudget holds
	// room for: the socket and its subscriptions.
	budgetedSocketBytes = SocketBytes + subscriptionsPerSocket*SubscriptionBytes
	// queueBytesPerSocket is each socket's share of the queue budget: a
	// few dozen typical events (a queueChanged event is a few hundred
	// bytes) waiting for every socket at once.
	queueBytesPerSocket = 16 << 10
	// DefaultSockets is the budget where no memory limit is known.
	DefaultSockets = 10_000
	// reservedBytes is what the process needs besides its sockets: the Go
	// runtime, the binary, the store's caches, HTTP requests in flight.
	// `switchboard serve` idles at about 25 MiB of RSS.
	reservedBytes = 48 << 20
)

// SocketBudget is the budget of a number of sockets: room for that many,
// with eight subscriptions each (the console's queue page), and their
// share of queued messages.
func SocketBudget(sockets int) Budget {
	sockets = max(sockets, 1)
	n := int64(sockets)
	return Budget{
		Sockets:    sockets,
		Bytes:      n * budgetedSocketBytes,
		QueueBytes: n * queueBytesPerSocket,
	}
}

// SocketsThatFit is how many sockets of a SocketBudget, with its
// subscriptions each, b's memory holds: what SWITCHBOARD_MAX_SOCKETS may be
// under a memory limit.
func SocketsThatFit(b Budget) int {
	return int(b.Bytes / budgetedSocketBytes)
}

// MemoryBudget is the budget of a process whose memory is limited to
// limit bytes (a container's limit, or GOMEMLIMIT). Three fifths of the
// limit, less what the process needs without sockets, go to sockets,
// subscriptions and queued messages: the Go runtime's soft limit is set
// below the container's (memory the runtime does not count, such as the
// kernel's socket buffers, is charged to the container too), and memory in
// use must stay well below the soft limit, or the garbage collector runs
// without pause and still cannot free what is in use. An eighth of it is
// for queued messages; the rest holds as many sockets of one subscription
// each as fit, and a socket with more subscriptions takes the room of
// several.
func MemoryBudget(limit int64) Budget {
	usable := limit/5*3 - reservedBytes
	queue := max(usable/8, queueBytesPerSocket)
	bytes := max(usable-queue, SocketBytes+SubscriptionBytes)
	return Budget{
		Sockets:    int(bytes / (SocketBytes + SubscriptionBytes)),
		Bytes:      bytes,
		QueueBytes: queue,
	}
}

// DefaultBudget is the budget of DefaultSockets.
func DefaultBudget() Budget { return SocketBudget(DefaultSockets) }

// budget keeps the account of a Budget: what is open and queued, and the
// episodes of refusing and shedding, each logged when it starts and when
// it ends, never per socket.
type budget struct {
	Budget
	log *slog.Logger
	now func() time.Time

	mu            sync.Mutex
	sockets       int
	subscriptions int
	// reserved is the memory held by open sockets and their subscriptions.
	reserved int64
	// The refusing episode: since the first refusal, until there is room
	// again (below nine tenths of each bound, so that a budget hovering at
	// its edge does not log each socket that comes and goes).
	refusing             bool
	refusingSince        time.Time
	refusedSockets       int
	refusedSubscriptions int

	// queued is the bytes waiting in all send queues.
	queued atomic.Int64
	// open mirrors sockets for the queues' fair share, read without mu.
	open atomic.Int64
	// The shedding episode: since the first connection closed for the
	// queue budget, until the queues are back under half of it.
	shedding      atomic.Bool
	shedMu        sync.Mutex
	shedSince     time.Time
	shed          int
	sheddingPeakQ int64
}

func newBudget(b Budget, log *slog.Logger, now func() time.Time) *budget {
	return &budget{Budget: b, log: log, now: now}
}

// admitSocket reserves a socket's memory, with room for one subscription,
// or reports that the budget is spent.
func (b *budget) admitSocket() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sockets >= b.Sockets || b.reserved+SocketBytes+SubscriptionBytes > b.Bytes {
		b.refused(&b.refusedSockets)
		return false
	}
	b.sockets++
	b.open.Store(int64(b.sockets))
	b.reserved += SocketBytes
	return true
}

// releaseSocket gives back what admitSocket reserved.
func (b *budget) releaseSocket() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sockets--
	b.open.Store(int64(b.sockets))
	b.reserved -= SocketBytes
	b.roomAgain()
}

// admitSubscription reserves a subscription's memory, or reports that the
// budget is spent.
func (b *budget) admitSubscription() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reserved+SubscriptionBytes > b.Bytes {
		b.refused(&b.refusedSubscriptions)
		return false
	}
	b.subscriptions++
	b.reserved += SubscriptionBytes
	return true
}

// releaseSubscription gives back what admitSubscription reserved.
func (b *budget) releaseSubscription() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subscriptions--
	b.reserved -= SubscriptionBytes
	b.roomAgain()
}

// refused counts a refusal, and logs the first of an episode; b.mu is held.
func (b *budget) refused(count *int) {
	*count++
	if b.refusing {
		return
	}
	b.refusing, b.refusingSince = true, b.now()
	b.log.Warn("WebSocket budget spent: refusing new sockets (HTTP 503) and subscriptions until there is room",
		"sockets", b.sockets, "max_sockets", b.Sockets, "subscriptions", b.subscriptions,
		"reserved_mib", mib(b.reserved), "budget_mib", mib(b.Bytes))
}

// roomAgain ends a refusing episode once there is room again, and logs it;
// b.mu is held.
func (b *budget) roomAgain() {
	if !b.refusing || b.sockets*10 > b.Sockets*9 || b.reserved*10 > b.Bytes*9 {
		return
	}
	b.log.Info("WebSocket budget has room again: accepting new sockets and subscriptions",
		"refused_sockets", b.refusedSockets, "refused_subscriptions", b.refusedSubscriptions,
		"refusing_for", b.now().Sub(b.refusingSince).Round(time.Millisecond),
		"sockets", b.sockets, "max_sockets", b.Sockets, "subscriptions", b.subscriptions)
	b.refusing, b.refusedSockets, b.refusedSubscriptions = false, 0, 0
}

// queue charges n more bytes to a send queue that holds held bytes; false
// means the connection is to be shed instead (see Budget.QueueBytes).
func (b *budget) queue(held, n int64) bool {
	total := b.queued.Add(n)
	if total <= b.QueueBytes {
		return true
	}
	share := b.QueueBytes / max(b.open.Load(), 1)
	if total <= 2*b.QueueBytes && held+n <= share {
		return true
	}
	b.queued.Add(-n)
	b.shedOne(total - n)
	return false
}

// unqueue gives back n bytes of a send queue: written, or dropped with
// their connection.
func (b *budget) unqueue(n int64) {
	if n == 0 {
		return
	}
	total := b.queued.Add(-n)
	if b.shedding.Load() && total <= b.QueueBytes/2 {
		b.shedMu.Lock()
		defer b.shedMu.Unlock()
		if !b.shedding.Load() {
			return
		}
		b.shedding.Store(false)
		b.log.Info("WebSocket send queues are back under their budget",
			"closed_slow_sockets", b.shed, "shedding_for", b.now().Sub(b.shedSince).Round(time.Millisecond),
			"queued_peak_mib", mib(b.sheddingPeakQ), "queue_budget_mib", mib(b.QueueBytes))
		b.shed, b.sheddingPeakQ = 0, 0
	}
}

// shedOne counts a connection closed for the queue budget, and logs the
// first of an episode.
func (b *budget) shedOne(queued int64) {
	b.shedMu.Lock()
	defer b.shedMu.Unlock()
	b.shed++
	b.sheddingPeakQ = max(b.sheddingPeakQ, queued)
	if b.shedding.Load() {
		return
	}
	b.shedding.Store(true)
	b.shedSince = b.now()
	b.log.Warn("WebSocket send queues over their budget: closing the slowest readers (1013) until they are back under half of it",
		"queued_mib", mib(queued), "queue_budget_mib", mib(b.QueueBytes), "sockets", b.open.Load())
}

func mib(n int64) float64 { return float64(n*10/(1<<20)) / 10 }
