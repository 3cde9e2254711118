package domain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Limits on what callers may send.
const (
	MaxIDLength       = 128
	MaxNameLength     = 200
	MaxEmailLength    = 320
	MaxTextBytes      = 64 << 10
	MaxExternalIDLen  = 256
	MaxPageSize       = 100
	DefaultPageSize   = 25
	MaxAcknowledgeIDs = 1000
)

// DefaultHistoryPageSize is the schema's default page of history: all of
// most conversations' history.
const DefaultHistoryPageSize = 50

// Service runs the commands and queries of Switchboard over a Store.
type Service struct {
	// store is the Store given to NewService, watched: every write's
	// outcome tells health whether the store takes writes.
	store Store
	// maintenance is the store's own background work, if it has any.
	maintenance StoreMaintenance
	// rawStore is the store as given, for the interfaces beside Store it
	// may implement (EventLog).
	rawStore Store
	// inboundRouter, when the store has the capability, routes a new
	// conversation in the write that creates it (observed and watched as
	// store is); nil otherwise, and then the fill pass routes it.
	inboundRouter InboundRouter
	// fillOnly turns routing in the inbound's write off (tests of the fill
	// pass alone).
	fillOnly  bool
	retention Retention
	clock     Clock
	log       *slog.Logger
	health    *storeHealth
	signs     *signsOfLife
	// touchEvery is how often the signs of life noted since the last time
	// are written: signs of life are frequent, writes need not be.
	touchEvery      time.Duration
	presenceTimeout time.Duration
	// instance names this process in cleanup claims.
	instance string
	// redeliverAfter is how long a delivery may stay PENDING before it is
	// offered again.
	redeliverAfter time.Duration
	// activity is who views and types on which conversation.
	activity         *activityTracker
	activitySink     EventSink
	activityExchange ActivityExchange
	// observer is told what the service and its jobs do.
	observer Observer
	// jobs are the running background jobs, if started: admin commands
	// that open room for routing mark the workspace with them.
	jobs atomic.Pointer[Jobs]
	// leases are the routing leases this instance holds: workspace id to
	// the time.Time it holds it until.
	leases sync.Map
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the clock (tests use a fake one).
func WithClock(c Clock) Option { return func(s *Service) { s.clock = c } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// NewService returns a Service over store.
func NewService(store Store, opts ...Option) *Service {
	s := &Service{clock: SystemClock{}, log: slog.Default(), presenceTimeout: DefaultPresenceTimeout, instance: RandomID("in_"),
		redeliverAfter: DefaultRedeliverAfter, observer: NopObserver{}, retention: DefaultRetention}
	for _, o := range opts {
		o(s)
	}
	s.health = &storeHealth{log: s.log, clock: s.clock}
	observed := store
	if _, nop := s.observer.(NopObserver); !nop {
		observed = observedStore{st: store, obs: s.observer}
	}
	s.store = watchedStore{Store: observed, health: s.health}
	if ir, ok := store.(InboundRouter); ok && !s.fillOnly {
		if _, nop := s.observer.(NopObserver); !nop {
			ir = observedInboundRouter{ir: ir, obs: s.observer}
		}
		s.inboundRouter = watchedInboundRouter{ir: ir, health: s.health}
	}
	s.maintenance, _ = store.(StoreMaintenance)
	s.rawStore = store
	s.signs = newSignsOfLife()
	s.activity = newActivityTracker(s.clock, s.instance, s.presenceTimeout)
	s.activity.sink = s.activitySink
	if s.activityExchange != nil {
		s.activity.exchange = s.activityExchange
		s.activity.out = make(chan leaseWrite, 4096)
	}
	// The store learns of a sign of life well within the timeout.
	s.touchEvery = min(5*time.Second, s.presenceTimeout/3)
	return s
}

// Clock returns the service's clock.
func (s *Service) Clock() Clock { return s.clock }

func (s *Service) now() time.Time { return Truncate(s.clock.Now()) }

// Actor is an authenticated caller.
type Actor struct {
	WorkspaceID string
	ID          string
	Role        Role
	Name        string
	Email       string
}

// Claims are the verified claims of a caller's token.
type Claims struct {
	WorkspaceID string
	Subject     string
	Role        string
	Name        string
	Email       string
}

// Authenticate turns verified token claims into an Actor. An agent or admin
// is provisioned on first use and takes name, email and role from each token;
// a deactivated agent is refused. Each call is a sign of life, noted in
// memory: no request waits for it to be written, or fails because it could
// not be.
func (s *Service) Authenticate(ctx context.Context, c Claims) (Actor, error) {
	a, _, err := s.AuthenticateAgent(ctx, c)
	return a, err
}

// AuthenticateAgent is Authenticate that also returns the caller's agent
// record as it read or wrote it (nil for an integration, or when the
// store could not take the record's update), for ContextWithAgent.
func (s *Service) AuthenticateAgent(ctx context.Context, c Claims) (Actor, *Agent, error) {
	role, ok := RoleFromClaim(c.Role)
	if !ok {
		return Actor{}, nil, Unauthenticated("token role must be agent, admin or integration")
	}
	if !validID(c.WorkspaceID) {
		return Actor{}, nil, Unauthenticated("token workspace_id is missing or invalid")
	}
	if !validID(c.Subject) {
		return Actor{}, nil, Unauthenticated("token subject is missing or invalid")
	}
	name := strings.TrimSpace(c.Name)
	if name == "" {
		name = c.Subject
	}
	if utf8.RuneCountInString(name) > MaxNameLength || len(c.Email) > MaxEmailLength {
		return Actor{}, nil, Unauthenticated("token name or email is too long")
	}
	actor := Actor{WorkspaceID: c.WorkspaceID, ID: c.Subject, Role: role, Name: name, Email: c.Email}
	if !role.IsAgent() {
		return actor, nil, nil
	}
	agent, err := s.provision(ctx, actor)
	if err != nil {
		return Actor{}, nil, err
	}
	s.signs.note(actor.WorkspaceID, actor.ID, s.now())
	return actor, agent, nil
}

// RoleFromClaim reads a token's role claim. Only the exact lowercase names
// count: folding case would also make "ADMİN" (with a Turkish dotted capital
// I) or "Admin" an admin, names an issuer never meant to grant.
func RoleFromClaim(r string) (Role, bool) {
	switch r {
	case "agent":
		return RoleAgent, true
	case "admin":
		return RoleAdmin, true
	case "integration":
		return RoleIntegration, true
	}
	return "", false
}

func validID(id string) bool { return validKey(id, MaxIDLength) }

// validKey reports whether s is 1 to max bytes of printable UTF-8.
func validKey(s string, max int) bool {
	if s == "" || len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// provision makes the stored agent match the actor's token, creating it on
// first use. An agent must be stored to be anyone, so a first use waits for
// the store; a record that only lags its token's name, email or role does
// not hold the request up when the store cannot take the change now (the
// token decides what the caller may do, and a later request brings the
// record up to date).
func (s *Service) provision(ctx context.Context, a Actor) (*Agent, error) {
	// stored is false when the store could not take the record's update:
	// the caller is let in all the same, and the record is returned as nil.
	stored := true
	agent, err := run(ctx, s, command[*Agent, *Agent]{
		load: func(ctx context.Context, _ time.Time) (*Agent, error) {
			return s.agent(ctx, a.WorkspaceID, a.ID)
		},
		decide: func(agent *Agent, now time.Time) (d decision[*Agent], err error) {
			switch {
			case agent == nil:
				created := &Agent{
					WorkspaceID: a.WorkspaceID, ID: a.ID, Name: a.Name, Email: a.Email, Role: a.Role,
					Active: true, Presence: Offline, PresenceSince: now, LastSeenAt: now,
					CreatedAt: now, UpdatedAt: now, Version: 1,
				}
				// Another request provisioned the agent first: take theirs.
				return writing(created, s.insertAgent(*created), ErrDuplicate), nil
			case !agent.Active:
				return d, Forbidden("this agent is deactivated")
			case agent.Name != a.Name || agent.Email != a.Email || agent.Role != a.Role:
				next := *agent
				next.Name, next.Email, next.Role = a.Name, a.Email, a.Role
				next.LastSeenAt, next.UpdatedAt, next.Version = now, now, agent.Version+1
				update := func(ctx context.Context) error {
					if err := s.store.UpdateAgent(ctx, next); !errors.Is(err, ErrUnavailable) {
						return err
					}
					stored = false
					return nil
				}
				// Changed or gone since it was read: decide again on what is there.
				return writing(&next, update, ErrVersionConflict, ErrNotFound), nil
			}
			return done(agent), nil
		},
	})
	if err != nil || !stored {
		return nil, err
	}
	return agent, nil
}

// internal passes domain errors through and wraps everything else so that
// callers see CodeInternal (and nothing of the cause).
func internal(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	// Before the context's errors: a store gives up on an unreachable server
	// with a deadline of its own, which says nothing about the caller.
	if errors.Is(err, ErrUnavailable) {
		return unavailable()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &internalError{cause: err}
}

// internalError hides a cause from callers but keeps it for the log.
type internalError struct{ cause error }

func (e *internalError) Error() string { return "internal error: " + e.cause.Error() }
func (e *internalError) Unwrap() error { return e.cause }

// RequireAgent refuses callers who are not agents (integrations).
func RequireAgent(a Actor) error { return requireAgent(a) }

// requireAgent refuses callers who are not agents (integrations).
func requireAgent(a Actor) error {
	if !a.Role.IsAgent() {
		return Forbidden("this operation is for agents and admins")
	}
	return nil
}

// requireAdmin refuses callers who are not admins.
func requireAdmin(a Actor) error {
	if a.Role != RoleAdmin {
		return Forbidden("this operation is for admins")
	}
	return nil
}

func (s *Service) agent(ctx context.Context, ws, id string) (*Agent, error) {
	agents, err := s.store.AgentsByIDs(ctx, ws, []string{id})
	if err != nil {
		return nil, internal(err)
	}
	return agents[0], nil
}

func (s *Service) conversation(ctx context.Context, ws, id string) (*Conversation, error) {
	convs, err := s.store.ConversationsByIDs(ctx, ws, []string{id})
	if err != nil {
		return nil, internal(err)
	}
	return convs[0], nil
}

func (s *Service) channel(ctx context.Context, ws, id string) (*Channel, error) {
	chs, err := s.store.ChannelsByIDs(ctx, ws, []string{id})
	if err != nil {
		return nil, internal(err)
	}
	return chs[0], nil
}

// Batch reads for the per-operation loaders; no role check, since the
// loaders only follow references of records the caller could already read.

func (s *Service) AgentsByIDs(ctx context.Context, ws string, ids []string) ([]*Agent, error) {
	a, err := s.store.AgentsByIDs(ctx, ws, ids)
	return a, internal(err)
}

// WorkspaceRoutingSettings returns a workspace's routing settings, for
// agents' effective capacity.
func (s *Service) WorkspaceRoutingSettings(ctx context.Context, ws string) (RoutingSettings, error) {
	st, err := s.store.GetSettings(ctx, ws)
	return st.Routing, internal(err)
}

// NewLoads counts each agent's NEW conversations in a workspace: their
// loads, in one count.
func (s *Service) NewLoads(ctx context.Context, ws string) ([]OwnerCount, error) {
	c, err := s.store.CountOwners(ctx, ws, StatusNew, nil)
	return c, internal(err)
}

func (s *Service) ChannelsByIDs(ctx context.Context, ws string, ids []string) ([]*Channel, error) {
	c, err := s.store.ChannelsByIDs(ctx, ws, ids)
	return c, internal(err)
}

func (s *Service) ContactsByIDs(ctx context.Context, ws string, ids []string) ([]*Contact, error) {
	c, err := s.store.ContactsByIDs(ctx, ws, ids)
	return c, internal(err)
}

func (s *Service) ConversationsByIDs(ctx context.Context, ws string, ids []string) ([]*Conversation, error) {
	c, err := s.store.ConversationsByIDs(ctx, ws, ids)
	return c, internal(err)
}

// Ready reports whether the store answers and takes writes.
func (s *Service) Ready(ctx context.Context) error {
	if down, since := s.health.outage(); down {
		return fmt.Errorf("the store has not taken writes since %s", since.Format(time.RFC3339))
	}
	return s.store.Ping(ctx)
}
