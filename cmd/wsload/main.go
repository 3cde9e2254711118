// Command wsload measures the WebSocket subscriptions of a Switchboard
// server: memory per idle subscriber, how long a setOwner mutation takes
// to reach every subscriber of queueChanged, and (with -burst) what a burst
// of events from several writers at once costs the server at its peak.
// With -activity it measures agents viewing and typing instead
// (conversationActivity and setTyping; see activity.go), and with -counts
// live badge counts (queueCountsChanged; see counts.go), and with -morning
// routing's morning of sign-ins (see morning.go).
//
// By default it starts a server in process, on the SQLite store in a
// temporary directory, and opens -n real WebSocket subscribers to it over
// loopback TCP. With -split the subscribers run in a child process (this
// same binary), so the memory figures are the server's alone. With -url it
// only plays the clients, against a running server whose HS256 secret it is
// given (-secret, or SWITCHBOARD_JWT_SECRET) to mint its tokens.
//
// Build it without -race: go build -o bin/wsload ./cmd/wsload
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"switchboard/app"
	"switchboard/server"
	"switchboard/server/ws"
)

type options struct {
	n           int
	rounds      int
	warmup      int
	concurrency int
	settle      time.Duration
	url         string
	secret      string
	workspace   string
	split       bool
	cpuProfile  string
	ping        time.Duration
	heapProfile string
	// burst is how many setOwner mutations the burst's writers send, all
	// at once after the timed rounds; 0: no burst.
	burst   int
	writers int
	// subs is how many subscriptions each socket opens; the rounds time
	// the first.
	subs int
	// child: run as the client half of -split, talking to the parent over
	// stdin and stdout.
	child bool
	// activity: the viewers-typing mode (activity.go).
	activity      bool
	conversations int
	duration      time.Duration
	serverPID     int
	// floor runs the rounds against a bare broadcaster (floor.go) instead
	// of the server; compare runs them against both, one after the other.
	floor, compare bool
	// counts: the live counts mode (counts.go), rate changes a second.
	counts     bool
	rate       int
	metricsURL string
	// morning: routing's morning of sign-ins (morning.go).
	morning      bool
	agents       int
	waiting      int
	signInOver   time.Duration
	routingModes string
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 1000, "subscribers to open")
	flag.IntVar(&o.rounds, "rounds", 100, "setOwner mutations to time (M)")
	flag.IntVar(&o.warmup, "warmup", 3, "untimed rounds before")
	flag.IntVar(&o.concurrency, "concurrency", 16, "sockets opened at once")
	flag.DurationVar(&o.settle, "settle", 3*time.Second, "idle time before memory is measured")
	flag.StringVar(&o.url, "url", "", "GraphQL endpoint of a running server (http://host:port/graphql); empty: start one in process")
	flag.StringVar(&o.secret, "secret", os.Getenv("SWITCHBOARD_JWT_SECRET"), "HS256 secret of the server at -url [SWITCHBOARD_JWT_SECRET]")
	flag.StringVar(&o.workspace, "workspace", "", "workspace to use (default: a new one)")
	flag.BoolVar(&o.split, "split", false, "run the subscribers in a child process, so memory figures are the server's alone")
	flag.BoolVar(&o.child, "child", false, "internal: the client process of -split")
	flag.DurationVar(&o.ping, "ping-interval", 0, "the in-process server's WebSocket ping interval (0: its default, a third of the presence timeout); each pong writes the agent's sign of life")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process during the timed rounds to this file")
	flag.StringVar(&o.heapProfile, "heapprofile", "", "write a heap profile of this process with the subscribers idle to this file")
	flag.IntVar(&o.burst, "burst", 0, "after the rounds, send this many setOwner mutations from -writers writers at once, and measure the peak")
	flag.IntVar(&o.writers, "writers", 4, "writers of the burst, each sending its mutations one after another")
	flag.IntVar(&o.subs, "subs", 1, "subscriptions per socket (the same query under different ids); the rounds time the first")
	flag.BoolVar(&o.activity, "activity", false, "viewers typing: -n agents hold conversationActivity on -conversations conversations and type as the console does, for -duration")
	flag.IntVar(&o.conversations, "conversations", 100, "conversations of -activity")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "how long -activity types")
	flag.IntVar(&o.serverPID, "server-pid", 0, "with -url: the server's process id, whose memory and CPU -activity reports")
	flag.BoolVar(&o.floor, "floor", false, "measure a bare coder/websocket broadcaster of the same frames (the floor) instead of the server")
	flag.BoolVar(&o.compare, "compare", false, "measure the floor, then the server, and print them side by side")
	flag.BoolVar(&o.counts, "counts", false, "live counts: -n agents hold queueCountsChanged while -rate changes a second are made for -duration, after the same changes alone (the floor)")
	flag.IntVar(&o.rate, "rate", 50, "changes a second of -counts")
	flag.StringVar(&o.metricsURL, "metrics-url", "", "with -counts -url: the server's /metrics, to read its count queries from")
	flag.BoolVar(&o.morning, "morning", false, "routing's morning: -agents OFFLINE routing agents sign in over -signin-over with -waiting conversations waiting, in each mode of -routing")
	flag.IntVar(&o.agents, "agents", 200, "agents of -morning")
	flag.IntVar(&o.waiting, "waiting", 20_000, "NEW unowned conversations waiting at the start of -morning")
	flag.DurationVar(&o.signInOver, "signin-over", 10*time.Second, "how long the sign-ins of -morning take, evenly spread")
	flag.StringVar(&o.routingModes, "routing", "BALANCED,ROUND_ROBIN", "routing modes of -morning, each on a fresh server, in order")
	flag.Parse()
	if o.workspace == "" {
		o.workspace = "wsload-" + randomHex(4)
	}
	ctx := context.Background()
	var err error
	switch {
	case o.morning:
		err = runMorning(ctx, o, os.Stdout)
	case o.counts:
		if o.url != "" && len(o.secret) < server.MinSecretBytes {
			err = fmt.Errorf("-url needs the server's HS256 secret (-secret or SWITCHBOARD_JWT_SECRET) to mint tokens")
			break
		}
		err = runCounts(ctx, o, os.Stdout)
	case o.activity:
		if o.url != "" && len(o.secret) < server.MinSecretBytes {
			err = fmt.Errorf("-url needs the server's HS256 secret (-secret or SWITCHBOARD_JWT_SECRET) to mint tokens")
			break
		}
		err = runActivity(ctx, o, os.Stdout)
	case o.child:
		err = runChild(ctx, o)
	case o.url != "":
		err = runAgainstURL(ctx, o, os.Stdout)
	case o.compare:
		err = runCompare(ctx, o, os.Stdout)
	default:
		err = runInProcess(ctx, o, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsload:", err)
		os.Exit(1)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// inProcessServer is a server as `switchboard serve` builds it, on a
// temporary data directory.
type inProcessServer struct {
	url    string
	secret []byte
	close  func()
}

func startServer(ctx context.Context, ping time.Duration) (*inProcessServer, error) {
	dir, err := os.MkdirTemp("", "wsload-")
	if err != nil {
		return nil, err
	}
	secret := []byte(randomHex(32))
	a, err := app.New(ctx, app.Config{
		DataDir: dir, Keys: server.KeyConfig{Secret: secret}, Logger: slog.New(slog.DiscardHandler), Jobs: true,
		Server: server.Config{WebSocket: ws.Config{PingInterval: ping}},
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Shutdown(ctx)
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
			os.RemoveAll(dir)
		},
	}, nil
}

// memory is a reading of this process's memory, after a GC.
type memory struct {
	heapInuse, heapAlloc, stackInuse, sys uint64
	rss                                   uint64
	goroutines                            int
}

func readMemory() memory {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memory{
		heapInuse: ms.HeapInuse, heapAlloc: ms.HeapAlloc, stackInuse: ms.StackInuse, sys: ms.Sys,
		rss: vmRSS(), goroutines: runtime.NumGoroutine(),
	}
}

// vmRSS reads VmRSS of /proc/self/status, 0 where there is none.
func vmRSS() uint64 { return procStatus("VmRSS:") }

// procStatus reads a figure in kB of /proc/self/status (field is "VmRSS:",
// "VmHWM:" …) in bytes, 0 where there is none.
func procStatus(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(rest) // "123456 kB"
			if len(f) >= 1 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

func runInProcess(ctx context.Context, o options, out io.Writer) error {
	res, before, after, err := measure(ctx, o)
	if err != nil {
		return err
	}
	report(out, o, res, &before, &after)
	return nil
}

// measure runs the rounds against the in-process server, or the floor.
func measure(ctx context.Context, o options) (res *results, before, after memory, err error) {
	var srv *inProcessServer
	if o.floor {
		srv, err = startFloor()
	} else {
		srv, err = startServer(ctx, o.ping)
	}
	if err != nil {
		return nil, before, after, err
	}
	defer srv.close()
	res, before, after, err = measureOn(ctx, o, srv)
	return res, before, after, err
}

func measureOn(ctx context.Context, o options, srv *inProcessServer) (*results, memory, memory, error) {
	tg := newTarget(srv.url, srv.secret, o.workspace, o.subs)
	fx, err := tg.setup(ctx)
	if err != nil {
		return nil, memory{}, memory{}, err
	}
	time.Sleep(o.settle / 3)
	before := readMemory()
	var (
		after memory
		res   *results
	)
	if o.split {
		res, after, err = runSplit(ctx, o, srv, before)
	} else {
		var subs *subscribers
		subs, err = tg.open(ctx, o.n, o.concurrency)
		if err != nil {
			return nil, before, after, err
		}
		defer subs.close()
		time.Sleep(o.settle)
		after = readMemory()
		if err := writeHeapProfile(o.heapProfile); err != nil {
			return nil, before, after, err
		}
		stop, perr := startCPUProfile(o.cpuProfile)
		if perr != nil {
			return nil, before, after, perr
		}
		res, err = tg.rounds(ctx, fx, subs, o.warmup, o.rounds)
		stop()
		if err == nil && o.burst > 0 {
			sampling := samplePeak()
			res.Burst, err = tg.burst(ctx, fx, subs, o.burst, o.writers)
			peak := sampling()
			if res.Burst != nil {
				res.Burst.peak = &peak
			}
		}
	}
	return res, before, after, err
}

func writeHeapProfile(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.WriteHeapProfile(f)
}

func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// runSplit runs the subscribers in a child process and measures this
// process (the server) while they idle.
func runSplit(ctx context.Context, o options, srv *inProcessServer, before memory) (*results, memory, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, memory{}, err
	}
	cmd := exec.CommandContext(ctx, self, "-child", "-url", srv.url, "-workspace", o.workspace,
		"-n", strconv.Itoa(o.n), "-rounds", strconv.Itoa(o.rounds), "-warmup", strconv.Itoa(o.warmup),
		"-concurrency", strconv.Itoa(o.concurrency), "-burst", strconv.Itoa(o.burst), "-writers", strconv.Itoa(o.writers), "-subs", strconv.Itoa(o.subs))
	cmd.Env = append(os.Environ(), "SWITCHBOARD_JWT_SECRET="+string(srv.secret))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, memory{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, memory{}, err
	}
	if err := cmd.Start(); err != nil {
		return nil, memory{}, err
	}
	defer cmd.Wait()
	lines := bufio.NewScanner(stdout)
	lines.Buffer(nil, 64<<20)
	if !lines.Scan() || lines.Text() != "idle" {
		return nil, memory{}, fmt.Errorf("the client process did not open its subscribers: %q %v", lines.Text(), lines.Err())
	}
	time.Sleep(o.settle)
	after := readMemory()
	if err := writeHeapProfile(o.heapProfile); err != nil {
		return nil, memory{}, err
	}
	stop, err := startCPUProfile(o.cpuProfile)
	if err != nil {
		return nil, memory{}, err
	}
	defer stop()
	fmt.Fprintln(stdin, "go")
	if !lines.Scan() {
		return nil, memory{}, fmt.Errorf("the client process ended without results: %v", lines.Err())
	}
	var res results
	if err := json.Unmarshal(lines.Bytes(), &res); err != nil {
		return nil, memory{}, fmt.Errorf("the client process's results: %w", err)
	}
	if o.burst > 0 {
		// The server's peak: sampled here while the client process sends
		// the burst and its subscribers read it.
		sampling := samplePeak()
		fmt.Fprintln(stdin, "burst")
		if !lines.Scan() {
			sampling()
			return nil, memory{}, fmt.Errorf("the client process ended without the burst's results: %v", lines.Err())
		}
		peak := sampling()
		res.Burst = &burstResults{}
		if err := json.Unmarshal(lines.Bytes(), res.Burst); err != nil {
			return nil, memory{}, fmt.Errorf("the client process's burst results: %w", err)
		}
		res.Burst.peak = &peak
	}
	stdin.Close()
	return &res, after, nil
}

// runChild is the client half of -split: it opens the subscribers, says
// "idle", waits for "go", runs the rounds and prints the results as JSON.
func runChild(ctx context.Context, o options) error {
	tg := newTarget(o.url, []byte(o.secret), o.workspace, o.subs)
	fx, err := tg.fixture(ctx)
	if err != nil {
		return err
	}
	subs, err := tg.open(ctx, o.n, o.concurrency)
	if err != nil {
		return err
	}
	defer subs.close()
	fmt.Println("idle")
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() || in.Text() != "go" {
		return errors.New("the parent did not say go")
	}
	res, err := tg.rounds(ctx, fx, subs, o.warmup, o.rounds)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil || o.burst == 0 {
		return err
	}
	if !in.Scan() || in.Text() != "burst" {
		return errors.New("the parent did not say burst")
	}
	b, err := tg.burst(ctx, fx, subs, o.burst, o.writers)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(b)
}

func runAgainstURL(ctx context.Context, o options, out io.Writer) error {
	if len(o.secret) < server.MinSecretBytes {
		return fmt.Errorf("-url needs the server's HS256 secret (-secret or SWITCHBOARD_JWT_SECRET) to mint tokens")
	}
	tg := newTarget(o.url, []byte(o.secret), o.workspace, o.subs)
	fx, err := tg.setup(ctx)
	if err != nil {
		return err
	}
	subs, err := tg.open(ctx, o.n, o.concurrency)
	if err != nil {
		return err
	}
	defer subs.close()
	res, err := tg.rounds(ctx, fx, subs, o.warmup, o.rounds)
	if err != nil {
		return err
	}
	if o.burst > 0 {
		if res.Burst, err = tg.burst(ctx, fx, subs, o.burst, o.writers); err != nil {
			return err
		}
	}
	report(out, o, res, nil, nil)
	return nil
}

// target is a server and how to speak to it.
type target struct {
	url, wsURL string
	// subs is how many subscriptions each socket opens.
	subs      int
	secret    []byte
	workspace string
	http      *http.Client
}

func newTarget(url string, secret []byte, workspace string, subs int) *target {
	return &target{
		subs: max(1, subs), url: url, wsURL: "ws" + strings.TrimPrefix(url, "http"), secret: secret, workspace: workspace,
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}},
	}
}

func (tg *target) token(sub, role string) string {
	tok, err := server.MintHS256(tg.secret, server.TokenRequest{
		Subject: sub, WorkspaceID: tg.workspace, Role: role, Name: sub, Email: sub + "@example.com", TTL: 24 * time.Hour,
	}, time.Now())
	if err != nil {
		panic(err)
	}
	return tok
}

func agentID(i int) string { return fmt.Sprintf("agent-%05d", i) }

// post runs a GraphQL operation over HTTP.
func (tg *target) post(ctx context.Context, token, query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tg.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := tg.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var r struct {
		Data   json.RawMessage
		Errors []any
	}
	if err := json.Unmarshal(raw, &r); err != nil || resp.StatusCode != http.StatusOK || len(r.Errors) > 0 {
		return fmt.Errorf("%.60s: HTTP %d %.300s", query, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(r.Data, out)
	}
	return nil
}

// fixture is the conversation whose owner the rounds change.
type fixture struct {
	Conversation string
	Version      int
	Admin        string
}

// setup creates the workspace's channel, a conversation in NEW, and the
// two agents the rounds assign it to.
func (tg *target) setup(ctx context.Context) (*fixture, error) {
	fx := &fixture{Admin: tg.token("admin", "admin")}
	for _, tok := range []string{fx.Admin, tg.token(agentID(0), "agent"), tg.token(agentID(1), "agent")} {
		if err := tg.post(ctx, tok, `{ me { id } }`, nil, nil); err != nil {
			return nil, err
		}
	}
	var ch struct {
		CreateChannel struct{ Channel struct{ ID string } }
	}
	if err := tg.post(ctx, fx.Admin, `mutation { createChannel(input: {name: "Load"}) { channel { id } } }`, nil, &ch); err != nil {
		return nil, err
	}
	var in struct {
		IngestInbound struct{ ConversationID string }
	}
	if err := tg.post(ctx, tg.token("connector", "integration"), `mutation($in: InboundInput!) { ingestInbound(input: $in) { conversationId } }`,
		map[string]any{"in": map[string]any{"channelId": ch.CreateChannel.Channel.ID, "contactExternalId": "maria", "externalMessageId": "m1", "text": "hello"}}, &in); err != nil {
		return nil, err
	}
	fx.Conversation = in.IngestInbound.ConversationID
	return fx, tg.refresh(ctx, fx)
}

// fixture finds what setup made (the child of -split).
func (tg *target) fixture(ctx context.Context) (*fixture, error) {
	fx := &fixture{Admin: tg.token("admin", "admin")}
	var q struct {
		Queue struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	if err := tg.post(ctx, fx.Admin, `{ queue(status: NEW) { edges { node { id } } } }`, nil, &q); err != nil {
		return nil, err
	}
	if len(q.Queue.Edges) != 1 {
		return nil, fmt.Errorf("want one conversation in the workspace, found %d", len(q.Queue.Edges))
	}
	fx.Conversation = q.Queue.Edges[0].Node.ID
	return fx, tg.refresh(ctx, fx)
}

func (tg *target) refresh(ctx context.Context, fx *fixture) error {
	var c struct{ Conversation struct{ Version int } }
	if err := tg.post(ctx, fx.Admin, `query($id: ID!) { conversation(id: $id) { version } }`, map[string]any{"id": fx.Conversation}, &c); err != nil {
		return err
	}
	fx.Version = c.Conversation.Version
	return nil
}

// round is one timed mutation: the version its event carries, and when
// each subscriber received it.
type round struct {
	version  int
	arrivals []time.Time
	left     atomic.Int64
	done     chan struct{}
}

type subscribers struct {
	conns []*websocket.Conn
	cur   atomic.Pointer[round]
	wg    sync.WaitGroup
	// errs counts messages that were not the expected events.
	errs atomic.Int64
	// During a burst, received counts each socket's events and lastAt is
	// when the latest came (UnixNano).
	bursting atomic.Bool
	received []atomic.Int64
	lastAt   atomic.Int64
	// ended says how each socket that stopped reading ended.
	endMu sync.Mutex
	ended []string
}

const subscription = `subscription { queueChanged(status: NEW) { kind conversation { id version owner { id } } } }`

// open opens n subscribers, each a different agent, and waits until each
// is subscribed.
func (tg *target) open(ctx context.Context, n, concurrency int) (*subscribers, error) {
	subs := &subscribers{conns: make([]*websocket.Conn, n), received: make([]atomic.Int64, n), ended: make([]string, n)}
	sem := make(chan struct{}, concurrency)
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := tg.subscribe(ctx, tg.token(agentID(i), "agent"))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = fmt.Errorf("subscriber %d: %w", i, err)
				}
				return
			}
			subs.conns[i] = c
			// Read from now on: a socket answers the server's pings only
			// while it is read, and opening thousands takes longer than the
			// server waits for a pong.
			subs.wg.Add(1)
			go subs.read(i, c)
		}()
	}
	wg.Wait()
	if first != nil {
		subs.close()
		return nil, first
	}
	return subs, nil
}

// subscriptionID is the id of a socket's k-th subscription.
func subscriptionID(k int) string {
	if k == 0 {
		return "q"
	}
	return "q" + strconv.Itoa(k)
}

// subscribe opens one socket: connection_init, subscribe, and a ping whose
// pong says the subscription is listening (the server handles a socket's
// messages in order).
func (tg *target) subscribe(ctx context.Context, token string) (*websocket.Conn, error) {
	msgs := []string{initMessage(token)}
	for k := range tg.subs {
		msgs = append(msgs, subscribeMessage(subscriptionID(k), subscription, nil))
	}
	return openSocket(ctx, tg.wsURL, append(msgs, `{"type":"ping"}`), `"connection_ack"`, `"pong"`)
}

// openSocket dials wsURL with graphql-transport-ws, sends msgs in order,
// then reads one message holding each of wants in turn, all within 30 s;
// the socket is closed on any failure.
func openSocket(ctx context.Context, wsURL string, msgs []string, wants ...string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 20)
	for _, m := range msgs {
		if err := c.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
			c.CloseNow()
			return nil, err
		}
	}
	for _, want := range wants {
		_, b, err := c.Read(ctx)
		if err != nil || !bytes.Contains(b, []byte(want)) {
			c.CloseNow()
			return nil, fmt.Errorf("want %s, got %s %v", want, b, err)
		}
	}
	return c, nil
}

// initMessage is graphql-transport-ws's connection_init with token.
func initMessage(token string) string {
	return `{"type":"connection_init","payload":{"Authorization":"Bearer ` + token + `"}}`
}

// subscribeMessage is a subscribe message of query with variables (none
// when nil) under id.
func subscribeMessage(id, query string, variables map[string]any) string {
	payload := map[string]any{"query": query}
	if variables != nil {
		payload["variables"] = variables
	}
	b, _ := json.Marshal(payload)
	return `{"id":"` + id + `","type":"subscribe","payload":` + string(b) + `}`
}

// read records when subscriber i receives each round's event.
func (subs *subscribers) read(i int, c *websocket.Conn) {
	defer subs.wg.Done()
	for {
		_, b, err := c.Read(context.Background())
		at := time.Now()
		if err != nil {
			subs.endMu.Lock()
			subs.ended[i] = howEnded(err)
			subs.endMu.Unlock()
			return
		}
		if subs.bursting.Load() {
			subs.received[i].Add(1)
			subs.lastAt.Store(at.UnixNano())
			continue
		}
		var m struct {
			ID      string
			Type    string
			Payload struct {
				Data struct {
					QueueChanged struct{ Conversation struct{ Version int } }
				}
			}
		}
		if json.Unmarshal(b, &m) != nil || m.Type != "next" {
			subs.errs.Add(1)
			continue
		}
		if m.ID != subscriptionID(0) {
			continue // the rounds time the first subscription
		}
		r := subs.cur.Load()
		if r == nil || m.Payload.Data.QueueChanged.Conversation.Version != r.version {
			subs.errs.Add(1)
			continue
		}
		r.arrivals[i] = at
		if r.left.Add(-1) == 0 {
			close(r.done)
		}
	}
}

// howEnded says how a socket's reading ended: the server's close code and
// reason, or the error of a connection that ended without a close frame.
func howEnded(err error) string {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return fmt.Sprintf("%d %q", ce.Code, ce.Reason)
	}
	return "no close frame: " + err.Error()
}

// endings says how the sockets that ended did, if any did.
func (subs *subscribers) endings() string {
	subs.endMu.Lock()
	defer subs.endMu.Unlock()
	n := map[string]int{}
	for _, e := range subs.ended {
		if e != "" {
			n[e]++
		}
	}
	var b strings.Builder
	for _, e := range slices.Sorted(maps.Keys(n)) {
		fmt.Fprintf(&b, "; %d sockets ended: %s", n[e], e)
	}
	return b.String()
}

func (subs *subscribers) close() {
	for _, c := range subs.conns {
		if c != nil {
			c.CloseNow()
		}
	}
	subs.wg.Wait()
}

// results are the rounds' timings, in milliseconds.
type results struct {
	Subscribers int
	Rounds      int
	// All: per round, from sending setOwner to the last subscriber's event.
	All []float64
	// Each: per subscriber and round, from sending setOwner to its event.
	Each []float64
	// Response: per round, setOwner's HTTP response time.
	Response []float64
	// Unexpected counts messages that were not the round's event.
	Unexpected int64
	// ClientCPUs is the client process's view (it may differ under -split).
	ClientCPUs int
	// Burst is the burst's, if there was one.
	Burst *burstResults `json:"-"`
}

// burstResults are what the subscribers saw of a burst.
type burstResults struct {
	Writers   int
	Mutations int
	// Failed counts mutations that were not answered with data.
	Failed int
	// Events is how far the conversation's version moved: the events
	// published.
	Events int
	// Seconds runs from the first mutation to the last event received.
	Seconds   float64
	Delivered int64
	// Open counts the sockets still open at the end; Ended, how the others
	// ended, by close code and reason.
	Open  int
	Ended map[string]int
	// peak is the server's memory at its highest during the burst, where
	// it was measured.
	peak *peakMemory
}

// burst sends mutations setOwner mutations from writers writers at once,
// each naming a different owner than the one before, then waits until the
// subscribers have received what they will (a second without an event)
// and says what they got.
func (tg *target) burst(ctx context.Context, fx *fixture, subs *subscribers, mutations, writers int) (*burstResults, error) {
	if err := tg.refresh(ctx, fx); err != nil {
		return nil, err
	}
	from := fx.Version
	subs.bursting.Store(true)
	defer subs.bursting.Store(false)
	res := &burstResults{Writers: writers, Mutations: mutations}
	var (
		next   atomic.Int64
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	start := time.Now()
	subs.lastAt.Store(start.UnixNano())
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := next.Add(1)
				if k > int64(mutations) {
					return
				}
				err := tg.post(ctx, fx.Admin, `mutation($id: ID!, $o: ID) { setOwner(input: {conversationId: $id, ownerId: $o}) { conversation { version } } }`,
					map[string]any{"id": fx.Conversation, "o": agentID(int(k) % len(subs.conns))}, nil)
				if err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if err := tg.refresh(ctx, fx); err != nil {
		return nil, err
	}
	res.Events = fx.Version - from
	res.Failed = int(failed.Load())
	// Every socket still open gets every event of each subscription; wait
	// for that, or until none came for a while (a socket being closed).
	want := int64(res.Events * tg.subs)
	for !subs.allReceived(want) && time.Since(time.Unix(0, subs.lastAt.Load())) < 10*time.Second {
		time.Sleep(50 * time.Millisecond)
	}
	res.Seconds = time.Unix(0, subs.lastAt.Load()).Sub(start).Seconds()
	res.Ended = map[string]int{}
	subs.endMu.Lock()
	defer subs.endMu.Unlock()
	for i := range subs.conns {
		res.Delivered += subs.received[i].Load()
		if e := subs.ended[i]; e != "" {
			res.Ended[e]++
		} else {
			res.Open++
		}
	}
	return res, nil
}

// allReceived reports whether every socket still open has received want
// events of the burst.
func (subs *subscribers) allReceived(want int64) bool {
	subs.endMu.Lock()
	defer subs.endMu.Unlock()
	for i := range subs.conns {
		if subs.ended[i] == "" && subs.received[i].Load() < want {
			return false
		}
	}
	return true
}

// peakMemory is the highest reading of each of this process's memory
// figures while they were sampled.
type peakMemory struct {
	rss, hwm, heapObjects, stacks, goTotal uint64
}

// samplePeak samples this process's memory every few milliseconds until
// the returned function is called, which returns the peaks.
func samplePeak() func() peakMemory {
	var peak peakMemory
	done, stopped := make(chan struct{}), make(chan struct{})
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
		{Name: "/memory/classes/total:bytes"},
	}
	go func() {
		defer close(stopped)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(samples)
			peak.heapObjects = max(peak.heapObjects, samples[0].Value.Uint64())
			peak.stacks = max(peak.stacks, samples[1].Value.Uint64())
			peak.goTotal = max(peak.goTotal, samples[2].Value.Uint64()-releasedBytes())
			peak.rss = max(peak.rss, procStatus("VmRSS:"))
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() peakMemory {
		close(done)
		<-stopped
		peak.hwm = procStatus("VmHWM:")
		return peak
	}
}

// releasedBytes is memory the Go runtime mapped and gave back to the OS:
// counted in its total, not in the process's resident memory.
func releasedBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// rounds assigns the conversation warmup+n times, alternating between two
// agents, and times each event's arrival at every subscriber.
func (tg *target) rounds(ctx context.Context, fx *fixture, subs *subscribers, warmup, n int) (*results, error) {
	res := &results{Subscribers: len(subs.conns), Rounds: n, ClientCPUs: runtime.NumCPU()}
	for k := range warmup + n {
		r := &round{version: fx.Version + 1, arrivals: make([]time.Time, len(subs.conns)), done: make(chan struct{})}
		r.left.Store(int64(len(subs.conns)))
		subs.cur.Store(r)
		start := time.Now()
		err := tg.post(ctx, fx.Admin, `mutation($id: ID!, $o: ID) { setOwner(input: {conversationId: $id, ownerId: $o}) { conversation { version } } }`,
			map[string]any{"id": fx.Conversation, "o": agentID(k % 2)}, nil)
		if err != nil {
			return nil, err
		}
		responded := time.Since(start)
		select {
		case <-r.done:
		case <-time.After(60 * time.Second):
			return nil, fmt.Errorf("round %d: %d of %d subscribers did not get the event within a minute%s", k, r.left.Load(), len(subs.conns), subs.endings())
		}
		fx.Version++
		if k < warmup {
			continue
		}
		last := start
		for _, at := range r.arrivals {
			res.Each = append(res.Each, ms(at.Sub(start)))
			if at.After(last) {
				last = at
			}
		}
		res.All = append(res.All, ms(last.Sub(start)))
		res.Response = append(res.Response, ms(responded))
		// Idle a little between rounds, as between real changes.
		time.Sleep(20 * time.Millisecond)
	}
	subs.cur.Store(nil)
	res.Unexpected = subs.errs.Load()
	return res, nil
}

// percentile returns the q-th quantile (nearest rank) of xs.
func percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func mib(b int64) string { return fmt.Sprintf("%+.1f MiB", float64(b)/(1<<20)) }

func report(w io.Writer, o options, res *results, before, after *memory) {
	fmt.Fprintf(w, "wsload: %d WebSocket subscribers of queueChanged (graphql-transport-ws), %d timed setOwner rounds (+%d warm-up)\n",
		res.Subscribers, res.Rounds, o.warmup)
	if o.subs > 1 {
		fmt.Fprintf(w, "each socket holds %d subscriptions of the same query; the rounds time the first\n", o.subs)
	}
	if o.ping > 0 && o.url == "" {
		fmt.Fprintf(w, "server WebSocket ping interval: %s\n", o.ping)
	}
	fmt.Fprintf(w, "machine: runtime.NumCPU() = %d, GOMAXPROCS = %d, %s %s/%s\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	switch {
	case o.url != "":
		fmt.Fprintf(w, "server: %s (another process: its memory is not measured here)\n", o.url)
	case o.split:
		fmt.Fprintf(w, "server: in process, SQLite in a temporary directory; the subscribers run in a child process:\n"+
			"  memory below is the server's alone, but server and clients still share the machine's %d cores\n", runtime.NumCPU())
	default:
		fmt.Fprintf(w, "server: in process, SQLite in a temporary directory; the subscribers run in this same process:\n"+
			"  client and server share it and its %d cores, and memory below is both sides together (run with -split for the server's alone)\n", runtime.NumCPU())
	}
	if before != nil && after != nil {
		n := int64(res.Subscribers)
		per := func(b int64) string { return fmt.Sprintf("%.1f KiB", float64(b)/float64(n)/1024) }
		heap := int64(after.heapInuse) - int64(before.heapInuse)
		stack := int64(after.stackInuse) - int64(before.stackInuse)
		rss := int64(after.rss) - int64(before.rss)
		fmt.Fprintf(w, "memory per idle subscriber (after GC, %d subscribers open):\n", n)
		fmt.Fprintf(w, "  Go heap in use    %s total, %s per subscriber\n", mib(heap), per(heap))
		fmt.Fprintf(w, "  goroutine stacks  %s total, %s per subscriber\n", mib(stack), per(stack))
		fmt.Fprintf(w, "  RSS (VmRSS)       %s total, %s per subscriber  (%.1f -> %.1f MiB)\n", mib(rss), per(rss),
			float64(before.rss)/(1<<20), float64(after.rss)/(1<<20))
		fmt.Fprintf(w, "  goroutines        %+d total, %.1f per subscriber\n", after.goroutines-before.goroutines,
			float64(after.goroutines-before.goroutines)/float64(n))
	}
	fmt.Fprintf(w, "setOwner -> its event at ALL %d subscribers (time until the last one got it), %d rounds:\n", res.Subscribers, len(res.All))
	fmt.Fprintf(w, "  median %.1f ms, p99 %.1f ms, max %.1f ms\n", percentile(res.All, 0.5), percentile(res.All, 0.99), percentile(res.All, 1))
	fmt.Fprintf(w, "per-subscriber delivery (%d samples): p50 %.1f ms, p99 %.1f ms\n",
		len(res.Each), percentile(res.Each, 0.5), percentile(res.Each, 0.99))
	fmt.Fprintf(w, "setOwner HTTP response: median %.1f ms, p99 %.1f ms\n", percentile(res.Response, 0.5), percentile(res.Response, 0.99))
	if res.Unexpected > 0 {
		fmt.Fprintf(w, "unexpected messages: %d\n", res.Unexpected)
	}
	if b := res.Burst; b != nil {
		fmt.Fprintf(w, "burst: %d writers sent %d setOwner mutations at once (%d failed), %d events to %d subscribers, over %.1f s:\n",
			b.Writers, b.Mutations, b.Failed, b.Events, res.Subscribers, b.Seconds)
		fmt.Fprintf(w, "  delivered %d of %d events; %d sockets still open\n", b.Delivered, b.Events*res.Subscribers*max(1, o.subs), b.Open)
		ended := slices.Sorted(maps.Keys(b.Ended))
		for _, e := range ended {
			fmt.Fprintf(w, "  %d sockets ended: %s\n", b.Ended[e], e)
		}
		if p := b.peak; p != nil {
			whose := "the server's"
			if !o.split {
				whose = "this process's (server and clients)"
			}
			fmt.Fprintf(w, "  peak memory, %s, sampled every 5 ms: RSS %.1f MiB (VmHWM %.1f MiB), Go heap objects %.1f MiB, goroutine stacks %.1f MiB, Go runtime total %.1f MiB\n",
				whose, mibOf(p.rss), mibOf(p.hwm), mibOf(p.heapObjects), mibOf(p.stacks), mibOf(p.goTotal))
		}
	}
}

func mibOf(b uint64) float64 { return float64(b) / (1 << 20) }
