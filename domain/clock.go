package domain

import "time"

// Clock is where the domain reads the time and arms timers, so tests can run a
// two-minute rule in milliseconds with a fake clock.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a timer armed by Clock.AfterFunc.
type Timer interface {
	// Stop prevents the call if it has not happened; it reports whether it did.
	Stop() bool
}

// SystemClock is the real clock.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now() }

func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Truncate returns t in UTC with millisecond precision, the precision of every
// time Switchboard stores and shows.
func Truncate(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }
