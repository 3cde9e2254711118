package domain

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// tickingClock moves a millisecond each time it is read, so a test can see
// which reading an attempt used.
type tickingClock struct{ now time.Time }

func (c *tickingClock) Now() time.Time {
	c.now = c.now.Add(time.Millisecond)
	return c.now
}

func (c *tickingClock) AfterFunc(time.Duration, func()) Timer { panic("the runner arms no timers") }

// runnerService is a Service for the runner's own tests: the runner reads
// only the clock; every load and write is the test's.
func runnerService() *Service { return NewService(nil, WithClock(&tickingClock{now: t0})) }

// attempts records what each attempt of a command did.
type attempts struct {
	loads, writes int
	decidedOn     []int // the state each decision saw
}

// counting is a command whose load returns the attempt's number and whose
// decision writes with write, losing races by lostRace.
func (a *attempts) counting(write func(n int) error, lostRace ...error) command[int, int] {
	return command[int, int]{
		load: func(context.Context, time.Time) (int, error) {
			a.loads++
			return a.loads, nil
		},
		decide: func(n int, _ time.Time) (decision[int], error) {
			a.decidedOn = append(a.decidedOn, n)
			return writing(n, func(context.Context) error {
				a.writes++
				return write(n)
			}, lostRace...), nil
		},
	}
}

func TestRunRetriesALostRaceUpToTheBoundThenIsTooBusy(t *testing.T) {
	var a attempts
	_, err := run(context.Background(), runnerService(), a.counting(func(int) error { return ErrVersionConflict }, ErrVersionConflict))
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeInternal || e.Message != tooBusy().Message {
		t.Fatalf("err = %v, want INTERNAL %q", err, tooBusy().Message)
	}
	if a.loads != maxAttempts || a.writes != maxAttempts {
		t.Errorf("%d loads and %d writes, want %d of each", a.loads, a.writes, maxAttempts)
	}
}

func TestRunReturnsWhatTheWinningAttemptDecided(t *testing.T) {
	var a attempts
	got, err := run(context.Background(), runnerService(), a.counting(func(n int) error {
		if n < 4 {
			return ErrDuplicate
		}
		return nil
	}, ErrVersionConflict, ErrDuplicate))
	if err != nil || got != 4 {
		t.Fatalf("run = %d, %v; want the fourth attempt's result", got, err)
	}
	if want := []int{1, 2, 3, 4}; !slices.Equal(a.decidedOn, want) {
		t.Errorf("decisions saw %v, want each attempt's own load %v", a.decidedOn, want)
	}
}

func TestRunDoesNotRetryAWriteTheRuleDoesNotLetRetry(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		lostRace []error
	}{
		{"an error that is not a lost race for this write", ErrDuplicate, []error{ErrVersionConflict}},
		{"a write that names no lost race (an unconditional one)", ErrVersionConflict, nil},
		{"a store failure", errors.New("disk full"), []error{ErrVersionConflict}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a attempts
			_, err := run(context.Background(), runnerService(), a.counting(func(int) error { return tc.err }, tc.lostRace...))
			if ErrorCode(err) != CodeInternal || !errors.Is(err, tc.err) {
				t.Errorf("err = %v, want INTERNAL wrapping %v", err, tc.err)
			}
			var e *Error
			if errors.As(err, &e) {
				t.Errorf("err = %v is a caller-facing *Error; the store's cause must stay hidden", err)
			}
			if a.loads != 1 || a.writes != 1 {
				t.Errorf("%d loads and %d writes, want one attempt", a.loads, a.writes)
			}
		})
	}
}

func TestRunPassesADomainErrorOfTheWriteThrough(t *testing.T) {
	var a attempts
	_, err := run(context.Background(), runnerService(), a.counting(func(int) error { return NotFound("channel") }, ErrVersionConflict))
	if ErrorCode(err) != CodeNotFound || a.writes != 1 {
		t.Errorf("err = %v after %d writes, want NOT_FOUND after one", err, a.writes)
	}
}

// A decision that an attempt made and lost must not outlive it: the claim of
// a cleanup that a lost race found gone is not a claim (claimCleanup), nor
// is a sign-in that another socket made first (SignIn).
func TestRunForgetsTheDecisionOfAnAttemptThatLost(t *testing.T) {
	var loads int
	got, err := run(context.Background(), runnerService(), command[bool, bool]{
		load: func(context.Context, time.Time) (bool, error) {
			loads++
			return loads == 1, nil // the cleanup is there for the first attempt only
		},
		decide: func(armed bool, _ time.Time) (decision[bool], error) {
			if !armed {
				return done(false), nil
			}
			return writing(true, func(context.Context) error { return ErrVersionConflict }, ErrVersionConflict), nil
		},
	})
	if err != nil || got || loads != 2 {
		t.Errorf("run = %v, %v after %d loads; want false (nothing claimed) after 2", got, err, loads)
	}
}

func TestRunWritesNothingWhenTheResultAlreadyHolds(t *testing.T) {
	var loads int
	got, err := run(context.Background(), runnerService(), command[string, string]{
		load: func(context.Context, time.Time) (string, error) { loads++; return "as found", nil },
		decide: func(s string, _ time.Time) (decision[string], error) {
			return done(s), nil
		},
	})
	if err != nil || got != "as found" || loads != 1 {
		t.Errorf("run = %q, %v after %d loads; want the state as found, after one", got, err, loads)
	}
}

func TestRunEndsOnAnErrorOfLoadOrDecideWithoutWriting(t *testing.T) {
	refused := Forbidden("this agent is deactivated")
	write := func(context.Context) error { t.Error("wrote after an error"); return nil }
	_, err := run(context.Background(), runnerService(), command[int, int]{
		load: func(context.Context, time.Time) (int, error) { return 0, refused },
		decide: func(int, time.Time) (decision[int], error) {
			t.Error("decided after load failed")
			return writing(0, write), nil
		},
	})
	if err != refused {
		t.Errorf("load error: err = %v, want %v", err, refused)
	}
	_, err = run(context.Background(), runnerService(), command[int, int]{
		load:   func(context.Context, time.Time) (int, error) { return 1, nil },
		decide: func(int, time.Time) (decision[int], error) { return writing(0, write), refused },
	})
	if err != refused {
		t.Errorf("decide error: err = %v, want %v", err, refused)
	}
}

func TestRunDecidesTheFirstAttemptOnWhatTheCallerRead(t *testing.T) {
	read := 10
	var loads int
	var decidedOn []int
	got, err := run(context.Background(), runnerService(), command[int, int]{
		first: &read,
		load: func(context.Context, time.Time) (int, error) {
			loads++
			return 20, nil
		},
		decide: func(n int, _ time.Time) (decision[int], error) {
			decidedOn = append(decidedOn, n)
			if n == 10 {
				return writing(n, func(context.Context) error { return ErrVersionConflict }, ErrVersionConflict), nil
			}
			return done(n), nil
		},
	})
	if err != nil || got != 20 || loads != 1 || !slices.Equal(decidedOn, []int{10, 20}) {
		t.Errorf("run = %d, %v, %d loads, decided on %v; want 20 after one load, decided on [10 20]", got, err, loads, decidedOn)
	}
}

func TestRunLoadsAndDecidesAtOneReadingOfTheClockPerAttempt(t *testing.T) {
	var loadedAt, decidedAt []time.Time
	_, _ = run(context.Background(), runnerService(), command[int, int]{
		load: func(_ context.Context, now time.Time) (int, error) {
			loadedAt = append(loadedAt, now)
			return 0, nil
		},
		decide: func(_ int, now time.Time) (decision[int], error) {
			decidedAt = append(decidedAt, now)
			lost := len(decidedAt) == 1
			return writing(0, func(context.Context) error {
				if lost {
					return ErrVersionConflict
				}
				return nil
			}, ErrVersionConflict), nil
		},
	})
	if len(loadedAt) != 2 || len(decidedAt) != 2 {
		t.Fatalf("%d loads and %d decisions, want 2 of each", len(loadedAt), len(decidedAt))
	}
	for i := range loadedAt {
		if !loadedAt[i].Equal(decidedAt[i]) {
			t.Errorf("attempt %d loaded at %v and decided at %v, want one time", i+1, loadedAt[i], decidedAt[i])
		}
	}
	if !decidedAt[1].After(decidedAt[0]) {
		t.Errorf("the second attempt decided at %v, not after the first's %v", decidedAt[1], decidedAt[0])
	}
}
