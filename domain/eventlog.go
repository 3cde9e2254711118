package domain

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// EventLog is a store's record of its committed changes, per workspace, in
// the order subscribers receive them: what a subscriber that dropped
// replays from its last position. A store that keeps one gives every event
// it publishes its position (Event.Position), increasing per workspace.
type EventLog interface {
	// EventsAfter returns up to limit events of the workspace whose
	// position is after after, in position order. ErrPositionTooOld when
	// some event after after is no longer kept.
	EventsAfter(ctx context.Context, workspaceID string, after int64, limit int) ([]Event, error)
	// TrimEvents drops, in every workspace, the events committed before
	// before that are not among the workspace's newest keep.
	TrimEvents(ctx context.Context, before time.Time, keep int) (int, error)
}

// ErrPositionTooOld: the events after a position are no longer all kept,
// or the position is past the newest kept, which only a store restored
// behind the one that gave it can see.
var ErrPositionTooOld = errors.New("position too old")

// CodeReset is the code of the error a resuming subscription gets when its
// position is older than what is kept: the subscriber refetches what it
// shows, then subscribes again without a position.
const CodeReset Code = "RESET"

// Retention says how long a workspace's events stay replayable: an event is
// kept while it is younger than For or among the workspace's newest Count,
// whichever keeps more.
type Retention struct {
	For   time.Duration
	Count int
}

// DefaultRetention keeps 10 minutes or 10,000 events per workspace,
// whichever is more.
var DefaultRetention = Retention{For: 10 * time.Minute, Count: 10_000}

// EventTrimInterval is how often events past the retention are dropped.
const EventTrimInterval = 30 * time.Second

// WithRetention sets how long events stay replayable.
func WithRetention(r Retention) Option { return func(s *Service) { s.retention = r } }

// ReplayPageSize is how many logged events a resuming subscription reads
// at once.
const ReplayPageSize = 200

// Position encodes a position of a workspace's events for a client: opaque,
// and tied to its workspace.
func Position(workspaceID string, pos int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("p1:" + strconv.FormatInt(pos, 10) + ":" + workspaceMark(workspaceID)))
}

// workspaceMark is a short digest of a workspace id: a position says which
// workspace it belongs to without showing its id.
func workspaceMark(ws string) string {
	h := sha256.Sum256([]byte("position\x00" + ws))
	return base64.RawURLEncoding.EncodeToString(h[:9])
}

// DecodePosition reads a position given as the argument arg: BAD_USER_INPUT
// when it is not one of this API or belongs to another workspace.
func DecodePosition(workspaceID, arg, s string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		if rest, ok := strings.CutPrefix(string(b), "p1:"); ok {
			if n, mark, ok := strings.Cut(rest, ":"); ok {
				if p, err := strconv.ParseInt(n, 10, 64); err == nil && p >= 0 {
					if mark != workspaceMark(workspaceID) {
						return 0, Invalid(arg, "%s is a position of another workspace", arg)
					}
					return p, nil
				}
			}
		}
	}
	return 0, Invalid(arg, "%s is not a position of this API", arg)
}

// Resume checks that a subscription may resume after the position since,
// given as the argument arg, and returns it decoded with the first page of
// the events that follow it. An error with CodeReset when what followed
// it is no longer kept.
func (s *Service) Resume(ctx context.Context, a Actor, arg, since string) (int64, []Event, error) {
	if err := requireAgent(a); err != nil {
		return 0, nil, err
	}
	pos, err := DecodePosition(a.WorkspaceID, arg, since)
	if err != nil {
		return 0, nil, err
	}
	evs, err := s.EventsAfter(ctx, a.WorkspaceID, pos)
	return pos, evs, err
}

// EventsAfter returns the next page of a workspace's logged events after
// pos; an error with CodeReset when some are no longer kept.
func (s *Service) EventsAfter(ctx context.Context, ws string, pos int64) ([]Event, error) {
	log, ok := s.rawStore.(EventLog)
	if !ok {
		return nil, Invalid("since", "this server keeps no record of changes to resume from")
	}
	evs, err := log.EventsAfter(ctx, ws, pos, ReplayPageSize)
	switch {
	case errors.Is(err, ErrPositionTooOld):
		return nil, &Error{Code: CodeReset, Message: "the position is not among the changes kept (older than them, or from before a restore): refetch, then subscribe without since"}
	case err != nil:
		return nil, internal(err)
	}
	return evs, nil
}

// TrimEvents drops the events past the retention; the jobs run it every
// EventTrimInterval.
func (s *Service) TrimEvents(ctx context.Context) error {
	log, ok := s.rawStore.(EventLog)
	if !ok {
		return nil
	}
	_, err := log.TrimEvents(ctx, s.now().Add(-s.retention.For), s.retention.Count)
	return internal(err)
}
