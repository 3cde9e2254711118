package ws

import "context"

// Observer is told what the transport does, for an operator's figures.
// Its methods must return at once.
type Observer interface {
	// SocketOpened and SocketClosed bracket a socket that speaks dialect
	// (its subprotocol).
	SocketOpened(dialect string)
	SocketClosed(dialect string)
	// SubscriptionStarted and SubscriptionEnded bracket a subscription to
	// the root field kind (queueChanged, ownershipChanged, …).
	SubscriptionStarted(kind string)
	SubscriptionEnded(kind string)
	// ClosedTooSlow: a socket was closed with 1013 (try again later):
	// why is "send_queue" (its send queue overflowed or the server's queues
	// together were over budget), "feed" (its subscription fell behind
	// the change feed) or "resync" (the feed lost its place).
	ClosedTooSlow(why string)
}

type nopObserver struct{}

func (nopObserver) SocketOpened(string)        {}
func (nopObserver) SocketClosed(string)        {}
func (nopObserver) SubscriptionStarted(string) {}
func (nopObserver) SubscriptionEnded(string)   {}
func (nopObserver) ClosedTooSlow(string)       {}

type socketKey struct{}

// OverSocket reports whether ctx is that of an operation that came over a
// WebSocket.
func OverSocket(ctx context.Context) bool {
	v, _ := ctx.Value(socketKey{}).(bool)
	return v
}
