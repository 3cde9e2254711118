package ws

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
