package ws

import (
	"strconv"
	"strings"
	"testing"

	"switchboard/internal/growth"
)

func TestDecodeMessage(t *testing.T) {
	sub := func(payload string) string { return `{"id":"1","type":"subscribe","payload":` + payload + `}` }
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, tc := range []struct {
		name, frame string
		legacy      bool
		refused     string // the reason's end; "" when accepted
	}{
		{"a subscribe", sub(`{"query":"{ me { id } }","operationName":null,"variables":{"n":12345678901234567890}}`), false, ""},
		{"a repeated type", `{"type":"subscribe","type":"complete","id":"1"}`, false, `the key "type" is repeated`},
		{"a repeated key written with an escape", `{"type":"ping","\u0074ype":"pong"}`, false, `the key "type" is repeated`},
		{"a repeated query", sub(`{"query":"{ me { id } }","query":"mutation { x }"}`), false, `the key "query" is repeated`},
		{"a repeated variable", sub(`{"query":"{ me { id } }","variables":{"a":1,"a":2}}`), false, `the key "a" is repeated`},
		{"a key in another case is another key", `{"type":"ping","TYPE":"subscribe"}`, false, ""},
		{"only a key in another case", `{"TYPE":"ping"}`, false, "Invalid message received"},
		{"nesting at the limit", sub(`{"query":"{ me { id } }","variables":{"a":` + nest(maxDepth-3) + `}}`), false, ""},
		{"nesting beyond the limit", sub(`{"query":"{ me { id } }","variables":{"a":` + nest(maxDepth-2) + `}}`), false, "nested deeper than 32"},
		{"an id at the limit", `{"type":"complete","id":"` + strings.Repeat("x", maxIDBytes) + `"}`, false, ""},
		{"an id beyond the limit", `{"type":"complete","id":"` + strings.Repeat("x", maxIDBytes+1) + `"}`, false, "the id is longer than 256 bytes"},
		{"a number id", `{"type":"complete","id":1}`, false, "the id must be a string"},
		{"two values", `{"type":"ping"} {"type":"ping"}`, false, "Invalid message received"},
		{"invalid UTF-8", "{\"type\":\"ping\",\"payload\":{\"a\":\"\xff\"}}", false, "not UTF-8"},
		{"a ping payload that is no object", `{"type":"ping","payload":[1]}`, false, "ping payload must be an object"},
		{"variables that are no object", sub(`{"query":"{ me { id } }","variables":[]}`), false, "subscribe needs a payload with a query"},
		{"ping on the legacy protocol", `{"type":"ping"}`, true, "unknown type ping"},
		{"a legacy start", `{"id":"1","type":"start","payload":{"query":"{ me { id } }"}}`, true, ""},
		{"an init token", `{"type":"connection_init","payload":{"authorization":"Bearer abc"}}`, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := transportWS
			if tc.legacy {
				d = legacyWS
			}
			_, err := decodeMessage([]byte(tc.frame), d)
			switch {
			case tc.refused == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.refused != "" && (err == nil || !strings.HasSuffix(err.Error(), tc.refused)):
				t.Fatalf("got %v, want a refusal ending %q", err, tc.refused)
			}
		})
	}
	m, err := decodeMessage([]byte(`{"type":"connection_init","payload":{"Authorization":"Bearer abc","token":"def"}}`), transportWS)
	if err != nil || m.Token != "abc" {
		t.Fatalf("init token %q, %v", m.Token, err)
	}
}

// TestDecodeMessageWorkIsLinear decodes hostile frames of two sizes, 16
// times apart: the larger may do at most twice 16 times the work
// (quadratic work would be 256 times). Work is counted in allocations, not
// time, so a busy machine cannot make it fail.
func TestDecodeMessageWorkIsLinear(t *testing.T) {
	sub := func(variables string) []byte {
		return []byte(`{"id":"1","type":"subscribe","payload":{"query":"{ me { id } }","variables":` + variables + `}}`)
	}
	shapes := map[string]func(n int) []byte{
		"many keys": func(n int) []byte {
			var b strings.Builder
			b.WriteString(`{"k":0`)
			for i := 0; b.Len() < n; i++ {
				b.WriteString(`,"k` + strconv.Itoa(i) + `":0`)
			}
			return sub(b.String() + "}")
		},
		"escapes": func(n int) []byte { return sub(`{"s":"` + strings.Repeat(`\u0041\n`, n/8) + `"}`) },
		"nested arrays": func(n int) []byte {
			one := strings.Repeat("[", maxDepth-4) + strings.Repeat("]", maxDepth-4)
			return sub(`{"a":[` + strings.Repeat(one+",", n/len(one)) + one + `]}`)
		},
		"a repeated key at the end": func(n int) []byte {
			return []byte(`{"type":"ping","payload":{"s":"` + strings.Repeat("x", n) + `"},"type":"ping"}`)
		},
	}
	for name, shape := range shapes {
		small, large := shape(8<<10), shape(128<<10)
		growth.Linear(t, name, 16,
			func() { _, _ = decodeMessage(small, transportWS) },
			func() { _, _ = decodeMessage(large, transportWS) })
	}
}
