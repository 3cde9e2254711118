package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/coder/websocket"
)

// The floor: a bare coder/websocket broadcaster that speaks just enough
// graphql-transport-ws (connection_init, subscribe, ping, complete) and
// answers the load tool's few GraphQL operations over HTTP with fixed data.
// A setOwner encodes the frame of its event once and queues those bytes on
// every subscribed socket, each with one reader and one writer goroutine
// and a small channel between (coder/websocket's own chat example): the
// least a WebSocket fan-out of the same frames costs, with no GraphQL, no
// store and no budget. The rounds run against it exactly as against the
// server.

const floorConversation = "cv_floor"

type floorServer struct {
	mu      sync.Mutex
	version int
	sockets map[*floorSocket]struct{}
}

type floorSocket struct {
	c   *websocket.Conn
	out chan []byte
	mu  sync.Mutex
	ids []string
}

// startFloor starts the floor on loopback.
func startFloor() (*inProcessServer, error) {
	f := &floorServer{version: 1, sockets: map[*floorSocket]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: f}
	go srv.Serve(ln)
	return &inProcessServer{
		url: "http://" + ln.Addr().String() + "/graphql", secret: []byte(randomHex(32)),
		close: func() {
			srv.Close()
			f.mu.Lock()
			for s := range f.sockets {
				s.c.CloseNow()
			}
			f.mu.Unlock()
		},
	}, nil
}

func (f *floorServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "" {
		f.socket(w, r)
		return
	}
	var body struct {
		Query     string
		Variables map[string]any
	}
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &body)
	w.Header().Set("Content-Type", "application/json")
	q := body.Query
	var data string
	switch {
	case strings.Contains(q, "setOwner"):
		owner, _ := body.Variables["o"].(string)
		data = `{"setOwner":{"conversation":{"version":` + strconv.Itoa(f.broadcast(owner)) + `}}}`
	case strings.Contains(q, "createChannel"):
		data = `{"createChannel":{"channel":{"id":"ch_floor"}}}`
	case strings.Contains(q, "ingestInbound"):
		data = `{"ingestInbound":{"conversationId":"` + floorConversation + `"}}`
	case strings.Contains(q, "conversation("):
		f.mu.Lock()
		v := f.version
		f.mu.Unlock()
		data = `{"conversation":{"version":` + strconv.Itoa(v) + `}}`
	case strings.Contains(q, "queue("):
		data = `{"queue":{"edges":[{"node":{"id":"` + floorConversation + `"}}]}}`
	default:
		data = `{"me":{"id":"me"}}`
	}
	_, _ = io.WriteString(w, `{"data":`+data+`}`)
}

// broadcast makes the next version's event and queues it on every
// subscription; it returns the version.
func (f *floorServer) broadcast(owner string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version++
	payload, _ := json.Marshal(map[string]any{"data": map[string]any{"queueChanged": map[string]any{
		"kind": "UPDATED", "conversation": map[string]any{"id": floorConversation, "version": f.version, "owner": map[string]any{"id": owner}},
	}}})
	frames := map[string][]byte{} // one encoding per subscription id
	for s := range f.sockets {
		s.mu.Lock()
		ids := s.ids
		s.mu.Unlock()
		for _, id := range ids {
			frame, ok := frames[id]
			if !ok {
				frame = []byte(`{"id":` + strconv.Quote(id) + `,"type":"next","payload":` + string(payload) + `}`)
				frames[id] = frame
			}
			select {
			case s.out <- frame:
			default:
				s.c.Close(websocket.StatusTryAgainLater, "client too slow")
			}
		}
	}
	return f.version
}

func (f *floorServer) socket(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return
	}
	s := &floorSocket{c: c, out: make(chan []byte, 16)}
	f.mu.Lock()
	f.sockets[s] = struct{}{}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.sockets, s)
		f.mu.Unlock()
		c.CloseNow()
	}()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		defer cancel()
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			var m struct{ ID, Type string }
			if json.Unmarshal(b, &m) != nil {
				return
			}
			switch m.Type {
			case "connection_init":
				s.out <- []byte(`{"type":"connection_ack"}`)
			case "ping":
				s.out <- []byte(`{"type":"pong"}`)
			case "subscribe":
				s.mu.Lock()
				s.ids = append(s.ids, m.ID)
				s.mu.Unlock()
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case frame := <-s.out:
			if err := c.Write(ctx, websocket.MessageText, frame); err != nil {
				return
			}
		}
	}
}

// runCompare measures the floor, then the server, with the same options,
// and prints both reports and a summary side by side.
func runCompare(ctx context.Context, o options, out io.Writer) error {
	type run struct {
		name          string
		res           *results
		before, after memory
	}
	var runs []run
	for _, floor := range []bool{true, false} {
		o := o
		o.floor = floor
		name := "server"
		if floor {
			name = "floor (bare coder/websocket broadcaster)"
			// The server's profile keeps the name given; the floor's
			// is beside it.
			if o.cpuProfile != "" {
				o.cpuProfile += ".floor"
			}
		}
		res, before, after, err := measure(ctx, o)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(out, "== %s\n", name)
		report(out, o, res, &before, &after)
		fmt.Fprintln(out)
		runs = append(runs, run{name, res, before, after})
	}
	fmt.Fprintf(out, "== side by side: %d subscribers, %d rounds, %d cores (GOMAXPROCS %d)", o.n, o.rounds, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	if o.split {
		fmt.Fprint(out, "; memory is the server's alone (-split)")
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "  %-8s %12s %12s %16s %16s %14s\n", "", "median ms", "p99 ms", "heap+stacks KiB", "RSS KiB", "goroutines")
	for _, r := range runs {
		n := float64(r.res.Subscribers)
		heap := float64(int64(r.after.heapInuse)-int64(r.before.heapInuse)+int64(r.after.stackInuse)-int64(r.before.stackInuse)) / n / 1024
		rss := float64(int64(r.after.rss)-int64(r.before.rss)) / n / 1024
		name := "server"
		if strings.HasPrefix(r.name, "floor") {
			name = "floor"
		}
		fmt.Fprintf(out, "  %-8s %12.1f %12.1f %16.1f %16.1f %14.1f\n", name,
			percentile(r.res.All, 0.5), percentile(r.res.All, 0.99), heap, rss, float64(r.after.goroutines-r.before.goroutines)/n)
	}
	f, s := runs[0].res, runs[1].res
	fmt.Fprintf(out, "  server/floor: median %.2fx, p99 %.2fx (event to all subscribers)\n",
		percentile(s.All, 0.5)/percentile(f.All, 0.5), percentile(s.All, 0.99)/percentile(f.All, 0.99))
	return nil
}
