package strictjson

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"switchboard/internal/growth"
)

func TestDecodeReadsAsEncodingJSON(t *testing.T) {
	for text, want := range map[string]any{
		`{"a":[1,"x",true,null,{"b":1.5e3}]}`: map[string]any{"a": []any{json.Number("1"), "x", true, nil, map[string]any{"b": json.Number("1.5e3")}}},
		` 12345678901234567890 `:              json.Number("12345678901234567890"),
		`"\u0041\n"`:                          "A\n",
		`[]`:                                  []any{},
		`{}`:                                  map[string]any{},
		`null`:                                nil,
		// The same key in different objects is no duplicate.
		`{"a":{"a":1},"b":{"a":2}}`: map[string]any{"a": map[string]any{"a": json.Number("1")}, "b": map[string]any{"a": json.Number("2")}},
		// Keys stay as written: another case, or a long s, is another key.
		`{"query":1,"QUERY":2,"queryſ":3}`: map[string]any{"query": json.Number("1"), "QUERY": json.Number("2"), "queryſ": json.Number("3")},
	} {
		got, err := Decode([]byte(text), 8)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %#v, %v; want %#v", text, got, err, want)
		}
	}
}

func TestDecodeRefusesDuplicates(t *testing.T) {
	for text, key := range map[string]string{
		`{"a":1,"a":2}`:                  "a",
		`{"query":1,"\u0071uery":2}`:     "query",
		`[{"x":[{"y":1,"y":1}]}]`:        "y",
		`{"a":1,"a":2,"b":` + "}":        "a", // the first problem is the one told
		`{"k":{},"k":` + deep(100) + `}`: "k",
	} {
		_, err := Decode([]byte(text), 64)
		var e *Error
		if !errors.As(err, &e) || e.Duplicate != key {
			t.Errorf("%s: %v; want %q twice", text, err, key)
		}
	}
}

// deep is n nested arrays.
func deep(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

func TestDecodeDepthIsTheCallersBound(t *testing.T) {
	for _, bound := range []int{1, 32, 64} {
		for _, open := range []struct{ open, close string }{{"[", "]"}, {`{"a":`, "}"}} {
			at := strings.Repeat(open.open, bound) + "1" + strings.Repeat(open.close, bound)
			if _, err := Decode([]byte(at), bound); err != nil {
				t.Errorf("%d levels of %s under a bound of %d: %v", bound, open.open, bound, err)
			}
			past := open.open + at + open.close
			_, err := Decode([]byte(past), bound)
			var e *Error
			if !errors.As(err, &e) || e.DeeperThan != bound {
				t.Errorf("%d levels of %s under a bound of %d: %v", bound+1, open.open, bound, err)
			}
		}
	}
	// A scalar is no level.
	if _, err := Decode([]byte(`"x"`), 0); err != nil {
		t.Errorf("a string under a bound of 0: %v", err)
	}
}

func TestDecodeRefusesWhatIsNotOneValue(t *testing.T) {
	for _, text := range []string{``, ` `, `{} {}`, `1 2`, `{"a":1}}`, `[1,]`, `{"a" 1}`, `{1:2}`, `{"a":1,}`, `nul`, `"x`, `[`} {
		_, err := Decode([]byte(text), 64)
		var e *Error
		if !errors.As(err, &e) || e.Duplicate != "" || e.DeeperThan != 0 {
			t.Errorf("%q: %v; want not valid", text, err)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	for err, want := range map[*Error]string{
		{}:                                   "is not valid JSON",
		{Duplicate: "query"}:                 `has the key "query" more than once`,
		{Duplicate: strings.Repeat("k", 65)}: `has the key "` + strings.Repeat("k", 64) + `"… more than once`,
		{DeeperThan: 64}:                     "is nested deeper than 64 levels",
	} {
		if got := err.Error(); got != want {
			t.Errorf("%+v: %q; want %q", *err, got, want)
		}
	}
}

// TestDecodeWorkIsLinear decodes hostile texts of two sizes, 16 times
// apart: the larger may do at most twice 16 times the work (quadratic work
// would be 256 times). Work is counted in allocations, not time, so a busy
// machine cannot make it fail.
func TestDecodeWorkIsLinear(t *testing.T) {
	shapes := map[string]func(n int) string{
		"many keys": func(n int) string {
			var b strings.Builder
			b.WriteString(`{"k":0`)
			for i := 0; b.Len() < n; i++ {
				b.WriteString(`,"k` + strconv.Itoa(i) + `":0`)
			}
			return b.String() + "}"
		},
		"a key twice at the end": func(n int) string {
			return `{"k":"` + strings.Repeat("x", n) + `","k":0}`
		},
		"nesting at the bound, many times": func(n int) string {
			return "[" + strings.Repeat(deep(31)+",", n/62) + deep(31) + "]"
		},
		"an unclosed run of [": func(n int) string { return strings.Repeat("[", n) },
	}
	for name, shape := range shapes {
		small, large := []byte(shape(8<<10)), []byte(shape(128<<10))
		growth.Linear(t, name, 16, func() { _, _ = Decode(small, 32) }, func() { _, _ = Decode(large, 32) })
	}
}
