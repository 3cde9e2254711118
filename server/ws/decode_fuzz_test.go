package ws

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeMessage feeds decodeMessage arbitrary frames on both
// subprotocols. Its seed corpus (testdata/fuzz/FuzzDecodeMessage) holds
// hostile frames: repeated keys, a fragment cycle, deep nesting, huge ids,
// wrong types, JSON that is no object, invalid UTF-8.
func FuzzDecodeMessage(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, legacy bool) {
		d := transportWS
		if legacy {
			d = legacyWS
		}
		m, err := decodeMessage(data, d)
		again, errAgain := decodeMessage(data, d)
		if !reflect.DeepEqual(m, again) || (err == nil) != (errAgain == nil) {
			t.Fatalf("two decodings differ: %+v %v / %+v %v", m, err, again, errAgain)
		}
		if err != nil {
			var invalid invalidMessage
			if !errors.As(err, &invalid) || !strings.HasPrefix(err.Error(), "Invalid message received") {
				t.Fatalf("refused with %v, want an invalid message", err)
			}
			if !utf8.ValidString(truncate(err.Error(), 120)) {
				t.Fatalf("the close reason %q is not UTF-8", truncate(err.Error(), 120))
			}
			return
		}
		if !utf8.Valid(data) || !json.Valid(data) {
			t.Fatalf("accepted a frame that is not UTF-8 JSON: %q", data)
		}
		if d := depth(data); d > maxDepth {
			t.Fatalf("accepted nesting %d deep", d)
		}
		if kind, ok := clientTypes(legacy)[m.Type]; !ok || kind != m.Kind {
			t.Fatalf("accepted type %q as kind %d (legacy %v)", m.Type, m.Kind, legacy)
		}
		if len(m.ID) > maxIDBytes {
			t.Fatalf("accepted an id of %d bytes", len(m.ID))
		}
		switch m.Kind {
		case kindStart:
			if m.ID == "" || m.Operation == nil || (m.Operation.Query == "" && m.Operation.Extensions["persistedQuery"] == nil) {
				t.Fatalf("accepted a %s without an id or a query (or a persisted one): %+v", m.Type, m)
			}
		case kindPing, kindPong:
			var p map[string]any
			if len(m.Payload) > 0 && json.Unmarshal(m.Payload, &p) != nil {
				t.Fatalf("accepted a %s payload that is no object: %s", m.Type, m.Payload)
			}
		}
		// Another decoder reads the same type and id: no repeated or
		// case-folded key made the two disagree.
		var plain map[string]any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&plain); err != nil {
			t.Fatalf("accepted a frame encoding/json refuses: %v", err)
		}
		if plain["type"] != m.Type {
			t.Fatalf("type %q, but encoding/json reads %v", m.Type, plain["type"])
		}
		if id, _ := plain["id"].(string); id != m.ID {
			t.Fatalf("id %q, but encoding/json reads %v", m.ID, plain["id"])
		}
	})
}

// clientTypes are the message types a client may send on a subprotocol,
// and what each asks, written out apart from the dialects.
func clientTypes(legacy bool) map[string]clientKind {
	if legacy {
		return map[string]clientKind{"connection_init": kindInit, "start": kindStart, "stop": kindStop, "connection_terminate": kindTerminate}
	}
	return map[string]clientKind{"connection_init": kindInit, "ping": kindPing, "pong": kindPong, "subscribe": kindStart, "complete": kindStop}
}

// depth is how deep objects and arrays nest in a valid JSON text.
func depth(data []byte) int {
	d, deepest, inString, escaped := 0, 0, false, false
	for _, c := range data {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			d++
			deepest = max(deepest, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return deepest
}
