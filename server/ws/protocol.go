package ws

import "github.com/coder/websocket"

// The two subprotocols: graphql-transport-ws (the graphql-ws library) and
// the legacy graphql-ws of subscriptions-transport-ws.
const (
	protocolTransportWS = "graphql-transport-ws"
	protocolLegacy      = "graphql-ws"
)

// Message types of graphql-transport-ws.
const (
	msgConnectionInit = "connection_init"
	msgConnectionAck  = "connection_ack"
	msgPing           = "ping"
	msgPong           = "pong"
	msgSubscribe      = "subscribe"
	msgNext           = "next"
	msgError          = "error"
	msgComplete       = "complete"
)

// Message types of the legacy protocol that differ.
const (
	legacyConnectionError     = "connection_error"
	legacyKeepAlive           = "ka"
	legacyStart               = "start"
	legacyData                = "data"
	legacyStop                = "stop"
	legacyConnectionTerminate = "connection_terminate"
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
