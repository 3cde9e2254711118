package ws

import (
	"unicode/utf8"

	"github.com/coder/websocket"
)

// Close codes. 44xx are graphql-transport-ws's own; the others are the
// WebSocket standard's.
const (
	// CloseBadRequest: a message that is not valid JSON of the protocol.
	CloseBadRequest websocket.StatusCode = 4400
	// CloseUnauthorized: subscribe before connection_ack.
	CloseUnauthorized websocket.StatusCode = 4401
	// CloseForbidden: no or bad token, an expired token, a deactivated agent.
	CloseForbidden websocket.StatusCode = 4403
	// CloseSubprotocolNotAcceptable: the client offered neither subprotocol.
	CloseSubprotocolNotAcceptable websocket.StatusCode = 4406
	// CloseInitTimeout: no connection_init in time.
	CloseInitTimeout websocket.StatusCode = 4408
	// CloseDuplicateID: subscribe with an id that is in use.
	CloseDuplicateID websocket.StatusCode = 4409
	// CloseTooManyInits: a second connection_init.
	CloseTooManyInits websocket.StatusCode = 4429
	// CloseInternal: the server failed.
	CloseInternal websocket.StatusCode = 4500
	// CloseTooSlow: the client did not read its messages fast enough; it may
	// reconnect and catch up with a query.
	CloseTooSlow = websocket.StatusTryAgainLater
	// CloseGoingAway: the server is shutting down.
	CloseGoingAway = websocket.StatusGoingAway
)

// disconnect is why the server ends a connection: the code and reason of
// its close frame. Clients act on the code and show the reason, so each
// cause has one value, named below, rather than a string at each place
// that closes.
type disconnect struct {
	code   websocket.StatusCode
	reason string
}

var (
	// disconnectNormal: the client closed, or asked to (connection_terminate).
	disconnectNormal = disconnect{websocket.StatusNormalClosure, ""}
	// disconnectShutdown: the server is stopping, or its change feed is.
	disconnectShutdown = disconnect{CloseGoingAway, "server shutting down"}
	// disconnectTooSlow: the send queue or the subscription's event queue
	// filled, or a write timed out.
	disconnectTooSlow = disconnect{CloseTooSlow, "client too slow: reconnect and catch up"}
	// disconnectResync: the change feed lost its place.
	disconnectResync = disconnect{CloseTooSlow, "updates may have been missed: reconnect and catch up"}
	// disconnectPingUnanswered: a half-open socket.
	disconnectPingUnanswered = disconnect{websocket.StatusPolicyViolation, "ping unanswered"}
	disconnectInternal       = disconnect{CloseInternal, "Internal server error"}
	disconnectSubprotocol    = disconnect{CloseSubprotocolNotAcceptable, "Subprotocol not acceptable"}
	disconnectInitTimeout    = disconnect{CloseInitTimeout, "Connection initialisation timeout"}
	disconnectTooManyInits   = disconnect{CloseTooManyInits, "Too many initialisation requests"}
	// disconnectUnauthorized: an operation before connection_ack.
	disconnectUnauthorized = disconnect{CloseUnauthorized, "Unauthorized"}
	disconnectTokenExpired = disconnect{CloseForbidden, "Forbidden: the token has expired"}
	disconnectDeactivated  = disconnect{CloseForbidden, "Forbidden: this agent is deactivated"}
)

// disconnectInvalid: a frame the decoder refused; err says why.
func disconnectInvalid(err error) disconnect {
	return disconnect{CloseBadRequest, err.Error()}
}

// disconnectForbidden: connection_init with a token that was refused, or
// for an agent who may not connect; err says why.
func disconnectForbidden(err error) disconnect {
	return disconnect{CloseForbidden, "Forbidden: " + err.Error()}
}

// disconnectDuplicateID: a subscribe with an id in use.
func disconnectDuplicateID(id string) disconnect {
	return disconnect{CloseDuplicateID, "Subscriber for " + truncate(id, 80) + " already exists"}
}

// maxReasonBytes bounds a close reason: a close frame's payload is at most
// 125 bytes, two of them the code.
const maxReasonBytes = 120

// closeWith sends d's close frame on c and waits for the close handshake.
func closeWith(c *websocket.Conn, d disconnect) error {
	return c.Close(d.code, truncate(d.reason, maxReasonBytes))
}

// truncate cuts s to at most n bytes, at a rune boundary: a close reason
// must stay UTF-8.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
