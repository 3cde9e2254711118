package ws

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
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
	// Type is one of the subprotocol's client message types.
	Type string
	// ID is the operation's id: never empty for subscribe (start); possibly
	// empty for complete (stop), which then ends nothing.
	ID string
	// Payload is a ping's or pong's payload (an object, null or nothing),
	// which a pong echoes.
	Payload json.RawMessage
	// Token is the token of a connection_init payload ("" if it has none).
	Token string
	// Operation is the operation of a subscribe (start).
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

// decodeMessage turns one text frame into a message of the subprotocol
// (legacy: graphql-ws, else graphql-transport-ws). It refuses what another
// JSON parser could read differently: invalid UTF-8 and a repeated key (Go
// keeps the last, others the first). Objects are read as maps of exact
// keys, as JavaScript reads them: Go's struct decoding would also take
// "TYPE" for "type". It takes time and memory linear in the frame's size.
func decodeMessage(data []byte, legacy bool) (clientMessage, error) {
	if !utf8.Valid(data) {
		return clientMessage{}, invalidMessage("not UTF-8")
	}
	if err := checkJSON(data); err != nil {
		return clientMessage{}, err
	}
	env, err := object(data)
	if err != nil || env == nil {
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
	m := clientMessage{Type: typ, ID: id}
	payload := env["payload"]
	switch {
	case typ == msgConnectionInit:
		p, err := object(payload)
		if err != nil {
			return clientMessage{}, invalidMessage("connection_init payload must be an object")
		}
		m.Token = initToken(p)
	case (typ == msgPing || typ == msgPong) && !legacy:
		if _, err := object(payload); err != nil {
			return clientMessage{}, invalidMessage(typ + " payload must be an object")
		}
		m.Payload = payload
	case typ == msgSubscribe && !legacy, typ == legacyStart && legacy:
		if id == "" {
			return clientMessage{}, invalidMessage(typ + " needs an id")
		}
		if m.Operation, err = decodeOperation(payload); err != nil {
			return clientMessage{}, invalidMessage(typ + " needs a payload with a query")
		}
	case typ == msgComplete && !legacy, typ == legacyStop && legacy, typ == legacyConnectionTerminate && legacy:
	default:
		return clientMessage{}, invalidMessage("unknown type " + truncate(typ, 40))
	}
	return m, nil
}

// initToken is the token of a connection_init payload: the first of
// Authorization, authorization and token that is a non-empty string,
// without its Bearer scheme.
func initToken(p map[string]json.RawMessage) string {
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

// decodeOperation reads a subscribe payload: a non-empty query, and an
// optional operationName, variables and extensions (numbers kept exact).
func decodeOperation(payload json.RawMessage) (*graphql.RawParams, error) {
	p, err := object(payload)
	if err != nil || p == nil {
		return nil, errors.New("no payload")
	}
	query, err := stringField(p, "query")
	if err != nil || query == "" {
		return nil, errors.New("no query")
	}
	op := &graphql.RawParams{Query: query}
	if op.OperationName, err = stringField(p, "operationName"); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		into *map[string]any
	}{{"variables", &op.Variables}, {"extensions", &op.Extensions}} {
		if raw := p[f.name]; !isNull(raw) {
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(f.into); err != nil {
				return nil, fmt.Errorf("%s must be an object", f.name)
			}
		}
	}
	return op, nil
}

// object reads a JSON object as its exact keys; absent or null is nil.
func object(raw json.RawMessage) (map[string]json.RawMessage, error) {
	if isNull(raw) {
		return nil, nil
	}
	var m map[string]json.RawMessage
	err := json.Unmarshal(raw, &m)
	return m, err
}

// stringField reads a string member of an object; absent or null is "".
func stringField(m map[string]json.RawMessage, key string) (string, error) {
	raw, ok := m[key]
	if !ok || isNull(raw) {
		return "", nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// checkJSON requires data to be one JSON value, nested at most maxDepth
// deep, without a key repeated in any object.
func checkJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // numbers are not converted, so any valid one passes
	type level struct {
		keys    map[string]struct{} // nil for an array
		wantKey bool
	}
	var open []level
	// valueRead notes that a value of the innermost object or array ended.
	valueRead := func() {
		if n := len(open); n > 0 && open[n-1].keys != nil {
			open[n-1].wantKey = true
		}
	}
	for values := 0; ; {
		tok, err := dec.Token()
		if err == io.EOF && values == 1 && len(open) == 0 {
			return nil
		}
		if err != nil || (len(open) == 0 && values == 1) {
			return invalidMessage("")
		}
		if n := len(open); n > 0 && open[n-1].wantKey {
			if tok == json.Delim('}') {
				open = open[:n-1]
				valueRead()
			} else {
				key := tok.(string) // inside an object the decoder yields only keys and '}' here
				if _, dup := open[n-1].keys[key]; dup {
					return invalidMessage("the key " + strconv.Quote(truncate(key, 40)) + " is repeated")
				}
				open[n-1].keys[key] = struct{}{}
				open[n-1].wantKey = false
			}
		} else {
			switch tok {
			case json.Delim('{'), json.Delim('['):
				if len(open) == maxDepth {
					return invalidMessage("nested deeper than " + strconv.Itoa(maxDepth))
				}
				l := level{}
				if tok == json.Delim('{') {
					l = level{keys: map[string]struct{}{}, wantKey: true}
				}
				open = append(open, l)
			case json.Delim(']'):
				open = open[:len(open)-1]
				valueRead()
			default:
				valueRead()
			}
		}
		if len(open) == 0 {
			values = 1
		}
	}
}
