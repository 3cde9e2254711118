package server

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDecodeRequestBodyAccepts(t *testing.T) {
	for body, want := range map[string]requestBody{
		`{"query":"{ me { id } }"}`: {Query: "{ me { id } }"},
		` {"query":"q","operationName":"A","variables":{"id":"cv_1","n":12345678901234567890},"extensions":{"x":[1,{"y":null}]}} `: {
			Query: "q", OperationName: "A",
			Variables:  map[string]any{"id": "cv_1", "n": json.Number("12345678901234567890")},
			Extensions: map[string]any{"x": []any{json.Number("1"), map[string]any{"y": nil}}},
		},
		`{"query":"q","variables":null,"operationName":null,"extensions":null}`: {Query: "q"},
		// The same key in different objects is no duplicate.
		`{"query":"q","variables":{"a":{"a":1},"b":{"a":2}}}`: {Query: "q", Variables: map[string]any{"a": map[string]any{"a": json.Number("1")}, "b": map[string]any{"a": json.Number("2")}}},
		// Names match exactly: encoding/json's struct decoding would take
		// QUERY (or a long s in variableſ) for query (or variables).
		`{"query":"{ me { id } }","QUERY":"mutation { logout { agent { id } } }","variableſ":{"x":1}}`: {Query: "{ me { id } }"},
		`{"query":"q","unknown":{"a":1}}`: {Query: "q"},
	} {
		got, err := decodeRequestBody([]byte(body))
		if err != nil {
			t.Errorf("%s: %v", body, err)
		} else if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v; want %+v", body, got, want)
		}
	}
}

func TestDecodeRequestBodyRefuses(t *testing.T) {
	for body, want := range map[string]string{
		`{"query":"{ me { id } }","query":"mutation { logout { agent { id } } }"}`:      `has the key "query" more than once`,
		`{"query":"{ me { id } }","\u0071uery":"mutation { logout { agent { id } } }"}`: `has the key "query" more than once`,
		`{"query":"q","operationName":"A","operationName":"B"}`:                         `has the key "operationName" more than once`,
		`{"query":"q","variables":{"id":"a","id":"b"}}`:                                 `has the key "id" more than once`,
		`{"query":"q","variables":{"in":{"list":[{"x":1,"x":2}]}}}`:                     `has the key "x" more than once`,
		`{"query":"q","extensions":{"persistedQuery":{},"persistedQuery":{}}}`:          `has the key "persistedQuery" more than once`,
		`{"query":"q","variables":{},"variables":{}}`:                                   `has the key "variables" more than once`,
		`{"query":"q","variables":` + nested(MaxJSONDepth, `{"a":`, "}") + `}`:          "nested deeper than 64 levels",
		`{"query":"q","variables":{"a":` + nested(MaxJSONDepth, "[", "]") + `}}`:        "nested deeper than 64 levels",
		`{"query": "{ me { id } }"`:                                                     "not valid JSON",
		`{"query":"q"}}`:                                                                "not valid JSON",
		`{"query":"q"}]`:                                                                "not valid JSON",
		`{"query":"q"} {"query":"q"}`:                                                   "not valid JSON",
		`{"query":"q",}`:                                                                "not valid JSON",
		`{"query":"q","variables":[1,]}`:                                                "not valid JSON",
		`{"query" "q"}`:                                                                 "not valid JSON",
		`{"query":"q" "variables":{}}`:                                                  "not valid JSON",
		`{1:"q"}`:                                                                       "not valid JSON",
		`not json`:                                                                      "not valid JSON",
		``:                                                                              "not valid JSON",
		`[]`:                                                                            "batching is not supported",
		`[{"query":"{ me { id } }"}]`:                                                   "batching is not supported",
		`"{ me { id } }"`:                                                               "not a JSON object",
		`null`:                                                                          "not a JSON object",
		`{"query": 5}`:                                                                  "query is not a string",
		`{"variables": {}}`:                                                             "has no query",
		`{"query": ""}`:                                                                 "has no query",
		`{"query": null}`:                                                               "has no query",
		`{"query":"q","operationName":1}`:                                               "operationName is not a string",
		`{"query":"q","variables":[1]}`:                                                 "variables is not a JSON object",
		`{"query":"q","extensions":"x"}`:                                                "extensions is not a JSON object",
	} {
		_, err := decodeRequestBody([]byte(body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.80s: %v; want an error with %q", body, err, want)
		}
	}
	// A key is quoted in the message, cut short.
	long := strings.Repeat("k", 1000)
	_, err := decodeRequestBody([]byte(`{"query":"q","variables":{"` + long + `":1,"` + long + `":2}}`))
	if err == nil || len(err.Error()) > 200 {
		t.Errorf("a long key twice: %v", err)
	}
}

// nested is levels opening delimiters, a 1, and the closing ones.
func nested(levels int, open, close string) string {
	return strings.Repeat(open, levels) + "1" + strings.Repeat(close, levels)
}

func TestDecodeStrictJSONDepth(t *testing.T) {
	for _, c := range []struct{ open, close string }{{"[", "]"}, {`{"a":`, "}"}} {
		if _, err := decodeStrictJSON([]byte(nested(MaxJSONDepth, c.open, c.close))); err != nil {
			t.Errorf("%d levels of %s: %v", MaxJSONDepth, c.open, err)
		}
		if _, err := decodeStrictJSON([]byte(nested(MaxJSONDepth+1, c.open, c.close))); err == nil || !strings.Contains(err.Error(), "deeper") {
			t.Errorf("%d levels of %s: %v; want too deep", MaxJSONDepth+1, c.open, err)
		}
	}
}

// hangGuard only catches work that does not end, or is quadratic (minutes
// at 1 MiB): a loaded machine under -race takes seconds for linear work,
// and the benchmarks, not these tests, measure it.
const hangGuard = 30 * time.Second

// TestDecodeRequestBodyHostileSizes: a body of the largest size the server
// reads is decoded or refused in time linear in its size, and without a
// stack as deep as the body.
func TestDecodeRequestBodyHostileSizes(t *testing.T) {
	const size = 1 << 20
	wide := func(member func(i int) string) string {
		var b strings.Builder
		b.WriteString(`{"query":"q","variables":{`)
		for i := 0; b.Len() < size-64; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(member(i))
		}
		b.WriteString(`}}`)
		return b.String()
	}
	for name, body := range map[string]string{
		"1 MiB of [":              strings.Repeat("[", size),
		"1 MiB of {\"a\":":        strings.Repeat(`{"a":`, size/5),
		"1 MiB of [ in variables": `{"query":"q","variables":{"a":` + strings.Repeat("[", size-40) + `}}`,
		"a key twice at the end of 1 MiB": wide(func(i int) string {
			if i > 0 && i%1000 == 0 {
				return `"k0":0`
			}
			return `"k` + strconv.Itoa(i) + `":0`
		}),
	} {
		start := time.Now()
		_, err := decodeRequestBody([]byte(body))
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
		if d := time.Since(start); d > hangGuard {
			t.Errorf("%s: took %v", name, d)
		}
	}
	// 1 MiB of distinct keys is read once: a map per object, no pairwise
	// comparison.
	body := wide(func(i int) string { return `"k` + strconv.Itoa(i) + `":[` + strconv.Itoa(i) + `]` })
	start := time.Now()
	got, err := decodeRequestBody([]byte(body))
	if err != nil || len(got.Variables) < 50_000 {
		t.Fatalf("1 MiB of distinct keys: %d variables, %v", len(got.Variables), err)
	}
	if d := time.Since(start); d > hangGuard {
		t.Errorf("1 MiB of distinct keys took %v", d)
	}
}

func TestDecodeJSONObject(t *testing.T) {
	for param, want := range map[string]map[string]any{
		`{"id":"cv_1"}`: {"id": "cv_1"},
		`null`:          nil,
		` {} `:          {},
	} {
		if got, err := decodeJSONObject([]byte(param)); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v %v; want %v", param, got, err, want)
		}
	}
	for param, want := range map[string]string{
		`{"id":"a","id":"b"}`:                `has the key "id" more than once`,
		`{"a":{"b":1,"b":2}}`:                `has the key "b" more than once`,
		nested(MaxJSONDepth+1, "[", "]"):     "deeper",
		`{"a":` + strings.Repeat("[", 1<<20): "deeper",
		`[1]`:                                "is not a JSON object",
		`"x"`:                                "is not a JSON object",
		`not json`:                           "is not valid JSON",
		`{} {}`:                              "is not valid JSON",
	} {
		if _, err := decodeJSONObject([]byte(param)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.60s: %v; want %q", param, err, want)
		}
	}
}
