package domain

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Store outages. A store that cannot take writes (out of space, an I/O
// error, read only, unreachable, no primary: ErrUnavailable) degrades the
// service and damages nothing: writes are answered UNAVAILABLE, reads go on,
// readiness is red, and no presence or ownership changes because a sign of
// life could not be written (see signs.go and ExpireSilentAgents).
//
// An outage starts with the first write the store could not take, whether a
// caller's or the probe's, and ends when a probe write succeeds with no
// write failing since the probe before it (which succeeded too), so that a
// store taking one write in two does not flap. The log says so once when it
// starts and once when it ends, never once per request.

// ProbeInterval is how often the jobs write the store's probe record: an
// outage that no caller writes through is noticed within about this long,
// and so is its end.
const ProbeInterval = time.Second

// probeTimeout bounds one probe: a store that takes longer than this for a
// one-record write does not take writes, for a caller's purposes.
const probeTimeout = 2 * time.Second

// storeHealth is whether the store takes writes.
type storeHealth struct {
	log   *slog.Logger
	clock Clock

	mu   sync.Mutex
	down bool
	// since is when the outage started (down), or when the last one ended
	// (zero if none has).
	since time.Time
	// failedSinceProbe: a write failed after the last probe ran.
	failedSinceProbe bool
	// probing: the jobs probe, so only a probe ends an outage; without
	// them, any write the store takes does.
	probing bool
}

// failed records a write the store could not take.
func (h *storeHealth) failed(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failedSinceProbe = true
	h.start(err)
}

// took records a write the store took (a lost condition is taken too: the
// store answered).
func (h *storeHealth) took() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.probing {
		h.end()
	}
}

// probed records a probe's outcome; it reports whether it ended an outage.
func (h *storeHealth) probed(err error) (ended bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.probing = true
	clean := !h.failedSinceProbe
	h.failedSinceProbe = err != nil
	if err != nil {
		h.start(err)
		return false
	}
	if !h.down || !clean {
		return false
	}
	h.end()
	return true
}

func (h *storeHealth) start(err error) {
	if h.down {
		return
	}
	h.down, h.since = true, h.clock.Now()
	h.log.Error("store outage: the store does not take writes; they are answered UNAVAILABLE and /readyz is red until it does, "+
		"and nobody is timed out meanwhile", "err", err)
}

func (h *storeHealth) end() {
	if !h.down {
		return
	}
	now := h.clock.Now()
	h.log.Warn("store outage over: the store takes writes again", "lasted", now.Sub(h.since).Round(time.Millisecond))
	h.down, h.since = false, now
}

// outage reports whether the store is out, and since when; when it is not,
// since is when the last outage ended (zero if none did).
func (h *storeHealth) outage() (down bool, since time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.down, h.since
}

// probeStore writes the probe record and records the outcome; once an
// outage ends, the signs of life it held back are written at once, so that
// other instances' sweeps, which see only the store, see them as soon as
// possible.
func (s *Service) probeStore(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	err := s.store.WriteProbe(pctx, s.now())
	cancel()
	if ctx.Err() != nil {
		return nil // stopping: the probe says nothing of the store
	}
	if s.health.probed(err) {
		return s.writeSignsOfLife(ctx)
	}
	// A failed probe is an outage, which health has logged.
	return nil
}

// isUnavailable reports whether err, from a store or the domain, is the
// store being unavailable: the outage log said so once already.
func isUnavailable(err error) bool {
	return errors.Is(err, ErrUnavailable) || ErrorCode(err) == CodeUnavailable
}

// watchedStore is a Store whose writes tell health whether the store took
// them. Reads pass through: an outage is about writes (a store that cannot
// be read cannot be written either, and the probe notices), and so does
// WriteProbe, whose outcome probeStore records as a probe's.
type watchedStore struct {
	Store
	health *storeHealth
}

// watch records the outcome of a write and returns its error.
func (w watchedStore) watch(err error) error {
	switch {
	case err == nil, errors.Is(err, ErrVersionConflict), errors.Is(err, ErrDuplicate), errors.Is(err, ErrNotFound):
		w.health.took()
	case errors.Is(err, ErrUnavailable):
		w.health.failed(err)
	}
	return err
}

// watchedInboundRouter is an InboundRouter whose writes tell health
// whether the store took them, as watchedStore's do.
type watchedInboundRouter struct {
	ir     InboundRouter
	health *storeHealth
}

func (w watchedInboundRouter) InsertConversationRouted(ctx context.Context, cw ConversationWrite, route RoutedWrite) (bool, error) {
	routed, err := w.ir.InsertConversationRouted(ctx, cw, route)
	return routed, watchedStore{health: w.health}.watch(err)
}

func (w watchedStore) SaveSettings(ctx context.Context, st Settings) error {
	return w.watch(w.Store.SaveSettings(ctx, st))
}

func (w watchedStore) InsertAgent(ctx context.Context, a Agent) error {
	return w.watch(w.Store.InsertAgent(ctx, a))
}

func (w watchedStore) UpdateAgent(ctx context.Context, a Agent) error {
	return w.watch(w.Store.UpdateAgent(ctx, a))
}

func (w watchedStore) TouchAgent(ctx context.Context, workspaceID, agentID string, at time.Time) error {
	return w.watch(w.Store.TouchAgent(ctx, workspaceID, agentID, at))
}

func (w watchedStore) InsertChannel(ctx context.Context, c Channel) error {
	return w.watch(w.Store.InsertChannel(ctx, c))
}

func (w watchedStore) SetAutoOwnership(ctx context.Context, workspaceID, channelID, agentID string, enabled bool) error {
	return w.watch(w.Store.SetAutoOwnership(ctx, workspaceID, channelID, agentID, enabled))
}

func (w watchedStore) UpsertContact(ctx context.Context, c Contact) (Contact, error) {
	out, err := w.Store.UpsertContact(ctx, c)
	return out, w.watch(err)
}

func (w watchedStore) InsertConversation(ctx context.Context, cw ConversationWrite) error {
	return w.watch(w.Store.InsertConversation(ctx, cw))
}

func (w watchedStore) UpdateConversation(ctx context.Context, cw ConversationWrite) error {
	return w.watch(w.Store.UpdateConversation(ctx, cw))
}

func (w watchedStore) UpdateConversations(ctx context.Context, cws []ConversationWrite) ([]error, error) {
	errs, err := w.Store.UpdateConversations(ctx, cws)
	return errs, w.watch(err)
}

func (w watchedStore) AcknowledgeAssignments(ctx context.Context, workspaceID, agentID string, keys []HistoryKey) error {
	return w.watch(w.Store.AcknowledgeAssignments(ctx, workspaceID, agentID, keys))
}
