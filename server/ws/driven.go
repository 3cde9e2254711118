package ws

import (
	"context"
	"sync"
)

// driven runs a subscription's operation only when its resolver has a
// result for it (feed.Driver): an idle subscription holds no goroutine of
// the transport's, where one waiting on the resolver's channel would hold
// its stack for the subscription's whole life. A goroutine runs while
// results are announced and ends when none is.
type driven struct {
	mu sync.Mutex
	// attached: the resolver announces each result (feed.Attach).
	attached bool
	// pending counts the results (or the channel's close) announced and
	// not yet read.
	pending int
	// running: a goroutine is reading; ended: the operation has ended.
	running, ended bool
	// respond reads and sends one result; finish ends the operation with
	// the message respond returned last. Set by begin.
	respond func(first bool) (more bool, last *message)
	finish  func(last *message)
}

// Attach implements feed.Driver.
func (d *driven) Attach() {
	d.mu.Lock()
	d.attached = true
	d.mu.Unlock()
}

func (d *driven) isAttached() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.attached
}

// Ready implements feed.Driver: one more result is coming.
func (d *driven) Ready() {
	d.mu.Lock()
	d.pending++
	start := d.wake()
	d.mu.Unlock()
	if start {
		go d.run()
	}
}

// wake reports whether a goroutine is to be started to read what is
// announced, and marks it running; d.mu is held.
func (d *driven) wake() bool {
	if d.respond == nil || d.running || d.ended || d.pending == 0 {
		return false
	}
	d.running = true
	return true
}

// begin starts reading the results announced, and those announced later,
// until the operation ends (its channel closed, or ctx ended).
func (d *driven) begin(ctx context.Context, respond func(first bool) (bool, *message), finish func(*message)) {
	d.mu.Lock()
	d.respond, d.finish = respond, finish
	start := d.wake()
	d.mu.Unlock()
	if start {
		go d.run()
	}
	// When the operation is stopped, one more read finds its context
	// ended and finishes it.
	context.AfterFunc(ctx, d.Ready)
}

// run reads the announced results one by one until none is left.
func (d *driven) run() {
	for {
		d.mu.Lock()
		if d.ended || d.pending == 0 {
			d.running = false
			d.mu.Unlock()
			return
		}
		d.pending--
		d.mu.Unlock()
		if more, last := d.respond(false); !more {
			d.mu.Lock()
			d.ended, d.running = true, false
			d.mu.Unlock()
			d.finish(last)
			return
		}
	}
}
