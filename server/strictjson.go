package server

import "switchboard/internal/strictjson"

// MaxJSONDepth bounds the nesting of the JSON a caller sends: a request body,
// a GET's variables or extensions, a token's claims. GraphQL inputs are a few
// levels deep.
const MaxJSONDepth = 64

// decodeStrictJSON reads a request body, a GET parameter or a token's claims
// with strictjson.Decode, nested at most MaxJSONDepth deep. Its errors
// complete a sentence that names what was read ("the request body").
func decodeStrictJSON(data []byte) (any, error) {
	return strictjson.Decode(data, MaxJSONDepth)
}
