// Package fakeclock is a domain.Clock for tests: time stands still until the
// test moves it, and timers fire when it passes their deadline.
package fakeclock

import (
	"sort"
	"sync"
	"time"

	"switchboard/domain"
)

// Clock is a fake clock. The zero value is not usable; use New.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
	armed  chan struct{} // closed and replaced whenever a timer is armed
	// running counts the timers' calls that have not returned yet; idle
	// is signalled when it drops to zero.
	running int
	idle    *sync.Cond
}

type timer struct {
	c       *Clock
	at      time.Time
	f       func()
	stopped bool
}

// New returns a fake clock reading start.
func New(start time.Time) *Clock {
	c := &Clock{now: start, armed: make(chan struct{})}
	c.idle = sync.NewCond(&c.mu)
	return c
}

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc arms a timer that calls f, in its own goroutine, once the clock
// has been moved past now+d.
func (c *Clock) AfterFunc(d time.Duration, f func()) domain.Timer {
	c.mu.Lock()
	t := &timer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	close(c.armed)
	c.armed = make(chan struct{})
	c.mu.Unlock()
	if d <= 0 {
		c.Advance(0)
	}
	return t
}

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			return was
		}
	}
	return false
}

// Advance moves the clock forward by d and fires, in deadline order, every
// timer that is due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due, rest []*timer
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.stopped = true
			due = append(due, t)
		} else {
			rest = append(rest, t)
		}
	}
	c.timers = rest
	c.running += len(due)
	c.mu.Unlock()
	sort.SliceStable(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		go func() {
			defer c.returned()
			t.f()
		}()
	}
}

func (c *Clock) returned() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running--; c.running == 0 {
		c.idle.Broadcast()
	}
}

// AdvanceAndWait is Advance, and then waits until every timer call it
// started has returned, with those calls' own timers due at once: a test
// that moves time step by step sees each step's work done before the next.
// It waits for calls other moves started too, so it suits tests whose
// timers' calls are short (the domain's jobs), not a call that waits for
// the next move.
func (c *Clock) AdvanceAndWait(d time.Duration) {
	c.Advance(d)
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.running > 0 {
		c.idle.Wait()
	}
}

// Set moves the clock to t (forward only) and fires due timers.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	d := t.Sub(c.now)
	c.mu.Unlock()
	if d > 0 {
		c.Advance(d)
	}
}

// Armed returns a channel that is closed when the next timer is armed, so a
// test can wait for the code under test to arm one before advancing.
func (c *Clock) Armed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.armed
}

// Pending returns how many timers are armed and not yet fired.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}
