package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the switchboard command built once for these tests: they run it
// as a real process.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "switchboard-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "switchboard")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic("building switchboard: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// command runs switchboard with args and a clean environment plus env.
func command(args []string, env ...string) *exec.Cmd {
	cmd := exec.Command(binary, args...)
	// Servers started side by side must not share the metrics port.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "SWITCHBOARD_METRICS_ADDR=127.0.0.1:0"}, env...)
	return cmd
}

func runCommand(t *testing.T, args []string, env ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := command(args, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestEachCommandsHelpSaysWhatItDoesAndListsItsFlags(t *testing.T) {
	for cmd, own := range map[string][]string{
		"serve": nil, "dev": nil, "migrate": nil, "token": {"--sub", "--workspace", "--role", "--ttl"},
		"backup": nil, "restore": nil, "check": nil, "healthcheck": nil,
	} {
		out, _, code := runCommand(t, []string{cmd, "--help"})
		if code != 0 || !strings.HasPrefix(out, "Usage: switchboard "+cmd) || commandPurpose[cmd] == "" || !strings.Contains(out, commandPurpose[cmd]) {
			t.Errorf("%s --help: exit %d\n%s", cmd, code, out)
		}
		var c config
		for _, s := range c.settings() {
			own = append(own, "--"+s.flag)
		}
		for _, flag := range own {
			if !strings.Contains(out, flag) {
				t.Errorf("%s --help does not list %s", cmd, flag)
			}
		}
	}
}

func TestHelpListsCommandsAndEverySetting(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}} {
		out, _, code := runCommand(t, args)
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		var c config
		for _, want := range []string{"serve", "dev", "token", "migrate", "backup", "restore", "check", "healthcheck"} {
			if !regexp.MustCompile(`switchboard \[?` + want + `\b`).MatchString(out) {
				t.Errorf("%v: help does not list %s", args, want)
			}
		}
		for _, s := range c.settings() {
			if !strings.Contains(out, s.env) || !strings.Contains(out, "--"+s.flag) {
				t.Errorf("%v: help does not list %s / --%s", args, s.env, s.flag)
			}
		}
	}
}

func TestServeWithoutAKeyRefusesAndSaysHowToFixIt(t *testing.T) {
	_, stderr, code := runCommand(t, []string{"serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0"})
	if code != 2 || !strings.Contains(stderr, "SWITCHBOARD_JWT_SECRET") || !strings.Contains(stderr, "switchboard dev") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestUnknownCommandAndFlagAreUsageErrors(t *testing.T) {
	if _, _, code := runCommand(t, []string{"frobnicate"}); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
	if _, _, code := runCommand(t, []string{"serve", "--no-such-flag"}); code != 2 {
		t.Errorf("unknown flag: exit %d", code)
	}
}

// process is a running switchboard server.
type process struct {
	cmd    *exec.Cmd
	base   string
	banner string
	stderr *logSink
}

// logSink keeps what a process writes to its stderr, for the test to read
// while it runs, and reports the address it logs that it listens on.
type logSink struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	listen chan string // the address, once; nil: not looked for
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if l.listen != nil {
		if m := listenLog.FindSubmatch(l.buf.Bytes()); m != nil {
			l.listen <- string(m[1])
			l.listen = nil
		}
	}
	return len(p), nil
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

var listening = regexp.MustCompile(`on (http://127\.0\.0\.1:\d+)`)

// startDev starts `switchboard dev` on port 0 in dataDir and waits for its
// banner.
func startDev(t *testing.T, dataDir string) *process {
	t.Helper()
	cmd := command([]string{"dev", "--addr", "127.0.0.1:0", "--data-dir", dataDir})
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &process{cmd: cmd, stderr: &logSink{}}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var banner strings.Builder
	deadline := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("dev exited before it was ready:\n%s\n%s", banner.String(), s.stderr)
			}
			banner.WriteString(line + "\n")
			if m := listening.FindStringSubmatch(line); m != nil {
				s.base = m[1]
			}
			if strings.HasPrefix(strings.TrimSpace(line), "-d '") {
				s.banner = banner.String()
				go func() {
					for range lines {
					}
				}()
				return s
			}
		case <-deadline:
			t.Fatalf("no banner within a minute:\n%s\n%s", banner.String(), s.stderr)
		}
	}
}

// tokenAfter returns the token printed on the line after label.
func (s *process) tokenAfter(t *testing.T, label string) string {
	t.Helper()
	lines := strings.Split(s.banner, "\n")
	for i, l := range lines {
		if strings.Contains(l, label) && i+1 < len(lines) {
			return strings.TrimSpace(lines[i+1])
		}
	}
	t.Fatalf("no %q in banner:\n%s", label, s.banner)
	return ""
}

func (s *process) query(t *testing.T, token, query string) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	req, _ := http.NewRequest(http.MethodPost, s.base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("not JSON: %s", raw)
	}
	return resp.StatusCode, out
}

func TestDevSeedsOnceServesTokensAndHoldsTheDataDir(t *testing.T) {
	dataDir := t.TempDir()
	s := startDev(t, dataDir)
	if !strings.Contains(s.banner, "seeded the demo workspace") || !strings.Contains(s.banner, s.base+"/playground") ||
		!strings.Contains(s.banner, "curl") || !strings.Contains(s.banner, "node connector.mjs") {
		t.Fatalf("banner:\n%s", s.banner)
	}
	ben := s.tokenAfter(t, "Ben Baker")
	status, out := s.query(t, ben, `{ me { id name } queue(status: NEW) { totalCount } pending: queue(status: PENDING) { totalCount } resolved: queue(status: RESOLVED) { totalCount } channels { name autoOwnershipAgents { id } } }`)
	data, _ := out["data"].(map[string]any)
	if status != 200 || data == nil {
		t.Fatalf("HTTP %d %v", status, out)
	}
	for _, q := range []string{"queue", "pending", "resolved"} {
		if n := data[q].(map[string]any)["totalCount"].(float64); n < 1 {
			t.Errorf("the demo workspace has no conversation in %s", q)
		}
	}
	if chs := data["channels"].([]any); len(chs) != 2 {
		t.Errorf("channels: %v", chs)
	}
	for _, path := range []string{"/healthz", "/readyz", "/playground"} {
		resp, err := http.Get(s.base + path)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("GET %s: %v %v", path, resp, err)
		} else {
			resp.Body.Close()
		}
	}

	// `token` signs with the dev secret while the server holds the data dir.
	tok, stderr, code := runCommand(t, []string{"token", "--data-dir", dataDir, "--sub", "zoe", "--workspace", "demo", "--role", "admin", "--name", "Zoe"})
	if code != 0 {
		t.Fatalf("token: exit %d %s", code, stderr)
	}
	if status, out := s.query(t, strings.TrimSpace(tok), `{ me { id role } }`); status != 200 || out["errors"] != nil {
		t.Fatalf("minted token refused: %d %v", status, out)
	}

	// A second server on the same data dir refuses to start.
	_, stderr, code = runCommand(t, []string{"dev", "--addr", "127.0.0.1:0", "--data-dir", dataDir})
	if code == 0 || !strings.Contains(stderr, "data dir") {
		t.Fatalf("second server: exit %d, %s", code, stderr)
	}

	// A killed server leaves no stale lock, and the demo is seeded only once.
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
	again := startDev(t, dataDir)
	if !strings.Contains(again.banner, "as you left it") {
		t.Fatalf("restart banner:\n%s", again.banner)
	}
	if status, out := again.query(t, again.tokenAfter(t, "Ada Admin"), `{ channels { id } }`); status != 200 || len(out["data"].(map[string]any)["channels"].([]any)) != 2 {
		t.Fatalf("after restart: %d %v", status, out)
	}

	// SIGTERM shuts down cleanly.
	again.cmd.Process.Signal(syscall.SIGTERM)
	if err := again.cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v\n%s", err, again.stderr)
	}
}

func TestDevRefusesANonLoopbackAddress(t *testing.T) {
	_, stderr, code := runCommand(t, []string{"dev", "--addr", "0.0.0.0:0", "--data-dir", t.TempDir()})
	if code != 2 || !strings.Contains(stderr, "loopback") {
		t.Fatalf("exit %d, %s", code, stderr)
	}
}

func TestTokenRefusesWithOnlyAPublicKeyOrNoSecret(t *testing.T) {
	_, stderr, code := runCommand(t, []string{"token", "--sub", "a", "--workspace", "w", "--data-dir", t.TempDir()},
		"SWITCHBOARD_JWT_PUBLIC_KEY_FILE=/nonexistent.pem")
	if code != 2 || !strings.Contains(stderr, "public key") {
		t.Fatalf("public key only: exit %d, %s", code, stderr)
	}
	_, stderr, code = runCommand(t, []string{"token", "--sub", "a", "--workspace", "w", "--data-dir", t.TempDir()})
	if code != 2 || !strings.Contains(stderr, "SWITCHBOARD_JWT_SECRET") {
		t.Fatalf("no secret: exit %d, %s", code, stderr)
	}
	out, _, code := runCommand(t, []string{"token", "--sub", "a", "--workspace", "w"}, "SWITCHBOARD_JWT_SECRET="+strings.Repeat("k", 32))
	if code != 0 || strings.Count(strings.TrimSpace(out), ".") != 2 {
		t.Fatalf("with a secret: exit %d, %q", code, out)
	}
}

func TestMigrateReportsTheStore(t *testing.T) {
	dataDir := t.TempDir()
	out, stderr, code := runCommand(t, []string{"migrate", "--data-dir", dataDir})
	if code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate: exit %d %q %q", code, out, stderr)
	}
}

// startServe starts `switchboard serve` on port 0 with env and waits until
// it listens.
func startServe(t *testing.T, dataDir string, env ...string) *process {
	t.Helper()
	cmd := command([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, env...)
	addr := make(chan string, 1)
	p := &process{cmd: cmd, stderr: &logSink{listen: addr}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	select {
	case a := <-addr:
		p.base = "http://" + a
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not listen within a minute:\n%s", p.stderr)
	}
	return p
}

var listenLog = regexp.MustCompile(`switchboard listening" addr=(127\.0\.0\.1:\d+)`)

// eventually polls check until it holds, for at most a generous ceiling: a
// restarted server's reconciler does the work within seconds.
func eventually(t *testing.T, what string, check func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !check() {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("%s: not within 30 s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// TestCrashDelaysAutomationButNeverLosesIt: a server killed after an agent
// went offline, and started again after the cleanup and a boomerang were
// due, does both once.
func TestCrashDelaysAutomationButNeverLosesIt(t *testing.T) {
	dataDir := t.TempDir()
	secret := strings.Repeat("c", 32)
	env := []string{"SWITCHBOARD_JWT_SECRET=" + secret}
	tok := func(sub, role string) string {
		out, stderr, code := runCommand(t, []string{"token", "--sub", sub, "--workspace", "crash", "--role", role, "--name", sub, "--ttl", "1h"}, env...)
		if code != 0 {
			t.Fatalf("token: %s", stderr)
		}
		return strings.TrimSpace(out)
	}
	admin, ben, integration := tok("ada", "admin"), tok("ben", "agent"), tok("mail", "integration")

	s := startServe(t, dataDir, env...)
	do := func(s *process, token, query string) map[string]any {
		t.Helper()
		status, out := s.query(t, token, query)
		if status != 200 || out["errors"] != nil {
			t.Fatalf("%s: HTTP %d %v", query, status, out)
		}
		return out["data"].(map[string]any)
	}
	do(s, admin, `mutation { updateSettings(input: {removeOwnershipOnLogout: true, logoutGraceSeconds: 2}) { settings { logoutGraceSeconds } } }`)
	ch := do(s, admin, `mutation { createChannel(input: {name: "Email"}) { channel { id } } }`)["createChannel"].(map[string]any)["channel"].(map[string]any)["id"].(string)
	inbound := func(contact string) string {
		d := do(s, integration, fmt.Sprintf(`mutation { ingestInbound(input: {channelId: %q, contactExternalId: %q, externalMessageId: %q, text: "hi"}) { conversationId } }`, ch, contact, contact))
		return d["ingestInbound"].(map[string]any)["conversationId"].(string)
	}
	newConv, pendingConv, boomerangConv := inbound("new"), inbound("pending"), inbound("boomerang")
	do(s, ben, `mutation { setPresence(presence: ONLINE) { agent { id } } }`)
	for _, id := range []string{newConv, pendingConv} {
		do(s, admin, fmt.Sprintf(`mutation { setOwner(input: {conversationId: %q, ownerId: "ben"}) { conversation { id } } }`, id))
	}
	do(s, admin, fmt.Sprintf(`mutation { moveToPending(input: {conversationId: %q}) { conversation { id } } }`, pendingConv))
	boomerangAt := time.Now().Add(3 * time.Second).UTC().Truncate(time.Millisecond)
	do(s, admin, fmt.Sprintf(`mutation { moveToPending(input: {conversationId: %q, boomerangAt: %q}) { conversation { id } } }`,
		boomerangConv, boomerangAt.Format(time.RFC3339Nano)))
	do(s, ben, `mutation { logout { agent { presence } } }`)
	loggedOut := time.Now()

	// Killed before anything is due.
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
	// Down until both are due: the wait is for the due time itself.
	time.Sleep(time.Until(boomerangAt.Add(200 * time.Millisecond)))
	if time.Since(loggedOut) < 2*time.Second {
		t.Fatal("the cleanup is not due yet")
	}

	s = startServe(t, dataDir, env...)
	conv := func(id string) map[string]any {
		d := do(s, admin, fmt.Sprintf(`{ conversation(id: %q) { status owner { id } history { edges { node { reason } } } } }`, id))
		return d["conversation"].(map[string]any)
	}
	took := eventually(t, "the NEW conversation is released", func() bool { return conv(newConv)["owner"] == nil })
	t.Logf("released %v after the restart", took)
	eventually(t, "the boomerang fires", func() bool { return conv(boomerangConv)["status"] == "NEW" })
	if o, ok := conv(pendingConv)["owner"].(map[string]any); !ok || o["id"] != "ben" {
		t.Fatalf("the PENDING conversation lost its owner: %v", conv(pendingConv))
	}
	cleanups := 0
	for _, e := range conv(newConv)["history"].(map[string]any)["edges"].([]any) {
		if e.(map[string]any)["node"].(map[string]any)["reason"] == "LOGOUT_CLEANUP" {
			cleanups++
		}
	}
	if cleanups != 1 {
		t.Fatalf("%d LOGOUT_CLEANUP entries, want 1", cleanups)
	}
}

// TestReadmeListsEverySetting keeps the README's settings table in step with
// the code.
func TestReadmeListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var c config
	for _, s := range c.settings() {
		if !strings.Contains(string(readme), "`"+s.env+"`") || !strings.Contains(string(readme), "`--"+s.flag+"`") {
			t.Errorf("README.md does not list %s / --%s", s.env, s.flag)
		}
	}
}

var metricsLog = regexp.MustCompile(`metrics listening" addr=(127\.0\.0\.1:\d+)`)

// TestMetricsAreServedApartAndProfilesOnlyWhenAsked: /metrics answers on
// the metrics address and not on the API's; /debug/pprof/ only with
// SWITCHBOARD_PPROF.
func TestMetricsAreServedApartAndProfilesOnlyWhenAsked(t *testing.T) {
	for _, pprof := range []bool{false, true} {
		s := startServe(t, t.TempDir(), "SWITCHBOARD_JWT_SECRET="+strings.Repeat("m", 32), fmt.Sprintf("SWITCHBOARD_PPROF=%v", pprof))
		m := metricsLog.FindStringSubmatch(s.stderr.String())
		if m == nil {
			t.Fatalf("no metrics address in the log:\n%s", s.stderr)
		}
		get := func(url string) (int, string) {
			t.Helper()
			resp, err := http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if code, body := get("http://" + m[1] + "/metrics"); code != 200 || !strings.Contains(body, "# TYPE switchboard_logout_cleanups_total counter") {
			t.Errorf("metrics address /metrics: %d %.200s", code, body)
		}
		// The image's HEALTHCHECK: the binary asks the server itself.
		if out, stderr, code := runCommand(t, []string{"healthcheck", "--addr", strings.TrimPrefix(s.base, "http://")}); code != 0 || out != "ok\n" {
			t.Errorf("healthcheck: exit %d %s %s", code, out, stderr)
		}
		if code, _ := get(s.base + "/metrics"); code != 404 {
			t.Errorf("the API's /metrics: %d, want 404", code)
		}
		want := map[bool]int{false: 404, true: 200}[pprof]
		if code, _ := get("http://" + m[1] + "/debug/pprof/"); code != want {
			t.Errorf("pprof=%v: /debug/pprof/ answered %d, want %d", pprof, code, want)
		}
	}
	// Nothing listening: unhealthy.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, _, code := runCommand(t, []string{"healthcheck", "--addr", addr}); code != 1 {
		t.Errorf("healthcheck with no server: exit %d, want 1", code)
	}
}
