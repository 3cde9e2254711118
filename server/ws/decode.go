package ws

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"

	"switchboard/internal/strictjson"
)

// Bounds of one client message, besides its size (MaxMessageBytes).
const (
	// maxIDBytes bounds an operation id: every message of the operation
	// repeats it, so a huge id would multiply what a socket queues.
	maxIDBytes = 256
	// maxDepth bounds the nesting of objects and arrays in a message. The
	// deepest message a client needs (input objects in the variables of a
	// subscribe) is a handful of levels.
	maxDepth = 32
)

// clientMessage is one message from the client, decoded and checked
// against its subprotocol.
type clientMessage struct {
	// Kind is what the message asks.
	Kind clientKind
	// Type is its type as the client wrote it, one of its dialect's.
	Type string
	// ID is the operation's id: never empty for a start; possibly empty for
	// a stop, which then ends nothing.
	ID string
	// Payload is a ping's or pong's payload (an object, null or nothing),
	// which a pong echoes.
	Payload json.RawMessage
	// Token is the token of a connection_init payload ("" if it has none).
	Token string
	// Operation is the operation of a start.
	Operation *graphql.RawParams
}

// invalidMessage is why a client message is refused; the connection closes
// with CloseBadRequest and this as its reason.
type invalidMessage string

func (e invalidMessage) Error() string {
	if e == "" {
		return "Invalid message received"
	}
	return "Invalid message received: " + string(e)
}

// decodeMessage turns one text frame into a message of dialect d. It
// refuses what another JSON parser could read differently: invalid UTF-8,
// and what strictjson refuses (a repeated key: Go keeps the last, others the
// first). Members are read by their exact names, as JavaScript reads them:
// Go's struct decoding would also take "TYPE" for "type". It takes time and
// memory linear in the frame's size.
func decodeMessage(data []byte, d *dialect) (clientMessage, error) {
	if !utf8.Valid(data) {
		return clientMessage{}, invalidMessage("not UTF-8")
	}
	v, err := strictjson.Decode(data, maxDepth)
	if err != nil {
		return clientMessage{}, invalidJSON(err)
	}
	env, ok := v.(map[string]any)
	if !ok {
		return clientMessage{}, invalidMessage("")
	}
	typ, err := stringField(env, "type")
	if err != nil || typ == "" {
		return clientMessage{}, invalidMessage("")
	}
	id, err := stringField(env, "id")
	if err != nil {
		return clientMessage{}, invalidMessage("the id must be a string")
	}
	if len(id) > maxIDBytes {
		return clientMessage{}, invalidMessage("the id is longer than " + strconv.Itoa(maxIDBytes) + " bytes")
	}
	kind, ok := d.client[typ]
	if !ok {
		return clientMessage{}, invalidMessage("unknown type " + truncate(typ, 40))
	}
	m := clientMessage{Kind: kind, Type: typ, ID: id}
	payload := env["payload"]
	switch kind {
	case kindInit:
		p, err := object(payload)
		if err != nil {
			return clientMessage{}, invalidMessage(typ + " payload must be an object")
		}
		m.Token = initToken(p)
	case kindPing, kindPong:
		if _, err := object(payload); err != nil {
			return clientMessage{}, invalidMessage(typ + " payload must be an object")
		}
		m.Payload = rawPayload(data)
	case kindStart:
		if id == "" {
			return clientMessage{}, invalidMessage(typ + " needs an id")
		}
		if m.Operation, err = decodeOperation(payload); err != nil {
			return clientMessage{}, invalidMessage(typ + " needs a payload with a query")
		}
	}
	return m, nil
}

// invalidJSON is why strictjson refused a frame, in the words of a close
// reason.
func invalidJSON(err error) invalidMessage {
	var e *strictjson.Error
	switch {
	case !errors.As(err, &e):
		return invalidMessage("")
	case e.Duplicate != "":
		return invalidMessage("the key " + strconv.Quote(truncate(e.Duplicate, 40)) + " is repeated")
	case e.DeeperThan > 0:
		return invalidMessage("nested deeper than " + strconv.Itoa(e.DeeperThan))
	}
	return invalidMessage("")
}

// rawPayload is a frame's payload as the client wrote it: a pong echoes a
// ping's payload in its own order of keys, which the decoded value has
// lost. The frame has passed strictjson, so it has one payload at most.
func rawPayload(data []byte) json.RawMessage {
	var members map[string]json.RawMessage
	if json.Unmarshal(data, &members) != nil {
		return nil
	}
	return members["payload"]
}

// initToken is the token of a connection_init payload: the first of
// Authorization, authorization and token that is a non-empty string,
// without its Bearer scheme.
func initToken(p map[string]any) string {
	for _, key := range []string{"Authorization", "authorization", "token"} {
		if v, err := stringField(p, key); err == nil && v != "" {
			if t := bearer(v); t != "" {
				return t
			}
			return v
		}
	}
	return ""
}

// decodeOperation reads a subscribe payload: a non-empty query (or, in its
// place, a persisted document's hash in extensions.persistedQuery, which
// the executor resolves), and an optional operationName, variables and
// extensions (numbers kept exact).
func decodeOperation(payload any) (*graphql.RawParams, error) {
	p, err := object(payload)
	if err != nil || p == nil {
		return nil, errors.New("no payload")
	}
	query, err := stringField(p, "query")
	if err != nil {
		return nil, errors.New("no query")
	}
	op := &graphql.RawParams{Query: query}
	if op.OperationName, err = stringField(p, "operationName"); err != nil {
		return nil, err
	}
	if op.Variables, err = object(p["variables"]); err != nil {
		return nil, errors.New("variables must be an object")
	}
	if op.Extensions, err = object(p["extensions"]); err != nil {
		return nil, errors.New("extensions must be an object")
	}
	if query == "" && op.Extensions["persistedQuery"] == nil {
		return nil, errors.New("no query")
	}
	return op, nil
}

// object reads a decoded value that must be an object; absent or null is
// nil.
func object(v any) (map[string]any, error) {
	switch o := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return o, nil
	}
	return nil, errors.New("not an object")
}

// stringField reads a string member of an object; absent or null is "".
func stringField(m map[string]any, key string) (string, error) {
	switch s := m[key].(type) {
	case nil:
		return "", nil
	case string:
		return s, nil
	}
	return "", errors.New(key + " is not a string")
}
