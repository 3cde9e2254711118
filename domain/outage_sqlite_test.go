package domain_test

// Store outages on the SQLite store behind a switch that makes its writes
// fail as a full disk does (reads go on), with the background jobs on a fake
// clock moved a second at a time: a store outage degrades, never damages.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/internal/fakeclock"
	"switchboard/store/sqlite"
	"switchboard/store/sqlite/sqlitetest"
)

// faultyStore is a store with a switch: while it is down, every write fails
// as SQLite fails on a full disk, the probe included; reads go on.
type faultyStore struct {
	domain.Store
	down    atomic.Bool
	touches atomic.Int64 // TouchAgent calls the store took
}

func (f *faultyStore) fault() error {
	if f.down.Load() {
		return fmt.Errorf("faulty store: database or disk is full: %w", domain.ErrUnavailable)
	}
	return nil
}

func (f *faultyStore) WriteProbe(ctx context.Context, at time.Time) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.Store.WriteProbe(ctx, at)
}

func (f *faultyStore) SaveSettings(ctx context.Context, st domain.Settings) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.Store.SaveSettings(ctx, st)
}

func (f *faultyStore) InsertAgent(ctx context.Context, a domain.Agent) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.Store.InsertAgent(ctx, a)
}

func (f *faultyStore) UpdateAgent(ctx context.Context, a domain.Agent) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.Store.UpdateAgent(ctx, a)
}

func (f *faultyStore) TouchAgent(ctx context.Context, ws, id string, at time.Time) error {
	if err := f.fault(); err != nil {
		return err
	}
	f.touches.Add(1)
	return f.Store.TouchAgent(ctx, ws, id, at)
}

func (f *faultyStore) InsertChannel(ctx context.Context, c domain.Channel) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.Store.InsertChannel(ctx, c)
}

func (f *faultyStore) SetAutoOwnership(ctx context.Context, ws, ch, agent string, on bool) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.Store.SetAutoOwnership(ctx, ws, ch, agent, on)
}

func (f *faultyStore) UpsertContact(ctx context.Context, c domain.Contact) (domain.Contact, error) {
	if err := f.fault(); err != nil {
		return domain.Contact{}, err
	}
	return f.Store.UpsertContact(ctx, c)
}

func (f *faultyStore) InsertConversation(ctx context.Context, w domain.ConversationWrite) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.Store.InsertConversation(ctx, w)
}

func (f *faultyStore) UpdateConversation(ctx context.Context, w domain.ConversationWrite) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.Store.UpdateConversation(ctx, w)
}

func (f *faultyStore) UpdateConversations(ctx context.Context, ws []domain.ConversationWrite) ([]error, error) {
	if err := f.fault(); err != nil {
		return nil, err
	}
	return f.Store.UpdateConversations(ctx, ws)
}

func (f *faultyStore) AcknowledgeAssignments(ctx context.Context, ws, agent string, keys []domain.HistoryKey) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.Store.AcknowledgeAssignments(ctx, ws, agent, keys)
}

// logBuffer is a log shared by the instances of a test.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the log lines that contain s.
func (l *logBuffer) lines(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.b.String(), "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}

// presenceLog keeps the presence changes the store committed, and hands
// every change to the instances' jobs, as the App's feed does.
type presenceLog struct {
	mu      sync.Mutex
	changes []domain.AgentEvent
	jobs    []*domain.Jobs
}

func (l *presenceLog) Publish(e domain.Event) {
	l.mu.Lock()
	if a := e.Agent; a != nil && a.Before != nil && a.Before.Presence != a.After.Presence {
		l.changes = append(l.changes, *a)
	}
	jobs := l.jobs
	l.mu.Unlock()
	for _, j := range jobs {
		j.Notice(e)
	}
}

// wentOffline lists the agents who went OFFLINE.
func (l *presenceLog) wentOffline() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, c := range l.changes {
		if c.After.Presence == domain.Offline {
			out = append(out, c.After.ID)
		}
	}
	return out
}

// instance is one server instance: a service and its jobs, on a store of
// its own switch over the shared database.
type instance struct {
	store *faultyStore
	svc   *domain.Service
}

// outageEnv is a workspace with remove-ownership-on-logout on (no grace, so
// an agent taken offline loses their conversations at once), a channel, an
// admin, and instances over one SQLite database, on one fake clock.
type outageEnv struct {
	t        *testing.T
	ctx      context.Context
	clock    *fakeclock.Clock
	db       domain.Store
	log      *logBuffer
	presence *presenceLog
	admin    domain.Actor
	feed     domain.Actor
	channel  string
	inbound  int
}

// outageTimeout is the presence timeout of these tests.
const outageTimeout = 6 * time.Second

func newOutageEnv(t *testing.T) *outageEnv {
	t.Helper()
	e := &outageEnv{
		t: t, ctx: context.Background(), clock: fakeclock.New(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)),
		log: &logBuffer{}, presence: &presenceLog{},
		admin: domain.Actor{WorkspaceID: ws, ID: "ada", Role: domain.RoleAdmin, Name: "Ada"},
		feed:  domain.Actor{WorkspaceID: ws, ID: "feed", Role: domain.RoleIntegration},
	}
	e.db = sqlitetest.New(t, sqlite.Options{EventSink: e.presence, Logger: slog.New(slog.DiscardHandler)})
	return e
}

// start starts an instance with its jobs; the first one sets the
// workspace up.
func (e *outageEnv) start(name string) *instance {
	e.t.Helper()
	in := &instance{store: &faultyStore{Store: e.db}}
	in.svc = domain.NewService(in.store, domain.WithClock(e.clock), domain.WithInstanceID(name),
		domain.WithPresenceTimeout(outageTimeout), domain.WithLogger(slog.New(slog.NewTextHandler(e.log, nil)).With("instance", name)))
	jobs := in.svc.StartJobs(e.ctx)
	e.t.Cleanup(jobs.Stop)
	e.presence.mu.Lock()
	e.presence.jobs = append(e.presence.jobs, jobs)
	e.presence.mu.Unlock()
	e.clock.AdvanceAndWait(0)
	if e.channel == "" {
		if _, err := in.svc.Authenticate(e.ctx, claims(e.admin)); err != nil {
			e.t.Fatal(err)
		}
		if _, err := in.svc.UpdateSettings(e.ctx, e.admin, domain.SettingsPatch{RemoveOwnershipOnLogout: ptr(true), LogoutGraceSeconds: ptr(0)}); err != nil {
			e.t.Fatal(err)
		}
		ch, err := in.svc.CreateChannel(e.ctx, e.admin, "Email")
		if err != nil {
			e.t.Fatal(err)
		}
		e.channel = ch.ID
	}
	return in
}

// connect provisions an agent and opens their socket on in.
func (e *outageEnv) connect(in *instance, id string) domain.Actor {
	e.t.Helper()
	a := domain.Actor{WorkspaceID: ws, ID: id, Role: domain.RoleAgent, Name: strings.ToUpper(id[:1]) + id[1:]}
	if _, err := in.svc.Authenticate(e.ctx, claims(a)); err != nil {
		e.t.Fatal(err)
	}
	if _, err := in.svc.SignIn(e.ctx, a); err != nil {
		e.t.Fatal(err)
	}
	return a
}

// owned starts a NEW conversation owned by owner.
func (e *outageEnv) owned(in *instance, owner domain.Actor) string {
	e.t.Helper()
	e.inbound++
	r, err := in.svc.IngestInbound(e.ctx, e.feed, domain.InboundCommand{
		ChannelID: e.channel, ContactExternalID: fmt.Sprintf("contact-%d", e.inbound), ExternalMessageID: fmt.Sprintf("m-%d", e.inbound), Text: "hello",
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := in.svc.SetOwner(e.ctx, e.admin, domain.SetOwnerCommand{ConversationID: r.ConversationID, OwnerID: &owner.ID, OwnerGiven: true}); err != nil {
		e.t.Fatal(err)
	}
	return r.ConversationID
}

// run moves the clock d, a second at a time, each second's jobs done
// before the next; every other second (the ping interval is a third of the
// timeout), each of sockets answers a ping on in.
func (e *outageEnv) run(d time.Duration, in *instance, sockets ...domain.Actor) {
	e.t.Helper()
	for step := 1; step <= int(d/time.Second); step++ {
		e.clock.AdvanceAndWait(time.Second)
		if step%2 == 0 {
			for _, a := range sockets {
				if err := in.svc.Alive(e.ctx, a); err != nil {
					e.t.Fatalf("a pong of %s: %v", a.ID, err)
				}
			}
		}
	}
}

func (e *outageEnv) agent(id string) domain.Agent {
	e.t.Helper()
	agents, err := e.db.AgentsByIDs(e.ctx, ws, []string{id})
	if err != nil || agents[0] == nil {
		e.t.Fatalf("agent %s: %v", id, err)
	}
	return *agents[0]
}

func (e *outageEnv) owner(id string) string {
	e.t.Helper()
	convs, err := e.db.ConversationsByIDs(e.ctx, ws, []string{id})
	if err != nil || convs[0] == nil {
		e.t.Fatalf("conversation %s: %v", id, err)
	}
	return convs[0].OwnerID
}

// An outage of 20 s with a presence timeout of 6 s: the agents whose
// sockets answer every ping stay ONLINE and keep their conversations;
// requests are answered, writes are UNAVAILABLE, readiness is red until the
// store takes writes again, and the log says so once each way. An agent
// whose socket had closed goes OFFLINE once the store is back, as of their
// last sign of life plus the timeout, and loses their conversation: the
// sweep and the cleanup still work, only never on a write that failed.
func TestAnOutageLongerThanThePresenceTimeoutChangesNoPresenceOrOwner(t *testing.T) {
	e := newOutageEnv(t)
	in := e.start("here")
	ben, cleo, dana := e.connect(in, "ben"), e.connect(in, "cleo"), e.connect(in, "dana")
	bens, cleos, danas := e.owned(in, ben), e.owned(in, cleo), e.owned(in, dana)
	danaLastSeen := e.clock.Now()
	e.run(3*time.Second, in, ben, cleo) // Dana's socket is gone.
	if err := in.svc.Ready(e.ctx); err != nil {
		t.Fatalf("ready before the outage: %v", err)
	}

	in.store.down.Store(true)
	e.run(time.Second, in, ben, cleo)
	if err := in.svc.Ready(e.ctx); err == nil {
		t.Fatal("ready a second into the outage, want red")
	}
	if _, err := in.svc.Authenticate(e.ctx, claims(ben)); err != nil {
		t.Errorf("a request of Ben during the outage: %v, want it answered", err)
	}
	if me, err := in.svc.Me(e.ctx, ben); err != nil || me.Presence != domain.Online {
		t.Errorf("Ben reads himself during the outage: %+v, %v", me, err)
	}
	if _, err := in.svc.SetOwner(e.ctx, ben, domain.SetOwnerCommand{ConversationID: cleos, OwnerID: &ben.ID, OwnerGiven: true}); domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Errorf("a write during the outage: %v, want UNAVAILABLE", err)
	}
	e.run(19*time.Second, in, ben, cleo)
	if n, err := in.svc.ExpireSilentAgents(e.ctx); n != 0 || err != nil {
		t.Errorf("a sweep at the end of the outage: %d offline, %v", n, err)
	}

	in.store.down.Store(false)
	e.run(2*time.Second, in, ben, cleo)
	if err := in.svc.Ready(e.ctx); err != nil {
		t.Fatalf("ready two seconds after the store came back: %v", err)
	}
	e.run(outageTimeout+2*time.Second, in, ben, cleo)

	if off := e.presence.wentOffline(); len(off) != 1 || off[0] != "dana" {
		t.Errorf("went offline: %v, want Dana alone", off)
	}
	for _, a := range []domain.Actor{ben, cleo} {
		if got := e.agent(a.ID); got.Presence != domain.Online {
			t.Errorf("%s after the outage: %s, want ONLINE", a.ID, got.Presence)
		}
	}
	if got := e.agent("dana"); got.Presence != domain.Offline || !got.PresenceSince.Equal(danaLastSeen.Add(outageTimeout)) {
		t.Errorf("Dana after the outage: %s since %s, want OFFLINE as of her last sign of life %s plus the timeout",
			got.Presence, got.PresenceSince, danaLastSeen)
	}
	if b, c, d := e.owner(bens), e.owner(cleos), e.owner(danas); b != "ben" || c != "cleo" || d != "" {
		t.Errorf("owners after the outage: %q, %q, %q; want ben, cleo and none (Dana's released)", b, c, d)
	}
	if n := len(e.log.lines("store outage:")); n != 1 {
		t.Errorf("%d log lines say the outage started, want 1:\n%s", n, strings.Join(e.log.lines("level="), "\n"))
	}
	if n := len(e.log.lines("store outage over")); n != 1 {
		t.Errorf("%d log lines say the outage ended, want 1:\n%s", n, strings.Join(e.log.lines("level="), "\n"))
	}
	if errs := e.log.lines("level=ERROR"); len(errs) != 1 {
		t.Errorf("error lines, want the outage's alone:\n%s", strings.Join(errs, "\n"))
	}
}

// Signs of life leave the request path: requests and pongs write nothing
// on the way, the jobs write one per agent per round (the latest), and a
// request whose sign of life cannot be written is answered all the same.
func TestSignsOfLifeAreWrittenOffTheRequestPath(t *testing.T) {
	e := newOutageEnv(t)
	in := e.start("here")
	ben := e.connect(in, "ben")
	e.run(outageTimeout, in)
	before := in.store.touches.Load()
	for range 20 {
		e.clock.Advance(10 * time.Millisecond)
		if _, err := in.svc.Authenticate(e.ctx, claims(ben)); err != nil {
			t.Fatal(err)
		}
		if err := in.svc.Alive(e.ctx, ben); err != nil {
			t.Fatal(err)
		}
	}
	last := e.clock.Now()
	if n := in.store.touches.Load() - before; n != 0 {
		t.Errorf("%d signs of life written on the request path, want none", n)
	}
	e.run(outageTimeout/3, in)
	if n := in.store.touches.Load() - before; n != 1 {
		t.Errorf("%d signs of life written for 40 of one agent, want one", n)
	}
	if got := e.agent("ben").LastSeenAt; !got.Equal(last) {
		t.Errorf("last seen %s, want the latest sign of life %s", got, last)
	}

	// The store takes no writes: a known agent's requests are answered,
	// also one whose token renames them (the token says who they are; the
	// record catches up later); a first request cannot provision anyone.
	in.store.down.Store(true)
	renamed := ben
	renamed.Name = "Benjamin"
	if a, err := in.svc.Authenticate(e.ctx, claims(renamed)); err != nil || a.Name != "Benjamin" {
		t.Errorf("a renaming request during the outage: %+v, %v; want it answered", a, err)
	}
	newcomer := domain.Actor{WorkspaceID: ws, ID: "nia", Role: domain.RoleAgent, Name: "Nia"}
	if _, err := in.svc.Authenticate(e.ctx, claims(newcomer)); domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Errorf("a first request during the outage: %v, want UNAVAILABLE", err)
	}
	in.store.down.Store(false)
	if _, err := in.svc.Authenticate(e.ctx, claims(renamed)); err != nil {
		t.Fatal(err)
	}
	if got := e.agent("ben").Name; got != "Benjamin" {
		t.Errorf("name after the outage: %q, want the token's", got)
	}
}

// A store that takes one write in two is one outage, not one per write:
// readiness stays red, and the log has one line, until the store has taken
// writes for two probes in a row.
func TestAFlappingStoreIsOneOutage(t *testing.T) {
	e := newOutageEnv(t)
	in := e.start("here")
	for i := range 10 {
		in.store.down.Store(i%2 == 0)
		e.run(time.Second, in)
		if err := in.svc.Ready(e.ctx); err == nil {
			t.Fatalf("ready %d s into a flapping store, want red", i+1)
		}
	}
	in.store.down.Store(false)
	e.run(2*time.Second, in)
	if err := in.svc.Ready(e.ctx); err != nil {
		t.Fatalf("not ready two probes after the store settled: %v", err)
	}
	if s, o := len(e.log.lines("store outage:")), len(e.log.lines("store outage over")); s != 1 || o != 1 {
		t.Errorf("%d lines say an outage started and %d that one ended, want 1 and 1", s, o)
	}
}

// Several instances: the one whose sockets hold the agents sees the store
// come back a few seconds after another does. The other's sweep waits a
// presence timeout after the outage, by which time the sockets' instance has
// written the signs of life it held: nobody goes offline.
func TestAnotherInstanceWaitsForTheSignsOfLifeAnOutageHeldBack(t *testing.T) {
	e := newOutageEnv(t)
	sockets, other := e.start("sockets"), e.start("other")
	ben := e.connect(sockets, "ben")
	bens := e.owned(sockets, ben)
	e.run(2*time.Second, sockets, ben)

	sockets.store.down.Store(true)
	other.store.down.Store(true)
	e.run(20*time.Second, sockets, ben)
	other.store.down.Store(false)
	e.run(outageTimeout/2, sockets, ben)
	sockets.store.down.Store(false)
	e.run(2*outageTimeout, sockets, ben)

	if off := e.presence.wentOffline(); len(off) != 0 {
		t.Errorf("went offline: %v, want nobody", off)
	}
	if got := e.agent("ben"); got.Presence != domain.Online || e.owner(bens) != "ben" {
		t.Errorf("Ben after the outage: %s, owner %q; want ONLINE and the owner", got.Presence, e.owner(bens))
	}
}

// Where it cannot hold: an instance cut off from the store while the others
// reach it cannot write its sockets' signs of life, and the others, which
// see no outage, time those agents out after the presence timeout. (Its
// /readyz is red, so a load balancer sends it nothing new; its sockets stay
// until they close.) This pins the limit the README states.
func TestAnInstanceCutOffFromTheStoreLosesItsAgentsToTheOthers(t *testing.T) {
	e := newOutageEnv(t)
	sockets, other := e.start("sockets"), e.start("other")
	ben := e.connect(sockets, "ben")
	e.run(2*time.Second, sockets, ben)

	sockets.store.down.Store(true)
	e.run(2*outageTimeout, sockets, ben)
	if err := sockets.svc.Ready(e.ctx); err == nil {
		t.Error("the cut-off instance is ready, want red")
	}
	if err := other.svc.Ready(e.ctx); err != nil {
		t.Errorf("the other instance is not ready: %v", err)
	}
	if off := e.presence.wentOffline(); len(off) != 1 || off[0] != "ben" {
		t.Errorf("went offline: %v, want Ben (the limit this test pins)", off)
	}
}
