package main

// -activity: viewers typing. Each of -n agents opens a socket and holds
// conversationActivity on one of -conversations conversations (so -n /
// -conversations viewers each), and types as the console does: setTyping
// true every 2 s for 6 s, then false, then 4 s of reading, over and over,
// each agent starting at a random point of its cycle. The mutations go over
// the agent's own socket. It reports the snapshots received, and the
// server's memory and CPU: of this process (clients included) for an
// in-process server, or of -server-pid (the server alone) with -url.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

const activitySubscription = `subscription($id: ID!) { conversationActivity(conversationId: $id) { conversation { id version } viewers { id } typing { id } } }`

const setTypingMutation = `mutation($id: ID!, $on: Boolean!) { setTyping(conversationId: $id, typing: $on) }`

// The typing cycle of each agent, as the console sends it.
const (
	typingEvery = 2 * time.Second
	typingFor   = 6 * time.Second
	typingCycle = 10 * time.Second
)

// processFigures are a process's memory and CPU time.
type processFigures struct {
	rss, hwm uint64
	cpu      time.Duration
}

// readProcess reads pid's figures (0: this process).
func readProcess(pid int) processFigures {
	dir := "/proc/self"
	if pid != 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	var f processFigures
	if b, err := os.ReadFile(dir + "/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			for name, to := range map[string]*uint64{"VmRSS:": &f.rss, "VmHWM:": &f.hwm} {
				if rest, ok := strings.CutPrefix(line, name); ok {
					if fs := strings.Fields(rest); len(fs) > 0 {
						kb, _ := strconv.ParseUint(fs[0], 10, 64)
						*to = kb << 10
					}
				}
			}
		}
	}
	if pid == 0 {
		var ru syscall.Rusage
		if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
			f.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
		return f
	}
	if b, err := os.ReadFile(dir + "/stat"); err == nil {
		// After the command's closing parenthesis: state is field 3, utime
		// 14 and stime 15, in clock ticks (USER_HZ, 100 on Linux).
		if i := bytes.LastIndexByte(b, ')'); i > 0 {
			fs := strings.Fields(string(b[i+1:]))
			if len(fs) > 13 {
				u, _ := strconv.ParseInt(fs[11], 10, 64)
				s, _ := strconv.ParseInt(fs[12], 10, 64)
				f.cpu = time.Duration(u+s) * 10 * time.Millisecond
			}
		}
	}
	return f
}

// viewer is one agent's socket.
type viewer struct {
	c            *websocket.Conn
	conversation string
	mu           sync.Mutex // one writer at a time
	ops          int
}

func (v *viewer) send(ctx context.Context, msg string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return v.c.Write(ctx, websocket.MessageText, []byte(msg))
}

func (v *viewer) typing(ctx context.Context, on bool) error {
	v.mu.Lock()
	v.ops++
	id := "t" + strconv.Itoa(v.ops)
	v.mu.Unlock()
	payload, _ := json.Marshal(map[string]any{"query": setTypingMutation, "variables": map[string]any{"id": v.conversation, "on": on}})
	return v.send(ctx, `{"id":"`+id+`","type":"subscribe","payload":`+string(payload)+`}`)
}

func runActivity(ctx context.Context, o options, out io.Writer) error {
	url, secret, pid := o.url, []byte(o.secret), o.serverPID
	inProcess := url == ""
	if inProcess {
		srv, err := startServer(ctx, o.ping)
		if err != nil {
			return err
		}
		defer srv.close()
		url, secret = srv.url, srv.secret
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
	convs := make([]string, o.conversations)
	connector := tg.token("connector", "integration")
	for i := range convs {
		var in struct {
			IngestInbound struct{ ConversationID string }
		}
		if err := tg.post(ctx, connector, `mutation($in: InboundInput!) { ingestInbound(input: $in) { conversationId } }`,
			map[string]any{"in": map[string]any{"channelId": ch.CreateChannel.Channel.ID, "contactExternalId": fmt.Sprintf("contact-%d", i),
				"externalMessageId": fmt.Sprintf("m-%d", i), "text": "hello"}}, &in); err != nil {
			return err
		}
		convs[i] = in.IngestInbound.ConversationID
	}
	time.Sleep(o.settle / 3)
	before := readProcess(pid)

	// Open the viewers; each reads its socket from the first snapshot on.
	var (
		snapshots, results, failures atomic.Int64
		wg                           sync.WaitGroup
		viewers                      = make([]*viewer, o.n)
		sem                          = make(chan struct{}, o.concurrency)
		openErr                      error
		openMu                       sync.Mutex
	)
	var readers sync.WaitGroup
	read := func(v *viewer) {
		defer readers.Done()
		for {
			_, b, err := v.c.Read(context.Background())
			if err != nil {
				return
			}
			switch {
			case bytes.Contains(b, []byte(`"id":"a"`)) && bytes.Contains(b, []byte(`"type":"next"`)):
				snapshots.Add(1)
			case bytes.Contains(b, []byte(`"errors"`)) || bytes.Contains(b, []byte(`"type":"error"`)):
				failures.Add(1)
			case bytes.Contains(b, []byte(`"type":"next"`)):
				results.Add(1)
			}
		}
	}
	start := time.Now()
	for i := range o.n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			v, err := tg.openViewer(ctx, tg.token(agentID(i), "agent"), convs[i%len(convs)])
			openMu.Lock()
			defer openMu.Unlock()
			if err != nil {
				if openErr == nil {
					openErr = fmt.Errorf("viewer %d: %w", i, err)
				}
				return
			}
			viewers[i] = v
			// Read from now on: a socket answers the server's pings only
			// while it is read.
			readers.Add(1)
			go read(v)
		}()
	}
	wg.Wait()
	if openErr != nil {
		for _, v := range viewers {
			if v != nil {
				v.c.CloseNow()
			}
		}
		readers.Wait()
		return openErr
	}
	opened := time.Since(start)
	defer func() {
		for _, v := range viewers {
			v.c.CloseNow()
		}
		readers.Wait()
	}()
	time.Sleep(o.settle)
	idle := readProcess(pid)
	// The first snapshots, and those of the viewers who came after.
	snapshotsIdle := snapshots.Load()

	// Type for the duration.
	runCtx, stop := context.WithTimeout(ctx, o.duration)
	defer stop()
	var sent atomic.Int64
	var typers sync.WaitGroup
	cpuBefore := readProcess(pid).cpu
	typingStart := time.Now()
	for _, v := range viewers {
		typers.Add(1)
		go func() {
			defer typers.Done()
			// A random point of the cycle to start from.
			offset := time.Duration(rand.Int64N(int64(typingCycle)))
			at := typingStart.Add(-offset)
			for {
				// The calls of this cycle: true at 0, 2, 4 s; false at 6 s.
				for _, step := range []struct {
					after time.Duration
					on    bool
				}{{0, true}, {typingEvery, true}, {2 * typingEvery, true}, {typingFor, false}} {
					when := at.Add(step.after)
					if when.Before(typingStart) {
						continue
					}
					select {
					case <-runCtx.Done():
						return
					case <-time.After(time.Until(when)):
					}
					if v.typing(runCtx, step.on) == nil {
						sent.Add(1)
					}
				}
				at = at.Add(typingCycle)
			}
		}()
	}
	peak := uint64(0)
	ticker := time.NewTicker(200 * time.Millisecond)
sampling:
	for {
		select {
		case <-runCtx.Done():
			break sampling
		case <-ticker.C:
			peak = max(peak, readProcess(pid).rss)
		}
	}
	ticker.Stop()
	typers.Wait()
	elapsed := time.Since(typingStart)
	end := readProcess(pid)
	cpu := end.cpu - cpuBefore

	whose := "this process (the server and its clients: pass -url and -server-pid for the server alone)"
	if !inProcess {
		whose = "the server's process"
		if pid == 0 {
			whose = "this client process (no -server-pid given)"
		}
	}
	mb := func(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	fmt.Fprintf(out, "activity: %d agents viewing %d conversations (%d each), typing %v of every %v (true every %v, then false)\n",
		o.n, len(convs), o.n/len(convs), typingFor, typingCycle, typingEvery)
	fmt.Fprintf(out, "runtime.NumCPU() = %d; figures of %s\n", runtime.NumCPU(), whose)
	fmt.Fprintf(out, "opened %d viewers in %v (each had its first snapshot); %d more snapshots as the others came\n", o.n, opened.Round(time.Millisecond), snapshotsIdle)
	fmt.Fprintf(out, "memory: RSS %s before, %s with the viewers idle (%.1f KiB per viewer)\n",
		mb(before.rss), mb(idle.rss), float64(int64(idle.rss)-int64(before.rss))/float64(o.n)/1024)
	fmt.Fprintf(out, "typing for %v: %d setTyping calls sent (%.0f/s), %d answered, %d failed; %d snapshots received (%.0f/s)\n",
		elapsed.Round(time.Millisecond), sent.Load(), float64(sent.Load())/elapsed.Seconds(), results.Load(), failures.Load(),
		snapshots.Load()-snapshotsIdle, float64(snapshots.Load()-snapshotsIdle)/elapsed.Seconds())
	fmt.Fprintf(out, "while typing: RSS peak %s (end %s); CPU %.2f s in %.1f s = %.0f%% of one core, %.0f%% of %d\n",
		mb(max(peak, end.rss)), mb(end.rss), cpu.Seconds(), elapsed.Seconds(),
		100*cpu.Seconds()/elapsed.Seconds(), 100*cpu.Seconds()/elapsed.Seconds()/float64(runtime.NumCPU()), runtime.NumCPU())
	if failures.Load() > 0 {
		return fmt.Errorf("%d operations failed", failures.Load())
	}
	return nil
}

// openViewer opens one agent's socket and holds conversationActivity on
// conversation, returning once its first snapshot came.
func (tg *target) openViewer(ctx context.Context, token, conversation string) (*viewer, error) {
	c, err := openSocket(ctx, tg.wsURL, []string{
		initMessage(token), subscribeMessage("a", activitySubscription, map[string]any{"id": conversation}),
	}, `"connection_ack"`, `"next"`)
	if err != nil {
		return nil, err
	}
	return &viewer{c: c, conversation: conversation}, nil
}
