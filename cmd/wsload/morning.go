package main

// -morning: a morning of routing (issue 18). -agents agents, OFFLINE and
// named as routing agents of one channel, sign in one after another over
// -signin-over while -waiting NEW unowned conversations wait, with routing
// in each mode of -routing (a fresh server per mode, one after another in
// one run). An agent signs in as the console does: its socket opens (the
// connection_init signs an OFFLINE agent in) and subscribes to
// ownershipChanged for what it owns. An admin socket holds ownershipChanged
// for the whole workspace from before the first sign-in, so it sees every
// routed change in order, whatever the race between an agent's sign-in and
// its own subscription. It reports, per agent, the time from the start of
// its sign-in (the dial) to its load reaching capacity (p50, p99, max), the
// agents ever above capacity (a running load per agent from every ownership
// change), the spread of the loads at the end (from the API's Agent.load),
// and the process's CPU and RSS. The server runs in this process on SQLite;
// the waiting conversations are ingested through the domain service
// directly (IngestInbound, as the inbound HTTP call does, without HTTP),
// with routing off, before the morning.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"switchboard/app"
	"switchboard/domain"
	"switchboard/server"
)

const ownedSubscription = `subscription { ownershipChanged(status: [NEW], ownership: {ownedByMe: true}) { to { id } from { id } reason } }`

const watchSubscription = `subscription { ownershipChanged { conversation { id } to { id } from { id } status reason } }`

// morningServer is startServer, keeping the app for its domain service.
func morningServer(ctx context.Context) (*inProcessServer, *app.App, error) {
	dir, err := os.MkdirTemp("", "wsload-")
	if err != nil {
		return nil, nil, err
	}
	secret := []byte(randomHex(32))
	a, err := app.New(ctx, app.Config{
		DataDir: dir, Keys: server.KeyConfig{Secret: secret}, Logger: slog.New(slog.DiscardHandler), Jobs: true,
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Shutdown(ctx)
		os.RemoveAll(dir)
		return nil, nil, err
	}
	go a.Serve(ln)
	return &inProcessServer{
		url: "http://" + ln.Addr().String() + "/graphql", secret: secret,
		close: func() {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = a.Shutdown(sctx)
			os.RemoveAll(dir)
		},
	}, a, nil
}

// morningResult is what one morning measured.
type morningResult struct {
	mode                 string
	seeded               time.Duration
	fill                 []time.Duration // per agent filled, from the watcher
	acked                []time.Duration // per agent, from the dial to connection_ack: the sign-in alone (the floor)
	first, rest          []time.Duration // per agent filled: sign-in to the first assignment, the first to the last
	own                  []time.Duration // per agent whose own subscription saw it filled
	unfilled             int
	aboveCapacity        int
	maxLoadSeen          int
	routed, other        int
	minLoad, maxLoad     int
	capacity             int
	cpu, elapsed         time.Duration
	peakRSS, endRSS      uint64
	loadBefore, loadEnd  string
	signInsDone, signIns time.Duration
}

func runMorning(ctx context.Context, o options, out io.Writer) error {
	modes := strings.Split(o.routingModes, ",")
	var results []morningResult
	for _, m := range modes {
		r, err := morning(ctx, o, strings.TrimSpace(m))
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		results = append(results, r)
	}
	fmt.Fprintf(out, "morning: %d agents (OFFLINE, routing agents of one channel, default capacity) sign in over %v, one every %v, with %d NEW unowned conversations waiting; SQLite, server in this process\n",
		o.agents, o.signInOver, o.signInOver/time.Duration(max(1, o.agents)), o.waiting)
	fmt.Fprintf(out, "runtime.NumCPU() = %d; figures of this process (the server and its %d client sockets)\n", runtime.NumCPU(), o.agents+1)
	mb := func(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
	for _, r := range results {
		q := func(ds []time.Duration, p int) string {
			if len(ds) == 0 {
				return "-"
			}
			return quantileOf(ds, p).Round(time.Millisecond).String()
		}
		fmt.Fprintf(out, "%s: seeded %d in %.1f s; load average before %q, after %q\n", r.mode, o.waiting, r.seeded.Seconds(), r.loadBefore, r.loadEnd)
		fmt.Fprintf(out, "  fill time (sign-in to load = capacity %d, seen by the watcher): p50 %s p99 %s max %s; %d of %d filled, %d not\n",
			r.capacity, q(r.fill, 50), q(r.fill, 99), q(r.fill, 100), len(r.fill), o.agents, r.unfilled)
		fmt.Fprintf(out, "  the sign-in alone (dial to connection_ack, the floor): p50 %s p99 %s max %s; fill/sign-in at p50 %.1fx, at p99 %.1fx\n",
			q(r.acked, 50), q(r.acked, 99), q(r.acked, 100), ratio(r.fill, r.acked, 50), ratio(r.fill, r.acked, 99))
		fmt.Fprintf(out, "  of which sign-in to the first assignment: p50 %s p99 %s max %s; the first to the last (capacity - 1 more routing writes): p50 %s p99 %s max %s\n",
			q(r.first, 50), q(r.first, 99), q(r.first, 100), q(r.rest, 50), q(r.rest, 99), q(r.rest, 100))
		fmt.Fprintf(out, "  fill time seen by the agent's own subscription: p50 %s p99 %s max %s (%d agents saw all their assignments)\n",
			q(r.own, 50), q(r.own, 99), q(r.own, 100), len(r.own))
		over := 0
		for _, d := range r.fill {
			if d > time.Second {
				over++
			}
		}
		fmt.Fprintf(out, "  filled later than 1 s after sign-in: %d; agents above capacity at any moment: %d (highest load seen %d); routed changes %d, others %d\n",
			over, r.aboveCapacity, r.maxLoadSeen, r.routed, r.other)
		fmt.Fprintf(out, "  loads at the end (Agent.load): min %d max %d spread %d\n", r.minLoad, r.maxLoad, r.maxLoad-r.minLoad)
		fmt.Fprintf(out, "  sign-ins took %.1f s; the morning (first sign-in to last fill) %.1f s: CPU %.2f s = %.0f%% of one core; RSS peak %s, at the end %s\n",
			r.signIns.Seconds(), r.elapsed.Seconds(), r.cpu.Seconds(), 100*r.cpu.Seconds()/r.elapsed.Seconds(), mb(r.peakRSS), mb(r.endRSS))
	}
	for _, r := range results {
		if r.aboveCapacity > 0 || r.unfilled > 0 {
			return fmt.Errorf("%s: %d agents above capacity, %d not filled", r.mode, r.aboveCapacity, r.unfilled)
		}
	}
	return nil
}

// ratio is the p-th percentile of a over that of b.
func ratio(a, b []time.Duration, p int) float64 {
	qa, qb := quantileOf(a, p), quantileOf(b, p)
	if qb == 0 {
		return 0
	}
	return float64(qa) / float64(qb)
}

func quantileOf(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

// morning runs one morning on a fresh server.
func morning(ctx context.Context, o options, mode string) (morningResult, error) {
	r := morningResult{mode: mode}
	srv, a, err := morningServer(ctx)
	if err != nil {
		return r, err
	}
	defer srv.close()
	tg := newTarget(srv.url, srv.secret, o.workspace, 1)
	admin := tg.token("admin", "admin")
	if err := tg.post(ctx, admin, `{ me { id } }`, nil, nil); err != nil {
		return r, err
	}
	var ch struct {
		CreateChannel struct{ Channel struct{ ID string } }
	}
	if err := tg.post(ctx, admin, `mutation { createChannel(input: {name: "Morning"}) { channel { id } } }`, nil, &ch); err != nil {
		return r, err
	}
	channel := ch.CreateChannel.Channel.ID
	for i := range o.agents {
		id := agentID(i)
		if err := tg.post(ctx, admin, `mutation($in: AgentInput!) { upsertAgent(input: $in) { agent { id } } }`,
			map[string]any{"in": map[string]any{"id": id, "name": id, "role": "AGENT"}}, nil); err != nil {
			return r, err
		}
		if err := tg.post(ctx, admin, `mutation($in: RoutingAgentInput!) { setRoutingAgent(input: $in) { channel { id } } }`,
			map[string]any{"in": map[string]any{"channelId": channel, "agentId": id, "enabled": true}}, nil); err != nil {
			return r, err
		}
	}

	// The waiting conversations, through the domain service, four at once.
	start := time.Now()
	connector := domain.Actor{WorkspaceID: o.workspace, ID: "connector", Role: domain.RoleIntegration, Name: "connector"}
	var next atomic.Int64
	var seedErr error
	var seedMu sync.Mutex
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := next.Add(1) - 1
				if k >= int64(o.waiting) {
					return
				}
				if _, err := a.Service().IngestInbound(ctx, connector, domain.InboundCommand{
					ChannelID: channel, ContactExternalID: fmt.Sprint("contact-", k), ExternalMessageID: fmt.Sprint("m-", k), Text: "good morning",
				}); err != nil {
					seedMu.Lock()
					seedErr = err
					seedMu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if seedErr != nil {
		return r, seedErr
	}
	r.seeded = time.Since(start)

	var st struct {
		UpdateSettings struct {
			Settings struct{ Routing struct{ DefaultCapacity int } }
		}
	}
	if err := tg.post(ctx, admin, `mutation($m: RoutingMode!) { updateSettings(input: {routing: {mode: $m}}) { settings { routing { defaultCapacity } } } }`,
		map[string]any{"m": mode}, &st); err != nil {
		return r, err
	}
	r.capacity = st.UpdateSettings.Settings.Routing.DefaultCapacity

	// The watcher: every ownership change of the workspace, in order.
	w := &morningWatch{capacity: r.capacity, load: map[string]int{}, filledAt: map[string]time.Time{}, firstAt: map[string]time.Time{}, done: make(chan struct{}), want: o.agents}
	wc, err := openSubscription(ctx, tg.wsURL, admin, watchSubscription)
	if err != nil {
		return r, fmt.Errorf("the watcher: %w", err)
	}
	defer wc.CloseNow()
	go w.read(wc)
	time.Sleep(o.settle / 3) // the setting's own pass (nobody ONLINE) done

	load := func() string { b, _ := os.ReadFile("/proc/loadavg"); return strings.TrimSpace(string(b)) }
	r.loadBefore = load()
	signedAt := make([]time.Time, o.agents)
	ackedIn := make([]time.Duration, o.agents)
	owns := make([]*ownedReader, o.agents)
	conns := make([]*websocket.Conn, o.agents)
	var openErr atomic.Value
	every := o.signInOver / time.Duration(max(1, o.agents))
	cpu0 := readProcess(0).cpu
	peak := uint64(0)
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
				peak = max(peak, readProcess(0).rss)
			}
		}
	}()
	first := time.Now()
	var signWG sync.WaitGroup
	for i := range o.agents {
		time.Sleep(time.Until(first.Add(time.Duration(i) * every)))
		signWG.Add(1)
		go func() {
			defer signWG.Done()
			signedAt[i] = time.Now()
			rd := &ownedReader{capacity: r.capacity, signed: signedAt[i]}
			owns[i] = rd
			c, err := openSubscription(ctx, tg.wsURL, tg.token(agentID(i), "agent"), ownedSubscription)
			if err != nil {
				openErr.CompareAndSwap(nil, fmt.Errorf("agent %d: %w", i, err))
				return
			}
			ackedIn[i] = time.Since(signedAt[i])
			conns[i] = c
			go rd.read(c)
		}()
	}
	signWG.Wait()
	r.signIns = time.Since(first)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.CloseNow()
			}
		}
	}()
	if e := openErr.Load(); e != nil {
		return r, e.(error)
	}
	select {
	case <-w.done:
	case <-time.After(60 * time.Second):
	}
	w.mu.Lock()
	lastFill := first
	for _, at := range w.filledAt {
		if at.After(lastFill) {
			lastFill = at
		}
	}
	w.mu.Unlock()
	r.elapsed = lastFill.Sub(first)
	r.cpu = readProcess(0).cpu - cpu0
	close(stopSampling)
	<-sampled
	r.peakRSS = peak
	r.endRSS = readProcess(0).rss
	r.loadEnd = load()
	// Later changes, if routing went on, would show in the loads.
	time.Sleep(o.settle / 3)

	r.acked = ackedIn
	w.mu.Lock()
	for i := range o.agents {
		at, ok := w.filledAt[agentID(i)]
		if !ok {
			r.unfilled++
			continue
		}
		r.fill = append(r.fill, at.Sub(signedAt[i]))
		f := w.firstAt[agentID(i)]
		r.first = append(r.first, f.Sub(signedAt[i]))
		r.rest = append(r.rest, at.Sub(f))
	}
	r.aboveCapacity, r.maxLoadSeen, r.routed, r.other = len(w.above), w.maxLoad, w.routed, w.other
	w.mu.Unlock()
	for _, rd := range owns {
		if rd == nil {
			continue
		}
		rd.mu.Lock()
		if !rd.filled.IsZero() {
			r.own = append(r.own, rd.filled.Sub(rd.signed))
		}
		rd.mu.Unlock()
	}

	var ag struct {
		Agents []struct {
			ID       string
			Load     int
			Capacity int
			Presence string
		}
	}
	if err := tg.post(ctx, admin, `{ agents { id load capacity presence } }`, nil, &ag); err != nil {
		return r, err
	}
	r.minLoad, r.maxLoad = -1, 0
	for _, x := range ag.Agents {
		if !strings.HasPrefix(x.ID, "agent-") {
			continue
		}
		if r.minLoad < 0 || x.Load < r.minLoad {
			r.minLoad = x.Load
		}
		r.maxLoad = max(r.maxLoad, x.Load)
	}
	return r, nil
}

// openSubscription opens a socket (signing its agent in) holding one
// subscription, returning once it is acknowledged.
func openSubscription(ctx context.Context, wsURL, token, query string) (*websocket.Conn, error) {
	return openSocket(ctx, wsURL, []string{initMessage(token), subscribeMessage("o", query, nil)}, `"connection_ack"`)
}

// change is one ownershipChanged message.
type change struct {
	Type    string
	Payload struct {
		Data struct {
			OwnershipChanged struct {
				To, From *struct{ ID string }
				Status   string
				Reason   string
			}
		}
		Errors []any
	}
}

// morningWatch keeps a running load per agent from every ownership change
// of the workspace.
type morningWatch struct {
	capacity      int
	want          int
	mu            sync.Mutex
	load          map[string]int
	maxLoad       int
	above         map[string]bool
	filledAt      map[string]time.Time
	firstAt       map[string]time.Time
	routed, other int
	done          chan struct{}
	closed        bool
}

func (w *morningWatch) read(c *websocket.Conn) {
	readChanges(c, func(now time.Time, m change) {
		oc := m.Payload.Data.OwnershipChanged
		w.mu.Lock()
		if oc.Reason == "ROUTING" {
			w.routed++
		} else {
			w.other++
		}
		// Load is NEW conversations owned: the change leaves the
		// conversation in Status with To as its owner.
		if oc.From != nil {
			w.load[oc.From.ID]--
		}
		if oc.To != nil && oc.Status == "NEW" {
			id := oc.To.ID
			w.load[id]++
			l := w.load[id]
			w.maxLoad = max(w.maxLoad, l)
			if _, ok := w.firstAt[id]; !ok {
				w.firstAt[id] = now
			}
			if l > w.capacity {
				if w.above == nil {
					w.above = map[string]bool{}
				}
				w.above[id] = true
			}
			if _, ok := w.filledAt[id]; !ok && l >= w.capacity {
				w.filledAt[id] = now
				if len(w.filledAt) == w.want && !w.closed {
					w.closed = true
					close(w.done)
				}
			}
		}
		w.mu.Unlock()
	})
}

// ownedReader is an agent's own subscription: when it saw its load reach
// capacity.
type ownedReader struct {
	capacity int
	signed   time.Time
	mu       sync.Mutex
	n        int
	filled   time.Time
}

func (rd *ownedReader) read(c *websocket.Conn) {
	readChanges(c, func(now time.Time, m change) {
		rd.mu.Lock()
		if m.Payload.Data.OwnershipChanged.To != nil {
			rd.n++
			if rd.n == rd.capacity {
				rd.filled = now
			}
		}
		rd.mu.Unlock()
	})
}

// readChanges hands each ownershipChanged event c receives to fn, with
// when it came, until c ends.
func readChanges(c *websocket.Conn, fn func(now time.Time, m change)) {
	for {
		_, b, err := c.Read(context.Background())
		if err != nil {
			return
		}
		now := time.Now()
		var m change
		if json.Unmarshal(b, &m) != nil || m.Type != "next" {
			continue
		}
		fn(now, m)
	}
}
