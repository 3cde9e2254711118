package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// MaxJSONDepth bounds the nesting of the JSON a caller sends: a request body,
// a GET's variables or extensions, a token's claims. GraphQL inputs are a few
// levels deep; encoding/json limits only Unmarshal and Decode (to 10,000
// levels), not Decoder.Token, which keeps a stack as deep as the input.
const MaxJSONDepth = 64

// jsonProblem is why strict decoding refused a JSON text, in words for the
// caller; the caller names what was decoded ("the request body", "variables").
type jsonProblem struct {
	// duplicate is the key an object has twice, or "".
	duplicate string
	tooDeep   bool
}

func (p *jsonProblem) Error() string {
	switch {
	case p.duplicate != "":
		return "has the key " + quoteKey(p.duplicate) + " more than once"
	case p.tooDeep:
		return fmt.Sprintf("is nested deeper than %d levels", MaxJSONDepth)
	}
	return "is not valid JSON"
}

// quoteKey quotes a caller's key for a message, cut short: the key comes
// from the caller and may be long.
func quoteKey(k string) string {
	const max = 64
	if len(k) > max {
		return strconv.Quote(k[:max]) + "…"
	}
	return strconv.Quote(k)
}

// decodeStrictJSON decodes exactly one JSON value as encoding/json would
// into an any (numbers as json.Number), but refuses an object with a key
// twice at any depth and nesting deeper than MaxJSONDepth. Keys are compared
// after unescaping, so "query" and "\u0071uery" are the same key. Go keeps
// the last of two equal keys where other parsers keep the first, so a body
// or token with one could mean one thing to a proxy or an issuer and another
// to us. It reads each token once and holds one set of keys per open object:
// time and memory grow linearly with the input, and its recursion is at most
// MaxJSONDepth deep.
func decodeStrictJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeStrictValue(dec, 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &jsonProblem{}
	}
	return v, nil
}

// decodeStrictValue decodes the value that starts at dec's next token; depth
// is the nesting level a container starting there would have.
func decodeStrictValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, &jsonProblem{}
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	if depth > MaxJSONDepth {
		return nil, &jsonProblem{tooDeep: true}
	}
	// Where a value must stand, Token returns only an opening delimiter (a
	// closing one there is a syntax error): this is an array or an object.
	if delim == '[' {
		list := []any{}
		for dec.More() {
			v, err := decodeStrictValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		return list, closeContainer(dec)
	}
	obj := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, &jsonProblem{}
		}
		key, ok := tok.(string)
		if !ok {
			return nil, &jsonProblem{}
		}
		if _, twice := obj[key]; twice {
			return nil, &jsonProblem{duplicate: key}
		}
		v, err := decodeStrictValue(dec, depth+1)
		if err != nil {
			return nil, err
		}
		obj[key] = v
	}
	return obj, closeContainer(dec)
}

// closeContainer reads the delimiter that ends the array or object whose
// members More said are done.
func closeContainer(dec *json.Decoder) error {
	if _, err := dec.Token(); err != nil {
		return &jsonProblem{}
	}
	return nil
}
