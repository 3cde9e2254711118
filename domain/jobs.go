package domain

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Jobs is the work nobody asks for: the presence timeout, logout cleanups,
// boomerangs, writing the signs of life noted in memory, and probing whether
// the store takes writes. Each runs on the service's clock, so tests drive
// it with a fake one.
type Jobs struct {
	s      *Service
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	timers map[string]Timer
	// rmu guards the routing workers: dirty marks a workspace as to be
	// filled, routing one whose worker runs.
	rmu     sync.Mutex
	dirty   map[string]bool
	routing map[string]bool
}

// PresenceSweepInterval is how often silent agents are looked for: an agent
// goes OFFLINE at most this late (their presenceSince is exact).
const PresenceSweepInterval = time.Second

// StartJobs starts the background jobs; Stop ends them. Feed it every
// committed change with Notice, so due work is timed as soon as it is
// scheduled.
func (s *Service) StartJobs(ctx context.Context) *Jobs {
	ctx, cancel := context.WithCancel(ctx)
	j := &Jobs{s: s, ctx: ctx, cancel: cancel, timers: map[string]Timer{}, dirty: map[string]bool{}, routing: map[string]bool{}}
	s.jobs.Store(j)
	j.every("store probe", ProbeInterval, s.probeStore)
	j.every("signs of life", s.touchEvery, s.writeSignsOfLife)
	j.every("presence timeout", PresenceSweepInterval, func(ctx context.Context) error {
		_, err := s.ExpireSilentAgents(ctx)
		return err
	})
	j.every("reconcile due work", ReconcileInterval, func(ctx context.Context) error {
		err := j.reconcile(ctx)
		s.observer.ReconcilerRan(err)
		return err
	})
	j.every("trim the record of changes", EventTrimInterval, s.TrimEvents)
	if m := s.maintenance; m != nil {
		j.every("store maintenance", StoreMaintenanceInterval, func(ctx context.Context) error {
			_, err := m.Reconcile(ctx)
			return err
		})
	}
	return j
}

// StoreMaintenance is a store with background work of its own: the MongoDB
// store copies out what an interrupted write left pending. It is idempotent,
// so every instance may run it.
type StoreMaintenance interface {
	Reconcile(ctx context.Context) (int, error)
}

// StoreMaintenanceInterval is how often StoreMaintenance runs.
const StoreMaintenanceInterval = 30 * time.Second

// Notice arms a timer for the due work a committed change scheduled: a
// logout cleanup armed by going offline, a boomerang set by a move to
// PENDING. It never blocks (a feed calls it).
func (j *Jobs) Notice(e Event) {
	j.s.noticeObserved(e)
	if a := e.Agent; a != nil && a.After.Cleanup != nil {
		j.armCleanup(a.After)
	}
	if c := e.Conversation; c != nil && c.After.Status == StatusPending && c.After.BoomerangAt != nil {
		j.armBoomerang(c.After)
	}
	if c := e.Conversation; c != nil && c.After.Status == StatusNew && c.After.UnansweredAt != nil {
		j.armUnanswered(c.After)
	}
	if e.WorkspaceID != "" && routingTrigger(e) {
		j.route(e.WorkspaceID)
	}
}

// horizon bounds how far ahead a timer is armed; later work is armed by a
// later reconcile.
const horizon = 10 * time.Minute

func (j *Jobs) armCleanup(a Agent) {
	key := fmt.Sprintf("cleanup %s %s %d", a.WorkspaceID, a.ID, a.Cleanup.Epoch)
	ws, id := a.WorkspaceID, a.ID
	j.at(key, a.Cleanup.DueAt, func(ctx context.Context) error {
		_, err := j.s.RunLogoutCleanup(ctx, ws, id)
		return err
	})
}

func (j *Jobs) armBoomerang(c Conversation) {
	j.armConversation("boomerang", c, *c.BoomerangAt, j.s.FireBoomerang)
}

// armConversation arms a timer of kind on conversation c that runs fire at
// at; the key holds at, so a moved deadline arms a timer of its own, and
// fire is told which deadline it is for.
func (j *Jobs) armConversation(kind string, c Conversation, at time.Time, fire func(ctx context.Context, ws, id string, at time.Time) (bool, error)) {
	key := fmt.Sprintf("%s %s %s %d", kind, c.WorkspaceID, c.ID, at.UnixMilli())
	ws, id := c.WorkspaceID, c.ID
	j.at(key, at, func(ctx context.Context) error {
		_, err := fire(ctx, ws, id, at)
		return err
	})
}

// at runs job once at due (now if past), unless a timer with the same key
// is armed already.
func (j *Jobs) at(key string, due time.Time, job func(context.Context) error) {
	d := due.Sub(j.s.clock.Now())
	if d > horizon {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, armed := j.timers[key]; armed || j.ctx.Err() != nil {
		return
	}
	j.timers[key] = j.s.clock.AfterFunc(max(d, 0), func() {
		if !j.begin() {
			return
		}
		defer j.wg.Done()
		if err := job(j.ctx); j.failed(err) {
			j.s.log.Error("due work failed; the reconciler retries it", "job", key, "err", err)
		}
		j.mu.Lock()
		delete(j.timers, key)
		j.mu.Unlock()
	})
}

// reconcile does whatever is due and arms timers for what comes due before
// the next reconcile: the backstop for a missed event, a crash or a restart.
func (j *Jobs) reconcile(ctx context.Context) error {
	until := j.s.now().Add(ReconcileInterval)
	agents, err := j.s.store.DueCleanups(ctx, until, 500)
	if err != nil {
		return internal(err)
	}
	for _, a := range agents {
		j.armCleanup(a)
	}
	convs, err := j.s.store.DueBoomerangs(ctx, until, 500)
	if err != nil {
		return internal(err)
	}
	for _, c := range convs {
		j.armBoomerang(c)
	}
	return j.reconcileRouting(ctx, until)
}

// every runs job now and then every d, one run at a time.
func (j *Jobs) every(name string, d time.Duration, job func(context.Context) error) {
	var run func()
	run = func() {
		if !j.begin() {
			return
		}
		defer j.wg.Done()
		if err := job(j.ctx); j.failed(err) {
			j.s.log.Error("background job failed; it runs again", "job", name, "err", err)
		}
		j.arm(name, d, run)
	}
	j.arm(name, 0, run)
}

// failed reports whether a job's error is worth a log line of its own: not
// when the jobs are stopping, nor when the store is unavailable, which the
// outage's own log line says once (a job runs again every second or so).
func (j *Jobs) failed(err error) bool {
	return err != nil && j.ctx.Err() == nil && !isUnavailable(err)
}

// begin counts a run in, unless the jobs are stopping.
func (j *Jobs) begin() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.ctx.Err() != nil {
		return false
	}
	j.wg.Add(1)
	return true
}

func (j *Jobs) arm(name string, d time.Duration, f func()) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.ctx.Err() == nil {
		j.timers[name] = j.s.clock.AfterFunc(d, f)
	}
}

// Stop ends the jobs and waits for a running one to finish.
func (j *Jobs) Stop() {
	j.s.jobs.CompareAndSwap(j, nil)
	j.mu.Lock()
	j.cancel()
	for _, t := range j.timers {
		t.Stop()
	}
	j.mu.Unlock()
	j.wg.Wait()
}
