// Package strictjson reads JSON that a caller sends (a request body, a
// token's claims, a WebSocket frame) so that no other parser can read the
// same text differently: a key twice in one object is refused, nesting is
// bounded, and members are found by their exact names.
package strictjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// Error is why Decode refused a text. Its message completes a sentence
// whose subject the caller names: "the request body is not valid JSON".
type Error struct {
	// Duplicate is a key that one object has twice, or "".
	Duplicate string
	// DeeperThan is the depth bound the text nests past, or 0.
	DeeperThan int
}

func (e *Error) Error() string {
	switch {
	case e.Duplicate != "":
		return "has the key " + quoteKey(e.Duplicate) + " more than once"
	case e.DeeperThan > 0:
		return fmt.Sprintf("is nested deeper than %d levels", e.DeeperThan)
	}
	return "is not valid JSON"
}

// quoteKey quotes a key for a message, cut short: the key comes from the
// caller and may be long.
func quoteKey(k string) string {
	const max = 64
	if len(k) > max {
		return strconv.Quote(k[:max]) + "…"
	}
	return strconv.Quote(k)
}

// Decode reads data, which must be exactly one JSON value, as encoding/json
// reads it into an any with UseNumber (objects as map[string]any, arrays as
// []any, numbers as json.Number), and refuses with an *Error:
//
//   - an object with a key twice, at any depth. Keys are compared after
//     unescaping, so "query" and "\u0071uery" are the same key. Go keeps the
//     last of two equal keys where other parsers keep the first, so a text
//     with one could mean one thing to a proxy or an issuer and another to us.
//   - arrays and objects nested more than maxDepth levels: encoding/json
//     bounds only Unmarshal and Decode (at 10,000 levels), not
//     Decoder.Token, which keeps a stack as deep as the input.
//
// Keys are kept exactly as written, so a member read by its name is that
// name only: encoding/json's struct decoding would also take "QUERY", or
// "variableſ" with a long s, for a field named query or variables. Invalid
// UTF-8 in a string reads as U+FFFD, as encoding/json reads it; a caller
// that must refuse it checks first.
//
// It reads each token once and holds one set of keys per open object: time
// and memory grow linearly with the input, and its recursion is at most
// maxDepth deep.
func Decode(data []byte, maxDepth int) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	r := reader{dec: dec, maxDepth: maxDepth}
	v, err := r.value(1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &Error{}
	}
	return v, nil
}

type reader struct {
	dec      *json.Decoder
	maxDepth int
}

// value decodes the value that starts at the next token; depth is the
// nesting level a container starting there would have.
func (r *reader) value(depth int) (any, error) {
	tok, err := r.dec.Token()
	if err != nil {
		return nil, &Error{}
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	if depth > r.maxDepth {
		return nil, &Error{DeeperThan: r.maxDepth}
	}
	// Where a value must stand, Token returns only an opening delimiter (a
	// closing one there is a syntax error): this is an array or an object.
	if delim == '[' {
		list := []any{}
		for r.dec.More() {
			v, err := r.value(depth + 1)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		return list, r.end()
	}
	obj := map[string]any{}
	for r.dec.More() {
		tok, err := r.dec.Token()
		if err != nil {
			return nil, &Error{}
		}
		key, ok := tok.(string)
		if !ok {
			return nil, &Error{}
		}
		if _, twice := obj[key]; twice {
			return nil, &Error{Duplicate: key}
		}
		v, err := r.value(depth + 1)
		if err != nil {
			return nil, err
		}
		obj[key] = v
	}
	return obj, r.end()
}

// end reads the delimiter that closes the array or object whose members
// More said are done.
func (r *reader) end() error {
	if _, err := r.dec.Token(); err != nil {
		return &Error{}
	}
	return nil
}
