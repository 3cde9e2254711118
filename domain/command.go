package domain

import (
	"context"
	"errors"
	"time"
)

// Every command runs the same way, by run: in attempts, each of which loads
// what the command's decision rests on, decides from what it loaded, and
// writes what it decided, conditionally on what it loaded. A write whose
// condition no longer held lost a race to another writer; where the rule
// allows it, the next attempt loads again and decides afresh, so a lost race
// is never a wrong result, only a slower one. The result is the one the
// writing attempt decided: no decision of an attempt that lost carries over.
// (Only a read may: the offline rules read the workspace's settings once per
// command, see offlineRuleInputs.)

// maxAttempts bounds the attempts of a command that keeps losing races.
const maxAttempts = 100

// command is what run needs of a command.
type command[S, R any] struct {
	// first, when set, is state the caller already read: the first attempt
	// decides on it, and only an attempt after a lost race loads.
	first *S
	// load reads what the decision rests on, including reads that depend on
	// an earlier one (the owner of the conversation it found). It may end the
	// command with an error when what it found leaves nothing to decide: a
	// missing record, a deactivated caller.
	load func(ctx context.Context, now time.Time) (S, error)
	// decide decides, from what this attempt loaded, what to write and what
	// the command returns. It reads nothing.
	decide func(state S, now time.Time) (decision[R], error)
}

// decision is what one attempt decided: the command's result and, unless
// the result already holds, the write that makes it so.
type decision[R any] struct {
	result R
	write  func(ctx context.Context) error
	// lostRace are the errors of write that mean its condition no longer
	// held and the rule lets the command try again; any other error of write
	// ends the command.
	lostRace []error
}

// done decides that nothing needs writing: result already holds.
func done[R any](result R) decision[R] { return decision[R]{result: result} }

// writing decides to write; once written, the command returns result. A
// write error in lostRace starts another attempt; without any, the write is
// never retried.
func writing[R any](result R, write func(context.Context) error, lostRace ...error) decision[R] {
	return decision[R]{result: result, write: write, lostRace: lostRace}
}

func (d decision[R]) lost(err error) bool {
	for _, e := range d.lostRace {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// run runs c: at most maxAttempts attempts, each reading the clock once, so
// that what it loads and what it decides agree on the time.
func run[S, R any](ctx context.Context, s *Service, c command[S, R]) (R, error) {
	var none R
	for attempt := range maxAttempts {
		now := s.now()
		var state S
		if attempt == 0 && c.first != nil {
			state = *c.first
		} else {
			var err error
			if state, err = c.load(ctx, now); err != nil {
				return none, err
			}
		}
		d, err := c.decide(state, now)
		if err != nil {
			return none, err
		}
		if d.write == nil {
			return d.result, nil
		}
		err = d.write(ctx)
		if d.lost(err) {
			continue
		}
		if err != nil {
			return none, internal(err)
		}
		return d.result, nil
	}
	return none, tooBusy()
}

func tooBusy() *Error {
	return &Error{Code: CodeInternal, Message: "the server is too busy with this record; try again"}
}
