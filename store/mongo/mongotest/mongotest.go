// Package mongotest gives tests a MongoDB store on a fresh database: on the
// server named by SWITCHBOARD_TEST_MONGODB_URI (a real MongoDB replica set),
// or else on a FerretDB process (tools/ferretdb, built once per test binary
// unless SWITCHBOARD_FERRETDB_BIN names a binary) started once per test
// binary on a temporary directory. Where neither can be had, tests skip
// with the reason, and fail when CI=true.
package mongotest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/domain"
	mongostore "switchboard/store/mongo"
)

// Environment variables the tests read.
const (
	// EnvURI names a real MongoDB (6.0+, a replica set) to test against
	// instead of FerretDB.
	EnvURI = "SWITCHBOARD_TEST_MONGODB_URI"
	// EnvFerretBin names a FerretDB binary built from tools/ferretdb.
	EnvFerretBin = "SWITCHBOARD_FERRETDB_BIN"
)

// Real reports whether the tests run against a real MongoDB.
func Real() bool { return os.Getenv(EnvURI) != "" }

// Unavailable skips t with the reason, or fails it when CI=true: CI must
// run what a laptop may lack.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format+" (CI=true: this must not skip)", args...)
	}
	t.Skipf(format, args...)
}

var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Main runs the tests of a package and then stops the FerretDB process
// they shared, if one was started: TestMain calls os.Exit(mongotest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared.srv != nil {
		shared.srv.Stop()
		_ = os.RemoveAll(shared.srv.Dir)
	}
	return code
}

// URI returns the URI of the server tests run against.
func URI(t testing.TB) string {
	t.Helper()
	if uri := os.Getenv(EnvURI); uri != "" {
		return uri
	}
	shared.once.Do(func() {
		bin, err := binary()
		if err != nil {
			shared.err = err
			return
		}
		dir, err := os.MkdirTemp("", "switchboard-ferretdb-")
		if err != nil {
			shared.err = err
			return
		}
		shared.srv, shared.err = Start(bin, dir, "127.0.0.1:0")
	})
	if shared.err != nil {
		Unavailable(t, "mongotest: no FerretDB to test against: %v", shared.err)
	}
	return shared.srv.URI
}

var dbSeq atomic.Int64

// DatabaseName returns a database name no other test uses.
func DatabaseName() string {
	return fmt.Sprintf("sbt_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1_000_000, dbSeq.Add(1))
}

// Quiet discards a store's logs.
var Quiet = slog.New(slog.DiscardHandler)

// New returns a store on a fresh database of the test server, dropped and
// closed when the test ends. opts.Database is ignored; a nil Logger
// discards.
func New(t testing.TB, opts mongostore.Options) *mongostore.Store {
	t.Helper()
	uri := URI(t)
	opts.Database = DatabaseName()
	if opts.Logger == nil {
		opts.Logger = Quiet
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := mongostore.Open(ctx, uri, opts)
	if err != nil {
		t.Fatalf("mongotest: open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.Database().Drop(ctx); err != nil {
			t.Errorf("mongotest: drop database: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("mongotest: close: %v", err)
		}
	})
	return s
}

// NewWithFeed is New whose committed changes reach sink the way the server
// delivers them: through the change-stream feed on a server that has change
// streams (a real replica set), else published in process. It returns once
// the feed listens.
func NewWithFeed(t testing.TB, sink domain.EventSink) *mongostore.Store {
	t.Helper()
	s := New(t, mongostore.Options{})
	if !s.ChangeStreams() {
		s.PublishInProcess(sink)
		return s
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan struct{})
	var once sync.Once
	go func() {
		defer close(done)
		s.Watch(ctx, "test-"+s.Database().Name(), sink, mongostore.FeedHooks{Ready: func() { once.Do(func() { close(ready) }) }})
	}()
	// Registered after New's cleanup, so it runs first: the feed stops
	// before the database is dropped.
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-ready:
	case <-time.After(time.Minute):
		t.Fatal("mongotest: the change stream did not open within a minute")
	}
	return s
}

// Binary returns the FerretDB binary, building it once per test binary; it
// skips t (fails with CI=true) when that is impossible.
func Binary(t testing.TB) string {
	t.Helper()
	bin, err := binary()
	if err != nil {
		Unavailable(t, "mongotest: no FerretDB binary: %v", err)
	}
	return bin
}

var built struct {
	once sync.Once
	bin  string
	err  error
}

func binary() (string, error) {
	if bin := os.Getenv(EnvFerretBin); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvFerretBin, bin, err)
		}
		return bin, nil
	}
	built.once.Do(func() { built.bin, built.err = build() })
	return built.bin, built.err
}

// build builds tools/ferretdb into the repository's bin/ (ignored by git),
// without -race whatever the tests run with, and returns the binary.
// Another test binary may build at the same time: each builds to a file of
// its own and renames it into place.
func build() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, serr := os.Stat(goBin); serr != nil {
			return "", fmt.Errorf("no go command to build tools/ferretdb with: %w", err)
		}
	}
	binDir := filepath.Join(root, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(binDir, "ferretdb")
	tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
	cmd := exec.Command(goBin, "build", "-o", tmp, ".")
	cmd.Dir = filepath.Join(root, "tools", "ferretdb")
	// GOFLAGS of the test run (-race, -cover...) are not for this build.
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("building tools/ferretdb: %v\n%s", err, msg)
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	return out, nil
}

// repoRoot is the nearest directory above the working directory that holds
// tools/ferretdb.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "tools", "ferretdb", "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("tools/ferretdb not found above the working directory")
		}
		dir = parent
	}
}

// Server is a FerretDB process.
type Server struct {
	Bin, Dir string
	// Addr is the address it listens on, and URI its connection string.
	Addr, URI string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// startTimeout bounds how long FerretDB may take to say it listens.
const startTimeout = time.Minute

// Start starts FerretDB on dir, listening on addr (port 0: any free port),
// and waits until it says it accepts connections.
func Start(bin, dir, addr string) (*Server, error) {
	s := &Server{Bin: bin, Dir: dir, Addr: addr}
	return s, s.start()
}

func (s *Server) start() error {
	cmd := exec.Command(s.Bin, "-listen", s.Addr, "-dir", s.Dir)
	cmd.SysProcAttr = sysProcAttr() // dies with the test binary
	logFile, err := os.OpenFile(filepath.Join(s.Dir, "ferretdb.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", s.Bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(done)
	}()
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, r)
	}()
	select {
	case line := <-lines:
		uri, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
		if !ok {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("FerretDB said %q instead of where it listens (its log: %s)", line, filepath.Join(s.Dir, "ferretdb.log"))
		}
		s.mu.Lock()
		s.cmd, s.done, s.URI = cmd, done, uri
		if u, err := hostPort(uri); err == nil {
			s.Addr = u
		}
		s.mu.Unlock()
		return nil
	case <-time.After(startTimeout):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("FerretDB did not start listening within %s", startTimeout)
	}
}

func hostPort(uri string) (string, error) {
	rest, ok := strings.CutPrefix(uri, "mongodb://")
	if !ok {
		return "", fmt.Errorf("not a mongodb:// URI: %q", uri)
	}
	hp, _, _ := strings.Cut(rest, "/")
	if _, _, err := net.SplitHostPort(hp); err != nil {
		return "", err
	}
	return hp, nil
}

// Kill kills the process at once (SIGKILL: nothing of it runs after) and
// waits until it is gone.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Stop stops the process; it is Kill, since FerretDB on SQLite keeps
// nothing it has not committed.
func (s *Server) Stop() { s.Kill() }

// Restart starts the process again on the same directory and address.
func (s *Server) Restart() error {
	s.Kill()
	return s.start()
}

// FreeAddr returns a loopback address whose port was free a moment ago,
// for a server that must come back on the same address.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}
