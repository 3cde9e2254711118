package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	binenc "encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The store's file names, as the server writes them in its data dir.
const (
	dbFile       = "switchboard.db"
	lockFile     = "switchboard.lock"
	heldDataFile = "switchboard.has-data"
)

var testSecret = "SWITCHBOARD_JWT_SECRET=" + strings.Repeat("s", 32)

// mint returns a token of the test secret.
func mint(t *testing.T, sub, role string) string {
	t.Helper()
	out, stderr, code := runCommand(t, []string{"token", "--sub", sub, "--workspace", "acme", "--role", role, "--name", sub, "--ttl", "1h"}, testSecret)
	if code != 0 {
		t.Fatalf("token: %s", stderr)
	}
	return strings.TrimSpace(out)
}

// must runs a query that must succeed and returns its data.
func (s *process) must(t *testing.T, token, query string) map[string]any {
	t.Helper()
	status, out := s.query(t, token, query)
	if status != 200 || out["errors"] != nil {
		t.Fatalf("%s: HTTP %d %v", query, status, out)
	}
	return out["data"].(map[string]any)
}

// stop sends SIGTERM and waits for the process to exit, returning how long
// it took and its exit status.
func (s *process) stop(t *testing.T) (time.Duration, int) {
	t.Helper()
	start := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return time.Since(start), code
	case <-time.After(60 * time.Second):
		t.Fatal("no exit within a minute of SIGTERM")
		return 0, 0
	}
}

// channelAndIngest creates a channel and returns a function that ingests a
// message from a new contact on it, returning the conversation and
// message ids.
func channelAndIngest(t *testing.T, s *process) func(contact, text string) (conv, msg string, ok bool) {
	t.Helper()
	admin, integration := mint(t, "ada", "admin"), mint(t, "mail", "integration")
	ch := s.must(t, admin, `mutation { createChannel(input: {name: "Email"}) { channel { id } } }`)["createChannel"].(map[string]any)["channel"].(map[string]any)["id"].(string)
	return func(contact, text string) (string, string, bool) {
		status, out := s.query(t, integration, fmt.Sprintf(
			`mutation { ingestInbound(input: {channelId: %q, contactExternalId: %q, externalMessageId: %q, text: %q}) { conversationId messageId } }`,
			ch, contact, contact, text))
		if status != 200 || out["errors"] != nil {
			return "", "", false
		}
		p := out["data"].(map[string]any)["ingestInbound"].(map[string]any)
		return p["conversationId"].(string), p["messageId"].(string), true
	}
}

// usedDataDir returns a data dir that a server filled through the API
// with a few hundred messages and left after SIGTERM.
func usedDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s := startServe(t, dir, testSecret)
	ingest := channelAndIngest(t, s)
	text := strings.Repeat("Where is my order? It was due on Monday. ", 12)
	for i := range 300 {
		if _, _, ok := ingest(fmt.Sprintf("customer-%d", i), text); !ok {
			t.Fatalf("ingest %d failed", i)
		}
	}
	if _, code := s.stop(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, s.stderr)
	}
	return dir
}

// copyDataDir copies the files of a data dir into a new one.
func copyDataDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// refusedStart runs serve on dataDir (args added, through wrap if set)
// and returns its stderr, exit status and how long it took; it fails if
// the server ever listened.
func refusedStart(t *testing.T, dataDir string, wrap []string, args ...string) (string, int, time.Duration) {
	t.Helper()
	argv := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, args...)
	cmd := command(argv, testSecret)
	if wrap != nil {
		cmd = exec.Command(wrap[0], append(append(wrap[1:], binary), argv...)...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), testSecret}
	}
	stderr := &logSink{}
	cmd.Stderr = stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var err error
	select {
	case err = <-exited:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("still running 30 s after it started, not refused:\n%s", stderr)
	}
	took := time.Since(start)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr.String(), "switchboard listening") {
		t.Errorf("the refused server listened:\n%s", stderr.String())
	}
	return stderr.String(), code, took
}

// overwritePages overwrites n pages in the middle of a database file with
// random bytes.
func overwritePages(t *testing.T, path string, n int) {
	t.Helper()
	const pageSize = 4096
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	pages := st.Size() / pageSize
	if pages < int64(3*n) {
		t.Fatalf("%s has %d pages; too few to damage %d in the middle", path, pages, n)
	}
	garbage := make([]byte, n*pageSize)
	_, _ = rand.Read(garbage)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(garbage, (pages/2)*pageSize); err != nil {
		t.Fatal(err)
	}
}

// chattr sets or clears the immutable flag of path (as root, whom no file
// mode stops), and clears it when the test ends.
func chattr(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the immutable flag needs root; as another user, file modes already stop the server")
	}
	if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
		t.Skipf("chattr +i %s: %v %s", path, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("chattr", "-i", path).CombinedOutput(); err != nil {
			t.Errorf("chattr -i %s: %v %s", path, err, out)
		}
	})
}

// TestServeRefusesADamagedStore: each store the server cannot trust is
// refused at start-up with a message that says what to do, before it
// listens (so /readyz is never green for it), and the fresh-start flag
// starts an emptied one on purpose.
func TestServeRefusesADamagedStore(t *testing.T) {
	used := usedDataDir(t)

	t.Run("8 pages overwritten mid-file", func(t *testing.T) {
		dir := copyDataDir(t, used)
		overwritePages(t, filepath.Join(dir, dbFile), 8)
		stderr, code, took := refusedStart(t, dir, nil)
		if code != 1 || !strings.Contains(stderr, "the store is damaged") || !strings.Contains(stderr, "quick_check") ||
			!strings.Contains(stderr, "switchboard restore BACKUP_FILE --data-dir "+dir) {
			t.Fatalf("exit %d after %v:\n%s", code, took, stderr)
		}
		t.Logf("refused in %v:\n%s", took.Round(time.Millisecond), stderr)
		if _, stderr, code := runCommand(t, []string{"check", "--data-dir", dir}); code != 1 || !strings.Contains(stderr, "the store is damaged") {
			t.Errorf("check of the damaged store: exit %d %s", code, stderr)
		}
	})

	t.Run("truncated to 0 bytes in a dir that held data, then a fresh start on purpose", func(t *testing.T) {
		dir := copyDataDir(t, used)
		if err := os.Truncate(filepath.Join(dir, dbFile), 0); err != nil {
			t.Fatal(err)
		}
		stderr, code, took := refusedStart(t, dir, nil)
		if code != 1 || !strings.Contains(stderr, "is empty (0 bytes)") || !strings.Contains(stderr, "switchboard restore BACKUP_FILE") ||
			!strings.Contains(stderr, "--fresh-store") {
			t.Fatalf("exit %d after %v:\n%s", code, took, stderr)
		}
		t.Logf("refused in %v:\n%s", took.Round(time.Millisecond), stderr)

		s := startServe(t, dir, testSecret, "SWITCHBOARD_FRESH_STORE=true")
		resp, err := http.Get(s.base + "/readyz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("readyz after a fresh start: %v %v", resp, err)
		}
		resp.Body.Close()
		admin := mint(t, "ada", "admin")
		if n := s.must(t, admin, `{ queue(status: NEW) { totalCount } }`)["queue"].(map[string]any)["totalCount"].(float64); n != 0 {
			t.Errorf("the fresh store holds %v conversations", n)
		}
		if _, code := s.stop(t); code != 0 {
			t.Fatalf("SIGTERM: exit %d", code)
		}
		if !strings.Contains(s.stderr.String(), "started an empty store on purpose") {
			t.Errorf("no warning of the fresh start:\n%s", s.stderr)
		}
	})

	for _, tc := range []struct {
		name string
		prep func(t *testing.T, dir string) []string // returns a wrapper command, if any
	}{
		{"the store file immutable (chattr +i)", func(t *testing.T, dir string) []string {
			chattr(t, filepath.Join(dir, dbFile))
			return nil
		}},
		{"the data dir immutable (chattr +i)", func(t *testing.T, dir string) []string {
			chattr(t, dir)
			return nil
		}},
		{"the data dir on a read-only bind mount", func(t *testing.T, dir string) []string {
			if os.Geteuid() != 0 {
				t.Skip("bind mounts need root")
			}
			// In a mount namespace of the server's own, so the mount
			// never outlives it.
			wrap := []string{"unshare", "--mount", "--propagation", "private", "sh", "-c",
				`mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"`, dir}
			if out, err := exec.Command(wrap[0], append(wrap[1:], "true")...).CombinedOutput(); err != nil {
				t.Skipf("no read-only bind mount here: %v %s", err, out)
			}
			return wrap
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDataDir(t, used)
			wrap := tc.prep(t, dir)
			stderr, code, took := refusedStart(t, dir, wrap)
			if code != 1 || !strings.Contains(stderr, "the store cannot be written") || !strings.Contains(stderr, "lsattr") {
				t.Fatalf("exit %d after %v:\n%s", code, took, stderr)
			}
			if took > 2*time.Second {
				t.Errorf("refused after %v", took)
			}
			t.Logf("refused in %v:\n%s", took.Round(time.Millisecond), stderr)
		})
	}
}

// TestASecondServerIsRefusedAfterTheLockFileIsDeleted: the lock is on the
// data dir itself, so deleting the files beside the store lets no second
// server in.
func TestASecondServerIsRefusedAfterTheLockFileIsDeleted(t *testing.T) {
	dir := t.TempDir()
	first := startServe(t, dir, testSecret)
	for _, name := range []string{lockFile, heldDataFile} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	stderr, code, took := refusedStart(t, dir, nil)
	if code != 1 || !strings.Contains(stderr, "another switchboard server holds the data dir") {
		t.Fatalf("second server: exit %d after %v:\n%s", code, took, stderr)
	}
	t.Logf("refused in %v: %s", took.Round(time.Millisecond), stderr)
	resp, err := http.Get(first.base + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the first server after the refusal: %v %v", resp, err)
	}
	resp.Body.Close()
}

// slowSocket opens a graphql-transport-ws socket that subscribes to the
// NEW queue and then never reads another byte.
func slowSocket(t *testing.T, base, token string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var key [16]byte
	_, _ = rand.Read(key[:])
	fmt.Fprintf(c, "GET /graphql HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\nAuthorization: Bearer %s\r\n\r\n",
		strings.TrimPrefix(base, "http://"), base64.StdEncoding.EncodeToString(key[:]), token)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	for _, m := range []any{
		map[string]any{"type": "connection_init"},
		map[string]any{"id": "q", "type": "subscribe", "payload": map[string]any{
			"query": "subscription { queueChanged(status: NEW) { kind conversation { id } } }"}},
	} {
		b, _ := json.Marshal(m)
		if _, err := c.Write(clientFrame(b)); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// clientFrame is a masked WebSocket text frame, as clients send.
func clientFrame(payload []byte) []byte {
	f := []byte{0x81}
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n <= math.MaxUint16:
		f = append(f, 0x80|126)
		f = binenc.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, 0x80|127)
		f = binenc.BigEndian.AppendUint64(f, uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	f = append(f, mask[:]...)
	for i, b := range payload {
		f = append(f, b^mask[i%4])
	}
	return f
}

// TestSIGTERMWithSlowClientsExitsWithinTheDrain: three subscribers that
// never read hold the drain up only until --drain-timeout; then they are
// cut, the log says so, and the server exits 0.
func TestSIGTERMWithSlowClientsExitsWithinTheDrain(t *testing.T) {
	const drain = 2 * time.Second
	s := startServe(t, t.TempDir(), testSecret, "SWITCHBOARD_DRAIN_TIMEOUT="+drain.String())
	ingest := channelAndIngest(t, s)
	agent := mint(t, "ben", "agent")
	for range 3 {
		slowSocket(t, s.base, agent)
	}
	// Events for them to not read.
	for i := range 50 {
		if _, _, ok := ingest(fmt.Sprintf("c-%d", i), "hello"); !ok {
			t.Fatal("ingest failed")
		}
	}
	took, code := s.stop(t)
	if code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, s.stderr)
	}
	if took > drain+1500*time.Millisecond {
		t.Errorf("exited %v after SIGTERM; the drain is %v", took, drain)
	}
	if !strings.Contains(s.stderr.String(), "websockets_cut=3") {
		t.Errorf("the log does not say that 3 WebSockets were cut:\n%s", s.stderr)
	}
	t.Logf("exited 0 %v after SIGTERM; its log:\n%s", took.Round(time.Millisecond), s.stderr)
}

// TestABackupUnderWriteLoadRestoresEveryAcknowledgedWrite: a backup taken
// while writers keep writing holds every write acknowledged before it
// began; restored into a new data dir, a server serves them all.
func TestABackupUnderWriteLoadRestoresEveryAcknowledgedWrite(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, dir, testSecret)
	ingest := channelAndIngest(t, s)

	type ack struct {
		conv, msg string
		at        time.Time
	}
	var (
		mu   sync.Mutex
		acks []ack
		stop = make(chan struct{})
		wg   sync.WaitGroup
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				conv, msg, ok := ingest(fmt.Sprintf("w%d-%d", w, i), "a message that must survive")
				if ok {
					mu.Lock()
					acks = append(acks, ack{conv, msg, time.Now()})
					mu.Unlock()
				}
			}
		}()
	}
	acked := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acks)
	}
	eventually(t, "100 writes acknowledged", func() bool { return acked() >= 100 })
	backup := filepath.Join(t.TempDir(), "switchboard-backup.db")
	began := time.Now()
	out, stderr, code := runCommand(t, []string{"backup", backup, "--data-dir", dir})
	// Writes go on after it, too.
	n := acked()
	eventually(t, "writes acknowledged after the backup", func() bool { return acked() >= n+20 })
	close(stop)
	wg.Wait()
	if code != 0 {
		t.Fatalf("backup: exit %d %s %s", code, out, stderr)
	}
	t.Logf("backup: %s", strings.TrimSpace(out))
	var before []ack
	after := 0
	for _, a := range acks {
		if a.at.Before(began) {
			before = append(before, a)
		} else {
			after++
		}
	}
	if len(before) < 100 || after == 0 {
		t.Fatalf("%d writes acknowledged before the backup began and %d after: not a backup under load", len(before), after)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	out, stderr, code = runCommand(t, []string{"restore", backup, "--data-dir", restored})
	if code != 0 {
		t.Fatalf("restore: exit %d %s %s", code, out, stderr)
	}
	r := startServe(t, restored, testSecret)
	admin := mint(t, "ada", "admin")
	const batch = 40
	for lo := 0; lo < len(before); lo += batch {
		var q strings.Builder
		q.WriteString("{")
		chunk := before[lo:min(lo+batch, len(before))]
		for i, a := range chunk {
			fmt.Fprintf(&q, " c%d: conversation(id: %q) { messages(first: 1) { edges { node { id } } } }", i, a.conv)
		}
		q.WriteString(" }")
		data := r.must(t, admin, q.String())
		for i, a := range chunk {
			c, _ := data[fmt.Sprintf("c%d", i)].(map[string]any)
			if c == nil {
				t.Errorf("conversation %s, acknowledged before the backup began, is not in the restored store", a.conv)
				continue
			}
			edges := c["messages"].(map[string]any)["edges"].([]any)
			if len(edges) != 1 || edges[0].(map[string]any)["node"].(map[string]any)["id"] != a.msg {
				t.Errorf("conversation %s lost its message %s: %v", a.conv, a.msg, edges)
			}
		}
	}
	t.Logf("all %d writes acknowledged before the backup began are served from the restored store (%d more came after it)", len(before), after)

	// The served store checks out whole, beside the server.
	if out, stderr, code := runCommand(t, []string{"check", "--data-dir", dir}); code != 0 || !strings.Contains(out, "quick_check ok") {
		t.Errorf("check beside the server: exit %d %s %s", code, out, stderr)
	}
	// Restoring into the data dir of a running server is refused.
	if _, stderr, code := runCommand(t, []string{"restore", backup, "--data-dir", dir}); code != 1 || !strings.Contains(stderr, "stop it first") {
		t.Errorf("restore under a running server: exit %d %s", code, stderr)
	}
}

// The commands of the SQLite store's files refuse a MongoDB store, saying
// how it is backed up instead.
func TestBackupOfAMongoDBStoreSaysWhereToLook(t *testing.T) {
	for _, args := range [][]string{{"backup", "x.db"}, {"restore", "x.db"}, {"check"}} {
		_, stderr, code := runCommand(t, append(args, "--mongodb-uri", "mongodb://127.0.0.1:1/"))
		if code != 2 || !strings.Contains(stderr, "mongodump") {
			t.Errorf("%v: exit %d %s", args, code, stderr)
		}
	}
}

// TestAKilledServersDamagedLogIsRefusedNotTruncated: a server killed with
// a write-ahead log that is then damaged in the middle is refused when
// started again, instead of serving without the writes after the damage;
// the refusal's own recipe keeps what precedes it.
func TestAKilledServersDamagedLogIsRefusedNotTruncated(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, dir, testSecret)
	ingest := channelAndIngest(t, s)
	for i := range 100 {
		if _, _, ok := ingest(fmt.Sprintf("c-%d", i), "hello"); !ok {
			t.Fatal("ingest failed")
		}
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
	// The log's current frames are those from its start that carry its
	// header's salts; after them may lie older frames of a log the
	// server restarted after a checkpoint, which SQLite never replays.
	wal := filepath.Join(dir, dbFile+"-wal")
	b, err := os.ReadFile(wal)
	if err != nil {
		t.Fatal(err)
	}
	const frame = 24 + 4096
	current := 0
	for off := 32; off+frame <= len(b) && bytes.Equal(b[off+8:off+16], b[16:24]); off += frame {
		current++
	}
	if current < 20 {
		t.Fatalf("the log holds %d current frames; too few to damage one in the middle", current)
	}
	copy(b[32+(current/2)*frame+24+100:], "damage")
	if err := os.WriteFile(wal, b, 0o600); err != nil {
		t.Fatal(err)
	}

	stderr, code, took := refusedStart(t, dir, nil)
	if code != 1 || !strings.Contains(stderr, "write-ahead log") || !strings.Contains(stderr, "switchboard backup BEFORE_DAMAGE.db") {
		t.Fatalf("exit %d after %v:\n%s", code, took, stderr)
	}
	t.Logf("refused in %v:\n%s", took.Round(time.Millisecond), stderr)

	kept := filepath.Join(t.TempDir(), "before-damage.db")
	for _, args := range [][]string{{"backup", kept, "--data-dir", dir}, {"restore", kept, "--data-dir", dir}} {
		if out, stderr, code := runCommand(t, args); code != 0 {
			t.Fatalf("%v: exit %d %s %s", args, code, out, stderr)
		} else {
			t.Logf("%s: %s", args[0], out)
		}
	}
	r := startServe(t, dir, testSecret)
	n := r.must(t, mint(t, "ada", "admin"), `{ queue(status: NEW) { totalCount } }`)["queue"].(map[string]any)["totalCount"].(float64)
	if n == 0 || n >= 100 {
		t.Errorf("%v conversations after keeping what precedes the damage; want some, not all 100", n)
	}
	t.Logf("%v of 100 conversations kept", n)
}
