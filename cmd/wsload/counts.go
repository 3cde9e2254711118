package main

// -counts: live badge counts. -n agents each hold queueCountsChanged on
// the New queue (one shape: every subscriber derives its counts from one
// shared snapshot) while writers make -rate changes a second for
// -duration: new conversations, and assignments to twenty of the agents,
// so the counts of every subscriber change and the ownedByMe of some. The
// same changes are first made with no subscriber, for the floor. It
// reports the snapshots each subscriber received a second (at most one),
// the least time between two snapshots of one subscriber, the store's
// count queries a second, and the server's CPU and memory. By default the
// server runs in this process on SQLite, its store wrapped to count the
// queries, and the figures are of the process (server and clients). With
// -url, -server-pid and -metrics-url they are the server's alone: the count
// queries are read from its /metrics (switchboard_store_call_duration_seconds
// for CountOwners).

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"switchboard/app"
	"switchboard/domain"
	"switchboard/server"
	"switchboard/store/sqlite"
)

const countsSubscription = `subscription { queueCountsChanged(status: NEW) { total unowned ownedByMe ownedByOthers byOwner { count owner { id } } } }`

// countingStore counts the store's count queries.
type countingStore struct {
	domain.Store
	counts *atomic.Int64
}

func (s countingStore) CountOwners(ctx context.Context, ws string, st domain.QueueStatus, ch []string) ([]domain.OwnerCount, error) {
	s.counts.Add(1)
	return s.Store.CountOwners(ctx, ws, st, ch)
}

// startCountingServer is startServer with the store's count queries
// counted.
func startCountingServer(ctx context.Context, counts *atomic.Int64) (*inProcessServer, error) {
	dir, err := os.MkdirTemp("", "wsload-")
	if err != nil {
		return nil, err
	}
	secret := []byte(randomHex(32))
	var st *sqlite.Store
	a, err := app.New(ctx, app.Config{
		Keys: server.KeyConfig{Secret: secret}, Logger: slog.New(slog.DiscardHandler), Jobs: true,
		Store: func(ctx context.Context, sink domain.EventSink) (domain.Store, error) {
			var err error
			st, err = sqlite.Open(ctx, dir, sqlite.Options{Logger: slog.New(slog.DiscardHandler), EventSink: sink})
			if err != nil {
				return nil, err
			}
			return countingStore{Store: st, counts: counts}, nil
		},
	})
	if err != nil {
		if st != nil {
			st.Close()
		}
		os.RemoveAll(dir)
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Shutdown(ctx)
		st.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	go a.Serve(ln)
	return &inProcessServer{
		url: "http://" + ln.Addr().String() + "/graphql", secret: secret,
		close: func() {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = a.Shutdown(sctx)
			st.Close()
			os.RemoveAll(dir)
		},
	}, nil
}

// countsPhase is what one phase of changes measured.
type countsPhase struct {
	elapsed   time.Duration
	writing   time.Duration
	changes   int64
	failed    int64
	queries   int64
	snapshots int64
	cpu       time.Duration
	peakRSS   uint64
}

func runCounts(ctx context.Context, o options, out io.Writer) error {
	var counted atomic.Int64
	queries := func() int64 { return counted.Load() }
	url, secret, pid := o.url, []byte(o.secret), o.serverPID
	whose := "this process (the server and its clients)"
	if url == "" {
		srv, err := startCountingServer(ctx, &counted)
		if err != nil {
			return err
		}
		defer srv.close()
		url, secret = srv.url, srv.secret
	} else {
		if o.metricsURL == "" || pid == 0 {
			return fmt.Errorf("-counts with -url needs -server-pid and -metrics-url")
		}
		whose = "the server's process"
		queries = func() int64 { return scrapeCountQueries(ctx, o.metricsURL) }
	}
	tg := newTarget(url, secret, o.workspace, 1)
	admin := tg.token("admin", "admin")
	if err := tg.post(ctx, admin, `{ me { id } }`, nil, nil); err != nil {
		return err
	}
	var ch struct {
		CreateChannel struct{ Channel struct{ ID string } }
	}
	if err := tg.post(ctx, admin, `mutation { createChannel(input: {name: "Load"}) { channel { id } } }`, nil, &ch); err != nil {
		return err
	}
	// The twenty owners exist before any assignment.
	const owners = 20
	for i := range min(owners, o.n) {
		if err := tg.post(ctx, tg.token(agentID(i), "agent"), `{ me { id } }`, nil, nil); err != nil {
			return err
		}
	}
	w := &countsWriter{tg: tg, admin: admin, connector: tg.token("connector", "integration"), channel: ch.CreateChannel.Channel.ID, owners: min(owners, o.n)}
	load := func() string { b, _ := os.ReadFile("/proc/loadavg"); return strings.TrimSpace(string(b)) }
	loadBefore := load()

	// The floor: the changes alone.
	floor, err := w.phase(ctx, o, pid, queries, nil)
	if err != nil {
		return err
	}

	// The subscribers.
	subs := &countsSubscribers{last: make([]time.Time, o.n), minGap: make([]time.Duration, o.n)}
	start := time.Now()
	sem := make(chan struct{}, o.concurrency)
	var wg sync.WaitGroup
	var openErr error
	var openMu sync.Mutex
	conns := make([]*websocket.Conn, o.n)
	for i := range o.n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := openCounts(ctx, tg.wsURL, tg.token(agentID(i), "agent"))
			openMu.Lock()
			defer openMu.Unlock()
			if err != nil {
				if openErr == nil {
					openErr = fmt.Errorf("subscriber %d: %w", i, err)
				}
				return
			}
			conns[i] = c
			subs.wg.Add(1)
			go subs.read(i, c)
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.CloseNow()
			}
		}
		subs.wg.Wait()
	}()
	if openErr != nil {
		return openErr
	}
	opened := time.Since(start)
	time.Sleep(o.settle)
	idle := readProcess(pid)
	loaded, err := w.phase(ctx, o, pid, queries, subs)
	if err != nil {
		return err
	}
	loadAfter := load()

	mb := func(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	perSub := float64(loaded.snapshots) / float64(o.n) / loaded.elapsed.Seconds()
	minGap := time.Duration(math.MaxInt64)
	received := 0
	subs.mu.Lock()
	defer subs.mu.Unlock()
	for i, g := range subs.minGap {
		if g > 0 && g < minGap {
			minGap = g
		}
		if !subs.last[i].IsZero() {
			received++
		}
	}
	if minGap == math.MaxInt64 {
		minGap = 0
	}
	fmt.Fprintf(out, "counts: %d agents hold queueCountsChanged(status: NEW) on one workspace; %d changes a second for %v (new conversations, and assignments to %d of the agents)\n",
		o.n, o.rate, o.duration, w.owners)
	fmt.Fprintf(out, "runtime.NumCPU() = %d; load average before %q, after %q; figures of %s\n", runtime.NumCPU(), loadBefore, loadAfter, whose)
	fmt.Fprintf(out, "opened %d subscribers in %v (each had its first snapshot); RSS idle %s\n", o.n, opened.Round(time.Millisecond), mb(idle.rss))
	row := func(name string, p countsPhase) {
		fmt.Fprintf(out, "%-12s %d changes in %.1f s (%.1f/s, %d failed), measured over %.1f s: count queries %d (%.2f/s); CPU %.2f s = %.0f%% of one core; RSS peak %s\n",
			name, p.changes, p.writing.Seconds(), float64(p.changes)/p.writing.Seconds(), p.failed, p.elapsed.Seconds(), p.queries, float64(p.queries)/p.elapsed.Seconds(),
			p.cpu.Seconds(), 100*p.cpu.Seconds()/p.elapsed.Seconds(), mb(p.peakRSS))
	}
	row("floor:", floor)
	row("subscribed:", loaded)
	fmt.Fprintf(out, "snapshots: %d in %.1f s = %.3f per subscriber per second; least time between two snapshots of one subscriber %v; %d of %d subscribers had one\n",
		loaded.snapshots, loaded.elapsed.Seconds(), perSub, minGap.Round(time.Millisecond), received, o.n)
	fmt.Fprintf(out, "subscribed/floor: CPU %.2fx, count queries %+d\n", loaded.cpu.Seconds()/max(floor.cpu.Seconds(), 1e-9), loaded.queries-floor.queries)
	if subs.failures.Load() > 0 {
		return fmt.Errorf("%d subscribers got an error", subs.failures.Load())
	}
	return nil
}

// openCounts opens one socket holding queueCountsChanged, returning once
// its first snapshot came.
func openCounts(ctx context.Context, wsURL, token string) (*websocket.Conn, error) {
	return openSocket(ctx, wsURL, []string{initMessage(token), subscribeMessage("c", countsSubscription, nil)}, `"connection_ack"`, `"next"`)
}

// countsSubscribers records when each subscriber received a snapshot.
type countsSubscribers struct {
	wg        sync.WaitGroup
	counting  atomic.Bool // during a phase
	snapshots atomic.Int64
	failures  atomic.Int64
	mu        sync.Mutex
	last      []time.Time
	minGap    []time.Duration
}

func (s *countsSubscribers) read(i int, c *websocket.Conn) {
	defer s.wg.Done()
	for {
		_, b, err := c.Read(context.Background())
		if err != nil {
			return
		}
		switch {
		case bytes.Contains(b, []byte(`"errors"`)) || bytes.Contains(b, []byte(`"type":"error"`)):
			s.failures.Add(1)
		case bytes.Contains(b, []byte(`"type":"next"`)):
			if !s.counting.Load() {
				continue
			}
			now := time.Now()
			s.snapshots.Add(1)
			s.mu.Lock()
			if !s.last[i].IsZero() {
				if g := now.Sub(s.last[i]); s.minGap[i] == 0 || g < s.minGap[i] {
					s.minGap[i] = g
				}
			}
			s.last[i] = now
			s.mu.Unlock()
		}
	}
}

// countsWriter makes the changes.
type countsWriter struct {
	tg                        *target
	admin, connector, channel string
	owners                    int
	n                         atomic.Int64
	mu                        sync.Mutex
	open                      []string // conversations made, to assign
}

// change makes the k-th change: even ones a new conversation, odd ones an
// assignment of one made before to one of the owners.
func (w *countsWriter) change(ctx context.Context, k int64) error {
	w.mu.Lock()
	none := len(w.open) == 0
	w.mu.Unlock()
	if k%2 == 0 || none {
		var in struct {
			IngestInbound struct{ ConversationID string }
		}
		err := w.tg.post(ctx, w.connector, `mutation($in: InboundInput!) { ingestInbound(input: $in) { conversationId } }`,
			map[string]any{"in": map[string]any{"channelId": w.channel, "contactExternalId": fmt.Sprintf("contact-%d", k), "externalMessageId": fmt.Sprintf("m-%d", k), "text": "hello"}}, &in)
		if err == nil {
			w.mu.Lock()
			w.open = append(w.open, in.IngestInbound.ConversationID)
			w.mu.Unlock()
		}
		return err
	}
	w.mu.Lock()
	id := w.open[int(k/2)%len(w.open)]
	w.mu.Unlock()
	return w.tg.post(ctx, w.admin, `mutation($in: SetOwnerInput!) { setOwner(input: $in) { conversation { id } } }`,
		map[string]any{"in": map[string]any{"conversationId": id, "ownerId": agentID(int(k/2) % w.owners)}}, nil)
}

// phase makes o.rate changes a second for o.duration, and measures.
func (w *countsWriter) phase(ctx context.Context, o options, pid int, queries func() int64, subs *countsSubscribers) (countsPhase, error) {
	var p countsPhase
	var failed atomic.Int64
	var done atomic.Int64
	q0, cpu0 := queries(), readProcess(pid).cpu
	if subs != nil {
		subs.snapshots.Store(0)
		subs.counting.Store(true)
		defer subs.counting.Store(false)
	}
	start := time.Now()
	tick := time.NewTicker(time.Second / time.Duration(max(1, o.rate)))
	defer tick.Stop()
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	end := time.After(o.duration)
	peak := uint64(0)
	sample := time.NewTicker(200 * time.Millisecond)
	defer sample.Stop()
loop:
	for {
		select {
		case <-end:
			break loop
		case <-sample.C:
			peak = max(peak, readProcess(pid).rss)
		case <-tick.C:
			select {
			case sem <- struct{}{}:
			default:
				failed.Add(1) // the writers are behind: a change not made
				continue
			}
			k := w.n.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if err := w.change(ctx, k); err != nil {
					failed.Add(1)
					return
				}
				done.Add(1)
			}()
		}
	}
	wg.Wait()
	p.writing = time.Since(start)
	// The last changes' snapshots come within a second.
	time.Sleep(1100 * time.Millisecond)
	p.elapsed = time.Since(start)
	p.changes, p.failed = done.Load(), failed.Load()
	p.queries = queries() - q0
	p.cpu = readProcess(pid).cpu - cpu0
	p.peakRSS = max(peak, readProcess(pid).rss)
	if subs != nil {
		p.snapshots = subs.snapshots.Load()
	}
	return p, nil
}

// scrapeCountQueries reads how many CountOwners calls a server's /metrics
// has counted; -1 when it cannot.
func scrapeCountQueries(ctx context.Context, metricsURL string) int64 {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return -1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "switchboard_store_call_duration_seconds_count{") && strings.Contains(line, `op="CountOwners"`) {
			fs := strings.Fields(line)
			n, err := strconv.ParseFloat(fs[len(fs)-1], 64)
			if err != nil {
				return -1
			}
			return int64(n)
		}
	}
	return 0
}
