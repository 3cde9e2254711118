package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"switchboard/server"
)

// memoryCgroup is a child cgroup of this process's own, with a memory
// limit, made for one test and removed after it.
type memoryCgroup struct {
	dir     string
	version int
}

// newMemoryCgroup makes a child of this process's memory cgroup limited
// to limit bytes, or skips t saying why it cannot: no cgroup memory
// controller, or one this process may not write.
func newMemoryCgroup(t *testing.T, limit int64) *memoryCgroup {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("cgroups are Linux's")
	}
	parent, version, err := memoryCgroupDir("/")
	if err != nil || parent == "" {
		t.Skipf("no cgroup memory controller is mounted (%v)", err)
	}
	dir := filepath.Join(parent, "switchboard-test-"+strconv.Itoa(os.Getpid())+"-"+randomHex(4))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cgroups are not writable here: %v", err)
	}
	cg := &memoryCgroup{dir: dir, version: version}
	t.Cleanup(func() {
		// A cgroup goes once its processes have; its last one may take a
		// moment to be gone.
		for range 50 {
			if err := os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("could not remove the test's cgroup %s", dir)
	})
	limitFile := "memory.limit_in_bytes"
	if version == 2 {
		limitFile = "memory.max"
	}
	if err := os.WriteFile(filepath.Join(dir, limitFile), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
		t.Skipf("cannot limit the memory of a cgroup here (cgroup v%d, %s): %v", version, limitFile, err)
	}
	if version == 1 {
		// Where swap is accounted, memory and swap together get the same
		// limit: the process may not escape to swap.
		_ = os.WriteFile(filepath.Join(dir, "memory.memsw.limit_in_bytes"), []byte(strconv.FormatInt(limit, 10)), 0o644)
	} else {
		_ = os.WriteFile(filepath.Join(dir, "memory.swap.max"), []byte("0"), 0o644)
	}
	return cg
}

func (cg *memoryCgroup) read(name string) string {
	b, _ := os.ReadFile(filepath.Join(cg.dir, name))
	return strings.TrimSpace(string(b))
}

// ooms is how many processes of the cgroup the kernel killed for memory.
func (cg *memoryCgroup) ooms() int {
	file, field := "memory.oom_control", "oom_kill"
	if cg.version == 2 {
		file = "memory.events"
	}
	for _, line := range strings.Split(cg.read(file), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == field {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// usage is the memory the cgroup holds now.
func (cg *memoryCgroup) usage() string {
	if cg.version == 2 {
		return cg.read("memory.current")
	}
	return cg.read("memory.usage_in_bytes")
}

// peak is the most memory the cgroup held, where the kernel says.
func (cg *memoryCgroup) peak() string {
	if cg.version == 2 {
		return cg.read("memory.peak")
	}
	return cg.read("memory.max_usage_in_bytes")
}

// processState is the state letter of a process in /proc/PID/stat (R, S,
// Z for one that ended and was not waited for…), "" when there is none.
func processState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// pid (comm) state ...; comm may hold spaces and parentheses.
	rest := string(b[bytes.LastIndexByte(b, ')')+1:])
	if f := strings.Fields(rest); len(f) > 0 {
		return f[0]
	}
	return ""
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// serveIn starts `switchboard serve` inside cg, from its first
// instruction (a shell moves itself into the cgroup, then becomes the
// server), and waits until it listens; it skips t if the process may not
// join the cgroup. The server's log lines are kept.
func serveIn(t *testing.T, cg *memoryCgroup, dataDir string, env ...string) (*process, *lockedLines) {
	t.Helper()
	const cannotJoin = 97
	cmd := exec.Command("/bin/sh", "-c", `echo $$ > "$1" || exit `+strconv.Itoa(cannotJoin)+`; shift; exec "$@"`, "sh",
		filepath.Join(cg.dir, "cgroup.procs"), binary, "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "SWITCHBOARD_METRICS_ADDR=127.0.0.1:0"}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd}
	logs := &lockedLines{}
	addr := make(chan string, 1)
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			logs.add(sc.Text())
			if m := listenLog.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	select {
	case a := <-addr:
		p.base = "http://" + a
	case <-exited:
		if cmd.ProcessState.ExitCode() == cannotJoin {
			t.Skipf("a process may not join a cgroup here:\n%s", logs)
		}
		t.Fatalf("serve ended before it listened (%v):\n%s", cmd.ProcessState, logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not listen within a minute:\n%s", logs)
	}
	return p, logs
}

// lockedLines are log lines, kept as a process writes them.
type lockedLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *lockedLines) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
}

// with returns the lines that contain substr.
func (l *lockedLines) with(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.lines {
		if strings.Contains(s, substr) {
			out = append(out, s)
		}
	}
	return out
}

func (l *lockedLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// burstSubscription makes each event a few KiB for every subscriber, as a
// client selecting much would: the same conversation under many aliases
// (all of it from the event and the references loaded once for it).
var burstSubscription = func() string {
	var b strings.Builder
	b.WriteString("subscription { queueChanged(status: NEW) { kind ")
	for i := range 6 {
		fmt.Fprintf(&b, "c%d: conversation { id version status ownershipLabel waitingSince updatedAt owner { id name email presence } contact { name externalId } channel { id name } } ", i)
	}
	b.WriteString("} }")
	return b.String()
}()

// subscriberEnd is how one socket ended, if it did: refused at the upgrade
// (its HTTP status and Retry-After), or closed after (its close code and
// reason, or no close frame).
type subscriberEnd struct {
	status     int
	retryAfter string
	code       websocket.StatusCode
	reason     string
	err        error
}

func (e subscriberEnd) String() string {
	switch {
	case e.status != 0:
		return fmt.Sprintf("HTTP %d, Retry-After %q", e.status, e.retryAfter)
	case e.err != nil:
		return "no close frame: " + e.err.Error()
	}
	return fmt.Sprintf("close %d %q", e.code, e.reason)
}

// TestUnderAMemoryLimitTheServerRefusesRatherThanDies runs a real server in
// a cgroup limited to 200 MiB, the container that was killed before: 2,000
// subscribers ask to connect, and a burst of events goes to every one the
// server took. The server must still be alive at the end, never having
// been killed by the kernel, and every socket it turned away or closed
// must have been told why: 503 with Retry-After at the upgrade, or 1013
// with its reason.
func TestUnderAMemoryLimitTheServerRefusesRatherThanDies(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2,000 sockets")
	}
	const (
		limit       = 200 << 20
		subscribers = 2000
		events      = 80
		writers     = 4
	)
	cg := newMemoryCgroup(t, limit)
	secret := strings.Repeat("m", 32)
	srv, logs := serveIn(t, cg, t.TempDir(), "SWITCHBOARD_JWT_SECRET="+secret, "SWITCHBOARD_LOG_LEVEL=debug")
	if got := logs.with("WebSocket budget from the memory limit"); len(got) != 1 || !strings.Contains(got[0], "memory_limit_mib=200") {
		t.Fatalf("the budget at start-up:\n%s", logs)
	}
	if len(logs.with("Go soft memory limit set from the cgroup's")) != 1 {
		t.Fatalf("no soft limit set:\n%s", logs)
	}
	maxSockets, _ := strconv.Atoi(regexp.MustCompile(`max_sockets=(\d+)`).FindStringSubmatch(logs.with("WebSocket budget from")[0])[1])
	t.Logf("budget: %d sockets (cgroup v%d)", maxSockets, cg.version)

	ctx := context.Background()
	token := func(sub, role string) string {
		tok, err := server.MintHS256([]byte(secret), server.TokenRequest{
			Subject: sub, WorkspaceID: "memtest", Role: role, Name: sub, Email: sub + "@example.com", TTL: time.Hour,
		}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	admin := token("ada", "admin")
	// alive fails t if the server is gone, saying whether the kernel
	// killed it.
	alive := func() {
		t.Helper()
		if state := processState(srv.cmd.Process.Pid); state == "" || state == "Z" {
			t.Fatalf("the server is gone (state %q); the kernel killed %d processes of the cgroup for memory\n%s", state, cg.ooms(), logs)
		}
		if n := cg.ooms(); n != 0 {
			t.Fatalf("the kernel killed %d processes of the cgroup for memory\n%s", n, logs)
		}
	}
	post := func(tok, query string, vars map[string]any) (map[string]any, error) {
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		req, _ := http.NewRequest(http.MethodPost, srv.base+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out struct {
			Data   map[string]any
			Errors []any
		}
		if json.Unmarshal(raw, &out) != nil || resp.StatusCode != 200 || out.Errors != nil {
			return nil, fmt.Errorf("%.80s: HTTP %d %s", query, resp.StatusCode, raw)
		}
		return out.Data, nil
	}
	do := func(tok, query string, vars map[string]any) map[string]any {
		t.Helper()
		data, err := post(tok, query, vars)
		if err != nil {
			alive()
			t.Fatal(err)
		}
		return data
	}
	ch := do(admin, `mutation { createChannel(input: {name: "Load"}) { channel { id } } }`, nil)["createChannel"].(map[string]any)["channel"].(map[string]any)["id"]
	conv := do(token("mail", "integration"), `mutation($ch: ID!) { ingestInbound(input: {channelId: $ch, contactExternalId: "maria", contactName: "Maria", externalMessageId: "m1", text: "hi"}) { conversationId } }`,
		map[string]any{"ch": ch})["ingestInbound"].(map[string]any)["conversationId"]

	// The subscribers, each an agent of its own, sixteen connecting at once.
	wsURL := "ws" + strings.TrimPrefix(srv.base, "http") + "/graphql"
	var (
		mu       sync.Mutex
		ends     = make([]*subscriberEnd, subscribers)
		received = make([]atomic.Int64, subscribers)
		readers  sync.WaitGroup
		conns    []*websocket.Conn
	)
	end := func(i int, e subscriberEnd) {
		mu.Lock()
		defer mu.Unlock()
		if ends[i] == nil {
			ends[i] = &e
		}
	}
	connect := func(i int) error {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(dctx, wsURL, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			if resp == nil {
				return fmt.Errorf("subscriber %d: %w", i, err)
			}
			end(i, subscriberEnd{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")})
			return nil
		}
		c.SetReadLimit(4 << 20)
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		tok := token(fmt.Sprintf("agent-%04d", i), "agent")
		for _, m := range []string{
			`{"type":"connection_init","payload":{"token":"` + tok + `"}}`,
			`{"id":"q","type":"subscribe","payload":{"query":` + strconv.Quote(burstSubscription) + `}}`,
			`{"type":"ping"}`,
		} {
			if err := c.Write(dctx, websocket.MessageText, []byte(m)); err != nil {
				return fmt.Errorf("subscriber %d: %w", i, err)
			}
		}
		// Read from now on (pongs to the server's pings go out only while
		// a socket is read); the first pong says it is subscribed.
		subscribed := make(chan error, 1)
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				_, b, err := c.Read(ctx)
				if err != nil {
					var ce websocket.CloseError
					if errors.As(err, &ce) {
						end(i, subscriberEnd{code: ce.Code, reason: ce.Reason})
					} else {
						end(i, subscriberEnd{err: err})
					}
					select {
					case subscribed <- fmt.Errorf("ended before it was subscribed: %v", err):
					default:
					}
					return
				}
				switch {
				case bytes.HasPrefix(b, []byte(`{"id":"q","type":"next"`)):
					received[i].Add(1)
				case bytes.Contains(b, []byte(`"pong"`)):
					select {
					case subscribed <- nil:
					default:
					}
				case !bytes.Contains(b, []byte(`"connection_ack"`)):
					end(i, subscriberEnd{err: fmt.Errorf("unexpected message %.200s", b)})
				}
			}
		}()
		select {
		case err := <-subscribed:
			if err != nil {
				mu.Lock()
				defer mu.Unlock()
				if e := ends[i]; e != nil && e.code == websocket.StatusTryAgainLater {
					return nil // told why
				}
				return fmt.Errorf("subscriber %d: %v", i, err)
			}
			return nil
		case <-dctx.Done():
			return fmt.Errorf("subscriber %d: not subscribed within 30 s", i)
		}
	}
	start := time.Now()
	sem := make(chan struct{}, 16)
	errs := make(chan error, subscribers)
	var opening sync.WaitGroup
	for i := range subscribers {
		sem <- struct{}{}
		opening.Add(1)
		go func() {
			defer opening.Done()
			defer func() { <-sem }()
			if err := connect(i); err != nil {
				errs <- err
			}
		}()
	}
	opening.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.CloseNow()
		}
		readers.Wait()
	})
	admitted := len(conns)
	t.Logf("%d of %d sockets admitted in %s; the cgroup holds %s bytes", admitted, subscribers, time.Since(start).Round(time.Millisecond), cg.usage())
	if admitted == 0 || admitted > maxSockets {
		t.Fatalf("%d sockets admitted, the budget is %d", admitted, maxSockets)
	}

	// The burst: the conversation changes owner again and again, from
	// four writers at once, each change an event for every subscriber.
	start = time.Now()
	var (
		next      atomic.Int64
		writing   sync.WaitGroup
		writeErrs = make(chan error, writers)
	)
	for range writers {
		writing.Add(1)
		go func() {
			defer writing.Done()
			for k := next.Add(1); k <= events; k = next.Add(1) {
				_, err := post(admin, `mutation($id: ID!, $o: ID) { setOwner(input: {conversationId: $id, ownerId: $o}) { conversation { version } } }`,
					map[string]any{"id": conv, "o": fmt.Sprintf("agent-%04d", k%int64(admitted))})
				if err != nil {
					writeErrs <- err
					return
				}
			}
		}()
	}
	writing.Wait()
	close(writeErrs)
	if err := <-writeErrs; err != nil {
		alive()
		t.Fatalf("a writer: %v", err)
	}
	version := int64(do(admin, `query($id: ID!) { conversation(id: $id) { version } }`, map[string]any{"id": conv})["conversation"].(map[string]any)["version"].(float64))
	want := version - 1 // the creation came before the subscriptions
	// Every socket still open gets every event.
	deadline := time.Now().Add(90 * time.Second)
	for {
		behind := 0
		mu.Lock()
		for i := range subscribers {
			if ends[i] == nil && received[i].Load() < want {
				behind++
			}
		}
		mu.Unlock()
		if behind == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d open sockets still lack events after 90 s", behind)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("burst of %d events delivered in %s", want, time.Since(start).Round(time.Millisecond))

	// Alive, never killed, answering.
	alive()
	if resp, err := http.Get(srv.base + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	t.Logf("the cgroup's peak: %s bytes of %d; failcnt %s", cg.peak(), int64(limit), cg.read("memory.failcnt"))

	// Every socket turned away or closed was told why.
	counts := map[string]int{}
	mu.Lock()
	for i, e := range ends {
		switch {
		case e == nil:
			counts["open, every event received"]++
		case e.status == http.StatusServiceUnavailable && e.retryAfter != "":
			counts[e.String()]++
		case e.status == 0 && e.err == nil && e.code == websocket.StatusTryAgainLater && e.reason != "":
			counts[e.String()]++
		default:
			t.Errorf("subscriber %d: %s", i, e)
		}
	}
	mu.Unlock()
	t.Logf("how the %d sockets ended: %v", subscribers, counts)
	if counts["HTTP 503, Retry-After \"5\""] != subscribers-admitted {
		t.Errorf("%d refused at the upgrade, want %d", counts["HTTP 503, Retry-After \"5\""], subscribers-admitted)
	}
	if got := logs.with("refusing new sockets"); len(got) != 1 {
		t.Errorf("the refusing was logged %d times:\n%s", len(got), strings.Join(got, "\n"))
	}
	for _, l := range logs.with("level=WARN") {
		t.Log(l)
	}
	if t.Failed() {
		// How the server saw the sockets that ended (debug lines).
		for _, l := range logs.with("websocket") {
			t.Log(l)
		}
	}
}
