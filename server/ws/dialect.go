package ws

import (
	"encoding/json"

	"switchboard/domain"
)

// clientKind is what a client message asks, whichever subprotocol it is
// written in.
type clientKind int

const (
	kindInit      clientKind = iota + 1 // authenticate the connection
	kindPing                            // answer with a pong
	kindPong                            // nothing: an answer, or a heartbeat
	kindStart                           // run an operation under an id
	kindStop                            // end the operation of an id
	kindTerminate                       // close the connection
)

// dialect is one subprotocol's wording of the conversation: which message
// types a client sends and what each asks, what the server's messages are
// called, and the few rules where the two protocols differ. The connection
// speaks in kinds and leaves the words to the dialect agreed at the upgrade.
type dialect struct {
	// subprotocol is the dialect's Sec-WebSocket-Protocol name.
	subprotocol string
	// client maps the message types a client may send to what they ask;
	// any other type is an invalid message.
	client map[string]clientKind
	// The types of the server's messages: the acknowledgement of
	// connection_init, an answer to a ping, an operation's result, its end,
	// and its failure (a list of GraphQL errors; nothing follows).
	ack, pong, next, complete, errorType string
	// keepAlive, if not "", follows the ack and each answered WebSocket
	// ping: a subscriptions-transport-ws client that hears nothing for a
	// while takes the connection for dead.
	keepAlive string
	// connectionError, if not "", tells a refused client why before the
	// close, as a GraphQL error.
	connectionError string
	// startReplaces makes a start with an id in use end that operation
	// and take its place; otherwise the id in use closes the connection
	// with CloseDuplicateID.
	startReplaces bool
}

// transportWS is graphql-transport-ws, of the graphql-ws library.
var transportWS = &dialect{
	subprotocol: "graphql-transport-ws",
	client: map[string]clientKind{
		"connection_init": kindInit,
		"ping":            kindPing,
		"pong":            kindPong,
		"subscribe":       kindStart,
		"complete":        kindStop,
	},
	ack: "connection_ack", pong: "pong", next: "next", complete: "complete", errorType: "error",
}

// legacyWS is graphql-ws, of subscriptions-transport-ws: no protocol ping,
// keep-alives instead, and a refusal in words before the close.
var legacyWS = &dialect{
	subprotocol: "graphql-ws",
	client: map[string]clientKind{
		"connection_init":      kindInit,
		"start":                kindStart,
		"stop":                 kindStop,
		"connection_terminate": kindTerminate,
	},
	ack: "connection_ack", next: "data", complete: "complete", errorType: "error",
	keepAlive:       "ka",
	connectionError: "connection_error",
	startReplaces:   true,
}

// dialects are the subprotocols the server speaks, the one it prefers
// first.
var dialects = []*dialect{transportWS, legacyWS}

// dialectOf returns the dialect of a subprotocol, or nil.
func dialectOf(subprotocol string) *dialect {
	for _, d := range dialects {
		if d.subprotocol == subprotocol {
			return d
		}
	}
	return nil
}

// message is one server message.
type message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// acknowledgement is what accepts a connection_init.
func (d *dialect) acknowledgement() []message {
	if d.keepAlive != "" {
		return []message{{Type: d.ack}, {Type: d.keepAlive}}
	}
	return []message{{Type: d.ack}}
}

// refusal is what tells a client its connection_init was refused, before
// the close; nil when the dialect tells it by the close alone.
func (d *dialect) refusal(err error) []byte {
	if d.connectionError == "" {
		return nil
	}
	payload, _ := json.Marshal(map[string]any{"message": err.Error(), "extensions": map[string]any{"code": string(domain.ErrorCode(err))}})
	b, _ := json.Marshal(message{Type: d.connectionError, Payload: payload})
	return b
}
